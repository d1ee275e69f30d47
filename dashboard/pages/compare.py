"""The comparison page (`/compare`): the communities of a street side by side, for the street office's weekly
report — a sortable table (rank, the street's median, the change against a second day), bars per indicator
(the chosen one large, small multiples beside it), a line per community over time, and a map of the communities
coloured by the chosen indicator (a click opens the community map). Exports: the table (.xlsx) and the charts
(.png), each written to the audit log.

Aggregates only (dashboard/compare_views.py): street-office staff and community admins; grid roles get "无权查看".
Every callback asks `auth.require_scope()` again and passes the scope down; nothing is cached between requests.
Plotly's own "download as PNG" button is removed so that every export goes through the logged path.
"""
from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_leaflet as dl
import plotly.graph_objects as go
from dash import Input, Output, State, ctx, dcc, html, no_update
from plotly.subplots import make_subplots
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, compare_views, config, inputs
from dashboard.components import common
from dashboard.i18n import translator
from geodata import access, compare, indicators, store
from geodata.settings import Settings

PATH = "/compare"
LANG = "lang-switch"
STREET = "compare-street"
INDICATOR = "compare-indicator"
AS_OF = "compare-as-of"
AGAINST = "compare-against"
TABLE = "compare-table"
MAIN_BARS = "compare-bars"
SMALL_BARS = "compare-small"
LINES = "compare-lines"
MAP = "compare-map"
LAYER = "compare-communities"
LEGEND = "compare-legend"
SUMMARY = "compare-summary"
MESSAGE = "compare-message"
EXPORT_XLSX = "compare-export-xlsx"
EXPORT_PNG = "compare-export-png"
DOWNLOAD = "compare-download"

GRAPH_CONFIG = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["toImage", "select2d", "lasso2d", "autoScale2d"]}
FONT = {"family": "system-ui, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif", "size": 12}
MEDIAN_COLOR = "#1f2933"
BAR_COLOR = "#6b8fb5"


def _js(name: str) -> dict[str, str]:
    return {"variable": f"gridmap.{name}"}


def indicator_label(ind: dict[str, Any] | compare.Indicator, lang: str) -> str:
    get = ind.get if isinstance(ind, dict) else lambda k: getattr(ind, k)
    return get("label_en") if lang == "en" else get("label_zh")


# --- Layout --------------------------------------------------------------------------------------------------------

def _controls(streets: list[dict[str, Any]], as_of: str, first_visit: str | None, lang: str) -> html.Div:
    t = translator(lang)
    today = indicators.local_today().isoformat()
    picker = {"display_format": "YYYY-MM-DD", "max_date_allowed": today, "first_day_of_week": 1,
              "className": "gm-cmp-date"}
    street_box = html.Div([html.Label(t("compare.street"), htmlFor=STREET),
                           dcc.Dropdown(id=STREET, options=[{"label": s["name"], "value": s["id"]} for s in streets],
                                        value=streets[0]["id"], clearable=False, className="gm-cmp-street")],
                          className="gm-cmp-control", style=None if len(streets) > 1 else {"display": "none"})
    return html.Div([
        street_box,
        html.Div([html.Label(t("compare.indicator"), htmlFor=INDICATOR),
                  dcc.Dropdown(id=INDICATOR, value=compare_views.DEFAULT_KEY, clearable=False, searchable=True,
                               options=[{"label": indicator_label(i, lang), "value": i.key}
                                        for i in compare.INDICATORS], className="gm-cmp-indicator")],
                 className="gm-cmp-control gm-cmp-control-wide"),
        html.Div([html.Label(t("compare.as_of"), htmlFor=AS_OF),
                  dcc.DatePickerSingle(id=AS_OF, date=as_of, initial_visible_month=as_of, **picker)],
                 className="gm-cmp-control"),
        html.Div([html.Label(t("compare.against"), htmlFor=AGAINST),
                  dcc.DatePickerSingle(id=AGAINST, date=None, clearable=True, placeholder=t("compare.no_against"),
                                       initial_visible_month=first_visit or as_of, **picker)],
                 className="gm-cmp-control"),
        html.Div([html.Button(t("compare.export_xlsx"), id=EXPORT_XLSX, className="gm-button gm-button-primary"),
                  html.Button(t("compare.export_png"), id=EXPORT_PNG, className="gm-button"),
                  dcc.Download(id=DOWNLOAD)], className="gm-cmp-exports"),
    ], className="gm-cmp-controls")


