"""查看完整信息: reveal one masked value of a household member — or of a former occupant or a checkpoint registrant
listed among the flat's contacts — with a stated reason, for roles that may.

The value is fetched through geodata.access.reveal (scope-checked; the reveal is written to the audit log with the
reason and the field, never the value) and shown only in this panel, never in the page's masked tables.
"""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs
from dashboard.components import common
from dashboard.i18n import Translator, translator
from geodata import access, schema
from geodata.errors import AccessDenied

PERSON, FIELD, REASON, SUBMIT, RESULT = ("reveal-person", "reveal-field", "reveal-reason", "reveal-submit",
                                         "reveal-result")
FIELDS = ("id_number", "phone", "phone2")


#: Whose value the panel reveals: a register person (current or former) or a checkpoint registration.
KINDS = {"person": schema.ENTITY_PERSON, "checkpoint": access.TARGET_CHECKPOINT}


def choices(detail: dict[str, Any], t: Translator) -> list[tuple[str, str]]:
    """(value 'person:<id>' | 'checkpoint:<id>', label) for the flat's members, then its other contacts — former
    occupants and checkpoint registrants (`views.flat_detail`'s contacts) — so that a new owner seen only at the
    checkpoint can be called."""
    out = [(f'person:{m["id"]}', m["name"]) for h in detail["households"] for m in h["members"]]
    seen = {v for v, _ in out}
    for c in detail.get("contacts", []):
        value = (f'person:{c["person_id"]}' if c.get("person_id") else
                 f'checkpoint:{c["checkpoint_id"]}' if c.get("checkpoint_id") else None)
        if value and value not in seen:
            seen.add(value)
            out.append((value, f'{c["name"]}（{t("contact.source." + c["source"])}）'))
    return out


def target(value: Any) -> tuple[str, int]:
    """(access target type, id) of a panel choice; BadInput for anything the panel does not offer."""
    kind, _, number = value.partition(":") if isinstance(value, str) else ("", "", "")
    if kind not in KINDS:
        raise inputs.BadInput("reveal target", "person:<id> or checkpoint:<id>", value)
    return KINDS[kind], inputs.an_id(number, "reveal target")


def form(detail: dict[str, Any], t: Translator, may_reveal: bool) -> html.Section | None:
    """The panel, only for roles that may reveal and flats with someone to reveal."""
    members = choices(detail, t)
    if not may_reveal or not members:
        return None
    return html.Section([
        html.H2(t("reveal.title", _default="查看完整信息"), className="gm-card-title"),
        html.P(t("reveal.hint", _default="身份证号和电话默认脱敏；查看完整信息须填写原因，并记入审计日志。"),
               className="gm-muted"),
        dcc.Dropdown(id=PERSON, options=[{"label": name, "value": value} for value, name in members],
                     value=members[0][0], clearable=False),
        dcc.RadioItems(id=FIELD, value=FIELDS[0], inline=True, className="gm-radio",
                       options=[{"label": t(f"reveal.{f}", _default={"id_number": "身份证号", "phone": "电话",
                                                                    "phone2": "备用电话"}[f]), "value": f}
                                for f in FIELDS]),
        dcc.Input(id=REASON, type="text", maxLength=200, className="gm-input",
                  placeholder=t("reveal.reason", _default="查看原因（必填）")),
        html.Button(t("reveal.submit", _default="查看"), id=SUBMIT, n_clicks=0, className="gm-button"),
        html.Div(id=RESULT),
    ], className="gm-card", id="reveal-form")


def register_callbacks(app, engine: Engine, *, lang: str) -> None:  # type: ignore[no-untyped-def]
    @app.callback(Output(RESULT, "children"), Output(REASON, "value"),
                  Input(SUBMIT, "n_clicks"), State(PERSON, "value"), State(FIELD, "value"), State(REASON, "value"),
                  State(lang, "value"), prevent_initial_call=True)
    @inputs.checked(lambda t: (inputs.notice(t, id="reveal-error"), no_update))
    def reveal(n, person_id, field, reason, lang_value):  # type: ignore[no-untyped-def]
        if not n or person_id is None:
            return no_update, no_update
        t = translator(lang_value)
        scope = auth.require_scope()
        target_type, target_id = target(person_id)
        field = inputs.code(field, FIELDS, "field")
        reason = inputs.text(reason, "reason")
        try:
            with Session(engine) as session:   # access.reveal commits its audit entry itself
                value = access.reveal(session, scope, target_type=target_type, target_id=target_id,
                                      field=field, reason=reason)
        except (AccessDenied, ValueError) as exc:
            return common.notice(str(exc), "error", id="reveal-error"), no_update
        shown = value or t("reveal.empty", _default="（空）")
        return common.notice(f"{t('reveal.value', _default='完整信息')}：{shown}", "info", id="reveal-value"), ""
