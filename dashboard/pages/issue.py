"""One event's page (`/issue/<id>`): what, where and when; every step of the 数字城管 procedure so far (who, when,
comment); buttons for the next steps the procedure allows (受理, 派遣, 处置, 处置反馈, 核查, 结案, 不予受理, 挂账), each
logged with a comment (views.advance_issue → geodata.verification.transition_event).

For a repair (leak) at a flat it also says where the leak may come from (views.issue_detail → geodata.contacts):
the flats above in the same stack, nearest first, then the roof — the unit's flats whose occupants changed
recently, with every contact the store has for them (register, former occupants, checkpoint registrants; listed by
components/contacts.py, as on the flat page), so that a just-sold flat's new owner can be reached through the old
one. Phones are masked; the flat page reveals.

Person-level roles only, within their area (street staff see the issues list at building level).
"""
from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs, views
from dashboard.components import common, contacts
from dashboard.i18n import Translator, translator
from geodata import schema, store
from geodata.errors import GridMapError
from layers import colors

PREFIX = "/issue/"
BODY = "issue-detail"
MESSAGE = "issue-message"
STEP = "issue-step"
COMMENT = "issue-step-comment"
EVENT_ID = "issue-id"
LANG = "lang-switch"
#: Steps that must say why (the procedure's closing and rejecting).
NEEDS_COMMENT = (schema.E_CLOSED, schema.E_REJECTED)


def _row(label: str, value: Any) -> html.Tr:
    return html.Tr([html.Th(label), html.Td(value)])


def _place(d: dict[str, Any]) -> Any:
    parts: list[Any] = [d["community"]]
    if d["building_id"]:
        parts += [" · ", dcc.Link(d["building"], href=f'/building/{d["building_id"]}')]
    if d["flat_id"]:
        parts += [" · ", dcc.Link(d["place"], href=f'/flat/{d["flat_id"]}', id="issue-flat-link")]
    return parts


def _flats(flats: list[dict[str, Any]], t: Translator, kind: str) -> Any:
    rows = []
    for f in flats:
        label = dcc.Link(f["label"], href=f'/flat/{f["flat_id"]}') if f["flat_id"] else f["label"]
        changed = [html.Span(t(f"finding.{c}"), className="gm-chip gm-chip-warn") for c in f["changed"]]
        people = contacts.contact_list(f["contacts"], t, empty=t("issue.no_contacts"))
        rows.append(html.Tr([html.Td([label, *changed]), html.Td(people)], className=f"gm-leak-{kind}"))
    return html.Table(html.Tbody(rows), className="gm-table gm-leak-table")


def _leak(leak: dict[str, Any], t: Translator) -> Any:
    parts: list[Any] = [html.H2(t("issue.leak_title"), className="gm-subtitle")]
    parts.append(html.H3(t("issue.leak_above")))
    parts.append(_flats(leak["above"], t, "above") if leak["above"] else
                 html.P(t("issue.leak_top_floor"), className="gm-hint"))
    roof = t("issue.leak_roof", floors=leak["top_floor"] or "?")
    parts += [html.H3(t("issue.leak_roof_title")), html.P(roof, className="gm-hint")]
    parts.append(_flats(leak["changed"], t, "changed") if leak["changed"] else
                 html.P(t("issue.leak_no_changes"), className="gm-hint"))
    return html.Section(parts, className="gm-card", id="issue-leak")


def _steps(d: dict[str, Any], t: Translator) -> Any:
    if not d["next_states"]:
        return html.P(t("issue.finished"), className="gm-hint", id="issue-finished")
    buttons = [html.Button(t(f"issue.to.{s}"), id={"type": STEP, "index": s},
                           className="gm-button" + (" gm-button-primary" if i == 0 else ""))
               for i, s in enumerate(d["next_states"])]
    return html.Div([
        dcc.Textarea(id=COMMENT, className="gm-input gm-textarea", placeholder=t("issue.comment_placeholder")),
        html.Div(buttons, className="gm-inline-form"),
        html.P(t("issue.comment_needed"), className="gm-hint"),
    ], id="issue-steps")


