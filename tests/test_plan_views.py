"""Visit planning on the dashboard (dashboard.plan_views) and care contacts (geodata.verification): scope checks on
every function, the plan kept in the audit log without personal data, ticks and progress from the day's visits,
care contacts that open issues. Pure: no browser, the factory's small community."""
from __future__ import annotations

import io
import json
import re

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import i18n
from dashboard import plan_views as pv
from geodata import access, indicators, models, routing, schema, store, verification
from geodata.errors import AccessDenied, InputError, NotFoundError
from tests import factories

PASSWORD = "plan-test-pass-1"


@pytest.fixture
def env(tmp_path):
    """A factory store with a worker and a leader of grid 2, an admin, street staff and another community's admin."""
    engine, built = factories.make_store(tmp_path / "store.db")
    with store.session_scope(engine) as s:
        access.create_user(s, "worker", PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[built.grid_ids[1]])
        access.create_user(s, "worker1", PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[built.grid_ids[0]])
        access.create_user(s, "leader", PASSWORD, schema.ROLE_GRID_LEADER, grid_ids=built.grid_ids)
        access.create_user(s, "admin", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=built.community_id)
        access.create_user(s, "street", PASSWORD, schema.ROLE_STREET, street_id=built.street_id)
        access.create_user(s, "other", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=built.other_community_id)
    with Session(engine) as s:
        scopes = {n: access.scope_for(s, n) for n in ("worker", "worker1", "leader", "admin", "street", "other")}
    yield engine, built, scopes
    engine.dispose()


def _grid_buildings(built, grid: int) -> set[int]:   # type: ignore[no-untyped-def]
    return {built.building_ids[n] for n, spec in factories.BUILDINGS.items() if spec[3] == grid}


def _all_stops(entry: dict) -> list[dict]:
    return [s for r in entry["routes"] for s in r["stops"]] + entry["unplaced"]


# --- choices and scope ---------------------------------------------------------------------------

def test_default_groups_are_open_findings_and_revisits():
    assert set(pv.what_codes(pv.DEFAULT_GROUPS)) == set(routing.DEFAULT_WHAT)
    assert {c for g in pv.WHAT_GROUPS.values() for c in g} == {*schema.FINDING_LABELS, routing.W_REVISIT,
                                                               routing.W_CARE, routing.W_EVENTS}
    assert pv.what_codes([routing.W_CARE]) == (routing.W_CARE,)
    with pytest.raises(InputError, match="nonsense"):
        pv.what_codes(["nonsense"])
    with pytest.raises(InputError, match="at least one"):
        pv.what_codes([])


def test_plannable_grids_follow_the_role(env):
    engine, built, scopes = env
    with Session(engine) as s:
        assert [g["id"] for g in pv.plannable_grids(s, scopes["worker"])] == [built.grid_ids[1]]
        assert [g["id"] for g in pv.plannable_grids(s, scopes["leader"])] == built.grid_ids
        assert [g["id"] for g in pv.plannable_grids(s, scopes["admin"])] == built.grid_ids
        assert pv.plannable_grids(s, scopes["street"]) == []     # street staff: no person-level data
        assert pv.plannable_grids(s, scopes["other"]) == []      # 白云社区 has no grids
        assert pv.plannable_grids(s, None) == []
    assert pv.may_plan(scopes["worker"]) and not pv.may_plan(scopes["street"]) and not pv.may_plan(None)
    assert pv.leads(scopes["leader"]) and pv.leads(scopes["admin"]) and not pv.leads(scopes["worker"])


