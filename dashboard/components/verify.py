"""The per-finding verification form of the flat page (逐项核实与更正).

The worker picks the household, the findings this outcome is for (default: all its open findings), the method and
the result; for result 已更正 a correction form opens: household fields (户主, 居住状态, 房东), per member (姓名,
联系电话, 政治面貌, 户籍, 与户主关系, 已迁出) and new members (姓名, 关系, 身份证号, 电话). Saving goes through
dashboard.verify_views.save_outcome (scope-checked; phones and IDs checked with loaders) and
geodata.verification.record_outcome; with settings.require_approval a grid worker's corrections wait for a grid
leader (/approvals). A household changed by someone else since the form was drawn is refused, nothing overwritten.

A flat without a register household is verified as a whole (an empty flat confirmed, or people registered there at
the checkpoint — 人在户不在 — checked): the form lists the open findings such an outcome settles, and saving goes
through dashboard.views.save_flat_visit (geodata.verification.record_flat_visit); a flat that has gained a household
since the form was drawn is refused the same way.

The form's body is drawn by a callback from the flat id (and redrawn whenever the flat page's household versions
change), so the flat page's layout needs nothing but `form(detail, t)`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, inputs, views, verify_views
from dashboard.components import common
from dashboard.i18n import Translator, translator
from geodata import schema, store, verification
from geodata.errors import AccessDenied, ConflictError, GridMapError, NotFoundError
from geodata.settings import Settings

SECTION, BODY, MESSAGE = "verify-form", "verify-body", "verify-message"
HOUSEHOLD, METHOD, RESULT, NOTE, SUBMIT = ("verify-household", "verify-method", "verify-result", "verify-note",
                                           "verify-submit")
#: Pattern-matching id types.
HH, FINDINGS, CORR, HH_FIELD, PERSON, NEW, NEW_LIST, ADD = (
    "verify-hh", "verify-findings", "verify-corr", "verify-hh-field", "verify-person", "verify-new",
    "verify-new-list", "verify-add")
HIDDEN = {"display": "none"}
#: Value of the household selector meaning "the flat itself" (no active household lives there).
WHOLE_FLAT = "flat"


def _options(prefix: str, codes: Any, t: Translator) -> list[dict[str, Any]]:
    return [{"label": t(f"{prefix}.{c}", _default=str(label)), "value": c} for c, label in codes.items()]


def form(detail: dict[str, Any], t: Translator) -> html.Section:
    """The section for a flat page (`views.flat_detail`); its body is filled by `register_callbacks`' loader."""
    help_text = (t("verify.help", _default="选择本次核实的问题；结果为“已更正”时填写更正内容，保存后写入台账并保留修改记录。")
                 if detail.get("households") else
                 t("verify.help_whole_flat", _default="本户室没有登记住户：核实结果记在户室上，并关闭下列问题；没有可更正的台账内容。"))
    return html.Section([
        html.H3(t("verify.title", _default="逐项核实与更正")),
        html.Div(help_text, className="gm-muted gm-small", id="verify-help"),
        html.Div(id=BODY),
        html.Div(id=MESSAGE),
    ], className="gm-card gm-form gm-verify", id=SECTION)


def _new_row(household_id: int, index: int, t: Translator) -> html.Div:
    def key(field: str) -> dict[str, Any]:
        return {"type": NEW, "hh": household_id, "index": index, "field": field}

    return html.Div([
        dcc.Input(id=key("name"), type="text", placeholder=t("verify.new_name", _default="姓名"), maxLength=64,
                  className="gm-input"),
        dcc.Dropdown(id=key("relation"), options=_options("relation", schema.RELATION_LABELS, t),
                     placeholder=t("verify.new_relation", _default="与户主关系"), searchable=False),
        dcc.Input(id=key("id_number"), type="text", placeholder=t("verify.new_id", _default="身份证号码（可空）"),
                  maxLength=24, className="gm-input gm-mono"),
        dcc.Input(id=key("phone"), type="text", placeholder=t("verify.new_phone", _default="联系电话（可空）"),
                  maxLength=40, className="gm-input gm-mono"),
    ], className="gm-verify-new")


