"""The issues page (`/issues`): open events (事件) in the user's scope, oldest first — category, place, days open,
state — and closing one (结案) with a comment, logged as a transition (views.close_issue →
geodata.verification.transition_event). 办理 opens the event's page (pages/issue.py) with the whole procedure.

Street staff see the list at building level (no flat, no description) and cannot close.
"""
from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs, views
from dashboard.components import common
from dashboard.i18n import translator
from geodata import store
from geodata.errors import GridMapError
from layers import colors

PATH = "/issues"
TABLE = "issues-table"
MESSAGE = "issues-message"
CLOSE = "issue-close"
COMMENT = "issue-comment"
LANG = "lang-switch"


def _place(row: dict[str, Any]) -> Any:
    text = " · ".join(x for x in (row["community"], row["building"] or "",
                                  f'{row["unit"]}-{row["room"]}' if row["room"] else "") if x)
    return dcc.Link(text, href=f'/flat/{row["flat_id"]}') if row["flat_id"] else text


def table(rows: list[dict[str, Any]], lang: str, *, can_close: bool) -> Any:
    t = translator(lang)
    if not rows:
        return html.P(t("issues.none"), className="gm-hint", id=TABLE)
    head = [t("issues.category"), t("issues.place"), t("issues.age"), t("issues.state"), t("issues.description")]
    if can_close:
        head.append(t("issues.action"))
    body = []
    for r in rows:
        cells: list[Any] = [
            html.Td([common.swatch(colors.event_color(r["category"])), t(f'event_category.{r["category"]}')]),
            html.Td(_place(r)),
            html.Td("" if r["age_days"] is None else str(r["age_days"]), className="gm-num"),
            html.Td(t(f'event_state.{r["state"]}')),
            html.Td(r["description"] or "", className="gm-issue-text"),
        ]
        if can_close:
            cells.append(html.Td(html.Div([
                dcc.Input(id={"type": COMMENT, "index": r["id"]}, type="text", className="gm-input",
                          placeholder=t("issues.comment_placeholder")),
                html.Button(t("issues.close"), id={"type": CLOSE, "index": r["id"]},
                            className="gm-button gm-button-small"),
                dcc.Link(t("issues.open"), href=f'/issue/{r["id"]}', className="gm-button gm-button-small",
                         id=f'issue-open-{r["id"]}')], className="gm-inline-form")))
        body.append(html.Tr(cells, id=f'issue-row-{r["id"]}'))
    return html.Div([html.Div(t("issues.count", n=len(rows)), className="gm-subtitle"),
                     html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
                                className="gm-table gm-issues")], id=TABLE)


def layout(engine: Engine, lang: str) -> Any:
    t = translator(lang)
    scope = auth.current_scope()
    with Session(engine) as session:
        rows = views.open_issues(session, scope)
    if rows is None:
        return common.denied(t)
    can_close = scope is not None and scope.person_level
    parts: list[Any] = [html.H1(t("issues.title"), className="gm-title")]
    if not can_close:
        parts.append(common.notice(t("issues.read_only")))
    parts += [html.Div(id=MESSAGE), html.Div(table(rows, lang, can_close=can_close), id="issues-body")]
    return html.Div(parts, className="gm-content", id="issues-page")


def register_callbacks(app, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    @app.callback(Output(MESSAGE, "children"), Output("issues-body", "children"),
                  Input({"type": CLOSE, "index": ALL}, "n_clicks"),
                  State({"type": COMMENT, "index": ALL}, "value"), State({"type": COMMENT, "index": ALL}, "id"),
                  State(LANG, "value"), prevent_initial_call=True)
    @inputs.checked(lambda t: (inputs.notice(t, id="issues-error"), no_update))
    def close(clicks, comments, ids, lang):  # type: ignore[no-untyped-def]
        if not isinstance(ctx.triggered_id, dict) or not any(inputs.sequence(clicks, "clicks")):
            return no_update, no_update
        t = translator(lang)
        event_id = inputs.an_id(ctx.triggered_id.get("index"), "event")
        boxes = [inputs.mapping(i, "comment id").get("index") for i in inputs.sequence(ids, "comment ids")]
        typed = [c for c, box in zip(inputs.sequence(comments, "comments"), boxes) if box == event_id]
        comment = inputs.text(typed[0] if typed else None, "comment")
        if not comment.strip():
            return common.notice(t("issues.need_comment"), "error", id="issues-error"), no_update
        scope = auth.require_scope()
        try:
            with store.session_scope(engine) as session:
                views.close_issue(session, scope, event_id, comment=comment)
        except GridMapError as exc:
            return common.notice(str(exc), "error", id="issues-error"), no_update
        with Session(engine) as session:
            rows = views.open_issues(session, scope)
        return (common.notice(t("issues.closed", id=event_id), "info", id="issues-saved"),
                table(rows or [], lang, can_close=scope.person_level))
