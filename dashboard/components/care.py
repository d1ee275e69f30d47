"""The care-contact form (关爱联系) of the flat page, for households with a member aged 60+.

How the contact was made (window greeting / phone / door; the suggestion follows the seed's practice: ground floor
→ window, upper floors → phone), the outcome (schema.CARE_*), a concern, and whether the concern opens an issue
(事件, category 老人关爱). Saving goes through dashboard.plan_views.save_care_contact (scope-checked, then
geodata.verification.record_care_contact); the recent contacts below the form are reloaded from the store.
"""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs
from dashboard import plan_views as pv
from dashboard.components import common
from dashboard.i18n import Translator, translator
from geodata import schema, store, verification
from geodata.errors import AccessDenied, GridMapError, NotFoundError

SECTION = "care-form"
HOUSEHOLD, METHOD, OUTCOME, CONCERN, OPEN_ISSUE = ("care-household", "care-method", "care-outcome", "care-concern",
                                                   "care-open-issue")
SUBMIT, MESSAGE, RECENT = "care-submit", "care-message", "care-recent"
OPEN = "open"


def _living_alone(household: dict[str, Any]) -> bool:
    members = household["members"]
    return len(members) == 1 and bool(members[0]["elderly"])


def elderly_households(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The flat's households with a member aged 60+, those living alone first."""
    found = [h for h in detail["households"] if any(m["elderly"] for m in h["members"])]
    return sorted(found, key=lambda h: (not _living_alone(h), h["id"]))


def form(detail: dict[str, Any], t: Translator) -> html.Section | None:
    """The form for a flat page's detail (views.flat_detail), or None when nobody there is 60+."""
    households = elderly_households(detail)
    if not households:
        return None
    f = detail["flat"]
    suggested = pv.suggested_care_method(f["floor"], f["room"])
    options = [{"label": t("household.title", head=h["head_name"] or "–")
                + (f' · {t("badge.living_alone")}' if _living_alone(h) else ""), "value": h["id"]}
               for h in households]
    return html.Section([
        html.H3(t("care.form_title")),
        html.Label(t("visit.household"), htmlFor=HOUSEHOLD),
        dcc.Dropdown(id=HOUSEHOLD, options=options, value=options[0]["value"], clearable=False, searchable=False),
        html.Label(t("care.method")),
        dcc.RadioItems(id=METHOD, options=[{"label": t(f"method.{m}"), "value": m} for m in verification.CARE_METHODS],
                       value=suggested, inline=True, className="gm-radio-inline"),
        html.Div(t(f"care.suggest.{suggested}"), className="gm-muted gm-small", id="care-suggestion"),
        html.Label(t("care.outcome")),
        dcc.RadioItems(id=OUTCOME, options=[{"label": t(f"care.outcome.{o}"), "value": o}
                                            for o in schema.CARE_OUTCOME_LABELS],
                       value=schema.CARE_OK, inline=True, className="gm-radio-inline"),
        html.Label(t("care.concern"), htmlFor=CONCERN),
        dcc.Textarea(id=CONCERN, placeholder=t("care.concern_placeholder"), className="gm-textarea", maxLength=2000),
        dcc.Checklist(id=OPEN_ISSUE, options=[{"label": t("care.open_issue"), "value": OPEN}], value=[],
                      className="gm-check-inline"),
        html.Button(t("care.submit"), id=SUBMIT, n_clicks=0, className="gm-button"),
        html.Div(id=MESSAGE),
        html.Div(id=RECENT, className="gm-care-recent"),
    ], className="gm-card gm-form", id=SECTION)


def recent(panel: dict[str, Any] | None, t: Translator) -> Any:
    """The latest care contacts of the flat (newest first)."""
    if panel is None:
        return None
    rows = panel["recent"]
    if not rows:
        return html.P(t("care.none"), className="gm-muted", id="care-none")
    return html.Div([html.Div(t("care.recent"), className="gm-legend-title"), html.Ul([
        html.Li([html.Span(f'{c["at"]} · {c["by"]} · {t("method." + c["method"])} · '),
                 html.Span(t(f'care.outcome.{c["outcome"]}'),
                           className="gm-bad" if c["outcome"] != schema.CARE_OK else "gm-strong"),
                 html.Div(c["concern"], className="gm-muted") if c["concern"] else None,
                 dcc.Link(t("care.issue_link", id=c["event_id"]), href="/issues") if c["event_id"] else None])
        for c in rows], className="gm-list", id="care-list")])


def register_callbacks(app, engine: Engine, *, flat_store: str,  # type: ignore[no-untyped-def]
                       lang: str = "lang-switch") -> None:
    """Callbacks of the form on a page holding the flat id in the dcc.Store `flat_store`."""

    @app.callback(Output(RECENT, "children"), Input(flat_store, "data"), State(lang, "value"))
    @inputs.checked(inputs.notice)
    def load_recent(flat_id, lang_value):  # type: ignore[no-untyped-def]
        flat_id = inputs.optional_id(flat_id, "flat")
        if flat_id is None:
            return no_update
        scope = auth.require_scope()
        with Session(engine) as session:
            panel = pv.care_panel(session, scope, flat_id)
        return recent(panel, translator(lang_value))

    @app.callback(Output(MESSAGE, "children"), Output(RECENT, "children", allow_duplicate=True),
                  Output(CONCERN, "value"), Output(OPEN_ISSUE, "value"),
                  Input(SUBMIT, "n_clicks"), State(HOUSEHOLD, "value"), State(METHOD, "value"),
                  State(OUTCOME, "value"), State(CONCERN, "value"), State(OPEN_ISSUE, "value"),
                  State(flat_store, "data"), State(lang, "value"), prevent_initial_call=True,
                  running=[(Output(SUBMIT, "disabled"), True, False)])
    @inputs.checked(lambda t: (inputs.notice(t, id="care-error"), no_update, no_update, no_update))
    def submit(n, household_id, method, outcome, concern, open_issue,  # type: ignore[no-untyped-def]
               flat_id, lang_value):
        if not n or household_id is None:
            return (no_update,) * 4
        t = translator(lang_value)
        household_id = inputs.an_id(household_id, "household")
        flat_id = inputs.an_id(flat_id, "flat")
        method = inputs.code(method, verification.CARE_METHODS, "method")
        outcome = inputs.code(outcome, schema.CARE_OUTCOME_LABELS, "outcome")
        concern = inputs.text(concern, "concern")
        open_issue = OPEN in inputs.codes(open_issue, (OPEN,), "open_issue")
        if (outcome == schema.CARE_CONCERN or open_issue) and not concern.strip():
            return common.notice(t("care.need_concern"), "error", id="care-error"), no_update, no_update, no_update
        scope = auth.require_scope()
        try:
            with store.session_scope(engine) as session:
                contact = pv.save_care_contact(session, scope, household_id, method=method, outcome=outcome,
                                               concern=concern, open_issue=open_issue)
                event_id = contact.event_id
        except (AccessDenied, NotFoundError):
            return common.notice(t("denied.text"), "error", id="care-error"), no_update, no_update, no_update
        except GridMapError as exc:
            return (common.notice(t("error.input", detail=str(exc)), "error", id="care-error"), no_update, no_update,
                    no_update)
        with Session(engine) as session:
            panel = pv.care_panel(session, scope, flat_id)
        text = t("care.saved_issue", id=event_id) if event_id else t("care.saved")
        return common.notice(text, "ok", id="care-saved"), recent(panel, t), "", []
