"""Per-finding verification outcomes (geodata.verification.record_outcome / approve_visit): corrections applied
with history, the approval workflow, conflicts, findings closed only by a recorded outcome, and the register export
round trip after a correction."""
from __future__ import annotations

import datetime as dt
import json

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import history, models, reconcile, register_export, schema, store, verification
from geodata.errors import AccessDenied, ConflictError, InputError
from tests import factories

AT = dt.datetime(2024, 3, 2, 2, 30)          # UTC: 10:30 in Changzhou


@pytest.fixture
def community(db_url):
    """The factory community on each backend, with two more open findings at 3-1-101 (a person's missing phone,
    the household's elderly check): (engine, built, household id, head person id, finding ids)."""
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        built = factories.build_community(s)
        hid = built.household_ids[built.finding_flat]
        head = s.scalars(select(models.Person).where(models.Person.household_id == hid)
                         .order_by(models.Person.id)).first()
        extra = [models.Finding(community_id=built.community_id, category=schema.F_MISSING_PHONE, person_id=head.id,
                                status=schema.FINDING_OPEN),
                 models.Finding(community_id=built.community_id, category=schema.F_CONFIRM_ELDERLY,
                                household_id=hid, status=schema.FINDING_OPEN)]
        s.add_all(extra)
        s.flush()
        findings = [f.id for f in verification.household_open_findings(s, hid)]
        head_id = head.id
    yield engine, built, hid, head_id, findings
    engine.dispose()


def _status(engine, finding_ids):
    with Session(engine) as s:
        return [s.get(models.Finding, i).status for i in finding_ids]


def _log(s: Session, entity: str, entity_id: int, field: str) -> list[models.ChangeLog]:
    return [r for r in history.history_of(s, entity, entity_id) if r.field == field]


def test_correction_is_applied_with_history_and_closes_the_findings(community):
    engine, built, hid, head_id, findings = community
    assert len(findings) == 3          # absent_registered (factory), missing_phone, confirm_elderly
    with store.session_scope(engine) as s:
        old_phone = s.get(models.Person, head_id).phone
        version = s.get(models.Household, hid).version
        visits = verification.record_outcome(
            s, hid, by="wang", method=schema.M_PHONE, result=schema.R_CORRECTED, note="本人电话已换",
            finding_ids=findings[1:2], person_changes={head_id: {"phone": "13912345678"}},
            household_changes={"residence_status": schema.RES_RENTED, "landlord": "周老板"},
            expected_version=version, at=AT)
        visit_id = visits[0].id
    with Session(engine) as s:
        assert [v.finding_id for v in visits] == [findings[1]]
        person = s.get(models.Person, head_id)
        assert (person.phone, person.phone_raw) == ("13912345678", "13912345678")
        log = _log(s, schema.ENTITY_PERSON, head_id, "phone")
        assert [(r.old, r.new, r.how, r.by, r.visit_id) for r in log] == [
            (old_phone, "13912345678", schema.HOW_VISIT, "wang", visit_id)]
        hh = s.get(models.Household, hid)
        assert (hh.residence_status, hh.landlord) == (schema.RES_RENTED, "周老板")
        assert [(r.old, r.new) for r in _log(s, schema.ENTITY_HOUSEHOLD, hid, "landlord")] == [(None, "周老板")]
        assert hh.verified_at == dt.date(2024, 3, 2) and hh.verified_by == "wang" and hh.version > version
        closed = s.get(models.Finding, findings[1])
        assert closed.status == schema.FINDING_CLOSED and closed.closed_at == AT
        stored = json.loads(s.get(models.Visit, visit_id).corrections)
        assert stored["persons"] == {str(head_id): {"phone": [old_phone, "13912345678"]}}
        assert s.get(models.Visit, visit_id).approval is None
    # only the finding the outcome was for is closed
    assert _status(engine, findings) == [schema.FINDING_OPEN, schema.FINDING_CLOSED, schema.FINDING_OPEN]