def layout(engine: Engine, lang: str, settings: Settings) -> Any:
    """The page frame for the signed-in user (filled by the `update` callback); "无权查看" for grid roles."""
    t = translator(lang)
    scope = auth.current_scope()
    with Session(engine) as session:
        streets = compare_views.compare_streets(session, scope)
        if not streets:
            return common.denied(t)
        street_id = streets[0]["id"]
        activity = compare_views.activity_range(session, street_id)
        as_of = compare_views.default_as_of(activity, indicators.local_today())
        bounds = compare_views.street_bounds(session, street_id, offset=config.display_offset(settings))
    source = config.tile_source(settings)
    layers: list[Any] = [dl.TileLayer(**config.tile_layer_props(source))] if source is not None else []
    layers += [dl.GeoJSON(id=LAYER, data={"type": "FeatureCollection", "features": []},
                          style=_js("styleCompare"), onEachFeature=_js("labelCompare")),
               dl.ScaleControl(position="bottomleft", imperial=False)]
    view: dict[str, Any] = ({"bounds": bounds, "boundsOptions": {"padding": [16, 16]}} if bounds else
                            {"center": list(config.DEFAULT_CENTER), "zoom": config.DEFAULT_ZOOM})
    grid = dag.AgGrid(id=TABLE, rowData=[], columnDefs=[], className="ag-theme-quartz gm-cmp-grid",
                      defaultColDef={"sortable": True, "resizable": True, "suppressMovable": True},
                      dashGridOptions={"domLayout": "autoHeight", "animateRows": False,
                                       "suppressCellFocus": True, "pinnedBottomRowData": []},
                      columnSize="responsiveSizeToFit", style={"width": "100%"})
    results = html.Div([
        html.Div([
            html.Section([grid, html.P(t("compare.table_note"), className="gm-hint")], className="gm-cmp-table"),
            html.Section([html.Div(dl.Map(id=MAP, children=layers, **view, trackViewport=False,
                                          maxZoom=config.MAX_ZOOM, zoomSnap=0.25,
                                          attributionControl=source is not None, className="gm-map"),
                                   className="gm-cmp-map"),
                          html.Div(id=LEGEND, className="gm-cmp-legend")], className="gm-cmp-map-box"),
        ], className="gm-cmp-row"),
        html.Div([html.Section(dcc.Graph(id=MAIN_BARS, config=GRAPH_CONFIG), className="gm-cmp-chart"),
                  html.Section(dcc.Graph(id=LINES, config=GRAPH_CONFIG), className="gm-cmp-chart")],
                 className="gm-cmp-row"),
        html.Section(dcc.Graph(id=SMALL_BARS, config=GRAPH_CONFIG), className="gm-cmp-chart gm-cmp-small"),
    ], id="compare-results")
    parts: list[Any] = [
        html.Div([html.H1(t("compare.title"), className="gm-title"),
                  html.Div(t("compare.aggregates"), className="gm-subtitle")], className="gm-page-head"),
        _controls(streets, as_of.isoformat(), activity[0].isoformat() if activity else None, lang),
        html.Div(id=MESSAGE),
        html.Div(id=SUMMARY, className="gm-hint"),
        # A street of 15 communities answers in a fraction of a second, a city in seconds: past 300 ms the results
        # dim under a spinner while the table is recomputed (kept visible and mounted: the map keeps its size).
        dcc.Loading(results, type="circle", delay_show=300, overlay_style={"visibility": "visible", "opacity": .5},
                    target_components={TABLE: "rowData"}, parent_className="gm-cmp-loading"),
    ]
    page = html.Div(parts, className="gm-content gm-cmp-page", id="compare-page")
    synthetic = any(s["synthetic"] for s in streets)
    return [common.synthetic_banner(t), page] if synthetic else page


# --- Table ---------------------------------------------------------------------------------------------------------

def _formatter(field: str) -> dict[str, str]:
    return {"function": f"params.data ? params.data['{field}{compare_views.TEXT}'] : ''"}