def test_a_worker_plans_for_their_own_grid_only(env):
    engine, built, scopes = env
    worker = scopes["worker"]
    with store.session_scope(engine) as s:
        for grid_id in (built.grid_ids[0], "1 or 1=1", None, 10_000):
            with pytest.raises(AccessDenied):
                pv.generate(s, worker, grid_id, pv.DEFAULT_GROUPS)
        with pytest.raises(AccessDenied, match="one worker"):
            pv.plan_for(s, worker, built.grid_ids[1], pv.DEFAULT_GROUPS, workers=2)
        for name in ("street", "other"):
            with pytest.raises(AccessDenied):
                pv.plan_for(s, scopes[name], built.grid_ids[1], pv.DEFAULT_GROUPS)
        with pytest.raises(InputError, match="workers"):
            pv.plan_for(s, scopes["leader"], built.grid_ids[1], pv.DEFAULT_GROUPS, workers=0)
        with pytest.raises(InputError, match="days"):
            pv.plan_for(s, worker, built.grid_ids[1], pv.DEFAULT_GROUPS, days="many")
        plan_id = pv.generate(s, worker, built.grid_ids[1], [*pv.DEFAULT_GROUPS, routing.W_CARE, routing.W_EVENTS])
    with Session(engine) as s:
        p = pv.load_plan(s, worker, plan_id)
        buildings = {rs.stop.building_id for r in p.routes for rs in r.stops}
        assert buildings and buildings <= _grid_buildings(built, 2)
        assert p.grid_id == built.grid_ids[1] and len(p.routes) == 1
        finding_flat = built.flat_ids[built.finding_flat]
        assert finding_flat in {rs.stop.flat_id for rs in p.routes[0].stops}
        assert pv.latest_plan_id(s, worker, built.grid_ids[1]) == plan_id
        assert pv.latest_plan_id(s, worker, built.grid_ids[0]) is None


def test_the_plan_is_kept_in_the_audit_log_without_personal_data(env):
    engine, built, scopes = env
    with store.session_scope(engine) as s:
        plan_id = pv.generate(s, scopes["worker"], built.grid_ids[1], [routing.W_CARE])
    with Session(engine) as s:
        row = s.get(models.AuditLog, plan_id)
        names = [p.name for p in s.scalars(select(models.Person))]
        phones = [p.phone for p in s.scalars(select(models.Person)) if p.phone]
    assert (row.username, row.action, row.target_type, row.target_id, row.reason) == (
        "worker", schema.A_EXPORT, pv.PLAN_TARGET, str(built.grid_ids[1]), pv.PLAN_REASON)
    entry = json.loads(row.detail)
    assert entry["grid_id"] == built.grid_ids[1] and entry["what"] == [routing.W_CARE]
    stops = _all_stops(entry)
    assert stops and all(s["f"] is not None for s in stops)
    assert not any(n in row.detail for n in names)
    assert phones and not any(ph in row.detail for ph in phones)
    assert not re.search(r"1[3-9]\d{9}|\*\*\*\*", row.detail)


def test_a_crafted_plan_id_gets_nothing(env):
    engine, built, scopes = env
    with store.session_scope(engine) as s:
        other_grid = pv.generate(s, scopes["leader"], built.grid_ids[0], [routing.W_CARE])
        access.log_audit(s, "worker", schema.A_EXPORT, "grid", built.grid_ids[1], reason="map export", detail="{}")
        not_a_plan = s.scalar(select(models.AuditLog.id).order_by(models.AuditLog.id.desc()).limit(1))
    with store.session_scope(engine) as s:
        worker = scopes["worker"]
        for plan_id in (other_grid, not_a_plan, 10_000, "x", None):
            assert pv.load_plan(s, worker, plan_id) is None
            assert pv.route_view(s, worker, plan_id) is None
            assert pv.plan_sheet(s, worker, plan_id, "xlsx") is None
        assert pv.route_view(s, scopes["street"], other_grid) is None
        assert pv.route_view(s, scopes["worker1"], other_grid) is not None      # grid 1's own worker
        assert pv.route_view(s, scopes["admin"], other_grid) is not None
        with pytest.raises(InputError, match="fmt"):
            pv.plan_sheet(s, scopes["admin"], other_grid, "pdf")
        sheets = s.scalar(select(models.AuditLog.id).where(models.AuditLog.reason == pv.SHEET_REASON))
    assert sheets is None     # refusals log nothing