def _member(m: dict[str, Any], t: Translator) -> html.Fieldset:
    def key(field: str) -> dict[str, Any]:
        return {"type": PERSON, "person": m["id"], "field": field}

    return html.Fieldset([
        html.Legend(m["name"]),
        html.Div([
            html.Label([t("member.name"), dcc.Input(id=key("name"), type="text", value=m["name"], maxLength=64,
                                                    className="gm-input")]),
            html.Label([t("member.phone"),
                        dcc.Input(id=key("phone"), type="text", value="", maxLength=40,
                                  placeholder=m["phone"] or t("member.no_phone"),
                                  className=f'gm-input gm-mono verify-phone-{m["id"]}')]),
            html.Label([t("member.relation"),
                        dcc.Dropdown(id=key("relation"), value=m["relation"], searchable=False,
                                     options=_options("relation", schema.RELATION_LABELS, t))]),
            html.Label([t("member.political"),
                        dcc.Dropdown(id=key("political_status"), value=m["political_status"], searchable=False,
                                     options=_options("political", schema.POLITICAL_STATUS_LABELS, t))]),
            html.Label([t("member.hukou"),
                        dcc.Dropdown(id=key("hukou_type"), value=m["hukou_type"], searchable=False,
                                     options=_options("hukou", schema.HUKOU_LABELS, t))]),
        ], className="gm-verify-grid"),
        dcc.Checklist(id=key("active"), value=[], className="gm-check-inline",
                      options=[{"label": t("verify.moved", _default="已迁出（不再在此居住）"),
                                "value": verify_views.MOVED}]),
    ], className="gm-verify-member")


def _finding_label(f: dict[str, Any], t: Translator) -> str:
    return (t("finding." + f["category"], _default=schema.FINDING_LABELS.get(f["category"], "?"))
            + (f' · {f["evidence"][:60]}' if f["evidence"] else ""))


def _household(h: dict[str, Any], shown: bool, corrected: bool, t: Translator) -> html.Div:
    hid = h["id"]
    findings = [{"label": _finding_label(f, t), "value": f["id"]} for f in h["findings"]]
    parts: list[Any] = []
    if h["pending"]:
        parts.append(common.notice(t("verify.pending", _default="该户有 {n} 个问题的更正正在等待审批。", n=h["pending"]),
                                   "info"))
    parts.append(html.Label(t("verify.findings", _default="本次核实的问题")))
    if findings:
        parts.append(dcc.Checklist(id={"type": FINDINGS, "hh": hid}, options=findings,
                                   value=[f["value"] for f in findings], className="gm-verify-findings"))
    else:
        parts.append(html.P(t("verify.no_findings", _default="该户没有待核实的问题，将记录为整户核实。"),
                            className="gm-muted"))
        parts.append(dcc.Checklist(id={"type": FINDINGS, "hh": hid}, options=[], value=[], style=HIDDEN))

    def field(name: str) -> dict[str, Any]:
        return {"type": HH_FIELD, "hh": hid, "field": name}

    correction = html.Div([
        html.H4(t("verify.household_fields", _default="住户信息")),
        html.Div([
            html.Label([t("field.head_name"), dcc.Input(id=field("head_name"), type="text", value=h["head_name"] or "",
                                                        maxLength=64, className="gm-input")]),
            html.Label([t("field.residence_status"),
                        dcc.Dropdown(id=field("residence_status"), value=h["residence_status"], searchable=False,
                                     options=_options("residence", schema.RESIDENCE_LABELS, t))]),
            html.Label([t("field.landlord"), dcc.Input(id=field("landlord"), type="text", value=h["landlord"] or "",
                                                       maxLength=64, className="gm-input")]),
        ], className="gm-verify-grid"),
        html.H4(t("verify.members", _default="成员（电话留空表示不变）")),
        *[_member(m, t) for m in h["members"]],
        html.H4(t("verify.new_members", _default="新增成员")),
        html.Div([_new_row(hid, 0, t)], id={"type": NEW_LIST, "hh": hid}),
        html.Button(t("verify.add_member", _default="再添加一人"), id={"type": ADD, "hh": hid}, n_clicks=0,
                    className="gm-button gm-button-small gm-button-quiet"),
    ], id={"type": CORR, "hh": hid}, className="gm-verify-correction", style=None if corrected else HIDDEN)
    parts.append(correction)
    return html.Div(parts, id={"type": HH, "hh": hid}, style=None if shown else HIDDEN)


