"""The dashboard's pure functions (views), the verification workflow behind the forms, the message catalogs and
the CLI's subcommand hook — all without a browser."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard import __main__ as cli
from dashboard import config, i18n, verify_views, views
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
    assert totals["open_mismatches"] == 1
    assert totals["status_counts"] == {schema.V_VERIFIED: 1, schema.V_IN_PROGRESS: 1, schema.V_NOT_STARTED: 2,
                                       schema.V_OPEN_FINDINGS: 0}
    assert [f["properties"]["category"] for f in data["issues"]["features"]] == [schema.EC_REPAIR]
    assert data["categories"] == [schema.F_ABSENT_REGISTERED]
    assert [g["name"] for g in data["grid_index"].values()] == ["第一网格", "第二网格"]
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


def test_category_classes_travel_apart_and_are_scoped(env):
    engine, built, scopes = env
    b3 = str(built.building_ids["3"])
    with Session(engine) as s:
        data = views.map_data(s, scopes["admin"], built.community_id, as_of=factories.AS_OF)
        assert data["category_classes"] == {schema.F_ABSENT_REGISTERED: {b3: 1}}
        assert views.category_classes(s, scopes["admin"], built.community_id, schema.F_ABSENT_REGISTERED) == {b3: 1}
        assert views.category_classes(s, scopes["admin"], built.community_id, schema.F_OWNER_CHANGED) == {}
        assert views.category_classes(s, scopes["admin"], built.community_id, None) == {}
        assert views.category_classes(s, scopes["other"], built.community_id, schema.F_ABSENT_REGISTERED) is None
        worker1 = access.Scope("w1", schema.ROLE_GRID_WORKER, scopes["worker"].street_ids,
                               scopes["worker"].community_ids, frozenset({built.grid_ids[0]}), True, False)
        assert views.category_classes(s, worker1, built.community_id, schema.F_ABSENT_REGISTERED) == {}
    assert all("k" not in f["properties"] and "categories" not in f["properties"]
               for f in data["buildings"]["features"])


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
        assert summary["building"]["status"] == schema.V_NOT_STARTED
        assert summary["building"]["open_mismatches"] == 1
        assert legend.FLAG_MISMATCHES in summary["building"]["flags"]
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
        assert finding["room"] == "101" and indicators.B_MISMATCH in finding["badges"]
        assert finding["color"] == colors.STATUS_COLORS[schema.V_NOT_STARTED]
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


def _save(s, scope, household_id, result=schema.R_CONFIRMED,  # type: ignore[no-untyped-def]
          note=None, expected_version=None):
    """An outcome from the flat page's verification form (all open findings, no corrections)."""
    return verify_views.save_outcome(s, scope, household_id, method=schema.M_DOOR, result=result, note=note,
                                     finding_ids=None, form={}, expected_version=expected_version,
                                     require_approval=False)


def test_save_outcome_verifies_closes_findings_and_recolours(env):
    engine, built, scopes = env
    key = built.finding_flat
    household_id = built.household_ids[key]
    with store.session_scope(engine) as s:
        version = s.get(models.Household, household_id).version
        (visit,) = _save(s, scopes["worker"], household_id, note="户主在家", expected_version=version)
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


def test_save_outcome_conflict_and_scope(env):
    """Two workers on one household: the second, holding the version the form was drawn with, is refused and
    nothing of theirs is written."""
    engine, built, scopes = env
    household_id = built.household_ids[built.finding_flat]
    with store.session_scope(engine) as s:
        stale = s.get(models.Household, household_id).version
        _save(s, scopes["admin"], household_id, note="第一位", expected_version=stale)
    with store.session_scope(engine) as s, pytest.raises(ConflictError, match="changed by someone else"):
        _save(s, scopes["worker"], household_id, result=schema.R_REVISIT, note="第二位", expected_version=stale)
    with store.session_scope(engine) as s, pytest.raises(AccessDenied):
        _save(s, scopes["worker"], built.household_ids[("1", 1, "101")])
    with store.session_scope(engine) as s, pytest.raises(AccessDenied):
        _save(s, scopes["street"], household_id)
    with Session(engine) as s:
        notes = s.scalars(select(models.Visit.note).where(models.Visit.household_id == household_id)).all()
        assert notes == ["第一位"]
        assert s.get(models.Household, household_id).verified_by == "admin"


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
        assert status.loc["4", "open_findings"] == 2 and status.loc["4", "open_mismatches"] == 2
        assert status.loc["4", "status"] == schema.V_NOT_STARTED      # the other flats are not verified yet
        flats = indicators.flat_table(s, built.building_ids["4"]).set_index("flat_id")
        assert flats.loc[flat_id, "status"] == schema.V_OPEN_FINDINGS and flats.loc[flat_id, "vacant"]
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


