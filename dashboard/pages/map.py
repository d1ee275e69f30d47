"""The map page (`/`, `/community/<id>`): grids by coverage, buildings by a chosen theme, open issues as markers,
filters, search, exports and a side panel.

Geometry is sent once with the page; the layer switcher, the filters, the grid choice and a building click change
only the layers' `hideout` (read by the committed style functions in assets/gridmap.js), never the data.
The view (layer, category, filters, grid, overlays, selected building) lives in the URL's search string
(`views.parse_map_query` / `views.map_query`): a view can be shared as a link, and the back button restores it.
The page's Location also sees the URL of the page a link leads to, before the router has replaced this page: the
page keeps the path it was drawn for (PATH) and ignores any other, so leaving the map sets off no view callbacks
(their patches of the layers' `hideout` could otherwise land on the next page's layout: "Cannot patch undefined").
"""
from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import ALL, Input, Output, Patch, State, ctx, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, config, inputs, views
from dashboard.components import common
from dashboard.i18n import labels, translator
from geodata import schema, store
from geodata.settings import Settings
from layers import buildings, colors, geojson, legend

MAP = "map"
WRAP = "map-wrap"
BUILDINGS = "buildings-layer"
GRIDS = "grids-layer"
ISSUES = "issues-layer"
THEME = "map-theme"
CATEGORY = "map-category"
CATEGORY_BOX = "map-category-box"
FILTERS = "map-filters"
GRID = "map-grid"
OVERLAYS = "map-overlays"
LEGEND = "map-legend"
PANEL = "building-panel"
META = "map-meta"
SELECTED = "map-selected"
SEARCH_INPUT, SEARCH_BUTTON, SEARCH_RESULTS, SEARCH_HIT = ("map-search", "map-search-button", "map-search-results",
                                                          "map-search-hit")
EXPORT_HTML, EXPORT_PNG, DOWNLOAD = "export-html", "export-png", "map-download"
COMMUNITY_SELECT = "community-select"
#: The map page's own view of the URL: the shell's `url` Location routes pages; this one carries the view state
#: (a callback may only mix inputs that exist together, so the page's controls pair with a page-level Location).
LOCATION = "map-url"
#: The path the page was drawn for (`/` or `/community/<id>`): the page's Location acts on its own path only.
PATH = "map-path"
LANG = "lang-switch"

OVERLAY_GRIDS = views.OVERLAY_GRIDS
OVERLAY_LABELS = views.OVERLAY_LABELS
OVERLAY_ISSUES = views.OVERLAY_ISSUES


def _js(name: str) -> dict[str, str]:
    """A reference to a function of the committed asset (assets/gridmap.js)."""
    return {"variable": f"gridmap.{name}"}


def theme_legend(theme: str, lang: str, category: str | None = None) -> list[Any]:
    """The legend boxes of a theme: its colours (+ the mismatch outline and glyphs for status), issues, coverage."""
    t = translator(lang)
    items = legend.legend(theme, labels(lang, "status", schema.VERIFICATION_LABELS))
    title = t(f"legend.{theme}")
    if theme == legend.THEME_FINDINGS and category:
        title = f'{title} · {t(f"finding.{category}")}'
    boxes = [common.legend_box(title, items)]
    if theme == legend.THEME_STATUS:
        boxes.append(html.Div([
            html.Ul([html.Li([common.swatch(colors.MISMATCH_COLOR, shape="mismatch"), html.Span(t("legend.mismatch"))])]),
            html.Ul([html.Li([html.I(t(f"glyph.{f}") if f not in (legend.FLAG_MISMATCHES, legend.FLAG_OPEN_ISSUES)
                                     else "3", className=f"gm-g gm-g-{f}"),
                              html.Span(t(f"filter.{f}"))]) for f in legend.GLYPH_FLAGS], className="gm-glyph-legend"),
        ], className="gm-legend", id="legend-mismatch"))
    boxes.append(html.Div([
        html.Div(t("legend.issues"), className="gm-legend-title"),
        html.Ul([html.Li([common.swatch(c), html.Span(label)])
                 for c, label in legend.event_category_legend(labels(lang, "event_category",
                                                                     schema.EVENT_CATEGORY_LABELS))],
                className="gm-legend-cols"),
    ], className="gm-legend"))
    boxes.append(common.legend_box(t("legend.coverage"), legend.coverage_legend(), shape="outline"))
    return boxes