def body(data: dict[str, Any] | None, lang: str) -> list[Any]:
    """The form's fields for `verify_views.verify_data` (None: not the user's flat)."""
    t = translator(lang)
    if data is None:
        return [html.P(t("denied.text"), className="gm-muted")]
    households = data["households"]
    if not households:
        return _whole_flat(data["flat_findings"], t)
    options = [{"label": t("household.title", head=h["head_name"] or "–"), "value": h["id"]} for h in households]
    first = households[0]["id"]
    return [
        html.Div([html.Label(t("visit.household"), htmlFor=HOUSEHOLD),
                  dcc.Dropdown(id=HOUSEHOLD, options=options, value=first, clearable=False, searchable=False)],
                 style=None if len(households) > 1 else HIDDEN),
        *[_household(h, h["id"] == first, False, t) for h in households],
        *_outcome(t),
    ]


def _whole_flat(findings: list[dict[str, Any]], t: Translator) -> list[Any]:
    """The form for a flat without a household: the outcome is for the flat itself and settles its open findings
    (listed, not chosen: `record_flat_visit` closes them all); nothing to correct in the register."""
    listed = (html.Ul([html.Li(_finding_label(f, t)) for f in findings], className="gm-list gm-small")
              if findings else html.P(t("verify.no_flat_findings", _default="没有待核实的问题，将记录为整套核实。"),
                                      className="gm-muted"))
    return [
        html.Div([html.Label(t("visit.household")), html.Div(t("visit.whole_flat"), className="gm-strong"),
                  dcc.Dropdown(id=HOUSEHOLD, options=[{"label": t("visit.whole_flat"), "value": WHOLE_FLAT}],
                               value=WHOLE_FLAT, clearable=False, searchable=False, style=HIDDEN)],
                 id="verify-whole-flat"),
        html.P(t("verify.whole_flat", _default="该房屋没有在册住户：本次核实记录为整套房屋。"), className="gm-muted gm-small"),
        html.Label(t("verify.findings", _default="本次核实的问题")),
        html.Div(listed, id="verify-flat-findings"),
        *_outcome(t),
    ]


def _outcome(t: Translator) -> list[Any]:
    """Method, result, note and the save button (ids METHOD, RESULT, NOTE, SUBMIT)."""
    return [
        html.Label(t("visit.method")),
        dcc.RadioItems(id=METHOD, options=[{"label": t(f"method.{m}"), "value": m} for m in schema.METHOD_LABELS],
                       value=schema.M_PHONE, inline=True, className="gm-radio-inline"),
        html.Label(t("visit.result")),
        dcc.RadioItems(id=RESULT, options=[{"label": t(f"result.{r}"), "value": r} for r in schema.RESULT_LABELS],
                       value=schema.R_CONFIRMED, inline=True, className="gm-radio-inline"),
        html.Label(t("visit.note"), htmlFor=NOTE),
        dcc.Textarea(id=NOTE, placeholder=t("visit.note_placeholder"), className="gm-textarea", maxLength=2000),
        html.Button(t("verify.submit", _default="保存核实结果与更正"), id=SUBMIT, n_clicks=0,
                    className="gm-button gm-button-primary"),
    ]


#: The form's coded fields and their codes; every other field is a text box (or the moved-away checkbox).
_CODED = {"residence_status": schema.RESIDENCE_LABELS, "political_status": schema.POLITICAL_STATUS_LABELS,
          "hukou_type": schema.HUKOU_LABELS, "relation": schema.RELATION_LABELS}