def test_with_approval_nothing_changes_until_a_leader_approves(community):
    engine, built, hid, head_id, findings = community
    with store.session_scope(engine) as s:
        old_phone = s.get(models.Person, head_id).phone
        visits = verification.record_outcome(
            s, hid, by="wang", method=schema.M_DOOR, result=schema.R_CORRECTED, note=None,
            person_changes={head_id: {"phone": "13912345678", "political_status": "01"}},
            new_members=[{"name": "孙小红", "relation": "30", "id_number": factories.id_number(dt.date(2001, 7, 7), 5)}],
            require_approval=True, at=AT)
        ids = [v.id for v in visits]
    assert len(ids) == 3                                   # one visit per open finding
    assert _status(engine, findings) == [schema.FINDING_PENDING_APPROVAL] * 3
    with Session(engine) as s:
        assert s.get(models.Person, head_id).phone == old_phone
        assert _log(s, schema.ENTITY_PERSON, head_id, "phone") == []
        assert {s.get(models.Visit, i).approval for i in ids} == {verification.APPROVAL_PENDING}
        assert s.get(models.Household, hid).verified_at is None
        assert [v.id for v in verification.pending_visits(s, built.community_id)] == [ids[0]]
        assert len(s.get(models.Household, hid).persons) == 1
    with store.session_scope(engine) as s, pytest.raises(AccessDenied, match="wang"):
        verification.approve_visit(s, ids[1], by="wang", approve=True)     # not one's own
    with store.session_scope(engine) as s:
        verification.approve_visit(s, ids[2], by="leader", approve=True, at=AT + dt.timedelta(hours=3))
    assert _status(engine, findings) == [schema.FINDING_CLOSED] * 3
    with Session(engine) as s:
        person = s.get(models.Person, head_id)
        assert (person.phone, person.political_status) == ("13912345678", "01")
        assert [(r.old, r.new, r.how, r.by, r.visit_id) for r in _log(s, schema.ENTITY_PERSON, head_id, "phone")] == [
            (old_phone, "13912345678", schema.HOW_APPROVAL, "leader", ids[0])]
        new = s.scalars(select(models.Person).where(models.Person.name == "孙小红")).one()
        assert (new.household_id, new.relation, new.relation_text, new.id_status, new.birth_date, new.sex) == (
            hid, "30", "女", schema.ID_OK, dt.date(2001, 7, 7), schema.SEX_MALE)
        assert [r.how for r in _log(s, schema.ENTITY_PERSON, new.id, "created")] == [schema.HOW_APPROVAL]
        assert {(v.approval, v.approved_by) for v in map(lambda i: s.get(models.Visit, i), ids)} == {
            (verification.APPROVAL_APPROVED, "leader")}
        hh = s.get(models.Household, hid)
        assert (hh.verified_at, hh.verified_by) == (dt.date(2024, 3, 2), "wang")
        assert verification.pending_visits(s) == []
    with store.session_scope(engine) as s, pytest.raises(ConflictError, match="not waiting for approval"):
        verification.approve_visit(s, ids[0], by="leader2", approve=False)


def test_reject_opens_the_findings_again_and_applies_nothing(community):
    engine, built, hid, head_id, findings = community
    with store.session_scope(engine) as s:
        old = s.get(models.Household, hid).head_name
        visits = verification.record_outcome(s, hid, by="wang", method=schema.M_PHONE, result=schema.R_CORRECTED,
                                             note=None, finding_ids=[findings[0]],
                                             household_changes={"head_name": "新户主"}, require_approval=True)
        visit_id = visits[0].id
    assert _status(engine, findings) == [schema.FINDING_PENDING_APPROVAL, schema.FINDING_OPEN, schema.FINDING_OPEN]
    with store.session_scope(engine) as s:
        verification.approve_visit(s, visit_id, by="leader", approve=False)
    assert _status(engine, findings) == [schema.FINDING_OPEN] * 3
    with Session(engine) as s:
        assert s.get(models.Household, hid).head_name == old
        assert _log(s, schema.ENTITY_HOUSEHOLD, hid, "head_name") == []
        assert s.get(models.Visit, visit_id).approval == verification.APPROVAL_REJECTED
    with store.session_scope(engine) as s, pytest.raises(ConflictError):
        verification.approve_visit(s, visit_id, by="leader", approve=True)