def test_route_view_masks_phones_numbers_stops_and_ticks_todays_visits(env):
    engine, built, scopes = env
    worker = scopes["worker"]
    with store.session_scope(engine) as s:
        plan_id = pv.generate(s, worker, built.grid_ids[1], [*pv.DEFAULT_GROUPS, routing.W_CARE])
    with Session(engine) as s:
        view = pv.route_view(s, worker, plan_id)
    json.dumps(view)
    stops = view["routes"][0]["stops"]
    assert [s["order"] for s in stops] == list(range(1, len(stops) + 1))
    assert view["flats"] == len(stops) and view["done"] == 0
    phones = [s["phone"] for s in stops if s["phone"]]
    assert phones and all(re.fullmatch(r"1\d{2}\*{4}\d{4}", p) for p in phones)
    assert all(s["latlng"] for s in stops) and len(view["routes"][0]["path"]) >= 3
    markers = view["routes"][0]["markers"]
    assert [o for m in markers for o in m["orders"]] == [s["order"] for s in stops]
    care = next(s for s in stops if [pv.I_CARE, None] in s["items"])
    assert care["method"] in (schema.M_WINDOW, schema.M_PHONE, schema.M_DOOR)

    first = stops[0]
    with store.session_scope(engine) as s:
        flat = s.get(models.Flat, first["flat_id"])
        household = next(h for h in flat.households if h.active)
        verification.record_visit(s, household.id, by="worker", method=schema.M_DOOR, result=schema.R_REVISIT,
                                  note=None)
    with Session(engine) as s:
        view = pv.route_view(s, worker, plan_id)
    ticked = view["routes"][0]["stops"][0]
    assert ticked["done"] is True and view["done"] == 1
    assert view["routes"][0]["markers"][0]["done"] is (len(markers[0]["orders"]) == 1)
    assert first["building_id"] in {f["id"] for f in view["buildings"]["visited"]["features"]}


def test_a_leader_splits_the_grid_between_workers(env):
    engine, built, scopes = env
    what = [*pv.DEFAULT_GROUPS, routing.W_CARE, routing.W_EVENTS]
    with store.session_scope(engine) as s:
        one = pv.generate(s, scopes["leader"], built.grid_ids[1], what)
        two = pv.generate(s, scopes["leader"], built.grid_ids[1], what, workers=2)
    with Session(engine) as s:
        single, split = pv.route_view(s, scopes["leader"], one), pv.route_view(s, scopes["leader"], two)
        # The worker of the grid sees the leader's latest plan when they have none of their own.
        assert pv.latest_plan_id(s, scopes["worker"], built.grid_ids[1]) == two
    assert [r["worker"] for r in split["routes"]] == [1, 2]
    assert len({r["color"] for r in split["routes"]}) == 2
    flats = lambda v: sorted(s["flat_id"] for r in v["routes"] for s in r["stops"])  # noqa: E731
    assert flats(split) == flats(single)
    assert all(r["flats"] > 0 for r in split["routes"])


def test_sheets_match_the_saved_plan_and_are_logged(env):
    engine, built, scopes = env
    with store.session_scope(engine) as s:
        plan_id = pv.generate(s, scopes["worker"], built.grid_ids[1], [routing.W_CARE])
        name, body = pv.plan_sheet(s, scopes["worker"], plan_id, "xlsx")
        html_name, html_body = pv.plan_sheet(s, scopes["worker"], plan_id, "html")
    with Session(engine) as s:
        view = pv.route_view(s, scopes["worker"], plan_id)
        logged = list(s.scalars(select(models.AuditLog).where(models.AuditLog.reason == pv.SHEET_REASON)))
    assert name.endswith(".xlsx") and "第二网格" in name and html_name.endswith(".html")
    ws = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    rows = [r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] is not None]
    expected = [(s["order"], s["building"], s["room"]) for s in view["routes"][0]["stops"]]
    assert [(r[0], r[1], r[3]) for r in rows] == expected
    assert all(r[6] == s["phone"] for r, s in zip(rows, view["routes"][0]["stops"]))
    assert "<script" not in html_body.decode() and "****" in html_body.decode()
    assert [(e.username, e.action, e.target_id) for e in logged] == [("worker", schema.A_EXPORT,
                                                                      str(built.grid_ids[1]))] * 2