def _values(states: Any) -> list[tuple[dict[str, Any], str, Any]]:
    """(id, field, value) of each item of a pattern-matching State from `ctx.states_list`, the value checked for
    the kind its control sends (inputs.BadInput otherwise)."""
    out = []
    for s in inputs.sequence(states, "form"):
        ident = inputs.mapping(inputs.mapping(s, "form").get("id"), "form id")
        field = inputs.text(ident.get("field"), "form field")
        value = s.get("value")
        if field in _CODED:
            value = inputs.optional_code(value, _CODED[field], field)
        elif field == "active":
            value = inputs.codes(value, (verify_views.MOVED,), field)
        else:
            value = inputs.text(value, field)
        out.append((ident, field, value))
    return out


def form_values(household_id: int, hh_fields: list, persons: list, new: list) -> dict[str, Any]:
    """The raw form of one household from the pattern-matching states (as `verify_views.outcome_from_form` takes
    it); members of the flat's other households are left to the view layer to ignore."""
    household = {field: v for i, field, v in _values(hh_fields) if i.get("hh") == household_id}
    person: dict[int, dict[str, Any]] = {}
    for i, field, v in _values(persons):
        person.setdefault(inputs.an_id(i.get("person"), "person"), {})[field] = v
    rows: dict[int, dict[str, Any]] = {}
    for i, field, v in _values(new):
        if i.get("hh") == household_id:
            rows.setdefault(inputs.index(i.get("index"), "new member"), {})[field] = v
    return {"household": household, "persons": person, "new_members": [rows[k] for k in sorted(rows)]}


def _by_household(states: Any, what: str) -> dict[int, list[Any]]:
    """{household id: value} of a per-household pattern-matching State (the findings ticked, or offered)."""
    items = [inputs.mapping(s, what) for s in inputs.sequence(states, what)]
    return {inputs.an_id(inputs.mapping(s.get("id"), what).get("hh"), what): inputs.sequence(s.get("value"), what)
            for s in items}


