"""The map page (`/`, `/community/<id>`): grids by coverage, buildings by a chosen theme, a side panel.

Geometry is sent once with the page; the layer switcher and a building click change only the layers' `hideout`
(read by the committed style functions in assets/gridmap.js), never the data.
"""
from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import Input, Output, State, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, config, views
from dashboard.components import common
from dashboard.i18n import labels, translator
from geodata import schema
from geodata.settings import Settings
from layers import colors, legend

MAP = "map"
WRAP = "map-wrap"
BUILDINGS = "buildings-layer"
GRIDS = "grids-layer"
THEME = "map-theme"
OVERLAYS = "map-overlays"
LEGEND = "map-legend"
PANEL = "building-panel"
COMMUNITY_SELECT = "community-select"
LANG = "lang-switch"

OVERLAY_GRIDS = "grids"
OVERLAY_LABELS = "labels"


def _js(name: str) -> dict[str, str]:
    """A reference to a function of the committed asset (assets/gridmap.js)."""
    return {"variable": f"gridmap.{name}"}


def theme_legend(theme: str, lang: str) -> list[Any]:
    t = translator(lang)
    items = legend.legend(theme, labels(lang, "status", schema.VERIFICATION_LABELS))
    return [common.legend_box(t(f"legend.{theme}"), items),
            common.legend_box(t("legend.coverage"), legend.coverage_legend(), shape="outline")]


def _map(data: dict[str, Any], settings: Settings) -> dl.Map:
    children: list[Any] = []
    source = config.tile_source(settings)
    if source is not None:
        children.append(dl.TileLayer(url=source.url, attribution=source.attribution, subdomains=source.subdomains,
                                     maxNativeZoom=source.max_native_zoom, maxZoom=config.MAX_ZOOM))
    children += [
        dl.GeoJSON(id="outline-layer", data=data["outline"], style=_js("styleOutline"), interactive=False),
        dl.GeoJSON(id="paths-layer", data=data["paths"], style=_js("stylePath"), interactive=False),
        dl.GeoJSON(id=GRIDS, data=data["grids"], style=_js("styleGrid"), onEachFeature=_js("labelGrid"),
                   hideout={"show": True}, interactive=False),
        dl.GeoJSON(id=BUILDINGS, data=data["buildings"], style=_js("styleBuilding"),
                   onEachFeature=_js("labelBuilding"),
                   hideout={"theme": legend.THEME_STATUS, "selected": None, "labelZoom": config.LABEL_MIN_ZOOM}),
        dl.ScaleControl(position="bottomleft", imperial=False),
    ]
    view: dict[str, Any] = {"center": list(config.DEFAULT_CENTER), "zoom": config.DEFAULT_ZOOM}
    if data["bounds"]:
        # Fitted to the data; the right padding keeps buildings clear of the layer panel floating over the map.
        view = {"bounds": data["bounds"],
                "boundsOptions": {"paddingTopLeft": [24, 24], "paddingBottomRight": [236, 24]}}
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
        common.stat(t("stat.open_findings"), totals["open_findings"], tone="bad" if totals["open_findings"] else None),
        common.stat(t("stat.open_events"), totals["open_events"], tone="warn" if totals["open_events"] else None),
        common.stat(t("stat.elderly_60"), totals["elderly_60"]),
        common.stat(t("stat.living_alone"), totals["living_alone"]),
    ], className="gm-stats", id="map-stats")


