"""Pure functions behind the flat page's per-finding verification form (dashboard/components/verify.py).

`verify_data` gives what the form shows for a flat (households, their open findings, members with masked phones);
`outcome_from_form` turns the form's raw values into the arguments of `geodata.verification.record_outcome`,
checking phone numbers and ID numbers at this boundary with `loaders` (geodata may not import loaders);
`save_outcome` records it as the signed-in user after the scope check. No Dash here: tested without a browser.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from geodata import access, models, schema, verification
from geodata.errors import AccessDenied, InputError, NotFoundError
from loaders.ids import check_id
from loaders.phones import parse_phones

#: Household and member fields the form offers (a subset of what geodata.verification accepts).
HOUSEHOLD_FIELDS = ("head_name", "residence_status", "landlord")
PERSON_FIELDS = ("name", "phone", "political_status", "hukou_type", "relation", "active")
NEW_MEMBER_FIELDS = ("name", "relation", "id_number", "phone")
#: The value of the "moved away" checkbox of a member.
MOVED = "moved"


def verify_data(session: Session, scope: access.Scope | None, flat_id: int) -> dict[str, Any] | None:
    """What the verification form of a flat shows, or None outside the scope.

    {"flat_id", "households": [{"id", "version", "head_name", "residence_status", "landlord",
    "members": [{"id", "name", "relation", "phone" (masked), "political_status", "hukou_type"}],
    "findings": [open findings: {"id", "category", "evidence"}], "pending": n findings waiting for approval}],
    "flat_findings": [for a flat without a household: the open findings an outcome for the flat itself settles
    (`verification.flat_open_findings`, e.g. 人在户不在 from a checkpoint registration), same keys]}
    """
    if not access.flat_visible(session, scope, flat_id):
        return None
    flat = session.get(models.Flat, flat_id)
    households = []
    for hh in sorted((h for h in flat.households if h.active), key=lambda h: h.id):
        members = [{"id": p.id, "name": p.name, "relation": p.relation, "relation_text": p.relation_text,
                    "phone": access.mask_phone(p.phone) if p.phone else "", "political_status": p.political_status,
                    "hukou_type": p.hukou_type}
                   for p in sorted(hh.persons, key=lambda p: (p.relation != schema.HEAD_RELATION, p.id)) if p.active]
        findings = verification.household_open_findings(session, hh.id)
        pending = verification.household_findings(session, hh.id, (schema.FINDING_PENDING_APPROVAL,))
        households.append({"id": hh.id, "version": hh.version, "head_name": hh.head_name,
                           "residence_status": hh.residence_status, "landlord": hh.landlord, "members": members,
                           "findings": _finding_rows(findings), "pending": len(pending)})
    flat_findings = [] if households else verification.flat_open_findings(session, flat_id)
    return {"flat_id": flat_id, "households": households, "flat_findings": _finding_rows(flat_findings)}


def _finding_rows(findings: list[models.Finding]) -> list[dict[str, Any]]:
    return [{"id": f.id, "category": f.category, "evidence": f.evidence or ""} for f in findings]


def _phone(raw: str, who: str) -> tuple[str, str | None]:
    check = parse_phones(raw)
    if not check.numbers or check.invalid:
        raise InputError(f"{who}的联系电话无法识别：{raw}（应为11位手机号或0519-开头的座机号）")
    return check.numbers[0], (check.numbers[1] if len(check.numbers) > 1 else None)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def outcome_from_form(session: Session, household_id: int, form: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `verification.record_outcome` from the form's raw values.

    `form`: {"household": {field: value}, "persons": {person_id: {field: value}} (field "active" is the list of
    the moved-away checkbox), "new_members": [{"name", "relation", "id_number", "phone"}]}. Values equal to the
    register's are left out; an empty phone box means "unchanged"; a new-member row with nothing in it is skipped.
    Raises InputError (in Chinese, for the worker) for an unreadable phone or a wrong ID number.
    """
    household = session.get(models.Household, household_id)
    if household is None:
        raise NotFoundError(f"household {household_id} does not exist")
    problems: list[str] = []
    hh_changes: dict[str, Any] = {}
    for field, value in (form.get("household") or {}).items():
        if field not in HOUSEHOLD_FIELDS:
            continue
        value = _text(value) or None
        if value != getattr(household, field):
            hh_changes[field] = value
    members = {p.id: p for p in household.persons if p.active}
    person_changes: dict[int, dict[str, Any]] = {}
    for key, fields in (form.get("persons") or {}).items():
        person = members.get(int(key))
        if person is None:   # a member of another household of the flat (its form is hidden)
            continue
        changes: dict[str, Any] = {}
        for field, value in fields.items():
            if field == "phone":
                if _text(value):
                    try:
                        phone, phone2 = _phone(_text(value), person.name)
                    except InputError as exc:
                        problems.append(str(exc))
                        continue
                    if (phone, phone2) != (person.phone, person.phone2):
                        changes.update(phone=phone, phone2=phone2)
            elif field == "active":
                if MOVED in (value or []):
                    changes["active"] = False
            elif field == "name":
                if _text(value) and _text(value) != person.name:
                    changes["name"] = _text(value)
            elif field in PERSON_FIELDS:
                value = value or None
                if value != getattr(person, field):
                    changes[field] = value
        if changes:
            person_changes[person.id] = changes
    new_members = []
    for row in form.get("new_members") or []:
        name, id_text, phone_text = _text(row.get("name")), _text(row.get("id_number")), _text(row.get("phone"))
        relation = row.get("relation") or None
        if not (name or id_text or phone_text or relation):
            continue
        if not name:
            problems.append("新增成员需要填写姓名")
            continue
        member: dict[str, Any] = {"name": name, "relation": relation}
        idc = check_id(id_text or None)
        if idc.status in (schema.ID_OK, schema.ID_UPGRADED_15):
            member.update(id_number=idc.value, id_raw=idc.raw, id_status=idc.status, birth_date=idc.birth_date,
                          sex=idc.sex)
        elif idc.status == schema.ID_MISSING:
            member.update(id_number=None, id_status=schema.ID_MISSING)
        else:
            problems.append(f"新增成员{name}的身份证号码有误：{idc.message}，请核对")
            continue
        if phone_text:
            try:
                member["phone"], member["phone2"] = _phone(phone_text, name)
            except InputError as exc:
                problems.append(str(exc))
                continue
        new_members.append(member)
    if problems:
        raise InputError("；".join(problems))
    return {"household_changes": hh_changes, "person_changes": person_changes, "new_members": new_members}


