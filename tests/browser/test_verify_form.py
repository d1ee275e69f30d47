"""The flat page's one verification form in headless Chromium, for what the former household form also did: a flat
without a register household verified as a whole (a checkpoint registrant living in an empty flat, 人在户不在), and
two people saving the same household at once — the second is told, nothing of theirs is written. No console errors.

Building 2 (第一网格, already in progress) only: test_map.py checks the colours of buildings 1, 3 and 4, and the
other pages' tests plant their own flats in grid 2; the data is planted here, so the order of the tests is free."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import access, models, schema, store
from tests.browser.conftest import login, record_outcome

#: Building 2: an empty flat, and a household not verified yet.
EMPTY = ("2", 1, "402")
HOUSEHOLD = ("2", 2, "502")
LEADER, LEADER_PASSWORD = "leader1", "gridmap-test-3"


@pytest.fixture
def leader_page(browser, server):  # type: ignore[no-untyped-def]
    """The grid leader of 第一网格 (created once per server), signed in."""
    engine = store.make_engine(server["db_url"])
    with store.session_scope(engine) as s:
        if s.scalar(select(models.User.id).where(models.User.username == LEADER)) is None:
            access.create_user(s, LEADER, LEADER_PASSWORD, schema.ROLE_GRID_LEADER,
                               grid_ids=[server["built"].grid_ids[0]])
    engine.dispose()
    page, context, errors = login(browser, server["base_url"], LEADER, LEADER_PASSWORD)
    yield page, errors
    context.close()


def _plant_registrant(server) -> int:  # type: ignore[no-untyped-def]
    """A checkpoint registration (and its 人在户不在 finding) at the empty flat; returns the flat id."""
    built = server["built"]
    flat_id = built.flat_ids[EMPTY]
    engine = store.make_engine(server["db_url"])
    with store.session_scope(engine) as s:
        registration = models.CheckpointRegistration(community_id=built.community_id, name="赵六",
                                                     id_status=schema.ID_MISSING, phone="13812345678",
                                                     flat_id=flat_id, role=schema.CP_TENANT,
                                                     reg_date=dt.date(2024, 2, 26))
        s.add(registration)
        s.flush()
        s.add(models.Finding(community_id=built.community_id, category=schema.F_PRESENT_UNREGISTERED,
                             flat_id=flat_id, checkpoint_id=registration.id, evidence="卡口登记租户赵六",
                             status=schema.FINDING_OPEN))
    engine.dispose()
    return flat_id


def test_an_empty_flat_is_verified_as_a_whole(admin_page, server):
    page, errors = admin_page
    flat_id = _plant_registrant(server)
    page.goto(f"{server['base_url']}/flat/{flat_id}")
    page.wait_for_selector("#verify-whole-flat")
    assert "没有登记住户" in page.inner_text("#verify-help")          # no talk of correcting the register
    assert page.locator("#visit-form").count() == 0                     # one form only
    assert "整套房屋" in page.inner_text("#verify-whole-flat")
    assert "人在户不在" in page.inner_text("#verify-flat-findings")
    # who to call: nobody on the register, but the checkpoint saw 赵六 (phone masked, with the date)
    contacts = page.inner_text("#flat-contacts")
    assert "赵六" in contacts and "138****5678" in contacts and "卡口登记（2024-02-26）" in contacts
    assert "13812345678" not in page.content()

    record_outcome(page, method="上门", result="核实无误", note="租户赵六在住，已告知补登记")
    assert "已关闭" in page.inner_text("#flat-findings")
    assert "租户赵六在住，已告知补登记" in page.inner_text("#flat-visits")
    assert "没有待核实的问题" in page.inner_text("#verify-flat-findings")
    engine = store.make_engine(server["db_url"])
    with Session(engine) as s:
        visit = s.scalars(select(models.Visit).where(models.Visit.flat_id == flat_id)).one()
    engine.dispose()
    assert (visit.household_id, visit.by, visit.method, visit.result) == (None, "tester", schema.M_DOOR,
                                                                          schema.R_CONFIRMED)
    assert errors == []


def test_two_people_on_one_household_the_second_is_told(admin_page, leader_page, server):
    admin, admin_errors = admin_page
    leader, leader_errors = leader_page
    built = server["built"]
    flat_id, household_id = built.flat_ids[HOUSEHOLD], built.household_ids[HOUSEHOLD]
    for page in (admin, leader):                                  # both open the form before anyone saves
        page.goto(f"{server['base_url']}/flat/{flat_id}")
        page.wait_for_selector("#verify-submit")
    record_outcome(admin, note="社区电话核实")
    record_outcome(leader, result="需复访", note="网格长：需复访", expect="#verify-conflict")
    assert "已被他人修改" in leader.inner_text("#verify-conflict")
    engine = store.make_engine(server["db_url"])
    with Session(engine) as s:
        notes = s.scalars(select(models.Visit.note).where(models.Visit.household_id == household_id)).all()
        household = s.get(models.Household, household_id)
    engine.dispose()
    assert notes == ["社区电话核实"] and household.verified_by == "tester"
    # reloaded, the leader sees the first outcome and may record theirs
    leader.reload()
    leader.wait_for_selector("#verify-submit")
    assert "社区电话核实" in leader.inner_text("#flat-visits")
    assert admin_errors == [] and leader_errors == []