def test_a_stale_version_is_refused_and_nothing_is_overwritten(community):
    engine, built, hid, head_id, findings = community
    with Session(engine) as s:
        seen = s.get(models.Household, hid).version            # both workers opened the form
    with store.session_scope(engine) as s:
        verification.record_outcome(s, hid, by="wang", method=schema.M_PHONE, result=schema.R_CORRECTED, note=None,
                                    finding_ids=[findings[1]], person_changes={head_id: {"phone": "13911111111"}},
                                    expected_version=seen)
    with store.session_scope(engine) as s, pytest.raises(ConflictError, match="changed by someone else"):
        verification.record_outcome(s, hid, by="li", method=schema.M_DOOR, result=schema.R_CORRECTED, note=None,
                                    finding_ids=[findings[1]], person_changes={head_id: {"phone": "13922222222"}},
                                    expected_version=seen)
    with Session(engine) as s:
        assert s.get(models.Person, head_id).phone == "13911111111"
        assert [v.by for v in s.scalars(select(models.Visit).where(models.Visit.household_id == hid))] == ["wang"]


def test_a_concurrent_write_without_a_version_is_refused_too(community):
    engine, built, hid, head_id, findings = community
    first = Session(engine)
    try:
        # read (and held) before the other worker saves: the identity map keeps objects only while referenced
        loaded = (first.get(models.Household, hid), first.get(models.Person, head_id))
        assert loaded[0].version == 1
        with store.session_scope(engine) as other:
            verification.record_outcome(other, hid, by="wang", method=schema.M_PHONE, result=schema.R_CORRECTED,
                                        note=None, finding_ids=[], person_changes={head_id: {"phone": "13911111111"}})
        with pytest.raises(ConflictError):
            verification.record_outcome(first, hid, by="li", method=schema.M_DOOR, result=schema.R_CORRECTED,
                                        note=None, finding_ids=[],
                                        person_changes={head_id: {"name": "李四"}})
        first.rollback()
    finally:
        first.close()
    with Session(engine) as s:
        person = s.get(models.Person, head_id)
        assert person.phone == "13911111111" and person.name != "李四"


def test_a_finding_closes_only_with_a_recorded_closing_outcome(community):
    engine, built, hid, head_id, findings = community
    target = [findings[2]]
    for result in (schema.R_UNREACHABLE, schema.R_REVISIT):
        with store.session_scope(engine) as s:
            visits = verification.record_outcome(s, hid, by="wang", method=schema.M_PHONE, result=result,
                                                 note="无人接听", finding_ids=target)
            assert [v.finding_id for v in visits] == target
    assert _status(engine, target) == [schema.FINDING_OPEN]
    with store.session_scope(engine) as s, pytest.raises(InputError, match="at least one change"):
        verification.record_outcome(s, hid, by="wang", method=schema.M_PHONE, result=schema.R_CORRECTED, note=None,
                                    finding_ids=target)
    with store.session_scope(engine) as s, pytest.raises(InputError, match="corrections go with 'corrected'"):
        verification.record_outcome(s, hid, by="wang", method=schema.M_PHONE, result=schema.R_CONFIRMED, note=None,
                                    finding_ids=target, household_changes={"landlord": "某人"})
    assert _status(engine, target) == [schema.FINDING_OPEN]
    with store.session_scope(engine) as s:
        verification.record_outcome(s, hid, by="wang", method=schema.M_WINDOW, result=schema.R_CONFIRMED, note=None,
                                    finding_ids=target)
    assert _status(engine, target) == [schema.FINDING_CLOSED]
    # a finding settled meanwhile is a conflict; another household's finding is an input error
    with store.session_scope(engine) as s, pytest.raises(ConflictError, match="no longer open"):
        verification.record_outcome(s, hid, by="li", method=schema.M_PHONE, result=schema.R_CONFIRMED, note=None,
                                    finding_ids=target)
    other_hh = next(v for k, v in built.household_ids.items() if k[0] == "4")
    with store.session_scope(engine) as s, pytest.raises(InputError, match="expected findings of household"):
        verification.record_outcome(s, other_hh, by="li", method=schema.M_PHONE, result=schema.R_CONFIRMED,
                                    note=None, finding_ids=[findings[0]])


def test_inputs_are_checked_and_every_problem_is_reported(community):
    engine, built, hid, head_id, findings = community
    stranger = 10**6               # no such person
    with store.session_scope(engine) as s:
        with pytest.raises(InputError, match="method: expected one of phone"):
            verification.record_outcome(s, hid, by="w", method="mail", result=schema.R_CONFIRMED, note=None)
        with pytest.raises(InputError) as exc:
            verification.record_outcome(
                s, hid, by="w", method=schema.M_PHONE, result=schema.R_CORRECTED, note=None,
                household_changes={"residence_status": "sold", "verified_by": "x"},
                person_changes={head_id: {"political_status": "99", "active": "no", "id_number": "1"},
                                stranger: {"name": "x"}},
                new_members=[{"relation": "20"}, {"name": "张三", "phone": "not a phone"}])
        message = str(exc.value)
        for part in ("household_changes: expected fields among", "household.residence_status: expected one of",
                     "expected fields among name, phone", "expected an active member",
                     "new member 1.name: expected a text", "new member 2.phone: expected a phone number"):
            assert part in message, part
    assert _status(engine, findings) == [schema.FINDING_OPEN] * 3