def needs_approval(scope: access.Scope, require_approval: bool) -> bool:
    """Corrections wait for approval when the setting asks for it and a grid worker made them; grid leaders and
    community admins are the approvers, so theirs apply at once."""
    return require_approval and scope.role == schema.ROLE_GRID_WORKER


def save_outcome(session: Session, scope: access.Scope | None, household_id: int, *, method: str, result: str,
                 note: str | None, finding_ids: list[int] | None, form: Mapping[str, Any],
                 expected_version: int | None, require_approval: bool) -> list[models.Visit]:
    """Record a per-finding outcome with corrections as the signed-in user, after the scope check.

    Raises AccessDenied outside the scope, InputError for the form (in Chinese when the worker can fix it),
    ConflictError when the household changed since the form was drawn (nothing is written then).
    """
    if not access.household_visible(session, scope, household_id):
        raise AccessDenied(f"household {household_id}: outside your area")
    changes = outcome_from_form(session, household_id, form)
    corrected = any(changes.values())
    if result == schema.R_CORRECTED and not corrected:
        raise InputError("选择“已更正”时请至少填写一项更正内容（信息无误请选“核实无误”）")
    if result != schema.R_CORRECTED and corrected:
        raise InputError("填写了更正内容：请选择核实结果“已更正”，或清空更正内容")
    return verification.record_outcome(
        session, household_id, by=scope.username, method=method, result=result, note=note,
        finding_ids=finding_ids, expected_version=expected_version,
        require_approval=needs_approval(scope, require_approval), **changes)