# --- map state in the URL ------------------------------------------------------------------------

def test_map_query_round_trip_and_defaults():
    assert views.parse_map_query(None) == views.DEFAULT_STATE
    assert views.map_query(views.DEFAULT_STATE) == ""
    state = views.parse_map_query("?layer=status&only=elderly_only,not_verified&grid=32041100300102")
    assert state["layer"] == legend.THEME_STATUS and state["grid"] == "32041100300102"
    assert state["only"] == [legend.FLAG_NOT_VERIFIED, legend.FLAG_ELDERLY_ONLY]     # canonical order
    assert views.map_query(state) == "?only=not_verified,elderly_only&grid=32041100300102"
    full = {"layer": legend.THEME_FINDINGS, "category": schema.F_OWNER_CHANGED, "only": [legend.FLAG_PARTY],
            "grid": "32041100300701", "show": [views.OVERLAY_GRIDS], "building": 12}
    assert views.parse_map_query(views.map_query(full)) == full
    # junk never fails: unknown layer, filter, category, overlay and a non-numeric building are dropped
    junk = views.parse_map_query("layer=weather&only=x,party&cat=nope&show=stars&b=abc&grid=<script>")
    assert junk == {**views.DEFAULT_STATE, "only": [legend.FLAG_PARTY], "show": []}


def test_building_hideout_resolves_the_grid_code():
    grids = {"32041100300702": {"id": 7, "name": "第二网格", "bounds": None}}
    state = views.parse_map_query("?layer=findings&cat=absent_registered&grid=32041100300702&b=3")
    hideout = views.building_hideout(state, grids)
    assert hideout == {"theme": "findings", "category": "absent_registered", "only": [], "grid": 7,
                       "selected": 3}
    assert views.building_hideout(views.parse_map_query("?grid=999"), grids)["grid"] is None


# --- search --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, building, room", [
    ("3幢", "3", None), ("3", "3", None), ("3-1-101", "3", "101"), ("3幢甲单元101室", "3", "101"),
    ("兰翔新村3栋1单元101", "3", "101"), ("３－１－１０１", "3", "101")])
def test_search_by_address(env, text, building, room):
    engine, built, scopes = env
    with Session(engine) as s:
        result = views.search(s, scopes["admin"], built.community_id, text)
    assert result["kind"] == "address"
    (hit,) = result["hits"]
    assert hit["building_id"] == built.building_ids[building]
    assert hit["flat_id"] == (built.flat_ids[(building, 1, room)] if room else None)
    (south, west), (north, east) = hit["bounds"]
    assert south < north and west < east


@pytest.mark.parametrize("text", ["'; DROP TABLE person; --", "张' OR '1'='1", "%", "_", "1 OR 1=1",
                                  "<script>alert(1)</script>"])
def test_search_with_hostile_text_finds_nothing_and_changes_nothing(env, text):
    engine, built, scopes = env
    with Session(engine) as s:
        before = s.scalar(select(func.count()).select_from(models.Person))
        result = views.search(s, scopes["admin"], built.community_id, text)
        assert result["hits"] == []          # parameters, not SQL: no injection, no wildcard match-all
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.Person)) == before