def _glyphs(lang: str) -> list[list[str]]:
    t = translator(lang)
    return [[f, t(f"glyph.{f}"), t(f"filter.{f}")] for f in legend.GLYPH_FLAGS]


def building_hideout(state: dict[str, Any], meta: dict[str, Any], lang: str,
                     category_classes: dict[str, int] | None = None) -> dict[str, Any]:
    """The full hideout of the buildings layer: the view (views.building_hideout), the palettes and flag order
    that turn the features' codes into colours (buildings.style_table), the chosen finding category's codes, the
    label settings. Sent once with the page; a view change patches only what changed."""
    return {**views.building_hideout(state, meta.get("grids") or {}), **buildings.style_table(),
            "categoryClasses": category_classes or {}, "labelZoom": config.LABEL_MIN_ZOOM, "glyphs": _glyphs(lang)}


def _compact(collection: dict[str, Any]) -> dict[str, Any]:
    """`data` and `format` of a GeoJSON layer as geobuf: the buildings are most of the map page's bytes
    (benchmarks/map_speed.py, bytes per building). An empty collection goes as GeoJSON (geobuf has no empty form)."""
    if not collection["features"]:
        return {"data": collection, "format": "geojson"}
    return {"data": geojson.to_geobuf(collection), "format": "geobuf"}


def _map(data: dict[str, Any], state: dict[str, Any], settings: Settings, lang: str) -> dl.Map:
    t = translator(lang)
    children: list[Any] = []
    source = config.tile_source(settings)
    if source is not None:
        children.append(dl.TileLayer(**config.tile_layer_props(source)))
    meta = {"grids": data["grid_index"]}
    children += [
        dl.GeoJSON(id="outline-layer", data=data["outline"], style=_js("styleOutline"), interactive=False),
        dl.GeoJSON(id="paths-layer", data=data["paths"], style=_js("stylePath"), interactive=False),
        dl.GeoJSON(id=GRIDS, data=data["grids"], style=_js("styleGrid"), onEachFeature=_js("labelGrid"),
                   hideout={"show": OVERLAY_GRIDS in state["show"]}, interactive=False),
        dl.GeoJSON(id=BUILDINGS, **_compact(data["buildings"]), style=_js("styleBuilding"),
                   onEachFeature=_js("labelBuilding"),
                   hideout=building_hideout(state, meta, lang,
                                            data["category_classes"].get(state["category"] or ""))),
        dl.GeoJSON(id=ISSUES, data=data["issues"], pointToLayer=_js("issueMarker"),
                   hideout={"categories": labels(lang, "event_category", schema.EVENT_CATEGORY_LABELS),
                            "dayUnit": t("issue.days")}),
        dl.ScaleControl(position="bottomleft", imperial=False),
    ]
    bounds = data["bounds"]
    grid = data["grid_index"].get(state["grid"]) if state["grid"] else None
    if grid and grid["bounds"]:
        bounds = grid["bounds"]
    view: dict[str, Any] = {"center": list(config.DEFAULT_CENTER), "zoom": config.DEFAULT_ZOOM}
    if bounds:
        # Fitted to the data; the right padding keeps buildings clear of the layer panel floating over the map.
        view = {"bounds": bounds, "boundsOptions": config.BOUNDS_OPTIONS}
    # trackViewport off: the view is never sent back to Python (and with `bounds` but no `center`, dash-leaflet's
    # viewport tracking fails on every move).
    return dl.Map(id=MAP, children=children, **view, trackViewport=False,
                  maxZoom=config.MAX_ZOOM, zoomSnap=0.25, attributionControl=source is not None,
                  className="gm-map")


def _coverage_table(data: dict[str, Any], t) -> html.Table:  # type: ignore[no-untyped-def]
    rows = [html.Tr([html.Td([common.swatch(r["color"], shape="outline"), html.Span(r["name"])]),
                     html.Td(f'{r["verified"]}/{r["households"]}', className="gm-num"),
                     html.Td([common.progress(r["share"], "#3182bd"),
                              html.Span(common.percent(r["share"]), className="gm-num")],
                             className="gm-progress-cell")],
                    id=f'coverage-{r["grid_id"]}')
            for r in data["coverage"]]
    head = html.Thead(html.Tr([html.Th(t("coverage.grid")), html.Th(t("coverage.verified_of")),
                               html.Th(t("coverage.share"))]))
    return html.Table([head, html.Tbody(rows)], className="gm-table gm-coverage", id="coverage-table")