# --- progress ------------------------------------------------------------------------------------

def test_progress_counts_planned_and_done_from_todays_records(env):
    engine, built, scopes = env
    with store.session_scope(engine) as s:
        plan_id = pv.generate(s, scopes["worker"], built.grid_ids[1], [routing.W_CARE])
        entry = json.loads(s.get(models.AuditLog, plan_id).detail)
        planned = [x["h"] for x in _all_stops(entry)]
        verification.record_visit(s, planned[0], by="worker", method=schema.M_PHONE, result=schema.R_CONFIRMED,
                                  note=None)
        verification.record_care_contact(s, planned[1], by="worker", method=schema.M_PHONE,
                                         outcome=schema.CARE_OK)
        # A visit in grid 2 outside the plan counts as a visit, not as a planned stop done.
        outside = next(h for k, h in built.household_ids.items()
                       if k[0] == "4" and h not in planned)
        verification.record_visit(s, outside, by="leader", method=schema.M_DOOR, result=schema.R_CONFIRMED,
                                  note=None)
    with Session(engine) as s:
        rows = {r["grid_id"]: r for r in pv.progress(s, scopes["leader"])}
        detail = pv.progress_detail(s, scopes["leader"], built.grid_ids[1])
        assert pv.progress(s, scopes["worker"]) is None
        assert pv.progress_detail(s, scopes["worker"], built.grid_ids[1]) is None
        assert pv.progress_detail(s, scopes["leader"], 10_000) is None
        admin_rows = pv.progress(s, scopes["admin"])
    grid2 = rows[built.grid_ids[1]]
    assert (grid2["planned"], grid2["done"], grid2["visits"], grid2["care"]) == (len(planned), 2, 2, 1)
    assert grid2["workers"] == ["leader", "worker"] and grid2["planners"] == ["worker"]
    assert rows[built.grid_ids[0]]["planned"] is None and rows[built.grid_ids[0]]["visits"] == 0
    assert [r["grid_id"] for r in admin_rows] == built.grid_ids
    assert len(detail["activity"]) == 3 and {a["kind"] for a in detail["activity"]} == {"visit", "care"}
    assert (detail["planned"], detail["done"]) == (len(planned), 2)
    visited = {f["id"] for f in detail["buildings"]["visited"]["features"]}
    assert built.building_ids["4"] in visited and visited <= _grid_buildings(built, 2)


# --- care rounds ---------------------------------------------------------------------------------

def test_care_contact_is_recorded_and_a_concern_opens_an_issue(env):
    engine, built, scopes = env
    worker = scopes["worker"]
    with Session(engine) as s:
        due = pv.care_rows(s, worker, built.grid_ids[1])
        assert pv.care_rows(s, worker, built.grid_ids[0]) is None
        assert pv.care_rows(s, scopes["street"], built.grid_ids[1]) is None
    assert due and all(r["days_since"] is None for r in due)
    assert all(re.fullmatch(r"1\d{2}\*{4}\d{4}", r["phone"]) for r in due if r["phone"])
    target = due[0]
    with store.session_scope(engine) as s:
        contact = pv.save_care_contact(s, worker, target["household_id"], method=schema.M_WINDOW,
                                       outcome=schema.CARE_CONCERN, concern="  需要代购降压药 ", open_issue=True)
        contact_id, event_id = contact.id, contact.event_id
    with Session(engine) as s:
        contact = s.get(models.CareContact, contact_id)
        event = s.get(models.Event, event_id)
        assert (contact.by, contact.method, contact.outcome, contact.concern) == (
            "worker", schema.M_WINDOW, schema.CARE_CONCERN, "需要代购降压药")
        assert contact.person_id == target["person_id"]
        assert (event.category, event.state, event.flat_id) == (schema.EC_ELDERLY_CARE, schema.E_REPORTED,
                                                                target["flat_id"])
        assert "需要代购降压药" in event.description
        transition_by = select(models.EventTransition.by).where(models.EventTransition.event_id == event_id)
        assert s.scalar(transition_by) == "worker"
        # Contacted today: no longer overdue; the flat page's panel lists the contact with its issue.
        assert target["household_id"] not in {r["household_id"] for r in pv.care_rows(s, worker, built.grid_ids[1])}
        panel = pv.care_panel(s, worker, target["flat_id"])
        assert panel["recent"][0]["event_id"] == event_id and panel["recent"][0]["outcome"] == schema.CARE_CONCERN
        assert pv.care_panel(s, scopes["worker1"], target["flat_id"]) is None
        assert target["flat_id"] in pv.done_flats(s, [target["flat_id"]], indicators.local_today())


