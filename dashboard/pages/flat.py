"""The flat page (`/flat/<id>`): households and members (ID numbers and phones masked), who to call about the flat
(联系人: register, former occupants, checkpoint registrants; phones masked), open findings, visits, events and the
change history, with one verification form (逐项核实与更正, components/verify.py: per finding with corrections, or
the flat as a whole when no household is registered there), the event form, and — where someone is 60+ — the
care-contact form (关爱联系, components/care.py); roles that may see full values get 查看完整信息 (components/reveal.py).

The forms save through scope-checked views (dashboard.verify_views, `views.save_flat_visit`, `views.save_event`,
then geodata.verification) and re-render the details; the map shows the new status the next time it is drawn.
"""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs, views
from dashboard.components import care, common, contacts, reveal, verify
from dashboard.i18n import translator
from geodata import schema, store
from geodata.errors import AccessDenied, GridMapError, NotFoundError
from geodata.settings import Settings

DETAILS = "flat-details"
FLAT_ID = "flat-id"
VERSIONS = "flat-versions"
E_CATEGORY, E_DESCRIPTION, E_REPORTER, E_SUBMIT, E_MESSAGE = (
    "event-category", "event-description", "event-reporter", "event-submit", "event-message")
LANG = "lang-switch"


def address(detail: dict[str, Any], t) -> str:  # type: ignore[no-untyped-def]
    f, b = detail["flat"], detail["building"]
    return t("flat.address", building=b["label"], unit=f["unit"], room=f["room"])


def _members_table(members: list[dict[str, Any]], t) -> html.Table:  # type: ignore[no-untyped-def]
    head = html.Thead(html.Tr([html.Th(t(f"member.{c}")) for c in
                               ("name", "relation", "sex", "age", "id_number", "phone", "political", "hukou")]))
    rows = []
    for m in members:
        relation = (t(f'relation.{m["relation"]}', _default=m["relation_text"] or m["relation"])
                    if m["relation"] else (m["relation_text"] or ""))
        flags = []
        if m["elderly"]:
            flags.append(html.Span(t("member.elderly"), className="gm-badge gm-badge-elderly_only"))
        if m["party"]:
            flags.append(html.Span(t("badge.party"), className="gm-badge gm-badge-party"))
        rows.append(html.Tr([
            html.Td([html.Span(m["name"]), *flags]),
            html.Td(relation),
            html.Td(t(f'sex.{m["sex"]}') if m["sex"] else ""),
            html.Td("" if m["age"] is None else str(m["age"]), className="gm-num"),
            html.Td(m["id_number"], className="gm-mono"),
            html.Td(m["phone"] or t("member.no_phone"), className="gm-mono"),
            html.Td(t(f'political.{m["political"]}', _default=m["political"]) if m["political"] else ""),
            html.Td(t(f'hukou.{m["hukou"]}') if m["hukou"] else ""),
        ]))
    return html.Table([head, html.Tbody(rows)], className="gm-table gm-members")


