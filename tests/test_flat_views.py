"""The flat page's data without a browser: who to call (register, former occupants, checkpoint registrants; phones
masked), and the one verification form's whole-flat mode for a flat without a household (findings listed, settled,
a flat that gained a household meanwhile refused)."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard import inputs, verify_views, views
from dashboard.components import reveal
from dashboard.i18n import translator
from geodata import access, contacts, history, models, schema, store
from geodata.errors import AccessDenied, ConflictError
from geodata.synthetic import STORY_PREVIOUS_OWNER
from tests import factories
from tests.test_views import env  # noqa: F401  (fixture)

FORMER_PHONE, NEW_OWNER_PHONE = "13912345678", "13800001111"


def _vacant_flat(built: factories.Built) -> int:
    return built.flat_ids[next(key for key in built.flat_ids if key[0] == "4" and key not in built.household_ids)]


def test_flat_detail_lists_who_to_call_with_masked_phones(env):  # noqa: F811
    engine, built, scopes = env
    key = built.finding_flat
    flat_id = built.flat_ids[key]
    with store.session_scope(engine) as s:
        # a household that sold and left the register, and the new owner seen at the checkpoint
        former = models.Household(flat_id=flat_id, head_name="张民生", residence_status=schema.RES_OWNER)
        s.add(former)
        s.flush()
        s.add(models.Person(household_id=former.id, name="张民生", relation=schema.HEAD_RELATION,
                            id_status=schema.ID_MISSING, phone=FORMER_PHONE))
        s.flush()
        history.apply_changes(s, former, {"active": False}, by="tester", how=schema.HOW_IMPORT)
        s.add(models.CheckpointRegistration(community_id=built.community_id, name="李新民", id_status=schema.ID_MISSING,
                                            phone=NEW_OWNER_PHONE, flat_id=flat_id, role=schema.CP_OWNER,
                                            reg_date=dt.date(2024, 2, 20)))
    with Session(engine) as s:
        detail = views.flat_detail(s, scopes["worker"], flat_id)
        head = s.scalars(select(models.Person).where(models.Person.household_id == built.household_ids[key],
                                                     models.Person.relation == schema.HEAD_RELATION)).one()
        phones = set(s.scalars(select(models.Person.phone).where(models.Person.phone.is_not(None))))
    people = detail["contacts"]
    assert [c["source"] for c in people] == [contacts.SRC_REGISTER] * (len(people) - 2) + [
        contacts.SRC_FORMER, contacts.SRC_CHECKPOINT]
    first = people[0]
    assert (first["name"], first["head"], first["since"]) == (head.name, True, "")
    assert first["phone"] == access.mask_phone(head.phone)
    gone = people[-2]
    assert (gone["name"], gone["head"], gone["phone"]) == ("张民生", True, "139****5678")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", gone["since"])                    # the date it left the register
    new_owner = people[-1]
    assert new_owner["checkpoint_id"] and new_owner["person_id"] is None
    assert {k: v for k, v in new_owner.items() if k != "checkpoint_id"} == {
        "source": contacts.SRC_CHECKPOINT, "name": "李新民", "head": False, "phone": "138****1111",
        "since": "2024-02-20", "person_id": None}
    shown = json.dumps(detail, ensure_ascii=False)
    assert FORMER_PHONE in phones and [p for p in phones | {NEW_OWNER_PHONE} if p in shown] == []

    # 查看完整信息 offers the former owner and the checkpoint's new owner too; revealing one is audited
    t = translator("zh")
    offered = dict(reveal.choices(detail, t))
    assert offered[f'checkpoint:{new_owner["checkpoint_id"]}'] == "李新民（卡口登记）"
    assert offered[f'person:{gone["person_id"]}'].startswith("张民生（")
    target_type, target_id = reveal.target(f'checkpoint:{new_owner["checkpoint_id"]}')
    with Session(engine) as s:
        with pytest.raises(AccessDenied):       # grid workers may not reveal
            access.reveal(s, scopes["worker"], target_type=target_type, target_id=target_id, field="phone",
                          reason="联系新业主")
        assert access.reveal(s, scopes["admin"], target_type=target_type, target_id=target_id, field="phone",
                             reason="漏水：联系新业主") == NEW_OWNER_PHONE
        entry = s.scalars(select(models.AuditLog).where(models.AuditLog.action == schema.A_REVEAL)
                          .order_by(models.AuditLog.id.desc())).first()
        assert (entry.target_type, entry.target_id, entry.detail) == (access.TARGET_CHECKPOINT, str(target_id),
                                                                      "field=phone")
    for bad in ("checkpoint:x", "flat:1", 7, None, ["person:1"]):
        with pytest.raises(inputs.BadInput):
            reveal.target(bad)


def test_a_just_sold_flat_shows_the_former_owner_and_the_new_one(lanxiang_store):
    """The seed's story on the demo: 16幢4单元202 was just sold; the register still lists 张民生, the checkpoint saw
    the new owner."""
    url, _, _ = lanxiang_store
    engine = store.make_engine(url)
    with Session(engine) as s:
        flat_id = s.scalar(select(models.Flat.id).join(models.Building)
                           .where(models.Building.number == "16", models.Flat.unit == 4, models.Flat.room == "202"))
        community = s.get(models.Community, s.get(models.Flat, flat_id).building.community_id)
        scope = access.Scope(username="story_admin", role=schema.ROLE_COMMUNITY_ADMIN,
                             street_ids=frozenset({community.street_id}), community_ids=frozenset({community.id}),
                             grid_ids=None, person_level=True, may_reveal=True)
        detail = views.flat_detail(s, scope, flat_id)
    engine.dispose()
    people = detail["contacts"]
    owner = next(c for c in people if c["name"] == STORY_PREVIOUS_OWNER)
    assert owner["source"] == contacts.SRC_REGISTER and owner["head"]
    checkpoint = [c for c in people if c["source"] == contacts.SRC_CHECKPOINT]
    assert checkpoint and all(c["name"] != STORY_PREVIOUS_OWNER and c["since"] for c in checkpoint)
    assert all(re.fullmatch(r"(1\d{2}|0519-)\*{4}\d{4}|", c["phone"]) for c in people)     # masked (or none)


def test_a_flat_without_household_is_verified_as_a_whole(env):  # noqa: F811
    """What the old household form did at an empty flat: the 人在户不在 finding (a checkpoint registration placed at
    the flat) is listed by the one form and settled by a whole-flat outcome."""
    engine, built, scopes = env
    flat_id = _vacant_flat(built)
    with store.session_scope(engine) as s:
        registration = models.CheckpointRegistration(community_id=built.community_id, name="赵六",
                                                     id_status=schema.ID_OK, flat_id=flat_id, role=schema.CP_TENANT)
        s.add(registration)
        s.flush()
        s.add(models.Finding(community_id=built.community_id, category=schema.F_PRESENT_UNREGISTERED,
                             flat_id=flat_id, checkpoint_id=registration.id, evidence="卡口登记租户赵六"))
    with Session(engine) as s:
        data = verify_views.verify_data(s, scopes["worker"], flat_id)
    assert data["households"] == []
    assert [(f["category"], f["evidence"]) for f in data["flat_findings"]] == [(schema.F_PRESENT_UNREGISTERED,
                                                                                 "卡口登记租户赵六")]
    with store.session_scope(engine) as s:
        visit = views.save_flat_visit(s, scopes["worker"], flat_id, method=schema.M_DOOR, result=schema.R_CONFIRMED,
                                      note="租户赵六在住，已告知登记")
        assert (visit.household_id, visit.flat_id, visit.by) == (None, flat_id, "worker")
    with Session(engine) as s:
        assert verify_views.verify_data(s, scopes["worker"], flat_id)["flat_findings"] == []
        assert views.flat_detail(s, scopes["worker"], flat_id)["visits"][0]["note"] == "租户赵六在住，已告知登记"
        # a flat with households offers no whole-flat findings
        assert verify_views.verify_data(s, scopes["worker"], built.flat_ids[built.finding_flat])["flat_findings"] == []


def test_a_whole_flat_outcome_for_a_flat_that_gained_a_household_is_refused(env):  # noqa: F811
    engine, built, scopes = env
    flat_id = _vacant_flat(built)
    with store.session_scope(engine) as s:
        s.add(models.Household(flat_id=flat_id, head_name="新住户", residence_status=schema.RES_RENTED))
    with store.session_scope(engine) as s, pytest.raises(ConflictError, match="household"):
        views.save_flat_visit(s, scopes["worker"], flat_id, method=schema.M_PHONE, result=schema.R_CONFIRMED,
                              note="房屋空置")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.Visit).where(models.Visit.flat_id == flat_id)) == 0