def _totals(data: dict[str, Any], t) -> html.Div:  # type: ignore[no-untyped-def]
    totals = data["totals"]
    return html.Div([
        common.stat(t("stat.households"), totals["households"]),
        common.stat(t("stat.verified"), common.percent(totals["share"]), tone="good"),
        common.stat(t("stat.open_mismatches"), totals["open_mismatches"],
                    tone="bad" if totals["open_mismatches"] else None),
        common.stat(t("stat.open_events"), totals["open_events"], tone="warn" if totals["open_events"] else None),
        common.stat(t("stat.elderly_60"), totals["elderly_60"]),
        common.stat(t("stat.living_alone"), totals["living_alone"]),
    ], className="gm-stats", id="map-stats")


def _controls(data: dict[str, Any], state: dict[str, Any], lang: str) -> html.Div:
    t = translator(lang)
    themes = [{"label": t(f"theme.{theme}"), "value": theme} for theme in legend.THEMES]
    categories = [{"label": t("map.category_all"), "value": ""}] + [
        {"label": t(f"finding.{c}"), "value": c} for c in legend.FINDING_CATEGORIES]
    grids = [{"label": t("map.grid_all"), "value": ""}] + [
        {"label": g["name"], "value": code} for code, g in data["grid_index"].items()]
    overlays = [{"label": t(f"overlay.{o}"), "value": o} for o in views.OVERLAYS]
    return html.Div([
        html.Div(t("map.layers"), className="gm-legend-title"),
        dcc.RadioItems(id=THEME, options=themes, value=state["layer"], className="gm-radio"),
        html.Div(dcc.Dropdown(id=CATEGORY, options=categories, value=state["category"] or "", clearable=False,
                              searchable=False, className="gm-small-select"),
                 id=CATEGORY_BOX, style={} if state["layer"] == legend.THEME_FINDINGS else {"display": "none"}),
        html.Div(t("filter.title"), className="gm-legend-title gm-sep"),
        dcc.Checklist(id=FILTERS, options=[{"label": t(f"filter.{f}"), "value": f} for f in legend.FILTERS],
                      value=state["only"], className="gm-check gm-check-filters"),
        dcc.Dropdown(id=GRID, options=grids, value=state["grid"] or "", clearable=False, searchable=False,
                     className="gm-small-select", placeholder=t("map.grid")),
        dcc.Checklist(id=OVERLAYS, options=overlays, value=state["show"], className="gm-check"),
        html.Div(theme_legend(state["layer"], lang, state["category"]), id=LEGEND),
    ], className="gm-map-controls", id="map-controls")


def _wrap_class(show: list[str]) -> str:
    return ("gm-map-wrap" + ("" if OVERLAY_LABELS in show else " gm-hide-labels")
            + ("" if OVERLAY_ISSUES in show else " gm-hide-issues"))


def layout(data: dict[str, Any] | None, communities: list[dict[str, Any]], lang: str, settings: Settings,
           search: str | None = None, path: str = "/") -> Any:
    t = translator(lang)
    if data is None:
        return common.denied(t)
    state = views.parse_map_query(search)
    if state["grid"] not in data["grid_index"]:
        state["grid"] = None
    community = data["community"]
    chooser: Any = html.H1(community["name"], className="gm-title")
    if len(communities) > 1:
        chooser = dcc.Dropdown(id=COMMUNITY_SELECT, options=[{"label": f'{c["street"]} · {c["name"]}',
                                                              "value": c["id"]} for c in communities],
                               value=community["id"], clearable=False, className="gm-community-select")
    scope = auth.current_scope()
    person_level = scope is not None and scope.person_level
    search_box = html.Div([
        dcc.Input(id=SEARCH_INPUT, type="search", debounce=False, autoComplete="off",
                  placeholder=t("search.placeholder" if person_level else "search.placeholder_street"),
                  className="gm-input"),
        html.Button(t("search.button"), id=SEARCH_BUTTON, className="gm-button gm-button-small"),
    ], className="gm-search")
    exports = html.Div([
        html.Span(t("map.export"), className="gm-muted"),
        html.Button(t("export.html"), id=EXPORT_HTML, className="gm-button gm-button-small gm-button-quiet"),
        html.Button(t("export.png"), id=EXPORT_PNG, className="gm-button gm-button-small gm-button-quiet"),
        dcc.Download(id=DOWNLOAD),
    ], className="gm-exports")
    side = html.Aside([
        html.Div([chooser, html.Div(f'{community["street"]}' + (f' · {community["compound"]}'
                                                                if community["compound"] else ""),
                                    className="gm-subtitle")], className="gm-side-head"),
        search_box,
        html.Div(id=SEARCH_RESULTS, className="gm-search-results"),
        _totals(data, t),
        # The clicked building comes first: on a laptop screen it must not fall below the fold.
        html.Div(html.P(t("panel.hint"), className="gm-hint"), id=PANEL, className="gm-panel"),
        html.H3(t("coverage.title")),
        _coverage_table(data, t),
        exports,
    ], className="gm-side")
    stores = [dcc.Location(id=LOCATION, refresh=False), dcc.Store(id=PATH, data=path),
              dcc.Store(id=META, data={"community_id": community["id"], "grids": data["grid_index"],
                                       "bounds": data["bounds"]}),
              dcc.Store(id=SELECTED, data=state["building"])]
    page = html.Div([html.Div([_map(data, state, settings, lang), _controls(data, state, lang)], id=WRAP,
                              className=_wrap_class(state["show"])), side, *stores],
                    className="gm-map-page")
    return [common.synthetic_banner(t), page] if community["synthetic"] else page