def layout(data: dict[str, Any] | None, communities: list[dict[str, Any]], lang: str, settings: Settings) -> Any:
    t = translator(lang)
    if data is None:
        return common.denied(t)
    community = data["community"]
    themes = [{"label": t(f"theme.{theme}"), "value": theme} for theme in legend.THEMES]
    overlays = [{"label": t("overlay.grids"), "value": OVERLAY_GRIDS},
                {"label": t("overlay.labels"), "value": OVERLAY_LABELS}]
    chooser: Any = html.H1(community["name"], className="gm-title")
    if len(communities) > 1:
        chooser = dcc.Dropdown(id=COMMUNITY_SELECT, options=[{"label": f'{c["street"]} · {c["name"]}',
                                                              "value": c["id"]} for c in communities],
                               value=community["id"], clearable=False, className="gm-community-select")
    controls = html.Div([
        html.Div(t("map.layers"), className="gm-legend-title"),
        dcc.RadioItems(id=THEME, options=themes, value=legend.THEME_STATUS, className="gm-radio"),
        dcc.Checklist(id=OVERLAYS, options=overlays, value=[OVERLAY_GRIDS, OVERLAY_LABELS], className="gm-check"),
        html.Div(theme_legend(legend.THEME_STATUS, lang), id=LEGEND),
    ], className="gm-map-controls", id="map-controls")
    side = html.Aside([
        html.Div([chooser, html.Div(f'{community["street"]}' + (f' · {community["compound"]}'
                                                                if community["compound"] else ""),
                                    className="gm-subtitle")], className="gm-side-head"),
        _totals(data, t),
        # The clicked building comes first: on a laptop screen it must not fall below the fold.
        html.Div(html.P(t("panel.hint"), className="gm-hint"), id=PANEL, className="gm-panel"),
        html.H3(t("coverage.title")),
        _coverage_table(data, t),
    ], className="gm-side")
    page = html.Div([html.Div([_map(data, settings), controls], id=WRAP, className="gm-map-wrap"), side],
                    className="gm-map-page")
    return [common.synthetic_banner(t), page] if community["synthetic"] else page


def building_panel(summary: dict[str, Any] | None, lang: str) -> Any:
    """The side panel of a clicked building: counts, a compact 楼盘表 (rooms only) and the link to the sheet."""
    t = translator(lang)
    if summary is None:
        return common.notice(t("denied.text"), "error")
    b = summary["building"]
    head = html.Div([html.H3(b["label"], id="panel-title"), common.status_chip(b["status"], t)],
                    className="gm-panel-head")
    facts = html.Ul([
        html.Li(f'{t("stat.households")} {b["households"]} · {t("stat.verified_n")} {b["verified"]}'),
        html.Li(f'{t("stat.open_findings")} {b["open_findings"]} · {t("stat.open_events")} {b["open_events"]}'),
        html.Li(f'{t("stat.elderly_60")} {b["elderly_60"]} · {t("stat.living_alone")} {b["living_alone"]} · '
                f'{t("stat.party_families")} {b["party_families"]}'),
    ], className="gm-facts")
    parts: list[Any] = [head, html.Div(b["grid"] or "", className="gm-subtitle"), facts]
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


def register_callbacks(app, engine: Engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    @app.callback(Output(BUILDINGS, "hideout", allow_duplicate=True), Output(LEGEND, "children"),
                  Input(THEME, "value"), State(BUILDINGS, "hideout"), State(LANG, "value"),
                  prevent_initial_call=True)
    def switch_theme(theme, hideout, lang):  # type: ignore[no-untyped-def]
        if theme not in legend.THEMES:
            return no_update, no_update
        return {**(hideout or {}), "theme": theme}, theme_legend(theme, lang)

    @app.callback(Output(GRIDS, "hideout"), Output(WRAP, "className"), Input(OVERLAYS, "value"),
                  prevent_initial_call=True)
    def switch_overlays(values):  # type: ignore[no-untyped-def]
        values = values or []
        wrap = "gm-map-wrap" + ("" if OVERLAY_LABELS in values else " gm-hide-labels")
        return {"show": OVERLAY_GRIDS in values}, wrap

    @app.callback(Output(PANEL, "children"), Output(BUILDINGS, "hideout", allow_duplicate=True),
                  Input(BUILDINGS, "clickData"), State(BUILDINGS, "hideout"), State(LANG, "value"),
                  prevent_initial_call=True)
    def select_building(click, hideout, lang):  # type: ignore[no-untyped-def]
        props = (click or {}).get("properties") or {}
        building_id = props.get("id")
        if building_id is None:
            return no_update, no_update
        scope = auth.require_scope()
        with Session(engine) as session:
            summary = views.building_summary(session, scope, int(building_id))
        return building_panel(summary, lang), {**(hideout or {}), "selected": building_id}

    @app.callback(Output("url", "pathname", allow_duplicate=True), Input(COMMUNITY_SELECT, "value"),
                  State("url", "pathname"), prevent_initial_call=True)
    def choose_community(community_id, pathname):  # type: ignore[no-untyped-def]
        target = f"/community/{community_id}"
        return no_update if community_id is None or pathname == target else target