def column_defs(data: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """AG Grid columns: rank, community (a link where the user may open the map), then data['columns']; cells
    show their text ('<5', '25.2%'), the numbers underneath sort."""
    t = translator(lang)
    defs: list[dict[str, Any]] = [
        {"field": "rank", "headerName": t("compare.rank"), "type": "numericColumn", "width": 76,
         "suppressSizeToFit": True, "pinned": "left", "headerTooltip": t("compare.rank_note")},
        {"field": "community", "headerName": t("compare.community"), "pinned": "left", "width": 128,
         "suppressSizeToFit": True,
         "cellClassRules": {"gm-cmp-link": "params.data && params.data.link === true"}},
    ]
    for col in data["columns"]:
        ind = compare.BY_KEY[col["key"]]
        label = indicator_label(ind, lang)
        if col["kind"] == "prev":
            header = t("compare.col_prev", label=label, date=data["against"])
        elif col["kind"] == "change":
            header = t("compare.col_change_pp" if ind.unit == compare.U_SHARE else "compare.col_change",
                       label=label)
        elif col["key"] == data["indicator"]["key"] and data["against"]:
            header = t("compare.col_prev", label=label, date=data["as_of"])
        else:
            header = label
        defs.append({"field": col["field"], "headerName": header, "type": "numericColumn",
                     "valueFormatter": _formatter(col["field"]), "headerTooltip": compare.DEFINITIONS[col["key"]],
                     "cellClass": "gm-cmp-chosen" if col["key"] == data["indicator"]["key"] else None,
                     "wrapHeaderText": True, "autoHeaderHeight": True, "minWidth": 96})
    return defs


# --- Charts --------------------------------------------------------------------------------------------------------

def _scale(unit: str) -> float:
    return 100.0 if unit == compare.U_SHARE else 1.0


def _axis_suffix(unit: str) -> str:
    return "%" if unit == compare.U_SHARE else ""


def main_bars(data: dict[str, Any], lang: str) -> go.Figure:
    """The chosen indicator, one horizontal bar per community (best on top), coloured as on the map, with the
    street's median as a dashed line; suppressed values are an empty bar marked '<5'."""
    t = translator(lang)
    panel = data["bars"][0]
    unit = panel["indicator"]["unit"]
    values = panel["values"]
    scale = _scale(unit)
    fig = go.Figure(go.Bar(
        y=[v["community"] for v in values], x=[0 if v["value"] is None else v["value"] * scale for v in values],
        orientation="h", marker={"color": [v["color"] for v in values], "line": {"color": "#52606d", "width": 0.6}},
        text=[v["text"] for v in values], textposition="outside", cliponaxis=False,
        name=data["as_of"], hovertemplate="%{y}: %{text}<extra></extra>"))
    if data["against"]:
        fig.add_trace(go.Scatter(
            y=[v["community"] for v in values], x=[None if v["prev"] is None else v["prev"] * scale for v in values],
            mode="markers", marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 3, "color": "#d64541"}},
            name=t("compare.then", date=data["against"]), text=[v["change_text"] for v in values],
            hovertemplate="%{y}: " + t("compare.then", date=data["against"]) + " %{x}, "
                          + t("compare.change") + " %{text}<extra></extra>"))
    if panel["median"] is not None:
        fig.add_vline(x=panel["median"] * scale, line_dash="dash", line_color=MEDIAN_COLOR,
                      annotation_text=f'{t("compare.median")} {panel["median_text"]}',
                      annotation_position="top", annotation_font_size=11)
    fig.update_layout(title={"text": indicator_label(panel["indicator"], lang), "x": 0.01},
                      height=max(260, 28 * len(values) + 110), margin={"l": 10, "r": 40, "t": 60, "b": 30},
                      font=FONT, plot_bgcolor="#ffffff", showlegend=bool(data["against"]),
                      legend={"orientation": "h", "y": -0.08})
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(ticksuffix=_axis_suffix(unit), gridcolor="#e4e7eb", rangemode="tozero")
    return fig