def details(detail: dict[str, Any], lang: str) -> list[Any]:
    """The part of the flat page that changes when a form is saved."""
    t = translator(lang)
    f = detail["flat"]
    status = html.Div([common.status_chip(f["status"], t, vacant=f["vacant"]),
                       *[common.badge(b, t) for b in f["badges"]]], className="gm-title-row", id="flat-status")
    parts: list[Any] = [status]
    if not detail["households"]:
        parts.append(common.notice(t("flat.no_household")))
    for hh in detail["households"]:
        verified = (t("household.verified", date=hh["verified_at"], by=hh["verified_by"] or "–")
                    if hh["verified_at"] else t("household.not_verified"))
        residence = t(f'residence.{hh["residence_status"]}') if hh["residence_status"] else ""
        parts.append(html.Section([
            html.Div([html.H3(t("household.title", head=hh["head_name"] or "–")),
                      html.Span(residence, className="gm-subtitle"),
                      html.Span(verified, className="gm-verified" if hh["verified_at"] else "gm-muted",
                                id=f'household-verified-{hh["id"]}')], className="gm-card-head"),
            _members_table(hh["members"], t),
        ], className="gm-card", id=f'household-{hh["id"]}'))

    parts.append(html.Section([
        html.H3(t("contact.title")),
        html.P(t("contact.hint"), className="gm-muted gm-small"),
        contacts.contact_list(detail["contacts"], t, empty=t("contact.none"), id="flat-contacts-list"),
    ], className="gm-card", id="flat-contacts"))

    findings = detail["findings"]
    parts.append(html.Section([
        html.H3(t("flat.findings")),
        html.Ul([html.Li([html.Span(t(f'finding.{x["category"]}', _default=x["category"]), className="gm-strong"),
                          html.Span(f' · {t("finding_status." + x["status"])}',
                                    className="gm-muted" if x["status"] != schema.FINDING_OPEN else "gm-bad"),
                          html.Div(x["evidence"] or "", className="gm-muted")]) for x in findings],
                className="gm-list", id="flat-findings") if findings else html.P(t("flat.none"), className="gm-muted"),
    ], className="gm-card"))

    visits = detail["visits"]
    parts.append(html.Section([
        html.H3(t("flat.visits")),
        html.Table([html.Thead(html.Tr([html.Th(t(f"visit.{c}")) for c in ("at", "by", "method", "result", "note")])),
                    html.Tbody([html.Tr([html.Td(v["at"]), html.Td(v["by"]), html.Td(t(f'method.{v["method"]}')),
                                         html.Td(t(f'result.{v["result"]}')), html.Td(v["note"] or "")])
                                for v in visits])], className="gm-table", id="flat-visits")
        if visits else html.P(t("flat.none"), className="gm-muted"),
    ], className="gm-card"))

    events = detail["events"]
    parts.append(html.Section([
        html.H3(t("flat.events")),
        html.Ul([html.Li([dcc.Link(t(f'event_category.{e["category"]}'), href=f'/issue/{e["id"]}',
                                   className="gm-strong"),
                          html.Span(f' · {t("event_state." + e["state"])} · {e["reported_at"]}', className="gm-muted"),
                          html.Div(e["description"]),
                          html.Div(t("event.reported_by", who=e["reporter"]) if e["reporter"] else "",
                                   className="gm-muted")]) for e in events], className="gm-list", id="flat-events")
        if events else html.P(t("flat.none"), className="gm-muted"),
    ], className="gm-card"))

    rows = detail["history"]
    parts.append(html.Section([
        html.H3(t("flat.history")),
        html.Table([html.Thead(html.Tr([html.Th(t(f"history.{c}")) for c in ("at", "by", "how", "what", "change")])),
                    html.Tbody([html.Tr([html.Td(r["at"]), html.Td(r["by"] or ""), html.Td(t(f'how.{r["how"]}')),
                                         html.Td(f'{t("entity." + r["entity"])} · '
                                                 f'{t("field." + r["field"], _default=r["field"])}'),
                                         html.Td([html.Span(r["old"] or "∅", className="gm-old"), " → ",
                                                  html.Span(r["new"] or "∅", className="gm-new")])])
                                for r in rows[:200]])], className="gm-table gm-history", id="flat-history")
        if rows else html.P(t("flat.none"), className="gm-muted"),
    ], className="gm-card"))
    return parts


def _event_form(t) -> html.Section:  # type: ignore[no-untyped-def]
    return html.Section([
        html.H3(t("event.form_title")),
        html.Label(t("event.category"), htmlFor=E_CATEGORY),
        dcc.Dropdown(id=E_CATEGORY, options=[{"label": t(f"event_category.{c}"), "value": c}
                                             for c in schema.EVENT_CATEGORY_LABELS],
                     value=schema.EC_REPAIR, clearable=False, searchable=False),
        html.Label(t("event.description"), htmlFor=E_DESCRIPTION),
        dcc.Textarea(id=E_DESCRIPTION, placeholder=t("event.description_placeholder"), className="gm-textarea",
                     maxLength=2000),
        html.Label(t("event.reporter"), htmlFor=E_REPORTER),
        dcc.Input(id=E_REPORTER, type="text", placeholder=t("event.reporter_placeholder"), className="gm-input",
                  maxLength=64),
        html.Button(t("event.submit"), id=E_SUBMIT, n_clicks=0, className="gm-button"),
        html.Div(id=E_MESSAGE),
    ], className="gm-card gm-form", id="event-form")


