"""The visit-planning page (`/plan`): today's doors in walking order, care rounds, and the day's progress.

Three tabs over one grid chooser: 今日路线 (choose what to visit, '生成今日路线', the route on a map — a polyline
per worker, numbered stops — and the stop list with a link per stop to its flat page, where the outcome is
recorded; printable sheets as .xlsx / .html), 独居老人关爱 (elderly living alone not contacted for N days) and,
for grid leaders and community admins, 今日进度 (per grid: planned vs done, the day's visits, a map of the grid
with today's visited buildings).

Everything the callbacks return comes from dashboard.plan_views, which checks the signed-in user's scope again on
every request: the controls only offer the user's own grids, and a crafted request for another grid gets nothing.
"""
from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, config, inputs
from dashboard import plan_views as pv
from dashboard.components import common
from dashboard.i18n import translator
from geodata import store
from geodata.errors import AccessDenied, GridMapError
from geodata.settings import Settings
from layers import routes

PATH = "/plan"
LANG = "lang-switch"
GRID = "plan-grid"
WHAT = "plan-what"
DAYS = "plan-days"
WORKERS = "plan-workers"
GENERATE = "plan-generate"
MESSAGE = "plan-message"
PLAN_ID = "plan-id"
TABS = "plan-tabs"
ROUTE = "plan-route"
CARE = "plan-care"
CARE_DAYS = "plan-care-days"
PROGRESS = "plan-progress"
REFRESH = "plan-refresh"
XLSX, HTML, DOWNLOAD = "plan-xlsx", "plan-html", "plan-download"

#: Map styles (static: these small maps are redrawn whole, no restyling through a hideout).
_OUTLINE = {"color": "#2f4b7c", "weight": 2, "dashArray": "6 4", "fill": True, "fillColor": "#fbfaf6",
            "fillOpacity": 0.6, "className": "gm-plan-outline"}
_IDLE = {"color": "#ffffff", "weight": 1, "fillColor": routes.IDLE_COLOR, "fillOpacity": 0.9,
         "className": "gm-plan-building"}
_PLANNED = {"color": "#ffffff", "weight": 1, "fillColor": routes.PLANNED_COLOR, "fillOpacity": 0.9,
            "className": "gm-plan-building gm-plan-building-planned"}
_VISITED = {"color": "#ffffff", "weight": 1, "fillColor": routes.DONE_COLOR, "fillOpacity": 0.95,
            "className": "gm-plan-building gm-plan-building-visited"}


# --- pieces --------------------------------------------------------------------------------------

def _item_label(item: list[Any], t) -> str:  # type: ignore[no-untyped-def]
    kind, code = item
    if kind == pv.I_FINDING:
        return t(f"finding.{code}", _default=code)
    if kind == pv.I_EVENT:
        return t("plan.what.events") + (f'·{t(f"event_category.{code}")}' if code else "")
    return t(f"plan.what.{kind}")


def _stops_label(orders: list[int]) -> str:
    return str(orders[0]) if len(orders) == 1 else f"{orders[0]}–{orders[-1]}"


def _marker(m: dict[str, Any], worker: int, color: str, t) -> dl.DivMarker:  # type: ignore[no-untyped-def]
    label = _stops_label(m["orders"])
    width = 14 + 8 * len(label)
    # Markers of several workers in one building sit side by side instead of on top of each other.
    shift = (worker - 1) * (width + 4)
    background = routes.DONE_COLOR if m["done"] else color
    done = " gm-plan-stop-done" if m["done"] else ""
    return dl.DivMarker(
        position=m["latlng"], keyboard=False,
        iconOptions={"className": f"gm-plan-stop gm-plan-stop-w{worker}{done}",
                     "html": f'<span style="background:{background};width:{width}px">{label}</span>',
                     "iconSize": [width, 22], "iconAnchor": [width / 2 - shift, 11]},
        children=dl.Tooltip(t("plan.marker", building=m["building"], stops=label)))