def test_moved_away_relation_and_a_light_id_check(community):
    engine, built, hid, head_id, findings = community
    with store.session_scope(engine) as s:
        verification.record_outcome(
            s, hid, by="wang", method=schema.M_DOOR, result=schema.R_CORRECTED, note=None,
            person_changes={head_id: {"relation": "10", "active": False}},
            new_members=[{"name": "甲", "id_number": "３２０４１１２００１０７０７００５X"},       # bad check char
                         {"name": "乙", "id_number": factories.id_number(dt.date(1990, 1, 2), 7)},
                         {"name": "丙"}])
    with Session(engine) as s:
        head = s.get(models.Person, head_id)
        assert (head.active, head.relation, head.relation_text) == (False, "10", "配偶")
        assert [(r.old, r.new) for r in _log(s, schema.ENTITY_PERSON, head_id, "active")] == [("True", "False")]
        added = {p.name: p for p in s.scalars(select(models.Person).where(models.Person.household_id == hid,
                                                                          models.Person.id != head_id))}
        assert added["甲"].id_status in (schema.ID_BAD_CHECKSUM, schema.ID_BAD_FORMAT)
        assert added["甲"].id_raw == "３２０４１１２００１０７０７００５X"             # the text as typed is kept
        assert (added["乙"].id_status, added["乙"].birth_date) == (schema.ID_OK, dt.date(1990, 1, 2))
        assert (added["丙"].id_status, added["丙"].id_number) == (schema.ID_MISSING, None)


# --- the register export round trip after a correction (the town of tests/test_reconcile.py) -------------------
def _values(path) -> dict[str, list[list]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def test_export_round_trips_after_a_correction(tmp_path):
    from loaders.register import import_register
    from tests.test_reconcile import AS_OF, build_town
    from tests.test_worklist_export import _fresh_store_like

    engine = store.open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.session_scope(engine) as s:
        town = build_town(s)
        reconcile.reconcile(s, town.community_id, as_of=AS_OF)
    hid = town.households["1-1-101"]
    wife = town.persons["李秀英"]
    with store.session_scope(engine) as s:
        verification.record_outcome(
            s, hid, by="wang", method=schema.M_DOOR, result=schema.R_CORRECTED, note="上门核实",
            household_changes={"residence_status": schema.RES_RENTED, "landlord": "黄国平"},
            person_changes={wife: {"phone": "13912345678", "phone2": "0519-88886666", "political_status": "01"}},
            new_members=[{"name": "黄小龙", "relation": "20", "phone": "13700001111",
                          "id_number": factories.id_number(dt.date(1998, 8, 8), 11)}])
    first = tmp_path / "first.xlsx"
    with store.session_scope(engine) as s:
        register_export.write_register_xlsx(s, town.community_id, first, as_of=AS_OF, by="admin")
        fresh = _fresh_store_like(s, town.community_id, f"sqlite:///{tmp_path / 'fresh.db'}")
    rows = [r for r in _values(first)["第一网格"] if r[1:4] == ["1", 1, "101"]]
    by_name = {r[5]: r for r in rows}
    assert by_name["李秀英"][10] == "13912345678/0519-88886666" and by_name["李秀英"][11] == "中共党员"
    assert by_name["黄小龙"][6] == "子" and by_name["黄小龙"][7] == factories.id_number(dt.date(1998, 8, 8), 11)
    assert {r[13] for r in rows} == {"出租"} and {r[14] for r in rows} == {"黄国平"}
    result = import_register(fresh, "测试社区", first, today=AS_OF)
    assert result.quarantined == 0
    second = tmp_path / "second.xlsx"
    with store.session_scope(fresh) as s:
        comm = s.scalars(select(models.Community)).one()
        register_export.write_register_xlsx(s, comm.id, second, as_of=AS_OF)
    a, b = _values(first), _values(second)
    assert list(a) == list(b)
    for sheet in a:
        assert a[sheet] == b[sheet], sheet