def small_bars(data: dict[str, Any], lang: str) -> go.Figure:
    """Small multiples: the other headline indicators, same community order as the main chart."""
    t = translator(lang)
    panels = data["bars"][1:]
    cols = 3
    rows = max(1, (len(panels) + cols - 1) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[indicator_label(p["indicator"], lang) for p in panels],
                        shared_yaxes=True, horizontal_spacing=0.06, vertical_spacing=0.12)
    for i, panel in enumerate(panels):
        r, c = i // cols + 1, i % cols + 1
        unit = panel["indicator"]["unit"]
        scale = _scale(unit)
        values = panel["values"]
        fig.add_trace(go.Bar(
            y=[v["community"] for v in values], x=[0 if v["value"] is None else v["value"] * scale for v in values],
            orientation="h", marker_color=BAR_COLOR, text=[v["text"] for v in values], textposition="outside",
            cliponaxis=False, textfont_size=10, hovertemplate="%{y}: %{text}<extra></extra>"), row=r, col=c)
        if panel["median"] is not None:
            fig.add_vline(x=panel["median"] * scale, line_dash="dash", line_color=MEDIAN_COLOR, line_width=1,
                          row=r, col=c)
        fig.update_xaxes(ticksuffix=_axis_suffix(unit), gridcolor="#e4e7eb", rangemode="tozero", row=r, col=c)
    n = len(data["bars"][0]["values"])
    fig.update_yaxes(autorange="reversed", automargin=True, tickfont_size=10)
    fig.update_layout(height=rows * max(200, 18 * n + 70) + 60, showlegend=False, font=FONT,
                      plot_bgcolor="#ffffff", margin={"l": 10, "r": 30, "t": 70, "b": 20},
                      title={"text": t("compare.small_title", median=t("compare.median")), "x": 0.01})
    return fig


def lines(data: dict[str, Any], lang: str) -> go.Figure:
    """The chosen indicator per community over time (first visit → as-of day), the street's median dashed."""
    t = translator(lang)
    series = data["series"] or {"days": [], "lines": [], "median": []}
    unit = data["indicator"]["unit"]
    scale = _scale(unit)
    fig = go.Figure()
    for line in series["lines"]:
        fig.add_trace(go.Scatter(x=series["days"], y=[None if v is None else v * scale for v in line["values"]],
                                 mode="lines+markers", name=line["community"], text=line["texts"],
                                 hovertemplate="%{x}: %{text}<extra>%{fullData.name}</extra>", connectgaps=False))
    fig.add_trace(go.Scatter(x=series["days"], y=[None if v is None else v * scale for v in series["median"]],
                             mode="lines", name=t("compare.median"),
                             line={"dash": "dash", "color": MEDIAN_COLOR, "width": 3}))
    label = indicator_label(data["indicator"], lang)
    fig.update_layout(title={"text": t("compare.trend", label=label), "x": 0.01}, height=420, font=FONT,
                      plot_bgcolor="#ffffff", margin={"l": 10, "r": 10, "t": 60, "b": 30},
                      legend={"font": {"size": 11}})
    fig.update_yaxes(ticksuffix=_axis_suffix(unit), gridcolor="#e4e7eb", automargin=True)
    fig.update_xaxes(type="date", tickformat="%m-%d")
    return fig


def legend_box(data: dict[str, Any], lang: str) -> Any:
    t = translator(lang)
    legend = data["map"]["legend"]
    items = list(legend["classes"])
    if legend["no_data"]:
        items.append((legend["no_data"], t("compare.no_data", hidden=data["suppress_text"])))
    return common.legend_box(indicator_label(data["indicator"], lang), items, id="compare-legend-box")


def summary(data: dict[str, Any], lang: str) -> str:
    t = translator(lang)
    text = t("compare.summary", street=data["street"]["label"], n=len(data["rows"]), as_of=data["as_of"])
    if data["against"]:
        text += t("compare.summary_against", against=data["against"])
    return text + " " + t("compare.suppressed_note", hidden=data["suppress_text"])


# --- Callbacks -----------------------------------------------------------------------------------------------------

def _day(value: str | None) -> Any:
    return compare_views.parse_day(value)


def _street_and_key(street_id: Any, key: Any) -> tuple[int, str]:
    """The chosen street (0 for none: compare_views then answers None) and indicator key."""
    return (inputs.optional_id(street_id, "street") or 0,
            inputs.optional_code(key, compare.BY_KEY, "indicator") or compare_views.DEFAULT_KEY)