def _map(buildings: dict[str, Any], settings: Settings, *, id: str, routes_: list[dict[str, Any]] | None = None,
         start: list[float] | None = None, t=None) -> dl.Map:  # type: ignore[no-untyped-def]
    children: list[Any] = []
    source = config.tile_source(settings)
    if source is not None:
        children.append(dl.TileLayer(**config.tile_layer_props(source)))
    children += [dl.GeoJSON(data=buildings["outline"], style=_OUTLINE, interactive=False),
                 dl.GeoJSON(data=buildings["idle"], style=_IDLE, interactive=False),
                 dl.GeoJSON(data=buildings["planned"], style=_PLANNED, interactive=False),
                 dl.GeoJSON(data=buildings["visited"], style=_VISITED, interactive=False)]
    for r in routes_ or []:
        if len(r["path"]) > 1:
            children.append(dl.Polyline(positions=r["path"], color=r["color"], weight=4, opacity=0.85,
                                        className=f'gm-plan-path gm-plan-path-w{r["worker"]}', interactive=False))
    if start:
        children.append(dl.DivMarker(position=start, keyboard=False, iconOptions={
            "className": "gm-plan-start", "html": f'<span>{t("plan.start_short")}</span>', "iconSize": [24, 24],
            "iconAnchor": [12, 12]}, children=dl.Tooltip(t("plan.start"))))
    for r in routes_ or []:
        children += [_marker(m, r["worker"], r["color"], t) for m in r["markers"]]
    children.append(dl.ScaleControl(position="bottomleft", imperial=False))
    view: dict[str, Any] = {"center": list(config.DEFAULT_CENTER), "zoom": config.DEFAULT_ZOOM}
    if buildings["bounds"]:
        view = {"bounds": buildings["bounds"], "boundsOptions": {"padding": [24, 24]}}
    return dl.Map(id=id, children=children, **view, trackViewport=False, maxZoom=config.MAX_ZOOM, zoomSnap=0.25,
                  attributionControl=source is not None, className="gm-plan-map")


def _stop_row(s: dict[str, Any], worker: int, t) -> html.Tr:  # type: ignore[no-untyped-def]
    what = t("plan.sep").join(_item_label(i, t) for i in s["items"])
    hints = "；".join(s["hints"])
    key = f'{worker}-{s["order"]}' if s["order"] is not None else f'u-{s["building_id"]}-{s["flat_id"]}'
    if s["flat_id"] is not None:
        action: Any = dcc.Link(t("plan.open_done") if s["done"] else t("plan.record"), href=f'/flat/{s["flat_id"]}',
                               id=f"plan-stop-link-{key}", className="gm-plan-record")
    else:
        action = html.Span(t("plan.at_entrance"), className="gm-muted")
    tick = html.Span("✓", className="gm-plan-tick", title=t("plan.done_today")) if s["done"] else \
        html.Span("", className="gm-plan-tick gm-plan-tick-empty")
    return html.Tr([
        html.Td([tick, html.Span("" if s["order"] is None else str(s["order"]), className="gm-plan-order")],
                className="gm-num"),
        html.Td(s["building"]), html.Td("" if s["unit"] is None else str(s["unit"])), html.Td(s["room"] or ""),
        html.Td("" if s["floor"] is None else str(s["floor"]), className="gm-num"),
        html.Td([html.Div(what), html.Div(hints, className="gm-muted gm-small") if hints else None]),
        html.Td(s["phone"] or t("member.no_phone"), className="gm-mono"),
        html.Td(t(f'method.{s["method"]}', _default=s["method"])),
        html.Td(action),
    ], id=f"plan-stop-{key}", className="gm-plan-row" + (" gm-plan-done" if s["done"] else ""))


def _stop_table(stops: list[dict[str, Any]], worker: int, t) -> html.Table:  # type: ignore[no-untyped-def]
    head = html.Thead(html.Tr([html.Th(t(f"plan.col.{c}")) for c in
                               ("order", "building", "unit", "room", "floor", "what", "phone", "method", "result")]))
    return html.Table([head, html.Tbody([_stop_row(s, worker, t) for s in stops])],
                      className="gm-table gm-plan-stops", id=f"plan-stops-{worker}")