def _flag_badges(b: dict[str, Any], t) -> list[Any]:  # type: ignore[no-untyped-def]
    out = []
    for flag in legend.GLYPH_FLAGS:
        if flag in b.get("flags", []):
            out.append(html.Span(t(f"filter.{flag}"), className=f"gm-badge gm-flag-{flag}"))
    return out


def building_panel(summary: dict[str, Any] | None, lang: str) -> Any:
    """The side panel of a clicked building: counts, flags, a compact 楼盘表 (rooms only) and the link to the sheet."""
    t = translator(lang)
    if summary is None:
        return common.notice(t("denied.text"), "error")
    b = summary["building"]
    head = html.Div([html.H3(b["label"], id="panel-title"), common.status_chip(b["status"], t)],
                    className="gm-panel-head")
    facts = html.Ul([
        html.Li(f'{t("stat.households")} {b["households"]} · {t("stat.verified_n")} {b["verified"]}'),
        html.Li(f'{t("stat.open_mismatches")} {b["open_mismatches"]} · {t("stat.open_findings")} '
                f'{b["open_findings"]} · {t("stat.open_events")} {b["open_events"]}'),
        html.Li(f'{t("stat.elderly_60")} {b["elderly_60"]} · {t("stat.living_alone")} {b["living_alone"]} · '
                f'{t("stat.party_families")} {b["party_families"]}'),
    ], className="gm-facts")
    parts: list[Any] = [head, html.Div(b["grid"] or "", className="gm-subtitle"),
                        html.Div(_flag_badges(b, t), className="gm-cell-badges", id="panel-flags"), facts]
    if summary["flats"]:
        columns = []
        for u in summary["units"]:
            cells: list[Any] = []
            for floor in summary["floors"]:
                for f in summary["cells"][floor][u["unit"]]:
                    cells.append(html.Span(className="gm-mini-flat gm-mini-none") if f is None else
                                 dcc.Link(f["room"], href=f'/flat/{f["flat_id"]}', className="gm-mini-flat",
                                          title=t(f'status.{f["status"]}'),
                                          style={"backgroundColor": f["color"],
                                                 "color": colors.text_color(f["color"])}))
            columns.append(html.Div([html.Div(t("sheet.unit", unit=u["unit"]), className="gm-mini-unit"),
                                     html.Div(cells, className="gm-mini-flats",
                                              style={"gridTemplateColumns": f'repeat({len(u["positions"])}, 36px)'})],
                                    className="gm-mini-col"))
        parts.append(html.Div(columns, className="gm-mini-sheet", id="panel-flats"))
    parts.append(dcc.Link(t("panel.open_sheet"), href=f'/building/{b["id"]}', className="gm-button",
                          id="panel-open-building"))
    return html.Div(parts)


def _state_of(theme: Any, category: Any, only: Any, grid: Any, show: Any, building: Any) -> dict[str, Any]:
    """The map view from the controls' values; BadInput for a value none of the controls sends."""
    return {"layer": inputs.optional_code(theme, legend.THEMES, "layer") or legend.THEME_STATUS,
            "category": inputs.optional_code(category, legend.FINDING_CATEGORIES, "category"),
            "only": inputs.codes(only, legend.FILTERS, "only"), "grid": inputs.text(grid, "grid") or None,
            "show": inputs.codes(show, views.OVERLAYS, "show"), "building": inputs.optional_id(building, "building")}


