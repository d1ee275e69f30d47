"""The approvals page (/approvals, 更正审批): corrections grid workers recorded while `settings.require_approval` is on,
waiting in the grid leader's (or community admin's) area, each with its proposed changes old → new (phones and IDs
masked) and approve / reject buttons. Deciding goes through dashboard.worklist_views.decide (role and area checked
again on the server) and geodata.verification.approve_visit (applied with history, how=approval).
"""
from __future__ import annotations

from typing import Any

import flask
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs, worklist_views
from dashboard.components import common
from dashboard.i18n import translator
from geodata import schema, store
from geodata.errors import AccessDenied, ConflictError, GridMapError, NotFoundError

PATH = "/approvals"
LIST, MESSAGE = "approvals-list", "approvals-message"
DECIDE = "approval-decide"
LANG = "lang-switch"
APPROVE, REJECT = "approve", "reject"
_CODED = {"residence_status": "residence", "political_status": "political", "hukou_type": "hukou",
          "relation": "relation"}


def value_text(field: str, value: Any, t) -> str:  # type: ignore[no-untyped-def]
    """A stored value as the page shows it: codes through the catalog, booleans of `active` as words."""
    if value is None or value == "":
        return "∅"
    if field == "active":
        return (t("approvals.active", _default="在住") if value in (True, "True")
                else t("approvals.moved", _default="已迁出"))
    if field in _CODED:
        return t(f"{_CODED[field]}.{value}", _default=str(value))
    return str(value)


def _card(item: dict[str, Any], t) -> html.Section:  # type: ignore[no-untyped-def]
    a = item["address"]
    entity = {schema.ENTITY_HOUSEHOLD: t("entity.household", _default="住户"),
              schema.ENTITY_PERSON: t("entity.person", _default="人员"),
              "new_member": t("approvals.new_member", _default="新增成员")}
    rows = [html.Tr([html.Td(f'{entity.get(c["entity"], c["entity"])} · {c["who"] or "–"}'),
                     html.Td(t(f'field.{c["field"]}', _default=c["field"])),
                     html.Td([html.Span(value_text(c["field"], c["old"], t), className="gm-old"), " → ",
                              html.Span(value_text(c["field"], c["new"], t), className="gm-new")])])
            for c in item["changes"]]
    buttons: list[Any] = []
    if item["own"]:
        buttons.append(html.Span(t("approvals.own", _default="本人提交的更正，须由其他网格长或社区管理员审批"),
                                 className="gm-muted"))
    else:
        buttons += [html.Button(t("approvals.approve", _default="批准并更新台账"), n_clicks=0,
                                id={"type": DECIDE, "visit": item["visit_id"], "action": APPROVE},
                                className="gm-button gm-button-primary"),
                    html.Button(t("approvals.reject", _default="驳回"), n_clicks=0,
                                id={"type": DECIDE, "visit": item["visit_id"], "action": REJECT},
                                className="gm-button")]
    findings = "、".join(t(f"finding.{c}", _default=schema.FINDING_LABELS.get(c, c)) for c in item["findings"])
    return html.Section([
        html.Div([dcc.Link(t("flat.address", building=a["building"], unit=a["unit"], room=a["room"]),
                           href=f'/flat/{item["flat_id"]}', className="gm-strong"),
                  html.Span(f' · {item["by"]} · {item["at"]} · {t("method." + item["method"])}', className="gm-muted")],
                 className="gm-card-head"),
        html.Div(f'{t("approvals.findings", _default="涉及问题")}：{findings}', className="gm-muted") if findings
        else None,
        html.Div(f'{t("visit.note")}：{item["note"]}') if item["note"] else None,
        html.Table([html.Thead(html.Tr([html.Th(t("approvals.who", _default="对象")),
                                        html.Th(t("approvals.field", _default="字段")),
                                        html.Th(t("approvals.change", _default="原值 → 新值"))])),
                    html.Tbody(rows)], className="gm-table gm-history"),
        html.Div(buttons, className="gm-worklist-buttons"),
    ], className="gm-card", id=f'approval-{item["visit_id"]}')


def items(pending: list[dict[str, Any]], lang: str) -> list[Any]:
    t = translator(lang)
    if not pending:
        return [common.notice(t("approvals.none", _default="没有等待审批的更正。"), "info", id="approvals-empty")]
    return [_card(item, t) for item in pending]


def layout(engine: Engine, lang: str) -> Any:
    t = translator(lang)
    scope = auth.current_scope() if flask.has_request_context() else None
    with Session(engine) as session:
        pending = worklist_views.pending_approvals(session, scope)
    if pending is None:
        return html.Div(common.denied(t), className="gm-content")
    return html.Div([
        html.Div([html.H1(t("approvals.title", _default="更正审批"), className="gm-title"),
                  html.Div(t("approvals.subtitle", _default="网格员提交的台账更正，批准后写入家庭户台账并保留修改记录"),
                           className="gm-subtitle")], className="gm-page-head"),
        html.Div(id=MESSAGE),
        html.Div(items(pending, lang), id=LIST),
    ], className="gm-content", id="approvals-page")


def register_callbacks(app, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    @app.callback(Output(LIST, "children"), Output(MESSAGE, "children"),
                  Input({"type": DECIDE, "visit": ALL, "action": ALL}, "n_clicks"), State(LANG, "value"),
                  prevent_initial_call=True)
    @inputs.checked(lambda t: (no_update, inputs.notice(t, id="approvals-error")))
    def decide(clicks, lang):  # type: ignore[no-untyped-def]
        trigger = ctx.triggered_id
        if (not isinstance(trigger, dict) or not any(inputs.sequence(clicks, "clicks"))
                or not ctx.triggered[0]["value"]):
            return no_update, no_update
        t = translator(lang)
        scope = auth.require_scope()
        visit_id = inputs.an_id(trigger.get("visit"), "visit")
        approve = inputs.code(trigger.get("action"), (APPROVE, REJECT), "action") == APPROVE
        message: Any
        try:
            with store.session_scope(engine) as session:
                worklist_views.decide(session, scope, visit_id, approve=approve)
            message = common.notice(t("approvals.approved", _default="已批准，台账已更新。") if approve
                                    else t("approvals.rejected", _default="已驳回，相关问题重新待核实。"), "ok",
                                    id="approvals-saved")
        except ConflictError as exc:
            message = common.notice(t("approvals.conflict", _default="未能处理：{detail}", detail=str(exc)), "error")
        except (AccessDenied, NotFoundError):
            message = common.notice(t("denied.text"), "error")
        except GridMapError as exc:
            message = common.notice(t("error.input", detail=str(exc)), "error")
        with Session(engine) as session:
            pending = worklist_views.pending_approvals(session, scope)
        return items(pending or [], lang), message