def route_body(view: dict[str, Any] | None, lang: str, settings: Settings) -> Any:
    """The 今日路线 tab for a route view (plan_views.route_view), or the hint to generate one."""
    t = translator(lang)
    if view is None:
        return html.P(t("plan.none_yet"), className="gm-hint", id="plan-none")
    head = html.Div([
        html.Div(t("plan.summary", grid=view["grid"], date=view["as_of"], by=view["created_by"],
                   at=view["created_at"], flats=view["flats"], done=view["done"]), id="plan-summary"),
        html.Div(t("plan.distances_" + view["distances"]), className="gm-muted gm-small"),
    ], className="gm-plan-head")
    workers = []
    for r in view["routes"]:
        line = t("plan.worker_line", worker=r["worker"], flats=r["flats"], metres=round(r["length_m"]),
                 minutes=round(r["minutes"]), done=r["done"])
        workers.append(html.Section([
            html.H3([common.swatch(r["color"]), line], id=f'plan-worker-{r["worker"]}'),
            _stop_table(r["stops"], r["worker"], t) if r["stops"] else html.P(t("plan.no_stops"), className="gm-hint"),
        ], className="gm-plan-worker"))
    if view["unplaced"]:
        workers.append(html.Section([html.H3(t("plan.unplaced")), _stop_table(view["unplaced"], 0, t)],
                                    className="gm-plan-worker", id="plan-unplaced"))
    legend = html.Div([html.Span([common.swatch(routes.DONE_COLOR), t("plan.legend.visited")]),
                       html.Span([common.swatch(routes.PLANNED_COLOR), t("plan.legend.planned")]),
                       html.Span([common.swatch(routes.IDLE_COLOR), t("plan.legend.idle")])],
                      className="gm-plan-legend")
    return html.Div([
        head,
        html.Div([html.Div([_map(view["buildings"], settings, id="plan-map", routes_=view["routes"],
                                 start=view["start"], t=t), legend], className="gm-plan-map-col"),
                  html.Div(workers, className="gm-plan-list")], className="gm-plan-body"),
    ], id="plan-view", **{"data-plan": str(view["plan_id"])})


def care_body(rows: list[dict[str, Any]] | None, days: Any, lang: str) -> Any:
    """The 独居老人关爱 tab: overdue contacts, never contacted first."""
    t = translator(lang)
    if rows is None:
        return common.notice(t("denied.text"), "error", id="plan-care-denied")
    if not rows:
        return html.P(t("plan.care.none", days=days), className="gm-hint", id="plan-care-none")
    head = html.Thead(html.Tr([html.Th(t(f"plan.care.col.{c}")) for c in
                               ("place", "floor", "last", "days", "method", "phone", "action")]))
    body = [html.Tr([
        html.Td(t("plan.care.place", building=r["building"], unit=r["unit"], room=r["room"])),
        html.Td("" if r["floor"] is None else str(r["floor"]), className="gm-num"),
        html.Td(r["last_contact"] or t("plan.care.never")),
        html.Td("–" if r["days_since"] is None else str(r["days_since"]), className="gm-num"),
        html.Td(t(f'method.{r["method"]}')),
        html.Td(r["phone"] or t("member.no_phone"), className="gm-mono"),
        html.Td(dcc.Link(t("plan.care.record"), href=f'/flat/{r["flat_id"]}',
                         id=f'plan-care-link-{r["household_id"]}')),
    ], id=f'plan-care-{r["household_id"]}') for r in rows]
    return html.Div([html.Div(t("plan.care.count", n=len(rows), days=days), className="gm-subtitle"),
                     html.Table([head, html.Tbody(body)], className="gm-table gm-plan-care")], id="plan-care-table")