def register_callbacks(app: Any, engine: Engine, settings: Settings, *, flat_store: str, versions: str,
                       details_id: str, render_details: Callable[[dict[str, Any], str], Any], lang: str) -> None:
    """The loader, the show/hide switch, 'add member' and the save callback of the form."""

    @app.callback(Output(BODY, "children"), Input(flat_store, "data"), Input(versions, "data"), State(lang, "value"))
    @inputs.checked(lambda t: [inputs.notice(t)])
    def load(flat_id, _versions, lang_value):  # type: ignore[no-untyped-def]
        if flat_id is None:
            return no_update
        scope = auth.require_scope()
        with Session(engine) as session:
            return body(verify_views.verify_data(session, scope, inputs.an_id(flat_id, "flat")), lang_value)

    @app.callback(Output({"type": HH, "hh": ALL}, "style"), Output({"type": CORR, "hh": ALL}, "style"),
                  Input(HOUSEHOLD, "value"), Input(RESULT, "value"), State({"type": HH, "hh": ALL}, "id"))
    def switch(household_id, result, ids):  # type: ignore[no-untyped-def]
        auth.require_scope()
        shown = [None if i["hh"] == household_id else HIDDEN for i in ids]
        return shown, [None if result == schema.R_CORRECTED else HIDDEN for _ in ids]

    @app.callback(Output({"type": NEW_LIST, "hh": MATCH}, "children"), Input({"type": ADD, "hh": MATCH}, "n_clicks"),
                  State({"type": NEW_LIST, "hh": MATCH}, "children"), State(lang, "value"), prevent_initial_call=True)
    @inputs.checked()
    def add_member(n, rows, lang_value):  # type: ignore[no-untyped-def]
        if not n:
            return no_update
        auth.require_scope()
        rows = inputs.sequence(rows, "new members")
        household_id = inputs.an_id(inputs.mapping(ctx.triggered_id, "trigger").get("hh"), "household")
        return [*rows, _new_row(household_id, len(rows), translator(lang_value))]

    @app.callback(Output(MESSAGE, "children"), Output(details_id, "children", allow_duplicate=True),
                  Output(versions, "data", allow_duplicate=True), Output(BODY, "children", allow_duplicate=True),
                  Input(SUBMIT, "n_clicks"), State(HOUSEHOLD, "value"), State(METHOD, "value"), State(RESULT, "value"),
                  State(NOTE, "value"), State({"type": FINDINGS, "hh": ALL}, "value"),
                  State({"type": FINDINGS, "hh": ALL}, "options"),
                  State({"type": HH_FIELD, "hh": ALL, "field": ALL}, "value"),
                  State({"type": PERSON, "person": ALL, "field": ALL}, "value"),
                  State({"type": NEW, "hh": ALL, "index": ALL, "field": ALL}, "value"),
                  State(versions, "data"), State(flat_store, "data"), State(lang, "value"),
                  prevent_initial_call=True, running=[(Output(SUBMIT, "disabled"), True, False)])
    @inputs.checked(lambda t: (inputs.notice(t, id="verify-error"), no_update, no_update, no_update))
    def submit(n, household_id, method, result, note, _findings, _options,  # type: ignore[no-untyped-def]
               _hh_fields, _persons, _new, versions_data, flat_id, lang_value):
        if not n or household_id is None:
            return no_update, no_update, no_update, no_update
        t = translator(lang_value)
        scope = auth.require_scope()
        whole_flat = household_id == WHOLE_FLAT
        household_id = None if whole_flat else inputs.an_id(household_id, "household")
        flat_id = inputs.an_id(flat_id, "flat")
        method = inputs.code(method, schema.METHOD_LABELS, "method")
        result = inputs.code(result, schema.RESULT_LABELS, "result")
        note = inputs.text(note, "note")
        states = ctx.states_list      # pattern-matching states with their ids, in the order declared above
        ticked = _by_household(states[4], "findings")
        offered = _by_household(states[5], "finding options")
        if not whole_flat and offered.get(household_id) and not ticked.get(household_id):
            return (common.notice(t("verify.need_finding", _default="请至少选择一个本次核实的问题。"), "error",
                                  id="verify-error"), no_update, no_update, no_update)
        raw = None if whole_flat else form_values(household_id, states[6], states[7], states[8])
        try:
            with store.session_scope(engine) as session:
                if household_id is None:
                    views.save_flat_visit(session, scope, flat_id, method=method, result=result,
                                          note=note.strip() or None)
                    visits = []
                else:
                    visits = verify_views.save_outcome(
                        session, scope, household_id, method=method, result=result, note=note,
                        finding_ids=inputs.ids(ticked[household_id], "findings") if household_id in ticked else None,
                        form=raw,
                        expected_version=inputs.version(versions_data, household_id),
                        require_approval=settings.require_approval)
                pending = any(v.approval == verification.APPROVAL_PENDING for v in visits)
        except ConflictError:
            return (common.notice(t("verify.conflict", _default="该户信息已被他人修改，请刷新后重试"), "error",
                                  id="verify-conflict"), no_update, no_update, no_update)
        except (AccessDenied, NotFoundError):
            return common.notice(t("denied.text"), "error"), no_update, no_update, no_update
        except GridMapError as exc:
            return (common.notice(t("error.input", detail=str(exc)), "error", id="verify-error"), no_update,
                    no_update, no_update)
        with Session(engine) as session:
            detail = views.flat_detail(session, scope, flat_id)
            data = verify_views.verify_data(session, scope, flat_id)
        if detail is None:
            return common.notice(t("denied.text"), "error"), no_update, no_update, no_update
        new_versions = {str(h["id"]): h["version"] for h in detail["households"]}
        saved = (t("verify.saved_pending", _default="已提交，更正将在网格长审批后写入台账。") if pending
                 else t("verify.saved", _default="已保存核实结果。"))
        return (common.notice(saved, "ok", id="verify-saved"), render_details(detail, lang_value), new_versions,
                body(data, lang_value))
