"""The worklist page (/worklist, 入户核实清单): the open findings of the user's grids in walking order, grouped by grid,
filtered by category, each row opening the flat (or the building) page where the outcome is recorded; downloads of
the printable worklist (.xlsx) and, for community admins, of the updated register (.xlsx).

Data come from dashboard.worklist_views (scope-checked, pure); every callback asks `auth.require_scope()` again.
"""
from __future__ import annotations

from typing import Any

import flask
from dash import Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs, worklist_views
from dashboard.components import common
from dashboard.i18n import translator
from geodata import schema, store
from geodata.errors import AccessDenied, GridMapError, NotFoundError

PATH = "/worklist"
COMMUNITY, GRID, CATEGORY, BODY, MESSAGE = ("worklist-community", "worklist-grid", "worklist-category",
                                            "worklist-body", "worklist-message")
EXPORT, EXPORT_REGISTER, DOWNLOAD = "worklist-export", "worklist-export-register", "worklist-download"
REASON = "worklist-export-reason"
LANG = "lang-switch"
ALL_GRIDS = "all"


def _grid_options(data: dict[str, Any], t) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    options = [{"label": f'{g["name"]}（{g["code"]}）', "value": g["id"]} for g in data["grids"]]
    if len(options) != 1:
        options.insert(0, {"label": t("worklist.all_grids", _default="全部网格"), "value": ALL_GRIDS})
    return options


def _category_options(data: dict[str, Any], t) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    order = schema.FLAT_FINDINGS + schema.PERSON_FINDINGS + schema.HOUSEHOLD_FINDINGS
    return [{"label": f'{t("finding." + c, _default=schema.FINDING_LABELS[c])}（{data["counts"][c]}）', "value": c}
            for c in order if data["counts"].get(c)]


def _row(r: dict[str, Any], t) -> html.Tr:  # type: ignore[no-untyped-def]
    place = f'{r["building"] or "–"}-{r["unit"] or "–"}-{r["room"] or "–"}'
    link = (dcc.Link(place, href=r["href"], className="gm-worklist-link", id=f'worklist-link-{r["finding_id"]}')
            if r["href"] else html.Span(place))
    who = r["head_name"] or ""
    if r["name"] and r["name"] != r["head_name"]:
        who = f'{who} · {r["name"]}' if who else r["name"]
    return html.Tr([
        html.Td(link, className="gm-mono"),
        html.Td(who),
        html.Td(t(f'finding.{r["category"]}', _default=r["category_label"]), className="gm-strong"),
        html.Td(r["evidence"], className="gm-muted gm-worklist-evidence"),
        html.Td(r["phone"] or "", className="gm-mono"),
    ], id=f'worklist-row-{r["finding_id"]}', className="gm-worklist-row")


def body(data: dict[str, Any], lang: str) -> list[Any]:
    """Counts per category, then one table per grid."""
    t = translator(lang)
    chips = [html.Span(f'{t("finding." + c, _default=schema.FINDING_LABELS.get(c, c))} {n}',
                       className="gm-chip gm-worklist-count", id=f"worklist-count-{c}")
             for c, n in sorted(data["counts"].items(), key=lambda x: -x[1])]
    parts: list[Any] = [html.Div([html.Span(t("worklist.total", _default="待核实问题：{n} 条", n=data["total"]),
                                            className="gm-strong", id="worklist-total"), *chips],
                                 className="gm-worklist-counts")]
    if not data["groups"]:
        parts.append(common.notice(t("worklist.empty", _default="没有待核实的问题。"), "info", id="worklist-empty"))
    head = html.Thead(html.Tr([html.Th(t(k, _default=d)) for k, d in (
        ("worklist.place", "楼栋-单元-室号"), ("worklist.who", "户主 / 人员"), ("worklist.category", "问题类别"),
        ("worklist.evidence", "依据"), ("worklist.phone", "联系电话"))]))
    for g in data["groups"]:
        parts.append(html.Section([
            html.H3(f'{g["grid_name"]} · {t("worklist.rows", _default="{n} 条", n=len(g["rows"]))}'),
            html.Table([head, html.Tbody([_row(r, t) for r in g["rows"]])], className="gm-table gm-worklist-table",
                       id=f'worklist-grid-{g["grid_id"] or "none"}'),
        ], className="gm-card"))
    return parts