def detail(d: dict[str, Any], lang: str) -> Any:
    t = translator(lang)
    info = html.Table(html.Tbody([
        _row(t("issues.category"), [common.swatch(colors.event_color(d["category"])),
                                    t(f'event_category.{d["category"]}')]),
        _row(t("issues.state"), html.Span(t(f'event_state.{d["state"]}'), id="issue-state")),
        _row(t("issues.place"), _place(d)),
        _row(t("issue.reported"), f'{d["reported_at"]}' + (f' · {d["reporter"]}' if d["reporter"] else "")),
        _row(t("issues.description"), d["description"]),
    ]), className="gm-table gm-kv")
    log_rows = [html.Tr([html.Td(s["at"], className="gm-num"),
                         html.Td(f'{t("event_state." + s["from"]) if s["from"] else ""} → {t("event_state." + s["to"])}'),
                         html.Td(s["by"]), html.Td(s["comment"])]) for s in d["transitions"]]
    log = (html.Table([html.Thead(html.Tr([html.Th(h) for h in (t("issue.when"), t("issue.step"), t("issue.by"),
                                                                t("issue.comment"))])),
                       html.Tbody(log_rows)], className="gm-table", id="issue-log") if log_rows else
           html.P(t("issue.no_steps"), className="gm-hint", id="issue-log"))
    parts: list[Any] = [info, html.H2(t("issue.log_title"), className="gm-subtitle"), log,
                        html.H2(t("issue.next_title"), className="gm-subtitle"), _steps(d, t)]
    if d["leak"] is not None:
        parts.append(_leak(d["leak"], t))
    return html.Div(parts)


def layout(d: dict[str, Any] | None, lang: str) -> Any:
    t = translator(lang)
    if d is None:
        return common.not_found(t)
    return html.Div([
        common.breadcrumb([(t("issues.title"), "/issues"), (t("issue.title", id=d["id"]), None)]),
        html.H1(t("issue.title", id=d["id"]), className="gm-title"),
        dcc.Store(id=EVENT_ID, data=d["id"]),
        html.Div(id=MESSAGE),
        html.Div(detail(d, lang), id=BODY),
    ], className="gm-content", id="issue-page")


def register_callbacks(app, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    @app.callback(Output(MESSAGE, "children"), Output(BODY, "children"),
                  Input({"type": STEP, "index": ALL}, "n_clicks"),
                  State(COMMENT, "value"), State(EVENT_ID, "data"), State(LANG, "value"), prevent_initial_call=True)
    @inputs.checked(lambda t: (inputs.notice(t, id="issue-error"), no_update))
    def step(clicks, comment, event_id, lang):  # type: ignore[no-untyped-def]
        if not isinstance(ctx.triggered_id, dict) or not any(inputs.sequence(clicks, "clicks")):
            return no_update, no_update
        t = translator(lang)
        to_state = inputs.code(ctx.triggered_id.get("index"), schema.EVENT_STATE_LABELS, "next state")
        event_id = inputs.an_id(event_id, "event")
        comment = inputs.text(comment, "comment").strip()
        if to_state in NEEDS_COMMENT and not comment:
            return common.notice(t("issues.need_comment"), "error", id="issue-error"), no_update
        scope = auth.require_scope()
        try:
            with store.session_scope(engine) as session:
                views.advance_issue(session, scope, event_id, to_state, comment=comment or None)
        except GridMapError as exc:
            return common.notice(str(exc), "error", id="issue-error"), no_update
        with Session(engine) as session:
            d = views.issue_detail(session, scope, event_id)
        if d is None:
            return common.notice(t("notfound.text"), "error", id="issue-error"), no_update
        return (common.notice(t("issue.saved", state=t(f"event_state.{to_state}")), "info", id="issue-saved"),
                detail(d, lang))

