"""The dashboard's pure functions (views), the verification workflow behind the forms, the message catalogs and
the CLI's subcommand hook — all without a browser."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import __main__ as cli
from dashboard import config, i18n, views
from geodata import access, history, indicators, models, schema, store, verification
from geodata.errors import AccessDenied, ConflictError, InputError, NotFoundError
from geodata.settings import load_settings
from layers import colors, legend
from tests import factories

PASSWORD = "views-test-pass-1"


@pytest.fixture
def env(tmp_path):
    """A factory store with one user per role; yields (engine, built, scopes by role name)."""
    engine, built = factories.make_store(tmp_path / "store.db")
    with store.session_scope(engine) as s:
        access.create_user(s, "admin", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=built.community_id)
        access.create_user(s, "worker", PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[built.grid_ids[1]])
        access.create_user(s, "street", PASSWORD, schema.ROLE_STREET, street_id=built.street_id)
        access.create_user(s, "other", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=built.other_community_id)
    with Session(engine) as s:
        scopes = {name: access.scope_for(s, name) for name in ("admin", "worker", "street", "other")}
    yield engine, built, scopes
    engine.dispose()


# --- map -----------------------------------------------------------------------------------------

def test_default_community_prefers_lanxiang(env):
    engine, built, scopes = env
    with Session(engine) as s:
        assert views.default_community_id(s, scopes["admin"]) == built.community_id
        assert views.default_community_id(s, scopes["street"]) == built.community_id   # both visible: 兰翔 first
        assert views.default_community_id(s, scopes["other"]) == built.other_community_id
        assert views.default_community_id(s, None) is None
        assert [c["name"] for c in views.visible_communities(s, scopes["street"])] == ["兰翔社区", "白云社区"]


def test_map_data_for_an_admin(env):
    engine, built, scopes = env
    with Session(engine) as s:
        data = views.map_data(s, scopes["admin"], built.community_id, as_of=factories.AS_OF)
    json.dumps(data)  # goes to the browser as is
    assert data["community"]["synthetic"] is True and data["community"]["name"] == "兰翔社区"
    assert {f["id"] for f in data["buildings"]["features"]} == set(built.building_ids.values())
    assert [r["name"] for r in data["coverage"]] == ["第一网格", "第二网格"]
    totals = data["totals"]
    assert totals["households"] == len(built.households)
    assert totals["verified"] == sum(spec.verified for spec in built.households)
    assert totals["open_findings"] == 1 and totals["open_events"] == 1
    assert totals["status_counts"][schema.V_OPEN_FINDINGS] == 1
    (south, west), (north, east) = data["bounds"]
    assert south < north and west < east and 31.8 < south < 31.82 and 119.96 < west < 119.97


def test_map_data_is_scoped(env):
    engine, built, scopes = env
    with Session(engine) as s:
        worker = views.map_data(s, scopes["worker"], built.community_id)
        assert {f["id"] for f in worker["buildings"]["features"]} == {built.building_ids["3"], built.building_ids["4"]}
        assert [r["grid_id"] for r in worker["coverage"]] == [built.grid_ids[1]]
        assert [f["id"] for f in worker["grids"]["features"]] == [built.grid_ids[1]]
        assert views.map_data(s, scopes["other"], built.community_id) is None
        assert views.map_data(s, None, built.community_id) is None
        assert views.map_data(s, scopes["street"], built.community_id) is not None   # aggregates


def test_map_data_offset_for_gaode_tiles(env):
    engine, built, scopes = env
    settings = load_settings(env={}, tiles="gaode")
    assert config.display_offset(settings) == schema.GCJ02
    with Session(engine) as s:
        plain = views.map_data(s, scopes["admin"], built.community_id)
        shifted = views.map_data(s, scopes["admin"], built.community_id, offset=config.display_offset(settings))
    assert shifted["bounds"][0][1] - plain["bounds"][0][1] > 0.004


def test_tile_settings():
    assert config.tile_source(load_settings(env={})) is None          # offline by default
    assert config.tile_source(load_settings(env={}, tiles="osm")).offset is None
    with pytest.raises(ValueError, match="GRIDMAP_TIANDITU_KEY"):
        config.tile_source(load_settings(env={}, tiles="tianditu"))
    assert "tk=abc" in config.tile_source(load_settings(env={}, tiles="tianditu", tianditu_key="abc")).url
    with pytest.raises(ValueError, match="GRIDMAP_TILES"):
        config.tile_source(load_settings(env={}, tiles="google"))


# --- buildings -----------------------------------------------------------------------------------

def test_building_summary_has_rooms_but_no_names(env):
    engine, built, scopes = env
    with Session(engine) as s:
        summary = views.building_summary(s, scopes["admin"], built.building_ids["3"])
        assert summary["building"]["status"] == schema.V_OPEN_FINDINGS
        assert len(summary["flats"]) == 36 and all(f["head_name"] is None for f in summary["flats"])
        street = views.building_summary(s, scopes["street"], built.building_ids["3"])
        assert street["flats"] is None and street["building"]["households"] == summary["building"]["households"]
        assert views.building_summary(s, scopes["worker"], built.building_ids["1"]) is None


def test_building_sheet_floors_top_first_units_as_columns(env):
    engine, built, scopes = env
    with Session(engine) as s:
        sheet = views.building_sheet(s, scopes["worker"], built.building_ids["3"])
        assert sheet["floors"] == [6, 5, 4, 3, 2, 1]
        assert sheet["units"] == [{"unit": u, "positions": [1, 2]} for u in (1, 2, 3)]
        top_left = sheet["cells"][6][1][0]
        assert top_left["room"] == "601" and top_left["head_name"]
        finding = sheet["cells"][1][1][0]
        assert finding["room"] == "101" and indicators.B_FINDING in finding["badges"]
        assert finding["color"] == colors.STATUS_COLORS[schema.V_OPEN_FINDINGS]
        vacant = [f for f in sheet["flats"] if f["vacant"]]
        assert vacant and all(f["color"] == colors.VACANT_COLOR for f in vacant)
        assert views.building_sheet(s, scopes["street"], built.building_ids["3"])["flats"] is None
        assert views.building_sheet(s, scopes["worker"], built.building_ids["1"]) is None
        assert views.building_sheet(s, scopes["other"], built.building_ids["3"]) is None


# --- flats ---------------------------------------------------------------------------------------

def test_flat_detail_masks_ids_and_phones(env):
    engine, built, scopes = env
    flat_id = built.flat_ids[("3", 1, "201")]
    with store.session_scope(engine) as s:
        person = s.scalars(select(models.Person).where(
            models.Person.household_id == built.household_ids[("3", 1, "201")])).first()
        full_id, old_phone = person.id_number, person.phone
        history.apply_changes(s, person, {"phone": "13912345678"}, by="admin", how=schema.HOW_MANUAL)
    with Session(engine) as s:
        detail = views.flat_detail(s, scopes["admin"], flat_id)
    text = json.dumps(detail, ensure_ascii=False)
    assert full_id not in text and old_phone not in text and "13912345678" not in text
    head = detail["households"][0]["members"][0]
    assert head["id_number"] == access.mask_id(full_id) and head["phone"] == "139****5678"
    assert head["relation"] == schema.HEAD_RELATION
    assert head["age"] == views.age_on(person.birth_date, indicators.local_today())
    change = next(r for r in detail["history"] if r["field"] == "phone")
    assert (change["old"], change["new"]) == (access.mask_phone(old_phone), "139****5678")
    assert detail["community"]["synthetic"] is True and detail["flat"]["room"] == "201"


def test_flat_detail_is_scoped(env):
    engine, built, scopes = env
    with Session(engine) as s:
        assert views.flat_detail(s, scopes["worker"], built.flat_ids[("3", 1, "101")]) is not None
        assert views.flat_detail(s, scopes["worker"], built.flat_ids[("1", 1, "101")]) is None
        assert views.flat_detail(s, scopes["street"], built.flat_ids[("3", 1, "101")]) is None   # no people
        assert views.flat_detail(s, None, built.flat_ids[("3", 1, "101")]) is None


def test_save_visit_verifies_closes_findings_and_recolours(env):
    engine, built, scopes = env
    key = built.finding_flat
    household_id = built.household_ids[key]
    with store.session_scope(engine) as s:
        version = s.get(models.Household, household_id).version
        visit = views.save_visit(s, scopes["worker"], household_id, method=schema.M_DOOR, result=schema.R_CONFIRMED,
                                 note="户主在家", expected_version=version)
        visit_id = visit.id
    with Session(engine) as s:
        hh = s.get(models.Household, household_id)
        assert hh.verified_by == "worker" and hh.verified_at is not None and hh.version == version + 1
        finding = s.scalars(select(models.Finding).where(models.Finding.household_id == household_id)).one()
        assert finding.status == schema.FINDING_CLOSED and finding.closed_at is not None
        assert s.get(models.Visit, visit_id).finding_id == finding.id
        log = history.history_of(s, schema.ENTITY_HOUSEHOLD, household_id)
        assert {(r.field, r.how, r.visit_id) for r in log} == {("verified_at", schema.HOW_VISIT, visit_id),
                                                                ("verified_by", schema.HOW_VISIT, visit_id)}
        status = indicators.building_status(s, built.community_id).set_index("number")
        assert status.loc["3", "status"] == schema.V_IN_PROGRESS
        detail = views.flat_detail(s, scopes["admin"], built.flat_ids[key])
        assert detail["visits"][0]["note"] == "户主在家" and detail["flat"]["status"] == schema.V_VERIFIED


def test_save_visit_conflict_and_scope(env):
    engine, built, scopes = env
    household_id = built.household_ids[built.finding_flat]
    with store.session_scope(engine) as s:
        stale = s.get(models.Household, household_id).version
        views.save_visit(s, scopes["admin"], household_id, method=schema.M_PHONE, result=schema.R_CONFIRMED,
                         note=None, expected_version=stale)
    with store.session_scope(engine) as s, pytest.raises(ConflictError, match="changed by someone else"):
        views.save_visit(s, scopes["admin"], household_id, method=schema.M_PHONE, result=schema.R_CORRECTED,
                         note=None, expected_version=stale)
    with store.session_scope(engine) as s, pytest.raises(AccessDenied):
        views.save_visit(s, scopes["worker"], built.household_ids[("1", 1, "101")], method=schema.M_PHONE,
                         result=schema.R_CONFIRMED, note=None)
    with store.session_scope(engine) as s, pytest.raises(AccessDenied):
        views.save_visit(s, scopes["street"], household_id, method=schema.M_PHONE, result=schema.R_CONFIRMED,
                         note=None)
    with Session(engine) as s:
        assert s.scalar(select(models.Visit.id).where(models.Visit.result == schema.R_CORRECTED)) is None


def test_record_visit_without_closing_result_and_with_corrections(env):
    engine, built, _ = env
    key = built.finding_flat
    with store.session_scope(engine) as s:
        verification.record_visit(s, built.household_ids[key], by="w", method=schema.M_PHONE,
                                  result=schema.R_UNREACHABLE, note="无人接听")
        hh_id = built.household_ids[("4", 1, "202")]
        visit = verification.record_visit(s, hh_id, by="w", method=schema.M_WINDOW, result=schema.R_CORRECTED,
                                          note=None, corrections={"residence_status": schema.RES_RENTED,
                                                                  "landlord": "张三"})
        visit_id = visit.id
    with Session(engine) as s:
        assert s.get(models.Household, built.household_ids[key]).verified_at is None
        assert s.scalars(select(models.Finding.status).where(
            models.Finding.household_id == built.household_ids[key])).one() == schema.FINDING_OPEN
        hh = s.get(models.Household, hh_id)
        assert (hh.residence_status, hh.landlord) == (schema.RES_RENTED, "张三")
        assert json.loads(s.get(models.Visit, visit_id).corrections) == {"residence_status": schema.RES_RENTED,
                                                                          "landlord": "张三"}
        fields = {r.field for r in history.history_of(s, schema.ENTITY_HOUSEHOLD, hh_id)}
        assert fields == {"residence_status", "landlord", "verified_at", "verified_by"}


def test_flat_visit_settles_an_empty_flat(env):
    engine, built, scopes = env
    vacant = next(key for key in built.flat_ids if key[0] == "4" and key not in built.household_ids)
    flat_id = built.flat_ids[vacant]
    with store.session_scope(engine) as s:
        registration = models.CheckpointRegistration(community_id=built.community_id, name="赵六",
                                                     id_status=schema.ID_OK, flat_id=flat_id, role=schema.CP_TENANT)
        s.add(registration)
        s.flush()
        s.add_all([models.Finding(community_id=built.community_id, category=schema.F_PRESENT_UNREGISTERED,
                                  checkpoint_id=registration.id),
                   models.Finding(community_id=built.community_id, category=schema.F_PRESENT_UNREGISTERED,
                                  flat_id=flat_id)])
    with Session(engine) as s:
        status = indicators.building_status(s, built.community_id).set_index("number")
        assert status.loc["4", "open_findings"] == 2 and status.loc["4", "status"] == schema.V_OPEN_FINDINGS
        assert views.flat_detail(s, scopes["worker"], flat_id)["households"] == []
    with store.session_scope(engine) as s:
        visit = views.save_flat_visit(s, scopes["worker"], flat_id, method=schema.M_DOOR, result=schema.R_CONFIRMED,
                                      note="房屋确实空置")
        assert visit.household_id is None and visit.flat_id == flat_id
    with Session(engine) as s:
        assert indicators.building_status(s, built.community_id).set_index("number").loc["4", "open_findings"] == 0
        with pytest.raises(AccessDenied):
            views.save_flat_visit(s, scopes["worker"], built.flat_ids[("1", 1, "101")], method=schema.M_DOOR,
                                  result=schema.R_CONFIRMED, note=None)


def test_record_visit_rejects_bad_input(env):
    engine, built, _ = env
    hh_id = built.household_ids[("4", 1, "202")]
    with Session(engine) as s:
        with pytest.raises(InputError, match="method: expected one of"):
            verification.record_visit(s, hh_id, by="w", method="email", result=schema.R_CONFIRMED, note=None)
        with pytest.raises(InputError, match="corrections: expected fields among"):
            verification.record_visit(s, hh_id, by="w", method=schema.M_PHONE, result=schema.R_CORRECTED,
                                      note=None, corrections={"verified_at": "2020-01-01"})
        with pytest.raises(NotFoundError):
            verification.record_visit(s, 99999, by="w", method=schema.M_PHONE, result=schema.R_CONFIRMED, note=None)


def test_save_event_creates_event_and_transition(env):
    engine, built, scopes = env
    flat_id = built.flat_ids[("3", 2, "501")]
    with store.session_scope(engine) as s:
        event = views.save_event(s, scopes["worker"], flat_id, category=schema.EC_REPAIR,
                                 description="  厨房漏水 <b>急</b> ", reporter="王阿姨")
        event_id = event.id
    with Session(engine) as s:
        event = s.get(models.Event, event_id)
        assert (event.state, event.building_id, event.description) == (schema.E_REPORTED, built.building_ids["3"],
                                                                         "厨房漏水 <b>急</b>")
        transitions = s.scalars(select(models.EventTransition).where(models.EventTransition.event_id == event_id))
        assert [(t.from_state, t.to_state, t.by) for t in transitions] == [(None, schema.E_REPORTED, "worker")]
        assert indicators.building_status(s, built.community_id).set_index("number").loc["3", "open_events"] == 1
        assert views.flat_detail(s, scopes["admin"], flat_id)["events"][0]["reporter"] == "王阿姨"
        with pytest.raises(InputError, match="description"):
            verification.report_event(s, flat_id, category=schema.EC_REPAIR, description="  ", reporter=None, by="w")
        with pytest.raises(InputError, match="category"):
            verification.report_event(s, flat_id, category="noise", description="吵", reporter=None, by="w")
        with pytest.raises(AccessDenied):
            views.save_event(s, scopes["worker"], built.flat_ids[("1", 1, "101")], category=schema.EC_REPAIR,
                             description="x", reporter=None)


# --- message catalogs ------------------------------------------------------------------------------

def test_catalogs_have_the_same_keys_and_no_gaps():
    zh, en = i18n.catalog("zh"), i18n.catalog("en")
    assert set(zh) == set(en) and len(zh) > 150
    placeholders = re.compile(r"{(\w+)}")
    for key in zh:
        assert set(placeholders.findall(zh[key])) == set(placeholders.findall(en[key])), key
    needed = ([f"status.{s}" for s in schema.VERIFICATION_LABELS] + [f"badge.{b}" for b in indicators.BADGES]
              + [f"theme.{t}" for t in legend.THEMES] + [f"method.{m}" for m in schema.METHOD_LABELS]
              + [f"result.{r}" for r in schema.RESULT_LABELS] + [f"event_category.{c}" for c in
                                                                 schema.EVENT_CATEGORY_LABELS]
              + [f"event_state.{e}" for e in schema.EVENT_STATE_LABELS] + [f"finding.{f}" for f in
                                                                           schema.FINDING_LABELS]
              + [f"relation.{r}" for r in schema.RELATION_LABELS] + [f"role.{r}" for r in schema.ROLES])
    assert [k for k in needed if k not in zh] == []
    assert zh["status.verified"] == schema.VERIFICATION_LABELS[schema.V_VERIFIED]


def test_translator_formats_and_falls_back():
    t_zh, t_en = i18n.translator("zh"), i18n.translator("en")
    assert t_zh("sheet.unit", unit=3) == "3单元" and t_en("sheet.unit", unit=3) == "Unit 3"
    assert i18n.translator("fr")("app.title") == "网格地图"
    assert t_en("no.such.key") == "no.such.key" and t_en("no.such.key", _default="x") == "x"
    assert i18n.labels("en", "status", schema.VERIFICATION_LABELS)[schema.V_VERIFIED] == "All verified"


# --- CLI -------------------------------------------------------------------------------------------

def test_cli_defaults_to_serve_and_hands_users_over(tmp_path, capsys):
    args = cli.parser().parse_args(["serve", "--port", "9000"])
    assert (args.command, args.port) == ("serve", 9000)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli.main(["users", "--db", url, "list"]) == 0
    capsys.readouterr()