def test_search_by_name_is_scoped_and_masked(env):
    engine, built, scopes = env
    spec = next(sp for sp in built.households if sp.building == "1")
    name = spec.members[0].name
    with Session(engine) as s:
        admin = views.search(s, scopes["admin"], built.community_id, name)
        assert admin["kind"] == "name"
        assert any(h["building_id"] == built.building_ids["1"] and name in h["text"] for h in admin["hits"])
        # a grid worker sees only their grid (buildings 3 and 4), and names masked
        worker = views.search(s, scopes["worker"], built.community_id, name)
        assert all(h["building_id"] in (built.building_ids["3"], built.building_ids["4"]) for h in worker["hits"])
        assert all(name not in h["text"] for h in worker["hits"])
        other = next(sp.members[0].name for sp in built.households if sp.building == "4")
        masked = views.search(s, scopes["worker"], built.community_id, other)["hits"]
        assert masked and all(access.mask_name(other) in h["text"] and other not in h["text"] for h in masked)
        # street staff: no person search at all, address search still works
        assert views.search(s, scopes["street"], built.community_id, name) == {"kind": "none", "hits": []}
        assert views.search(s, scopes["street"], built.community_id, "3幢")["hits"][0]["flat_id"] is None
        assert views.search(s, scopes["other"], built.community_id, "3幢") is None
        assert views.search(s, scopes["admin"], built.community_id, "99幢")["hits"] == []
        assert views.search(s, scopes["admin"], built.community_id, "%")["hits"] == []   # LIKE wildcards escaped


# --- street --------------------------------------------------------------------------------------

def test_street_data_is_aggregates_for_street_staff(env):
    engine, built, scopes = env
    with Session(engine) as s:
        assert views.default_street_id(s, scopes["street"]) == built.street_id
        assert views.default_street_id(s, scopes["admin"]) is None
        data = views.street_data(s, scopes["street"], built.street_id, as_of=factories.AS_OF)
        json.dumps(data)
        assert [r["name"] for r in data["rows"]] == ["兰翔社区", "白云社区"]
        assert {f["id"] for f in data["communities"]["features"]} == {built.community_id, built.other_community_id}
        assert data["totals"]["households"] == len(built.households) + 1
        text = json.dumps(data, ensure_ascii=False)
        assert "钱多多" not in text and "head_name" not in text                  # no persons
        admin = views.street_data(s, scopes["admin"], built.street_id)
        assert [r["name"] for r in admin["rows"]] == ["兰翔社区"]                   # only their community
        assert views.street_data(s, None, built.street_id) is None
        assert views.street_data(s, scopes["street"], 999) is None


# --- issues --------------------------------------------------------------------------------------

def test_open_issues_and_closing_one_logs_the_transition(env):
    engine, built, scopes = env
    with Session(engine) as s:
        rows = views.open_issues(s, scopes["admin"], as_of=factories.AS_OF)
        (row,) = rows
        assert row["category"] == schema.EC_REPAIR and row["flat_id"] == built.flat_ids[built.event_flat]
        assert row["description"] and row["room"] == "502"
        street = views.open_issues(s, scopes["street"])
        assert street[0]["id"] == row["id"] and street[0]["flat_id"] is None and street[0]["description"] is None
        assert views.open_issues(s, scopes["other"]) == []
        assert views.open_issues(s, None) is None
    with store.session_scope(engine) as s:
        with pytest.raises(AccessDenied):
            views.close_issue(s, scopes["street"], row["id"], comment="已修好")
        with pytest.raises(AccessDenied):
            views.close_issue(s, scopes["other"], row["id"], comment="已修好")
        with pytest.raises(InputError, match="comment"):
            views.close_issue(s, scopes["worker"], row["id"], comment="  ")
    with store.session_scope(engine) as s:
        views.close_issue(s, scopes["worker"], row["id"], comment="物业已修好，住户确认")
    with Session(engine) as s:
        event = s.get(models.Event, row["id"])
        assert event.state == schema.E_CLOSED and event.closed_at is not None
        last = s.scalars(select(models.EventTransition).where(models.EventTransition.event_id == event.id)
                         .order_by(models.EventTransition.id.desc())).first()
        assert (last.from_state, last.to_state, last.by, last.comment) == (
            schema.E_REPORTED, schema.E_CLOSED, "worker", "物业已修好，住户确认")
        assert views.open_issues(s, scopes["admin"]) == []
        with pytest.raises(InputError, match="expected a next state"):
            verification.close_event(s, event.id, by="admin", comment="again")