def _meta(meta: Any) -> tuple[int, dict[str, dict[str, Any]], Any]:
    """(community id, grid index, bounds) of the page's META store as the browser sends it back."""
    meta = inputs.mapping(meta, "meta")
    grids = inputs.mapping(meta.get("grids"), "meta.grids")
    for grid in grids.values():
        inputs.mapping(grid, "meta.grids")
    return inputs.an_id(meta.get("community_id"), "meta.community_id"), grids, meta.get("bounds")


def register_callbacks(app, engine: Engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    offset = config.display_offset(settings)

    @app.callback(Output(LOCATION, "search"), Output(THEME, "value"), Output(CATEGORY, "value"),
                  Output(FILTERS, "value"), Output(GRID, "value"), Output(OVERLAYS, "value"),
                  Output(SELECTED, "data"),
                  Input(LOCATION, "search"), Input(THEME, "value"), Input(CATEGORY, "value"), Input(FILTERS, "value"),
                  Input(GRID, "value"), Input(OVERLAYS, "value"), Input(SELECTED, "data"),
                  State(LOCATION, "pathname"), State(PATH, "data"), prevent_initial_call=True)
    @inputs.checked()
    def sync_url(search, theme, category, only, grid, show, selected,  # type: ignore[no-untyped-def]
                 pathname, own_path):
        """URL ⇄ controls: a new search string (link, back button) sets the controls; a control change writes the
        search string (a history entry, so back restores the previous view). A URL of another path is the page
        being left: the router replaces it, and its view stays as it is."""
        search = inputs.text(search, "search")
        if inputs.text(pathname, "pathname") != inputs.text(own_path, "path"):
            return (no_update,) * 7
        if ctx.triggered_id == LOCATION:
            s = views.parse_map_query(search)
            current = _state_of(theme, category, only, grid, show, selected)
            if views.map_query(s) == views.map_query(current):
                return (no_update,) * 7
            return (no_update, s["layer"], s["category"] or "", s["only"], s["grid"] or "", s["show"],
                    s["building"])
        target = views.map_query(_state_of(theme, category, only, grid, show, selected))
        if target == search:
            return (no_update,) * 7
        return (target, *(no_update,) * 6)

    @app.callback(Output(BUILDINGS, "hideout"), Output(LEGEND, "children"), Output(CATEGORY_BOX, "style"),
                  Input(THEME, "value"), Input(CATEGORY, "value"), Input(FILTERS, "value"), Input(GRID, "value"),
                  Input(SELECTED, "data"), State(META, "data"), State(LANG, "value"), prevent_initial_call=True)
    @inputs.checked()
    def restyle(theme, category, only, grid, selected, meta, lang):  # type: ignore[no-untyped-def]
        """Every view change patches the hideout's view keys: the style function restyles; neither geometry nor
        the palettes travel again."""
        state = _state_of(theme, category, only, grid, [], selected)
        community_id, grids, _ = _meta(meta)
        box = {} if state["layer"] == legend.THEME_FINDINGS else {"display": "none"}
        hideout = Patch()
        for key, value in views.building_hideout(state, grids).items():
            hideout[key] = value
        if f"{CATEGORY}.value" in ctx.triggered_prop_ids:   # the codes of the chosen category, and only those
            scope = auth.require_scope()
            with Session(engine) as session:
                classes = views.category_classes(session, scope, community_id, state["category"])
            hideout["categoryClasses"] = classes or {}
        return hideout, theme_legend(state["layer"], lang, state["category"]), box

    @app.callback(Output(GRIDS, "hideout"), Output(WRAP, "className"), Input(OVERLAYS, "value"),
                  prevent_initial_call=True)
    @inputs.checked()
    def switch_overlays(values):  # type: ignore[no-untyped-def]
        values = inputs.codes(values, views.OVERLAYS, "show")
        return {"show": OVERLAY_GRIDS in values}, _wrap_class(values)

    @app.callback(Output(MAP, "viewport", allow_duplicate=True), Input(GRID, "value"), State(META, "data"),
                  prevent_initial_call=True)
    @inputs.checked()
    def zoom_to_grid(grid, meta):  # type: ignore[no-untyped-def]
        _, grids, bounds = _meta(meta)
        target = grids.get(inputs.text(grid, "grid"), {}).get("bounds") or bounds
        if not target:
            return no_update
        return {"bounds": target, "transition": "flyToBounds", "options": config.BOUNDS_OPTIONS}

    @app.callback(Output(SELECTED, "data", allow_duplicate=True), Input(BUILDINGS, "clickData"),
                  Input(ISSUES, "clickData"), prevent_initial_call=True)
    @inputs.checked()
    def click(building, issue):  # type: ignore[no-untyped-def]
        props = inputs.properties(building if ctx.triggered_id == BUILDINGS else issue)
        target = props.get("id") if ctx.triggered_id == BUILDINGS else props.get("building_id")
        return no_update if target is None else inputs.an_id(target, "building")

    @app.callback(Output(PANEL, "children"), Input(SELECTED, "data"), State(LANG, "value"))
    @inputs.checked(inputs.notice)
    def show_panel(building_id, lang):  # type: ignore[no-untyped-def]
        building_id = inputs.optional_id(building_id, "building")
        if building_id is None:
            return html.P(translator(lang)("panel.hint"), className="gm-hint")
        scope = auth.require_scope()
        with Session(engine) as session:
            summary = views.building_summary(session, scope, building_id)
        return building_panel(summary, lang)

    @app.callback(Output(SEARCH_RESULTS, "children"), Output(SELECTED, "data", allow_duplicate=True),
                  Output(MAP, "viewport", allow_duplicate=True),
                  Input(SEARCH_BUTTON, "n_clicks"), Input(SEARCH_INPUT, "n_submit"),
                  Input({"type": SEARCH_HIT, "building": ALL, "n": ALL}, "n_clicks"),
                  State(SEARCH_INPUT, "value"), State(META, "data"), State(LANG, "value"),
                  prevent_initial_call=True)
    @inputs.checked(lambda t: (inputs.notice(t), no_update, no_update))
    def run_search(_clicks, _submit, _hits, text, meta, lang):  # type: ignore[no-untyped-def]
        t = translator(lang)
        scope = auth.require_scope()
        text = inputs.text(text, "search")
        community_id, _, _ = _meta(meta)
        chosen = 0
        if isinstance(ctx.triggered_id, dict):
            if not any(inputs.sequence(_hits, "hits")):
                return no_update, no_update, no_update
            chosen = inputs.index(ctx.triggered_id.get("n"), "hit")
        with Session(engine) as session:
            result = views.search(session, scope, community_id, text, offset=offset)
        if result is None:
            return common.notice(t("denied.text"), "error"), no_update, no_update
        hits = result["hits"]
        if not hits:
            return (html.Div(t("search.none", text=text), className="gm-hint", id="search-none"),
                    no_update, no_update)
        chosen = min(chosen, len(hits) - 1)
        listing = html.Ul([html.Li(html.Button(h["text"], id={"type": SEARCH_HIT, "building": h["building_id"],
                                                                "n": i},
                                               className="gm-link-button" + (" gm-active" if i == chosen else "")))
                           for i, h in enumerate(hits)], className="gm-hits", id="search-hits")
        hit = hits[chosen]
        viewport = {"bounds": hit["bounds"], "transition": "flyToBounds",
                    "options": {**config.BOUNDS_OPTIONS, "maxZoom": 19}} if hit["bounds"] else no_update
        return listing, hit["building_id"], viewport

    @app.callback(Output(DOWNLOAD, "data"), Input(EXPORT_HTML, "n_clicks"), Input(EXPORT_PNG, "n_clicks"),
                  State(META, "data"), State(LOCATION, "search"), State(LANG, "value"), prevent_initial_call=True)
    @inputs.checked()
    def export(_html, _png, meta, search, lang):  # type: ignore[no-untyped-def]
        fmt = "png" if ctx.triggered_id == EXPORT_PNG else "html"
        scope = auth.require_scope()
        community_id, _, _ = _meta(meta)
        state = views.parse_map_query(inputs.text(search, "search"))
        t = translator(lang)
        names = labels(lang, "status", schema.VERIFICATION_LABELS)
        export_labels = {"legend": legend.legend(state["layer"], names), "legend_title": t(f"legend.{state['layer']}"),
                         "mismatch": t("legend.mismatch")}
        with store.session_scope(engine) as session:
            result = views.export_map(session, scope, community_id, state, fmt, labels=export_labels)
        if result is None:
            return no_update
        name, body = result
        return dcc.send_bytes(body, name)

    @app.callback(Output("url", "pathname", allow_duplicate=True), Input(COMMUNITY_SELECT, "value"),
                  State("url", "pathname"), prevent_initial_call=True)
    def choose_community(community_id, pathname):  # type: ignore[no-untyped-def]
        target = f"/community/{community_id}"
        return no_update if community_id is None or pathname == target else target