def progress_body(rows: list[dict[str, Any]] | None, detail: dict[str, Any] | None, lang: str,
                  settings: Settings) -> Any:
    """The 今日进度 tab: planned vs done per grid, and the chosen grid's day on a small map."""
    t = translator(lang)
    if rows is None:
        return common.notice(t("denied.text"), "error")
    head = html.Thead(html.Tr([html.Th(t(f"plan.progress.col.{c}")) for c in
                               ("grid", "planned", "done", "visits", "care", "workers")]))
    body = []
    for r in rows:
        planned = "–" if r["planned"] is None else str(r["planned"])
        share = None if not r["planned"] else r["done"] / r["planned"]
        body.append(html.Tr([
            html.Td(r["name"]), html.Td(planned, className="gm-num"),
            html.Td([common.progress(share, routes.DONE_COLOR), html.Span(
                f'{r["done"]}' + ("" if r["planned"] is None else f' ({common.percent(share)})'), className="gm-num")],
                className="gm-progress-cell"),
            html.Td(str(r["visits"]), className="gm-num"), html.Td(str(r["care"]), className="gm-num"),
            html.Td("、".join(r["workers"]) or "–"),
        ], id=f'plan-progress-{r["grid_id"]}'))
    parts: list[Any] = [html.Table([head, html.Tbody(body)], className="gm-table gm-plan-progress",
                                   id="plan-progress-table")]
    if detail is not None:
        activity = detail["activity"]
        rows_ = [html.Tr([html.Td(a["at"]), html.Td(a["by"]),
                          html.Td(dcc.Link(t("plan.care.place", building=a["building"], unit=a["unit"], room=a["room"]),
                                           href=f'/flat/{a["flat_id"]}')),
                          html.Td(t(f'plan.kind.{a["kind"]}') + " · "
                                  + t(f'method.{a["method"]}', _default=a["method"])),
                          html.Td(t(f'result.{a["result"]}' if a["kind"] == "visit" else f'care.outcome.{a["result"]}',
                                    _default=a["result"]))]) for a in activity]
        table = (html.Table([html.Thead(html.Tr([html.Th(t(f"plan.activity.col.{c}")) for c in
                                                 ("at", "by", "place", "how", "result")])), html.Tbody(rows_)],
                            className="gm-table", id="plan-activity")
                 if activity else html.P(t("plan.activity.none"), className="gm-hint", id="plan-activity-none"))
        legend = html.Div([html.Span([common.swatch(routes.DONE_COLOR), t("plan.legend.visited")]),
                           html.Span([common.swatch(routes.PLANNED_COLOR), t("plan.legend.planned")]),
                           html.Span([common.swatch(routes.IDLE_COLOR), t("plan.legend.idle")])],
                          className="gm-plan-legend")
        parts.append(html.Div([
            html.Div([_map(detail["buildings"], settings, id="plan-progress-map", t=t), legend],
                     className="gm-plan-map-col gm-plan-map-small"),
            html.Div([html.H3(t("plan.activity.title", grid=detail["grid"])), table], className="gm-plan-list"),
        ], className="gm-plan-body"))
    return html.Div(parts, id="plan-progress-body")


# --- layout --------------------------------------------------------------------------------------

def _controls(grids: list[dict[str, Any]], grid_id: int, leader: bool, t) -> html.Div:  # type: ignore[no-untyped-def]
    options = [{"label": g["name"] if len({x["community_id"] for x in grids}) == 1
                else f'{g["community"]} · {g["name"]}', "value": g["id"]} for g in grids]
    what = [{"label": t(f"plan.group.{g}"), "value": g} for g in pv.WHAT_GROUPS]
    return html.Div([
        html.Div([html.Label(t("plan.grid"), htmlFor=GRID),
                  dcc.Dropdown(id=GRID, options=options, value=grid_id, clearable=False, searchable=False,
                               disabled=len(grids) == 1, className="gm-small-select")], className="gm-plan-field"),
        html.Div([html.Label(t("plan.what")),
                  dcc.Checklist(id=WHAT, options=what, value=list(pv.DEFAULT_GROUPS), inline=True,
                                className="gm-radio-inline gm-plan-what")], className="gm-plan-field gm-plan-wide"),
        html.Div([html.Label(t("plan.days"), htmlFor=DAYS),
                  dcc.Input(id=DAYS, type="number", min=1, max=pv.MAX_DAYS, step=1, value=pv.DEFAULT_DAYS,
                            className="gm-input gm-plan-number")], className="gm-plan-field"),
        html.Div([html.Label(t("plan.workers"), htmlFor=WORKERS),
                  dcc.Input(id=WORKERS, type="number", min=1, max=pv.MAX_WORKERS, step=1, value=1,
                            className="gm-input gm-plan-number")],
                 className="gm-plan-field", style=None if leader else {"display": "none"}),
        html.Div([html.Button(t("plan.generate"), id=GENERATE, n_clicks=0, className="gm-button gm-button-primary"),
                  html.Button(t("plan.download_xlsx"), id=XLSX, n_clicks=0, className="gm-button gm-button-quiet"),
                  html.Button(t("plan.download_html"), id=HTML, n_clicks=0, className="gm-button gm-button-quiet"),
                  dcc.Download(id=DOWNLOAD)], className="gm-plan-actions"),
    ], className="gm-card gm-plan-controls", id="plan-controls")


