"""The audit log page (/audit, 审计日志): community admins filter by user, action and date range.

The table is filled by one callback that asks `geodata.access.audit_entries` (which enforces the role and the
admin's area); `audit_rows` is the pure part, tested without a browser. Times are stored in UTC and shown in
China Standard Time (UTC+8, no daylight saving).
"""
from __future__ import annotations

import datetime as dt

import dash
import flask
from dash import Input, Output, dcc, html
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs
from geodata import access, schema
from geodata.errors import AccessDenied

PATH = "/audit"
CST = dt.timezone(dt.timedelta(hours=8))
LIMIT = 500

ACTION_LABELS = {schema.A_REVEAL: "查看完整信息", schema.A_EXPORT: "导出", schema.A_CHANGE: "修改",
                 schema.A_LOGIN: "登录", schema.A_LOGIN_FAILED: "登录失败", schema.A_IMPORT: "导入"}
COLUMNS = (("at", "时间"), ("username", "用户"), ("action", "操作"), ("target", "对象"), ("reason", "原因"),
           ("detail", "说明"))
FORBIDDEN = "只有社区管理员可以查看审计日志。"


def _utc(day: str | None, *, end: bool) -> dt.datetime | None:
    """A local (UTC+8) calendar day from the date picker → naive UTC bound of the stored times."""
    date = inputs.day(day, "end_date" if end else "start_date")
    if date is None:
        return None
    local = dt.datetime.combine(date + dt.timedelta(days=1) if end else date, dt.time.min, CST)
    utc = local.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return utc - dt.timedelta(microseconds=1) if end else utc


def audit_rows(session: Session, scope: access.Scope | None, *, username: str | None = None,
               action: str | None = None, start_date: str | None = None, end_date: str | None = None,
               limit: int = LIMIT) -> list[dict[str, str]]:
    """Rows for the table, newest first; AccessDenied for anyone but a community admin, inputs.BadInput for a
    filter value the page's controls do not send."""
    entries = access.audit_entries(session, scope, username=inputs.text(username, "username").strip() or None,
                                   action=inputs.optional_code(action, ACTION_LABELS, "action"),
                                   since=_utc(start_date, end=False), until=_utc(end_date, end=True), limit=limit)
    rows = []
    for e in entries:
        at = e.at.replace(tzinfo=dt.timezone.utc).astimezone(CST)
        rows.append({"at": at.strftime("%Y-%m-%d %H:%M:%S"), "username": e.username or "—",
                     "action": ACTION_LABELS.get(e.action, e.action),
                     "target": f"{e.target_type or ''} {e.target_id or ''}".strip(), "reason": e.reason or "",
                     "detail": e.detail or ""})
    return rows


def _table(rows: list[dict[str, str]]) -> html.Table:
    return html.Table([html.Thead(html.Tr([html.Th(label) for _, label in COLUMNS])),
                       html.Tbody([html.Tr([html.Td(row[key]) for key, _ in COLUMNS]) for row in rows])],
                      id="audit-table", className="audit-table")


def layout(**_kwargs: object) -> html.Div:
    """The page; data arrive through the callback. Outside a request (layout validation) the full skeleton."""
    if flask.has_request_context() and getattr(auth.current_scope(), "role", None) != schema.ROLE_COMMUNITY_ADMIN:
        return html.Div(html.P(FORBIDDEN, id="audit-forbidden"), id="audit-page")
    return html.Div([
        html.H2("审计日志"),
        html.Div([
            dcc.Input(id="audit-user", type="text", placeholder="用户名", debounce=True),
            dcc.Dropdown(id="audit-action", placeholder="全部操作", clearable=True,
                         options=[{"label": label, "value": value} for value, label in ACTION_LABELS.items()],
                         style={"minWidth": "12rem"}),
            dcc.DatePickerRange(id="audit-dates", display_format="YYYY-MM-DD", clearable=True),
        ], className="audit-filters", style={"display": "flex", "gap": "0.5rem", "alignItems": "center"}),
        html.P(id="audit-count"),
        html.Div(id="audit-results"),
    ], id="audit-page")


def register(app: dash.Dash, engine: Engine) -> None:
    """The filter callback. Call once after `auth.init_auth`."""

    @app.callback(Output("audit-results", "children"), Output("audit-count", "children"),
                  Input("audit-user", "value"), Input("audit-action", "value"),
                  Input("audit-dates", "start_date"), Input("audit-dates", "end_date"))
    @inputs.checked(lambda t: (inputs.notice(t, id="audit-error"), ""))
    def _update(username: str | None, action: str | None, start_date: str | None,
                end_date: str | None) -> tuple[object, str]:
        scope = auth.require_scope()
        try:
            with Session(engine) as s:
                rows = audit_rows(s, scope, username=username, action=action, start_date=start_date,
                                  end_date=end_date)
        except AccessDenied:
            return html.P(FORBIDDEN, id="audit-forbidden"), ""
        more = f"（只显示最近{LIMIT}条）" if len(rows) >= LIMIT else ""
        return _table(rows), f"共{len(rows)}条{more}"