def register_callbacks(app, engine: Engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    offset = config.display_offset(settings)

    @app.callback(Output(TABLE, "rowData"), Output(TABLE, "columnDefs"), Output(TABLE, "dashGridOptions"),
                  Output(MAIN_BARS, "figure"), Output(LINES, "figure"), Output(SMALL_BARS, "figure"),
                  Output(LAYER, "data"), Output(LEGEND, "children"), Output(SUMMARY, "children"),
                  Output(MESSAGE, "children"), Output(MAP, "viewport"),
                  Input(STREET, "value"), Input(INDICATOR, "value"), Input(AS_OF, "date"), Input(AGAINST, "date"),
                  Input(LANG, "value"), State(TABLE, "dashGridOptions"))
    @inputs.checked(lambda t: ((no_update,) * 9 + (inputs.notice(t), no_update)))
    def update(street_id, key, as_of, against, lang, grid_options):  # type: ignore[no-untyped-def]
        t = translator(lang)
        scope = auth.require_scope()
        street_id, key = _street_and_key(street_id, key)
        grid_options = inputs.mapping(grid_options, "dashGridOptions")
        nothing = (no_update,) * 9
        try:
            as_of_day, against_day = _day(as_of), _day(against)
        except ValueError:
            return (*nothing, common.notice(t("compare.bad_date"), "error"), no_update)
        with Session(engine) as session:
            data = compare_views.compare_data(session, scope, street_id, key=key, as_of=as_of_day,
                                              against=against_day, offset=offset)
        if data is None:
            return (*nothing, common.notice(t("denied.text"), "error", id="compare-denied"), no_update)
        options = {**grid_options, "pinnedBottomRowData": [{**data["median"], "community": t("compare.median")}]}
        viewport = no_update
        if ctx.triggered_id == STREET and data["map"]["bounds"]:
            viewport = {"bounds": data["map"]["bounds"], "transition": "flyToBounds"}
        return (data["rows"], column_defs(data, lang), options, main_bars(data, lang), lines(data, lang),
                small_bars(data, lang), data["map"]["geojson"], legend_box(data, lang), summary(data, lang), None,
                viewport)

    @app.callback(Output(DOWNLOAD, "data"), Output(MESSAGE, "children", allow_duplicate=True),
                  Input(EXPORT_XLSX, "n_clicks"), Input(EXPORT_PNG, "n_clicks"),
                  State(STREET, "value"), State(INDICATOR, "value"), State(AS_OF, "date"), State(AGAINST, "date"),
                  State(LANG, "value"), prevent_initial_call=True)
    @inputs.checked(lambda t: (no_update, inputs.notice(t)))
    def export(_xlsx, _png, street_id, key, as_of, against, lang):  # type: ignore[no-untyped-def]
        t = translator(lang)
        scope = auth.require_scope()
        street_id, key = _street_and_key(street_id, key)
        try:
            as_of_day = _day(as_of) or indicators.local_today()
            against_day = _day(against)
        except ValueError:
            return no_update, common.notice(t("compare.bad_date"), "error")
        with store.session_scope(engine) as session:
            if ctx.triggered_id == EXPORT_PNG:
                labels = {"median": t("compare.median"), "trend": t("compare.trend"),
                          "title": t("compare.png_title"), "against": t("compare.png_against"),
                          "note": t("compare.suppressed_note", hidden=f"<{compare.SUPPRESS_BELOW}"),
                          "synthetic": t("banner.synthetic")}
                result = compare_views.export_png(session, scope, street_id, key=key, as_of=as_of_day,
                                                  against=against_day, lang=lang, labels=labels)
            else:
                result = compare_views.export_xlsx(session, scope, street_id, key=key, as_of=as_of_day,
                                                   against=against_day)
        if result is None:
            return no_update, common.notice(t("denied.text"), "error")
        name, body = result
        return dcc.send_bytes(body, name), common.notice(t("compare.exported", name=name), "ok",
                                                         id="compare-exported")

    @app.callback(Output("url", "pathname", allow_duplicate=True), Output("url", "search", allow_duplicate=True),
                  Input(LAYER, "clickData"), Input(TABLE, "cellClicked"), State(STREET, "value"),
                  prevent_initial_call=True)
    @inputs.checked()
    def open_community(click, cell, street_id):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        street_id = inputs.optional_id(street_id, "street") or 0
        cell = inputs.mapping(cell, "cellClicked")
        with Session(engine) as session:
            if ctx.triggered_id == LAYER:
                target = inputs.properties(click).get("id")
            elif cell.get("colId") == "community":
                target = compare_views.community_id_by_name(session, scope, street_id, str(cell.get("value") or ""))
            else:
                target = None
            if target is None or not str(target).isdigit() or not access.community_visible(session, scope,
                                                                                            int(target)):
                return no_update, no_update
        return f"/community/{int(target)}", ""