def layout(engine: Engine, lang: str, settings: Settings) -> Any:
    t = translator(lang)
    scope = auth.current_scope()
    if not pv.may_plan(scope):
        return common.denied(t)
    offset = config.display_offset(settings)
    leader = pv.leads(scope)
    with Session(engine) as session:
        grids = pv.plannable_grids(session, scope)
        if not grids:
            return html.Div(common.notice(t("plan.no_grid"), "info", id="plan-no-grid"), className="gm-content")
        grid_id = grids[0]["id"]
        plan_id = pv.latest_plan_id(session, scope, grid_id)
        view = pv.route_view(session, scope, plan_id, offset=offset) if plan_id else None
        care = pv.care_rows(session, scope, grid_id, pv.DEFAULT_DAYS)
        progress = (pv.progress(session, scope), pv.progress_detail(session, scope, grid_id, offset=offset)) \
            if leader else None
    tabs = [dcc.Tab(label=t("plan.tab.route"), value="route", children=[
                html.Div(id=MESSAGE), dcc.Loading(html.Div(route_body(view, lang, settings), id=ROUTE),
                                                  type="circle", delay_show=300)]),
            dcc.Tab(label=t("plan.tab.care"), value="care", children=[
                html.Div([html.Label(t("plan.care.days"), htmlFor=CARE_DAYS),
                          dcc.Input(id=CARE_DAYS, type="number", min=1, max=pv.MAX_DAYS, step=1,
                                    value=pv.DEFAULT_DAYS, debounce=True, className="gm-input gm-plan-number"),
                          html.Span(t("plan.care.hint"), className="gm-muted gm-small")], className="gm-plan-inline"),
                html.Div(care_body(care, pv.DEFAULT_DAYS, lang), id=CARE)])]
    if leader:
        tabs.append(dcc.Tab(label=t("plan.tab.progress"), value="progress", children=[
            html.Div([html.Button(t("plan.refresh"), id=REFRESH, n_clicks=0, className="gm-button gm-button-small"),
                      html.Span(t("plan.progress.hint"), className="gm-muted gm-small")], className="gm-plan-inline"),
            html.Div(progress_body(*progress, lang, settings), id=PROGRESS)], id="plan-tab-progress"))
    # Without the progress tab its callback still needs its output and trigger in the layout (hidden, idle).
    hidden = [] if leader else [html.Div(id=PROGRESS, hidden=True), html.Button(id=REFRESH, hidden=True)]
    synthetic = any(g["synthetic"] for g in grids)
    page = html.Div([
        html.Div([html.H1(t("plan.title"), className="gm-title"),
                  html.Span(grids[0]["community"], className="gm-subtitle")], className="gm-page-head"),
        _controls(grids, grid_id, leader, t),
        dcc.Tabs(id=TABS, value="route", children=tabs, className="gm-plan-tabs"),
        dcc.Store(id=PLAN_ID, data=plan_id), *hidden,
    ], className="gm-content gm-plan-page", id="plan-page")
    return [common.synthetic_banner(t), page] if synthetic else page


# --- callbacks -----------------------------------------------------------------------------------

