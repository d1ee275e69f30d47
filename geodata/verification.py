"""Recording what grid workers find: verification outcomes (核实走访) and reported events (事件上报).

Each function is one unit of work on a Session (the caller commits). Register fields change only through
`geodata.history.apply_changes`, so every change keeps who, when, how, old and new value.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from geodata import history, indicators, models, schema
from geodata.errors import AccessDenied, ConflictError, InputError, NotFoundError

#: Household fields a visit may correct directly; anything else goes through the import or approval workflow.
CORRECTABLE_FIELDS = ("head_name", "residence_status", "landlord", "note")


def _check_code(value: str, allowed: Mapping[str, str], what: str) -> None:
    if value not in allowed:
        raise InputError(f"{what}: expected one of {', '.join(allowed)}, got {value!r}")


def _check_visit(method: str, result: str, corrections: Mapping[str, Any]) -> None:
    _check_code(method, schema.METHOD_LABELS, "method")
    _check_code(result, schema.RESULT_LABELS, "result")
    unknown = sorted(set(corrections) - set(CORRECTABLE_FIELDS))
    if unknown:
        raise InputError(f"corrections: expected fields among {', '.join(CORRECTABLE_FIELDS)}, "
                         f"got {', '.join(unknown)}")


def record_visit(session: Session, household_id: int, *, by: str, method: str, result: str, note: str | None,
                 corrections: Mapping[str, Any] | None = None, expected_version: int | None = None,
                 at: dt.datetime | None = None) -> models.Visit:
    """Record a verification outcome for a household and apply what it implies.

    Creates a `models.Visit`; applies `corrections` (household fields in CORRECTABLE_FIELDS) through the change log;
    when `result` is one of schema.CLOSING_RESULTS also sets `verified_at` (the local date) / `verified_by` (logged)
    and closes the open findings of the household (its own, its members', and the flat's findings not tied to
    another household). Raises ConflictError when `expected_version` is given and the household changed since it
    was read.
    """
    household = session.get(models.Household, household_id)
    if household is None:
        raise NotFoundError(f"household {household_id} does not exist")
    corrections = dict(corrections or {})
    _check_visit(method, result, corrections)
    if expected_version is not None and expected_version != household.version:
        raise ConflictError(f"household {household_id} was changed by someone else "
                            f"(version {household.version}, expected {expected_version}); reload and retry")
    at = at or models.utcnow()
    visit = models.Visit(household_id=household.id, flat_id=household.flat_id, at=at, by=by, method=method,
                         result=result, note=note or None,
                         corrections=json.dumps(corrections, ensure_ascii=False) if corrections else None)
    session.add(visit)
    try:
        session.flush()
        changes: dict[str, Any] = dict(corrections)
        if result in schema.CLOSING_RESULTS:
            changes.update(verified_at=indicators.local_time(at).date(), verified_by=by)
        history.apply_changes(session, household, changes, by=by, how=schema.HOW_VISIT, at=at, visit_id=visit.id)
        if result in schema.CLOSING_RESULTS:
            _link(visit, _close_findings(session, household.flat_id, household, at))
        session.flush()
    except StaleDataError as exc:
        raise ConflictError(f"household {household_id} was changed by someone else while saving; "
                            "reload and retry") from exc
    return visit


def record_flat_visit(session: Session, flat_id: int, *, by: str, method: str, result: str, note: str | None,
                      at: dt.datetime | None = None) -> models.Visit:
    """Record a verification outcome for a flat without a household (an empty flat, 人在户不在).

    A closing result closes the flat's open findings that belong to no household or person (the flat's own, or a
    checkpoint registration placed at the flat).
    """
    flat = session.get(models.Flat, flat_id)
    if flat is None:
        raise NotFoundError(f"flat {flat_id} does not exist")
    _check_visit(method, result, {})
    at = at or models.utcnow()
    visit = models.Visit(household_id=None, flat_id=flat.id, at=at, by=by, method=method, result=result,
                         note=note or None)
    session.add(visit)
    session.flush()
    if result in schema.CLOSING_RESULTS:
        _link(visit, _close_findings(session, flat.id, None, at))
        session.flush()
    return visit


def _link(visit: models.Visit, closed: list[models.Finding]) -> None:
    if len(closed) == 1:
        visit.finding_id = closed[0].id


def _findings_of(session: Session, flat_id: int, household_id: int | None,
                 statuses: tuple[str, ...]) -> list[models.Finding]:
    """The findings in `statuses`, oldest first, that an outcome at the flat settles: the flat's findings that belong
    to no household or person (the flat's own, or a checkpoint registration placed at the flat), and — for a
    household — its own and its members'."""
    at_flat = select(models.CheckpointRegistration.id).where(models.CheckpointRegistration.flat_id == flat_id)
    unattached = models.Finding.household_id.is_(None) & models.Finding.person_id.is_(None)
    clauses = [unattached & (models.Finding.flat_id == flat_id),
               unattached & models.Finding.flat_id.is_(None) & models.Finding.checkpoint_id.in_(at_flat)]
    if household_id is not None:
        member_ids = select(models.Person.id).where(models.Person.household_id == household_id)
        clauses += [models.Finding.household_id == household_id, models.Finding.person_id.in_(member_ids)]
    return list(session.scalars(select(models.Finding)
                                .where(models.Finding.status.in_(statuses), or_(*clauses))
                                .order_by(models.Finding.id)))


def flat_open_findings(session: Session, flat_id: int) -> list[models.Finding]:
    """The open findings an outcome for a flat without a household settles (`record_flat_visit`), oldest first."""
    if session.get(models.Flat, flat_id) is None:
        raise NotFoundError(f"flat {flat_id} does not exist")
    return _findings_of(session, flat_id, None, (schema.FINDING_OPEN,))


def _close_findings(session: Session, flat_id: int, household: models.Household | None,
                    at: dt.datetime) -> list[models.Finding]:
    findings = _findings_of(session, flat_id, household.id if household is not None else None,
                            (schema.FINDING_OPEN,))
    for finding in findings:
        finding.status = schema.FINDING_CLOSED
        finding.closed_at = at
    return findings


def report_event(session: Session, flat_id: int, *, category: str, description: str, reporter: str | None,
                 by: str, at: dt.datetime | None = None) -> models.Event:
    """Report an event (事件) at a flat: a `models.Event` in state 上报 and its first logged transition."""
    flat = session.get(models.Flat, flat_id)
    if flat is None:
        raise NotFoundError(f"flat {flat_id} does not exist")
    _check_code(category, schema.EVENT_CATEGORY_LABELS, "category")
    description = (description or "").strip()
    if not description:
        raise InputError("description: expected a text describing the event, got nothing")
    at = at or models.utcnow()
    event = models.Event(community_id=flat.building.community_id, building_id=flat.building_id, flat_id=flat.id,
                         category=category, description=description, reporter=(reporter or "").strip() or None,
                         state=schema.E_REPORTED, reported_at=at)
    session.add(event)
    session.flush()
    session.add(models.EventTransition(event_id=event.id, from_state=None, to_state=schema.E_REPORTED, at=at, by=by))
    session.flush()
    return event


def transition_event(session: Session, event_id: int, to_state: str, *, by: str, comment: str | None,
                     at: dt.datetime | None = None) -> models.Event:
    """Move an event to `to_state` along schema.EVENT_TRANSITIONS and log it (models.EventTransition: who, when,
    from, to, comment). Closing (E_CLOSED) or rejecting needs a comment and sets `closed_at`.

    Raises NotFoundError for an unknown event, InputError for a transition the procedure does not allow or a
    missing comment.
    """
    event = session.get(models.Event, event_id)
    if event is None:
        raise NotFoundError(f"event {event_id} does not exist")
    allowed = schema.EVENT_TRANSITIONS.get(event.state, ())
    if to_state not in allowed:
        raise InputError(f"事件已处于“{schema.EVENT_STATE_LABELS.get(event.state, event.state)}”，不能转为"
                         f"“{schema.EVENT_STATE_LABELS.get(to_state, to_state)}”，请刷新页面 (event {event_id}: "
                         f"expected a next state among {', '.join(allowed) or 'none'} (from {event.state}), "
                         f"got {to_state!r})")
    comment = (comment or "").strip() or None
    if to_state in (schema.E_CLOSED, schema.E_REJECTED) and comment is None:
        raise InputError(f"请填写办理说明 (comment: expected a text saying how event {event_id} was settled, "
                         "got nothing)")
    at = at or models.utcnow()
    session.add(models.EventTransition(event_id=event.id, from_state=event.state, to_state=to_state, at=at, by=by,
                                       comment=comment))
    event.state = to_state
    if to_state in (schema.E_CLOSED, schema.E_REJECTED):
        event.closed_at = at
    session.flush()
    return event


def close_event(session: Session, event_id: int, *, by: str, comment: str,
                at: dt.datetime | None = None) -> models.Event:
    """Close an open event (结案) with a comment, logged as a transition (`transition_event`)."""
    return transition_event(session, event_id, schema.E_CLOSED, by=by, comment=comment, at=at)


#: How a care round reaches an elderly resident: a greeting at the window (ground floor), a phone call (upper
#: floors), a visit at the door (when asked for, or when the others fail).
CARE_METHODS = (schema.M_WINDOW, schema.M_PHONE, schema.M_DOOR)
#: Prefix of the description of an issue opened from a care contact (the issues page shows where it came from).
CARE_ISSUE_PREFIX = "关爱联系："


def record_care_contact(session: Session, household_id: int, *, by: str, method: str, outcome: str,
                        concern: str | None = None, open_issue: bool = False,
                        at: dt.datetime | None = None) -> models.CareContact:
    """Record a care contact (关爱联系) with an elderly household, e.g. a living-alone resident on a care round.

    `method` is one of CARE_METHODS, `outcome` one of schema.CARE_OUTCOME_LABELS; outcome CARE_CONCERN needs the
    `concern` text. With `open_issue` the concern is also reported as an event (事件) of category
    schema.EC_ELDERLY_CARE at the household's flat (`report_event`) and linked from the contact. The contact names
    the household's oldest active member. The last contact per household drives the care rounds
    (geodata.routing.overdue_care).
    """
    household = session.get(models.Household, household_id)
    if household is None:
        raise NotFoundError(f"household {household_id} does not exist")
    _check_code(method, {m: schema.METHOD_LABELS[m] for m in CARE_METHODS}, "method")
    _check_code(outcome, schema.CARE_OUTCOME_LABELS, "outcome")
    concern = (concern or "").strip() or None
    if outcome == schema.CARE_CONCERN and concern is None:
        raise InputError("concern: expected a text saying what the resident needs or what is wrong, got nothing")
    if open_issue and concern is None:
        raise InputError("open_issue: expected a concern text to report as an issue, got nothing")
    at = at or models.utcnow()
    members = [p for p in household.persons if p.active]
    members.sort(key=lambda p: (p.birth_date is None, p.birth_date or dt.date.max, p.id))
    event = None
    if open_issue:
        event = report_event(session, household.flat_id, category=schema.EC_ELDERLY_CARE,
                             description=f"{CARE_ISSUE_PREFIX}{concern}", reporter=None, by=by, at=at)
    contact = models.CareContact(household_id=household.id, person_id=members[0].id if members else None, at=at,
                                 by=by, method=method, outcome=outcome, concern=concern,
                                 event_id=event.id if event is not None else None)
    session.add(contact)
    session.flush()
    return contact


# --- Per-finding outcomes with corrections, and their approval -----------------------------------------------
# A worker's outcome names the findings it settles (one Visit per finding) and, for result R_CORRECTED, what in
# the register is wrong: household fields, member fields, members to add. Corrections are applied through the
# change log at once, or — with `require_approval` — kept on the visits as JSON until a grid leader decides
# (`approve_visit`). A finding is closed only here (or by `record_visit` / `record_flat_visit`): by a recorded
# closing outcome, or by the approval of one.

#: Visit.approval values (candidates for schema.py).
APPROVAL_PENDING = "pending"
APPROVAL_APPROVED = "approved"
APPROVAL_REJECTED = "rejected"
#: Member fields an outcome may correct; `active` False means the member moved away (kept, never deleted).
PERSON_CORRECTABLE_FIELDS = ("name", "phone", "phone2", "political_status", "hukou_type", "relation", "active")
#: Fields of a member added by an outcome. `id_raw` is the ID text as typed (kept), `id_number` the ID; `id_status`,
#: `birth_date` and `sex` come from the caller's check (the dashboard uses loaders.ids.check_id), else from a light
#: check of the text here.
NEW_MEMBER_FIELDS = ("name", "relation", "id_number", "id_raw", "id_status", "birth_date", "sex", "phone", "phone2",
                     "political_status", "hukou_type")
_NAME_FIELDS = ("head_name", "landlord", "name")
_MAX_NAME = 64
_PHONE_TEXT = re.compile(r"^[0-9+\-]{5,20}$")
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")


def household_open_findings(session: Session, household_id: int) -> list[models.Finding]:
    """The open findings an outcome for this household may settle, oldest first: its own, its members', and the
    findings of its flat that belong to no household or person (as `record_visit` closes them)."""
    return household_findings(session, household_id, (schema.FINDING_OPEN,))


def household_findings(session: Session, household_id: int, statuses: tuple[str, ...]) -> list[models.Finding]:
    """The findings of a household (its own, its members', its flat's unattached ones) in the given statuses."""
    household = session.get(models.Household, household_id)
    if household is None:
        raise NotFoundError(f"household {household_id} does not exist")
    return _findings_of(session, household.flat_id, household.id, statuses)


def _clean_text(value: Any, what: str, *, required: bool = False) -> str | None:
    if value is None:
        text = None
    elif isinstance(value, str):
        text = value.strip() or None
    else:
        raise InputError(f"{what}: expected a text, got {type(value).__name__}")
    if text is None and required:
        raise InputError(f"{what}: expected a text, got nothing")
    if text is not None and len(text) > _MAX_NAME:
        raise InputError(f"{what}: expected at most {_MAX_NAME} characters, got {len(text)}")
    return text


def _clean_value(field: str, value: Any, what: str) -> Any:
    """One corrected value, checked: codes against schema, texts stripped (empty → None), `active` a bool."""
    codes = {"residence_status": schema.RESIDENCE_LABELS, "political_status": schema.POLITICAL_STATUS_LABELS,
             "hukou_type": schema.HUKOU_LABELS, "relation": schema.RELATION_LABELS, "sex": schema.SEX_LABELS,
             "id_status": schema.ID_STATUS_LABELS}
    if field in codes:
        if value in (None, ""):
            if field == "id_status":
                raise InputError(f"{what}: expected one of {', '.join(codes[field])}, got nothing")
            return None
        _check_code(value, codes[field], what)
        return value
    if field == "active":
        if not isinstance(value, bool):
            raise InputError(f"{what}: expected true or false, got {value!r}")
        return value
    if field in ("phone", "phone2"):
        text = _clean_text(value, what)
        if text is not None and not _PHONE_TEXT.match(text):
            raise InputError(f"{what}: expected a phone number (digits, '-', '+'), got {text!r}")
        return text
    if field == "birth_date":
        if value in (None, ""):
            return None
        try:
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        except ValueError:
            raise InputError(f"{what}: expected a date YYYY-MM-DD, got {value!r}") from None
    if field == "note":
        if value is not None and not isinstance(value, str):
            raise InputError(f"{what}: expected a text, got {type(value).__name__}")
        return (value or "").strip() or None
    return _clean_text(value, what, required=field == "name")


def _light_id_check(text: str | None) -> tuple[str | None, str, dt.date | None, str | None]:
    """(id, status, birth date, sex) of an ID typed in the UI when the caller did not check it: the check character
    of an 18-character ID (GB 11643), nothing more. The text itself is kept as given."""
    value = unicodedata.normalize("NFKC", text or "").replace(" ", "").upper() or None
    if value is None:
        return None, schema.ID_MISSING, None, None
    if not _ID_SHAPE.match(value):
        return value, schema.ID_BAD_FORMAT, None, None
    s = sum(int(d) * w for d, w in zip(value[:17], schema.ID_WEIGHTS))
    if schema.ID_CHECK_CHARS[s % 11] != value[17]:
        return value, schema.ID_BAD_CHECKSUM, None, None
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return value, schema.ID_BAD_DATE, None, None
    return value, schema.ID_OK, birth, schema.SEX_MALE if int(value[16]) % 2 else schema.SEX_FEMALE


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _diff(obj: Any, changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """field -> [old, new] for the changes that really change something (JSON-able)."""
    out = {}
    for field, new in changes.items():
        old = getattr(obj, field)
        if _json_value(old) != _json_value(new):
            out[field] = [_json_value(old), _json_value(new)]
    return out


def _proposal(session: Session, household: models.Household, household_changes: Mapping[str, Any] | None,
              person_changes: Mapping[Any, Mapping[str, Any]] | None,
              new_members: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    """The checked corrections as JSON-able data: {"household": {field: [old, new]}, "persons": {id: {field:
    [old, new]}}, "new_members": [{field: value}]}; changes to the current value are left out."""
    problems: list[str] = []
    household_changes = dict(household_changes or {})
    unknown = sorted(set(household_changes) - set(CORRECTABLE_FIELDS))
    if unknown:
        problems.append(f"household_changes: expected fields among {', '.join(CORRECTABLE_FIELDS)}, "
                        f"got {', '.join(unknown)}")
    hh_clean: dict[str, Any] = {}
    for field, value in household_changes.items():
        if field in CORRECTABLE_FIELDS:
            try:
                hh_clean[field] = _clean_value(field, value, f"household.{field}")
            except InputError as exc:
                problems.append(str(exc))
    members = {p.id: p for p in household.persons if p.active}
    persons: dict[str, dict[str, list[Any]]] = {}
    for key, changes in (person_changes or {}).items():
        try:
            person_id = int(key)
        except (TypeError, ValueError):
            problems.append(f"person_changes: expected person ids, got {key!r}")
            continue
        person = members.get(person_id)
        if person is None:
            problems.append(f"person {person_id}: expected an active member of household {household.id}")
            continue
        unknown = sorted(set(changes) - set(PERSON_CORRECTABLE_FIELDS))
        if unknown:
            problems.append(f"person {person_id}: expected fields among {', '.join(PERSON_CORRECTABLE_FIELDS)}, "
                            f"got {', '.join(unknown)}")
            continue
        clean = {}
        for field, value in changes.items():
            try:
                clean[field] = _clean_value(field, value, f"person {person_id}.{field}")
            except InputError as exc:
                problems.append(str(exc))
        if diff := _diff(person, clean):
            persons[str(person_id)] = diff
    added = []
    for i, member in enumerate(new_members or [], start=1):
        unknown = sorted(set(member) - set(NEW_MEMBER_FIELDS))
        if unknown:
            problems.append(f"new member {i}: expected fields among {', '.join(NEW_MEMBER_FIELDS)}, "
                            f"got {', '.join(unknown)}")
            continue
        clean = {}
        for field, value in {"name": None, **member}.items():
            if field in ("id_number", "id_raw"):
                clean[field] = (str(value).strip() or None) if value is not None else None
                continue
            try:
                clean[field] = _clean_value(field, value, f"new member {i}.{field}")
            except InputError as exc:
                problems.append(str(exc))
        if "id_status" not in clean:
            clean.setdefault("id_raw", clean.get("id_number"))
            value, status, birth, sex = _light_id_check(clean.get("id_number"))
            clean.update(id_number=value, id_status=status)
            clean.setdefault("birth_date", birth)
            clean.setdefault("sex", sex)
        if clean.get("id_number") and clean.get("id_status") in (schema.ID_OK, schema.ID_UPGRADED_15) and any(
                p.id_number == clean["id_number"] for p in members.values()):
            problems.append(f"new member {i}: the ID is already listed for a member of household {household.id}")
        added.append({k: _json_value(v) for k, v in clean.items()})
    if problems:
        raise InputError("; ".join(problems))
    out: dict[str, Any] = {}
    if hh_diff := _diff(household, hh_clean):
        out["household"] = hh_diff
    if persons:
        out["persons"] = persons
    if added:
        out["new_members"] = added
    return out


def _bump_version(household: models.Household) -> None:
    """Make the next flush update the household row, so its version moves on and a concurrent writer holding the
    old version is told (StaleDataError / expected_version) instead of overwriting."""
    flag_modified(household, "head_name")


def _apply_proposal(session: Session, household: models.Household, proposal: Mapping[str, Any], *, by: str,
                    how: str, at: dt.datetime, visit_id: int) -> None:
    """Apply checked corrections through the change log (who, when, how, old → new, the visit)."""
    if hh := proposal.get("household"):
        history.apply_changes(session, household, {f: new for f, (_old, new) in hh.items()}, by=by, how=how, at=at,
                              visit_id=visit_id)
    for person_id, fields in (proposal.get("persons") or {}).items():
        person = session.get(models.Person, int(person_id))
        changes: dict[str, Any] = {f: new for f, (_old, new) in fields.items()}
        if "relation" in changes:   # the register's text follows the corrected code (what the export writes)
            changes["relation_text"] = schema.RELATION_LABELS.get(changes["relation"]) if changes["relation"] else None
        if "phone" in changes or "phone2" in changes:
            phone = changes.get("phone", person.phone)
            phone2 = changes.get("phone2", None if "phone" in changes else person.phone2)
            changes.update(phone=phone, phone2=phone2, phone_raw="/".join(p for p in (phone, phone2) if p) or None)
        history.apply_changes(session, person, changes, by=by, how=how, at=at, visit_id=visit_id)
    for member in proposal.get("new_members") or []:
        phones = [p for p in (member.get("phone"), member.get("phone2")) if p]
        relation = member.get("relation")
        birth = member.get("birth_date")
        person = models.Person(
            household_id=household.id, name=member["name"], relation=relation,
            relation_text=schema.RELATION_LABELS.get(relation) if relation else None,
            id_number=member.get("id_number"), id_raw=member.get("id_raw", member.get("id_number")),
            id_status=member["id_status"],
            sex=member.get("sex"), birth_date=dt.date.fromisoformat(birth) if birth else None,
            phone=member.get("phone"), phone2=member.get("phone2"), phone_raw="/".join(phones) or None,
            political_status=member.get("political_status"), hukou_type=member.get("hukou_type"), active=True)
        session.add(person)
        history.log_creation(session, person, by=by, how=how, visit_id=visit_id, at=at)
    _bump_version(household)


def _verify(session: Session, household: models.Household, *, by: str, at: dt.datetime, how: str,
            visit_id: int) -> None:
    history.apply_changes(session, household, {"verified_at": indicators.local_time(at).date(), "verified_by": by},
                          by=by, how=how, at=at, visit_id=visit_id)


def _close(findings: list[models.Finding], at: dt.datetime) -> None:
    for finding in findings:
        finding.status = schema.FINDING_CLOSED
        finding.closed_at = at


def record_outcome(session: Session, household_id: int, *, by: str, method: str, result: str, note: str | None,
                   finding_ids: list[int] | None = None, household_changes: Mapping[str, Any] | None = None,
                   person_changes: Mapping[Any, Mapping[str, Any]] | None = None,
                   new_members: list[Mapping[str, Any]] | None = None, expected_version: int | None = None,
                   require_approval: bool = False, at: dt.datetime | None = None) -> list[models.Visit]:
    """Record a verification outcome for some findings of a household, with corrections; returns the visits.

    One `models.Visit` per finding (`finding_id` set; default: every open finding of the household, see
    `household_open_findings`), or one for the household when it has none. `result` R_CORRECTED needs at least one
    real correction — `household_changes` (CORRECTABLE_FIELDS), `person_changes` (person id -> fields of
    PERSON_CORRECTABLE_FIELDS) or `new_members` (dicts of NEW_MEMBER_FIELDS) — and the other results take none.
    A closing result (schema.CLOSING_RESULTS) without approval applies the corrections through the change log
    (how=visit), marks the household verified and closes the findings; with `require_approval` and corrections the
    visits keep them (JSON in Visit.corrections, approval pending), the findings wait (FINDING_PENDING_APPROVAL) and
    nothing changes until `approve_visit`. Other results leave the findings open.

    Raises NotFoundError (unknown household), InputError (codes, fields, findings not of this household; every
    problem at once), ConflictError (`expected_version` stale, a finding settled meanwhile, or a concurrent write):
    then nothing was written.
    """
    household = session.get(models.Household, household_id)
    if household is None:
        raise NotFoundError(f"household {household_id} does not exist")
    if not household.active:
        raise InputError(f"household {household_id}: expected an active household, got one that moved away")
    _check_code(method, schema.METHOD_LABELS, "method")
    _check_code(result, schema.RESULT_LABELS, "result")
    if expected_version is not None and expected_version != household.version:
        raise ConflictError(f"household {household_id} was changed by someone else "
                            f"(version {household.version}, expected {expected_version}); reload and retry")
    proposal = _proposal(session, household, household_changes, person_changes, new_members)
    if result == schema.R_CORRECTED and not proposal:
        raise InputError("corrections: result 'corrected' expects at least one change to the register, got none "
                         "(record 'confirmed' when everything is right)")
    if result != schema.R_CORRECTED and proposal:
        raise InputError(f"corrections: expected none with result {result!r}; corrections go with 'corrected'")
    mine = {f.id: f for f in household_findings(session, household.id, (schema.FINDING_OPEN,
                                                                         schema.FINDING_PENDING_APPROVAL,
                                                                         schema.FINDING_CLOSED))}
    if finding_ids is None:
        findings = [f for f in mine.values() if f.status == schema.FINDING_OPEN]
    else:
        wanted = list(dict.fromkeys(int(i) for i in finding_ids))
        foreign = [i for i in wanted if i not in mine]
        if foreign:
            raise InputError(f"finding_ids: expected findings of household {household_id}, got "
                             f"{', '.join(map(str, foreign))}")
        settled = [i for i in wanted if mine[i].status != schema.FINDING_OPEN]
        if settled:
            raise ConflictError(f"finding {', '.join(map(str, settled))} is no longer open (settled by someone "
                                "else); reload and retry")
        findings = [mine[i] for i in wanted]
    at = at or models.utcnow()
    note = (note or "").strip() or None
    visits = [models.Visit(household_id=household.id, flat_id=household.flat_id, finding_id=f.id, at=at, by=by,
                           method=method, result=result, note=note) for f in findings] or [
        models.Visit(household_id=household.id, flat_id=household.flat_id, at=at, by=by, method=method,
                     result=result, note=note)]
    session.add_all(visits)
    try:
        session.flush()
        pending = require_approval and bool(proposal)
        if proposal:
            payload = json.dumps({"group": visits[0].id, "finding_ids": [f.id for f in findings], **proposal},
                                 ensure_ascii=False)
            for visit in visits:
                visit.corrections = payload
                visit.approval = APPROVAL_PENDING if pending else None
        if pending:
            for finding in findings:
                finding.status = schema.FINDING_PENDING_APPROVAL
            _bump_version(household)
        elif result in schema.CLOSING_RESULTS:
            if proposal:
                _apply_proposal(session, household, proposal, by=by, how=schema.HOW_VISIT, at=at,
                                visit_id=visits[0].id)
            _verify(session, household, by=by, at=at, how=schema.HOW_VISIT, visit_id=visits[0].id)
            _close(findings, at)
        session.flush()
    except StaleDataError as exc:
        raise ConflictError(f"household {household_id} was changed by someone else while saving; "
                            "reload and retry") from exc
    return visits


def visit_group(session: Session, visit_id: int) -> list[models.Visit]:
    """The visits recorded together with `visit_id` by one `record_outcome` that carried corrections (itself only
    when it carried none), oldest first."""
    visit = session.get(models.Visit, visit_id)
    if visit is None:
        raise NotFoundError(f"visit {visit_id} does not exist")
    if not visit.corrections:
        return [visit]
    group = json.loads(visit.corrections).get("group")
    if group is None:
        return [visit]
    candidates = session.scalars(select(models.Visit).where(models.Visit.household_id == visit.household_id,
                                                            models.Visit.corrections.is_not(None),
                                                            models.Visit.id >= group)
                                 .order_by(models.Visit.id))
    return [v for v in candidates if json.loads(v.corrections).get("group") == group]


def approve_visit(session: Session, visit_id: int, *, by: str, approve: bool,
                  at: dt.datetime | None = None) -> list[models.Visit]:
    """A grid leader's decision on corrections waiting for approval (the role and area are checked by the caller).

    Approving applies the stored corrections through the change log (how=approval, linked to the visit), marks the
    household verified (by the worker, on the visit's date) and closes the findings; rejecting applies nothing and
    opens the findings again. Applies to every visit recorded together (`visit_group`); returns them.
    Raises NotFoundError, AccessDenied (deciding on one's own visit), ConflictError (already decided, or the
    register changed since the visit where the correction would overwrite it: then nothing is applied).
    """
    visits = visit_group(session, visit_id)
    first = visits[0]
    if any(v.approval != APPROVAL_PENDING for v in visits):
        decided = next(v for v in visits if v.approval != APPROVAL_PENDING)
        raise ConflictError(f"visit {decided.id} is not waiting for approval "
                            f"({decided.approval or 'no approval needed'}"
                            f"{', by ' + decided.approved_by if decided.approved_by else ''})")
    if first.by == by:
        raise AccessDenied(f"visit {first.id}: expected someone other than {by}, who recorded it, to decide")
    at = at or models.utcnow()
    payload = json.loads(first.corrections)
    household = session.get(models.Household, first.household_id)
    findings = [f for f in (session.get(models.Finding, i) for i in payload.get("finding_ids", []))
                if f is not None and f.status == schema.FINDING_PENDING_APPROVAL]
    try:
        if approve:
            stale = [f"household.{f}" for f, (old, _new) in (payload.get("household") or {}).items()
                     if _json_value(getattr(household, f)) != old]
            for person_id, fields in (payload.get("persons") or {}).items():
                person = session.get(models.Person, int(person_id))
                stale += [f"person {person_id}.{f}" for f, (old, _new) in fields.items()
                          if person is None or _json_value(getattr(person, f)) != old]
            if stale or not household.active:
                raise ConflictError(f"visit {first.id}: the register changed since the visit "
                                    f"({', '.join(stale) or 'household moved away'}); nothing applied — "
                                    "reject it and verify again")
            proposal = {k: payload[k] for k in ("household", "persons", "new_members") if payload.get(k)}
            _apply_proposal(session, household, proposal, by=by, how=schema.HOW_APPROVAL, at=at, visit_id=first.id)
            if first.result in schema.CLOSING_RESULTS:
                history.apply_changes(session, household,
                                      {"verified_at": indicators.local_time(first.at).date(),
                                       "verified_by": first.by}, by=by, how=schema.HOW_APPROVAL, at=at,
                                      visit_id=first.id)
            _close(findings, at)
        else:
            for finding in findings:
                finding.status = schema.FINDING_OPEN
        for visit in visits:
            visit.approval = APPROVAL_APPROVED if approve else APPROVAL_REJECTED
            visit.approved_by = by
            visit.approved_at = at
        session.flush()
    except StaleDataError as exc:
        raise ConflictError(f"household {first.household_id} was changed by someone else while saving; "
                            "reload and retry") from exc
    return visits


def pending_visits(session: Session, community_id: int | None = None) -> list[models.Visit]:
    """The first visit of every group waiting for approval (oldest first), optionally of one community."""
    query = select(models.Visit).where(models.Visit.approval == APPROVAL_PENDING).order_by(models.Visit.at,
                                                                                          models.Visit.id)
    if community_id is not None:
        query = (query.join(models.Flat, models.Flat.id == models.Visit.flat_id)
                 .join(models.Building, models.Building.id == models.Flat.building_id)
                 .where(models.Building.community_id == community_id))
    out, seen = [], set()
    for visit in session.scalars(query):
        group = json.loads(visit.corrections or "{}").get("group", visit.id)
        if group not in seen:
            seen.add(group)
            out.append(visit)
    return out