def _versions(detail: dict[str, Any]) -> dict[str, int]:
    return {str(h["id"]): h["version"] for h in detail["households"]}


def _may_reveal() -> bool:
    scope = auth.current_scope()
    return scope is not None and scope.may_reveal


def layout(detail: dict[str, Any] | None, lang: str) -> Any:
    t = translator(lang)
    if detail is None:
        return common.denied(t)
    b, c, f = detail["building"], detail["community"], detail["flat"]
    head = html.Div([
        common.breadcrumb([(c["name"], f'/community/{c["id"]}'), (b["label"], f'/building/{b["id"]}'),
                           (t("flat.room", room=f["room"]), None)]),
        html.H1(address(detail, t), className="gm-title", id="flat-title"),
    ], className="gm-page-head")
    body = html.Div([
        html.Div(details(detail, lang), id=DETAILS, className="gm-col-main"),
        html.Div([x for x in (verify.form(detail, t), care.form(detail, t), _event_form(t),
                              reveal.form(detail, t, _may_reveal()))
                  if x is not None],
                 className="gm-col-side"),
    ], className="gm-two-col")
    page = html.Div([dcc.Store(id=FLAT_ID, data=f["id"]), dcc.Store(id=VERSIONS, data=_versions(detail)), head, body],
                    className="gm-content")
    return [common.synthetic_banner(t), page] if c["synthetic"] else page


def register_callbacks(app, engine: Engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    care.register_callbacks(app, engine, flat_store=FLAT_ID, lang=LANG)
    reveal.register_callbacks(app, engine, lang=LANG)
    verify.register_callbacks(app, engine, settings, flat_store=FLAT_ID, versions=VERSIONS, details_id=DETAILS,
                              render_details=details, lang=LANG)

    def _reload(session: Session, scope, flat_id: int, lang: str):  # type: ignore[no-untyped-def]
        detail = views.flat_detail(session, scope, flat_id)
        return details(detail, lang) if detail else common.denied(translator(lang))

    @app.callback(Output(E_MESSAGE, "children"), Output(DETAILS, "children", allow_duplicate=True),
                  Output(E_DESCRIPTION, "value"),
                  Input(E_SUBMIT, "n_clicks"), State(E_CATEGORY, "value"), State(E_DESCRIPTION, "value"),
                  State(E_REPORTER, "value"), State(FLAT_ID, "data"), State(LANG, "value"),
                  prevent_initial_call=True, running=[(Output(E_SUBMIT, "disabled"), True, False)])
    @inputs.checked(lambda t: (inputs.notice(t), no_update, no_update))
    def submit_event(n, category, description, reporter, flat_id, lang):  # type: ignore[no-untyped-def]
        if not n:
            return no_update, no_update, no_update
        t = translator(lang)
        flat_id = inputs.an_id(flat_id, "flat")
        category = inputs.code(category, schema.EVENT_CATEGORY_LABELS, "category")
        description = inputs.text(description, "description")
        reporter = inputs.text(reporter, "reporter")
        if not description.strip():
            return common.notice(t("event.need_description"), "error"), no_update, no_update
        scope = auth.require_scope()
        try:
            with store.session_scope(engine) as session:
                views.save_event(session, scope, flat_id, category=category, description=description,
                                 reporter=reporter)
        except (AccessDenied, NotFoundError):
            return common.notice(t("denied.text"), "error"), no_update, no_update
        except GridMapError as exc:
            return common.notice(t("error.input", detail=str(exc)), "error"), no_update, no_update
        with Session(engine) as session:
            body = _reload(session, scope, flat_id, lang)
        return common.notice(t("event.saved"), "ok", id="event-saved"), body, ""