def register_callbacks(app, engine: Engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    offset = config.display_offset(settings)

    @app.callback(Output(PLAN_ID, "data"), Output(ROUTE, "children"), Output(MESSAGE, "children"),
                  Input(GENERATE, "n_clicks"), Input(GRID, "value"),
                  State(WHAT, "value"), State(WORKERS, "value"), State(DAYS, "value"), State(LANG, "value"),
                  prevent_initial_call=True, running=[(Output(GENERATE, "disabled"), True, False)])
    @inputs.checked(lambda t: (no_update, no_update, inputs.notice(t, id="plan-error")))
    def show_route(n, grid_id, what, workers, days, lang):  # type: ignore[no-untyped-def]
        """'生成今日路线' plans and saves a route; choosing a grid shows its latest route of the day."""
        t = translator(lang)
        scope = auth.require_scope()
        grid_id = inputs.optional_id(grid_id, "grid")
        what = inputs.codes(what, pv.WHAT_GROUPS, "what")
        if ctx.triggered_id == GENERATE and not what:
            return no_update, no_update, common.notice(t("plan.need_what"), "error", id="plan-error")
        plan_id = None
        message: Any = None
        try:
            if ctx.triggered_id == GENERATE and n:
                with store.session_scope(engine) as session:
                    plan_id = pv.generate(session, scope, grid_id, what, workers=workers or 1,
                                          days=days or pv.DEFAULT_DAYS)
                message = common.notice(t("plan.generated"), "ok", id="plan-generated")
            else:
                with Session(engine) as session:
                    plan_id = pv.latest_plan_id(session, scope, grid_id)
        except AccessDenied:
            return None, route_body(None, lang, settings), common.notice(t("denied.text"), "error", id="plan-denied")
        except GridMapError as exc:
            return no_update, no_update, common.notice(t("plan.error", detail=str(exc)), "error", id="plan-error")
        with Session(engine) as session:
            view = pv.route_view(session, scope, plan_id, offset=offset) if plan_id else None
        return plan_id, route_body(view, lang, settings), message

    @app.callback(Output(CARE, "children"), Input(GRID, "value"), Input(CARE_DAYS, "value"), State(LANG, "value"),
                  prevent_initial_call=True)
    @inputs.checked(inputs.notice)
    def show_care(grid_id, days, lang):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        grid_id = inputs.optional_id(grid_id, "grid")
        try:
            with Session(engine) as session:
                rows = pv.care_rows(session, scope, grid_id, days or pv.DEFAULT_DAYS)
        except GridMapError as exc:
            return common.notice(translator(lang)("plan.error", detail=str(exc)), "error")
        return care_body(rows, days or pv.DEFAULT_DAYS, lang)

    @app.callback(Output(PROGRESS, "children"), Input(REFRESH, "n_clicks"), Input(GRID, "value"),
                  Input(PLAN_ID, "data"), State(LANG, "value"), prevent_initial_call=True)
    @inputs.checked(inputs.notice)
    def show_progress(_n, grid_id, _plan, lang):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        if not pv.leads(scope):
            return no_update
        grid_id = inputs.optional_id(grid_id, "grid")
        with Session(engine) as session:
            rows = pv.progress(session, scope)
            detail = pv.progress_detail(session, scope, grid_id, offset=offset)
        return progress_body(rows, detail, lang, settings)

    @app.callback(Output(DOWNLOAD, "data"), Output(MESSAGE, "children", allow_duplicate=True),
                  Input(XLSX, "n_clicks"), Input(HTML, "n_clicks"), State(PLAN_ID, "data"), State(LANG, "value"),
                  prevent_initial_call=True)
    @inputs.checked(lambda t: (no_update, inputs.notice(t, id="plan-error")))
    def download(_xlsx, _html, plan_id, lang):  # type: ignore[no-untyped-def]
        if not (_xlsx or _html):
            return no_update, no_update
        t = translator(lang)
        plan_id = inputs.optional_id(plan_id, "plan")
        if plan_id is None:
            return no_update, common.notice(t("plan.need_plan"), "info", id="plan-need")
        scope = auth.require_scope()
        with store.session_scope(engine) as session:
            result = pv.plan_sheet(session, scope, plan_id, "html" if ctx.triggered_id == HTML else "xlsx")
        if result is None:
            return no_update, common.notice(t("denied.text"), "error", id="plan-denied")
        name, body = result
        return dcc.send_bytes(body, name), no_update