def test_care_contact_checks_scope_and_input(env):
    engine, built, scopes = env
    grid1_household = built.household_ids[("1", 1, "101")]
    grid2_household = built.household_ids[built.finding_flat]
    with store.session_scope(engine) as s:
        with pytest.raises(AccessDenied):
            pv.save_care_contact(s, scopes["worker"], grid1_household, method=schema.M_PHONE, outcome=schema.CARE_OK)
        with pytest.raises(AccessDenied):
            pv.save_care_contact(s, scopes["street"], grid2_household, method=schema.M_PHONE, outcome=schema.CARE_OK)
        with pytest.raises(NotFoundError):
            pv.save_care_contact(s, scopes["worker"], "x", method=schema.M_PHONE, outcome=schema.CARE_OK)
        with pytest.raises(InputError, match="concern"):
            verification.record_care_contact(s, grid2_household, by="w", method=schema.M_PHONE,
                                             outcome=schema.CARE_CONCERN, concern="  ")
        with pytest.raises(InputError, match="open_issue"):
            verification.record_care_contact(s, grid2_household, by="w", method=schema.M_PHONE,
                                             outcome=schema.CARE_OK, open_issue=True)
        with pytest.raises(InputError, match="method"):
            verification.record_care_contact(s, grid2_household, by="w", method=schema.M_RECORDS,
                                             outcome=schema.CARE_OK)
        with pytest.raises(InputError, match="outcome"):
            verification.record_care_contact(s, grid2_household, by="w", method=schema.M_PHONE, outcome="fine")
        with pytest.raises(NotFoundError):
            verification.record_care_contact(s, 10_000, by="w", method=schema.M_PHONE, outcome=schema.CARE_OK)
        assert s.scalar(select(models.CareContact.id)) is None
        plain = verification.record_care_contact(s, grid2_household, by="w", method=schema.M_PHONE,
                                                 outcome=schema.CARE_NO_ANSWER)
        assert plain.event_id is None and plain.concern is None


def test_suggested_care_method_follows_the_floor():
    assert pv.suggested_care_method(1, "101") == schema.M_WINDOW
    assert pv.suggested_care_method(None, "102") == schema.M_WINDOW
    assert pv.suggested_care_method(None, "502") == schema.M_PHONE
    assert pv.suggested_care_method(5, "502", note="行动不便，需上门") == schema.M_DOOR


def test_plan_and_care_texts_exist_in_both_languages():
    zh, en = i18n.catalog("zh"), i18n.catalog("en")
    keys = {k for k in zh if k.startswith(("plan.", "care.")) or k == "nav.plan"}
    assert keys and keys <= set(en)
    assert {f"plan.group.{g}" for g in pv.WHAT_GROUPS} <= keys
    assert {f"care.outcome.{o}" for o in schema.CARE_OUTCOME_LABELS} <= keys
    assert {f"care.suggest.{m}" for m in verification.CARE_METHODS} <= keys