def layout(engine: Engine, lang: str) -> Any:
    t = translator(lang)
    scope = auth.current_scope() if flask.has_request_context() else None
    with Session(engine) as session:
        data = worklist_views.worklist_data(session, scope)
    if data is None:
        return html.Div(common.denied(t), className="gm-content")
    communities = data["communities"]
    controls = html.Div([
        html.Div([html.Label(t("worklist.community", _default="社区"), htmlFor=COMMUNITY),
                  dcc.Dropdown(id=COMMUNITY, options=[{"label": c["name"], "value": c["id"]} for c in communities],
                               value=data["community"]["id"], clearable=False, searchable=False)],
                 className="gm-worklist-control", style=None if len(communities) > 1 else {"display": "none"}),
        html.Div([html.Label(t("worklist.grid", _default="网格"), htmlFor=GRID),
                  dcc.Dropdown(id=GRID, options=_grid_options(data, t),
                               value=data["grids"][0]["id"] if len(data["grids"]) == 1 else ALL_GRIDS,
                               clearable=False, searchable=False)], className="gm-worklist-control"),
        html.Div([html.Label(t("worklist.filter", _default="问题类别"), htmlFor=CATEGORY),
                  dcc.Dropdown(id=CATEGORY, options=_category_options(data, t), value=None,
                               placeholder=t("worklist.all_categories", _default="全部类别"))],
                 className="gm-worklist-control"),
        html.Div([
            html.Button(t("worklist.download", _default="下载入户情况汇总表（.xlsx）"), id=EXPORT, n_clicks=0,
                        className="gm-button"),
            html.Div([
                dcc.Input(id=REASON, type="text", maxLength=200, className="gm-input",
                          placeholder=t("worklist.export_reason", _default="导出原因（必填，记入审计日志）")),
                html.Button(t("worklist.download_register", _default="导出更新后的家庭户平铺表（.xlsx）"),
                            id=EXPORT_REGISTER, n_clicks=0, className="gm-button"),
            ], style=None if data["may_export_register"] else {"display": "none"}),
        ], className="gm-worklist-buttons"),
    ], className="gm-worklist-controls")
    page = html.Div([
        html.Div([html.H1(t("worklist.title", _default="入户核实清单"), className="gm-title"),
                  html.Div(t("worklist.subtitle", _default="按楼栋、单元、楼层排列；点击地址记录核实结果"),
                           className="gm-subtitle")], className="gm-page-head"),
        controls,
        html.Div(id=MESSAGE),
        dcc.Download(id=DOWNLOAD),
        html.Div(body(data, lang), id=BODY),
    ], className="gm-content", id="worklist-page")
    return [common.synthetic_banner(t), page] if data["community"]["synthetic"] else page


def _grid_id(value: Any) -> int | None:
    """The grid selector's value: a grid id, or None for all grids."""
    return None if value == ALL_GRIDS else inputs.optional_id(value, "grid")


def register_callbacks(app, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    @app.callback(Output(BODY, "children"), Output(CATEGORY, "options"), Output(GRID, "options"),
                  Output(GRID, "value"), Input(COMMUNITY, "value"), Input(GRID, "value"), Input(CATEGORY, "value"),
                  State(LANG, "value"),
                  prevent_initial_call=True)
    @inputs.checked(lambda t: (inputs.notice(t, id="worklist-error"), no_update, no_update, no_update))
    def refresh(community_id, grid, category, lang):  # type: ignore[no-untyped-def]
        t = translator(lang)
        scope = auth.require_scope()
        new_community = ctx.triggered_id == COMMUNITY
        community_id = inputs.optional_id(community_id, "community")
        grid_id = None if new_community else _grid_id(grid)
        category = inputs.optional_code(category, schema.FINDING_LABELS, "category")
        with Session(engine) as session:
            data = worklist_views.worklist_data(session, scope, community_id=community_id, grid_id=grid_id,
                                                category=category)
        if data is None:
            return common.denied(t), [], [], no_update
        options = _grid_options(data, t)
        return (body(data, lang), _category_options(data, t), options,
                options[0]["value"] if new_community else no_update)

    @app.callback(Output(DOWNLOAD, "data"), Output(MESSAGE, "children"),
                  Input(EXPORT, "n_clicks"), Input(EXPORT_REGISTER, "n_clicks"), State(COMMUNITY, "value"),
                  State(GRID, "value"), State(REASON, "value"), State(LANG, "value"), prevent_initial_call=True,
                  running=[(Output(EXPORT, "disabled"), True, False),
                           (Output(EXPORT_REGISTER, "disabled"), True, False)])
    @inputs.checked(lambda t: (no_update, inputs.notice(t, id="worklist-error")))
    def download(n_worklist, n_register, community_id, grid, reason, lang):  # type: ignore[no-untyped-def]
        if not (n_worklist or n_register) or community_id is None:
            return no_update, no_update
        t = translator(lang)
        scope = auth.require_scope()
        community_id = inputs.an_id(community_id, "community")
        grid_id = _grid_id(grid)
        reason = inputs.text(reason, "reason")
        try:
            with store.session_scope(engine) as session:   # the export is logged: commit it with the download
                if ctx.triggered_id == EXPORT_REGISTER:
                    name, content = worklist_views.register_xlsx(session, scope, community_id, reason)
                else:
                    name, content = worklist_views.worklist_xlsx(session, scope, community_id, grid_id)
        except (AccessDenied, NotFoundError):
            return no_update, common.notice(t("denied.text"), "error")
        except GridMapError as exc:
            return no_update, common.notice(str(exc), "error", id="worklist-error")
        return dcc.send_bytes(content, name, type=worklist_views.XLSX), ""