def test_transition_event_follows_the_procedure(env):
    engine, built, scopes = env
    with store.session_scope(engine) as s:
        event = s.scalars(select(models.Event).where(models.Event.state == schema.E_REPORTED)).one()
        verification.transition_event(s, event.id, schema.E_ACCEPTED, by="admin", comment=None)
        with pytest.raises(InputError, match="expected a next state among"):
            verification.transition_event(s, event.id, schema.E_VERIFYING, by="admin", comment=None)
        with pytest.raises(NotFoundError):
            verification.close_event(s, 999, by="admin", comment="x")
        assert event.state == schema.E_ACCEPTED and event.closed_at is None


# --- exports and tiles ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["html", "png"])
def test_export_map_is_logged(env, fmt):
    if fmt == "png":
        pytest.importorskip("matplotlib")
    engine, built, scopes = env
    with store.session_scope(engine) as s:
        name, body = views.export_map(s, scopes["street"], built.community_id,
                                      views.parse_map_query("?layer=elderly"), fmt, as_of=factories.AS_OF)
        assert name == f"兰翔社区-elderly-20240301.{fmt}"
        assert views.export_map(s, scopes["other"], built.community_id, {}, fmt) is None
        with pytest.raises(ValueError, match="fmt"):
            views.export_map(s, scopes["admin"], built.community_id, {}, "pdf")
    if fmt == "html":
        page = body.decode()
        assert "<html" in page and not re.search(r"<(?:script|link)[^>]*(?:src|href)=\"https?://", page)
    else:
        assert body.startswith(b"\x89PNG")
    with Session(engine) as s:
        (entry,) = s.scalars(select(models.AuditLog).where(models.AuditLog.action == schema.A_EXPORT)).all()
        assert entry.username == "street" and entry.target_id == str(built.community_id)
        assert fmt in entry.detail and "elderly" in entry.detail


def test_tile_sources_are_wired_as_pure_functions():
    def source(**kw):
        return config.tile_source(load_settings(env={}, **kw))
    osm, gaode = source(tiles="osm"), source(tiles="gaode")
    tianditu = source(tiles="TianDiTu", tianditu_key="k123")
    for s in (osm, gaode, tianditu):
        assert all(part in s.url for part in ("{z}", "{x}", "{y}")) and s.url.startswith("https://")
        props = config.tile_layer_props(s)
        assert props["url"] == s.url and props["maxZoom"] == config.MAX_ZOOM and props["subdomains"]
    assert "tk=k123" in tianditu.url and "{key}" not in tianditu.url
    # only Gaode needs the GCJ-02 display shift
    assert config.display_offset(load_settings(env={}, tiles="gaode")) == schema.GCJ02
    for name in ("none", "osm"):
        assert config.display_offset(load_settings(env={}, tiles=name)) is None
    assert config.display_offset(load_settings(env={}, tiles="tianditu", tianditu_key="k")) is None


def test_gaode_shift_applies_to_every_map_layer(env):
    engine, built, scopes = env
    with Session(engine) as s:
        plain = views.map_data(s, scopes["admin"], built.community_id)
        shifted = views.map_data(s, scopes["admin"], built.community_id, offset=schema.GCJ02)
        street = views.street_data(s, scopes["street"], built.street_id, offset=schema.GCJ02)
        plain_street = views.street_data(s, scopes["street"], built.street_id)
        hit = views.search(s, scopes["admin"], built.community_id, "3幢", offset=schema.GCJ02)["hits"][0]
        plain_hit = views.search(s, scopes["admin"], built.community_id, "3幢")["hits"][0]
    for key in ("buildings", "grids", "outline", "issues"):
        a = plain[key]["features"][0]["geometry"]["coordinates"]
        b = shifted[key]["features"][0]["geometry"]["coordinates"]
        assert a != b, key
    assert street["bounds"] != plain_street["bounds"] and hit["bounds"] != plain_hit["bounds"]
    # ~500 m east/north-ish in Changzhou, never more than a kilometre
    assert 0.002 < shifted["bounds"][0][1] - plain["bounds"][0][1] < 0.01
