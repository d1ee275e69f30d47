"""Visit planning (geodata.routing): choosing the doors, distances, walking order, stairs, split, sheets, CLI.

A small community is built here with the models: grid A holds six walk-ups (3 units x 6 floors x 2 flats, 60 m x
12 m, on a 100 m x 50 m lattice, laid out in metres of schema.METRIC_CRS and stored in WGS84), one building without
a footprint, and a footpath along the south side; grid B holds one building. Specific flats carry the cases:

  B1-1-101 verified, no open finding, latest visit 需复访      -> never proposed
  B1-1-102 verified, an open finding                           -> proposed (finding)
  B1-1-201 verified, only a closed finding                     -> never proposed
  B1-1-202 not verified, latest visit 联系不上                 -> proposed (revisit)
  B1-1-301 需复访 then 已更正 (verified)                       -> never proposed
  B2-1-101 elderly alone, ground floor, never contacted        -> care, window
  B2-1-502 elderly alone, last contact 10 days ago             -> care, phone
  B2-1-601 elderly alone, household verified, never contacted  -> care (care ignores verification)
  B2-2-302 elderly alone, note 上门, contacted 2 days ago       -> not due
  B2-2-401 elderly alone, note 需上门, never contacted         -> care, door
  B3-2-502 open event; B3-1-101 closed event; B4 an open event without a flat
  B3..B6   an open 核实60岁以上老人 finding at every flat numbered x01 (72 flats, for the split)
  B7       no footprint, one open finding                      -> Plan.unplaced
  B8       grid B, open finding                                -> never in grid A
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re

import numpy as np
import openpyxl
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import select

from geodata import models, routing, schema, store
from geodata.errors import GridMapError, InputError

AS_OF = dt.date(2024, 3, 1)
AT = dt.datetime(2024, 2, 20, 2, 0)          # naive UTC, 10:00 in China
TO_WGS = Transformer.from_crs(schema.METRIC_CRS, schema.STORE_CRS, always_xy=True)
TO_METRIC = Transformer.from_crs(schema.STORE_CRS, schema.METRIC_CRS, always_xy=True)
X0, Y0 = TO_METRIC.transform(119.9650, 31.8120)
FAST = dict(time_limit_s=0.1, split_time_limit_s=0.2)


def _wgs(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_WGS.transform(xy[:, 0] + X0, xy[:, 1] + Y0)))


def _lonlat(x: float, y: float) -> tuple[float, float]:
    return TO_WGS.transform(x + X0, y + Y0)


def _build(session) -> dict:
    street = models.Street(name="河海街道", synthetic=True)
    community = models.Community(street=street, name="兰翔社区", synthetic=True,
                                 geom_wkb=store.to_wkb(_wgs(shapely.box(-60, -60, 300, 120))))
    session.add_all([street, community])
    session.flush()
    grid_a = models.Grid(community_id=community.id, code="32041100300701", name="第一网格", seq=1,
                         geom_wkb=store.to_wkb(_wgs(shapely.box(-60, -60, 300, 80))))
    grid_b = models.Grid(community_id=community.id, code="32041100300702", name="第二网格", seq=2,
                         geom_wkb=store.to_wkb(_wgs(shapely.box(-60, 80, 300, 120))))
    session.add_all([grid_a, grid_b])
    session.flush()
    session.add(models.Path(community_id=community.id, kind="footway", name="南路",
                            geom_wkb=store.to_wkb(_wgs(shapely.LineString([(-60, -20), (300, -20)])))))
    session.add(models.Path(community_id=community.id, kind="footway", name="西路",
                            geom_wkb=store.to_wkb(_wgs(shapely.LineString([(-40, -60), (-40, 120)])))))
    buildings, flats, households = {}, {}, {}
    boxes = {str(i + 1): shapely.box(100 * (i % 3), 50 * (i // 3), 100 * (i % 3) + 60, 50 * (i // 3) + 12)
             for i in range(6)}
    boxes["7"] = None
    boxes["8"] = shapely.box(0, 95, 60, 107)
    k = 0
    for number, box in boxes.items():
        b = models.Building(community_id=community.id, grid_id=(grid_b if number == "8" else grid_a).id,
                            number=number, floors=6, units=3, has_lift=False,
                            geom_wkb=store.to_wkb(_wgs(box)) if box is not None else None)
        session.add(b)
        session.flush()
        buildings[number] = b
        for unit in (1, 2, 3):
            for floor in range(1, 7):
                for n in (1, 2):
                    room = f"{floor}0{n}"
                    f = models.Flat(building_id=b.id, unit=unit, floor=floor, room=room)
                    session.add(f)
                    session.flush()
                    k += 1
                    h = models.Household(flat_id=f.id, head_name=f"户主{k}", residence_status=schema.RES_OWNER)
                    session.add(h)
                    session.flush()
                    session.add(models.Person(household_id=h.id, name=f"户主{k}", relation=schema.HEAD_RELATION,
                                              id_status=schema.ID_OK, birth_date=dt.date(1980, 1, 1),
                                              phone=f"138{k:08d}"))
                    session.add(models.Person(household_id=h.id, name=f"配偶{k}", relation="10",
                                              id_status=schema.ID_OK, birth_date=dt.date(1982, 1, 1)))
                    flats[(number, unit, room)] = f
                    households[(number, unit, room)] = h
    session.flush()

    def verified(key):
        households[key].verified_at, households[key].verified_by = AS_OF - dt.timedelta(days=5), "wang"

    def finding(key, category=schema.F_ABSENT_REGISTERED, status=schema.FINDING_OPEN):
        session.add(models.Finding(community_id=community.id, category=category, flat_id=flats[key].id,
                                   household_id=households[key].id, status=status))

    def visit(key, result, at):
        session.add(models.Visit(household_id=households[key].id, flat_id=flats[key].id, at=at, by="wang",
                                 method=schema.M_DOOR, result=result))

    def alone(key, note=None, contacted_days_ago=None):
        h = households[key]
        h.note = note
        spouse = next(p for p in session.scalars(select(models.Person).where(models.Person.household_id == h.id))
                      if p.relation == "10")
        spouse.active = False
        head = next(p for p in session.scalars(select(models.Person).where(models.Person.household_id == h.id))
                    if p.relation == schema.HEAD_RELATION)
        head.birth_date = dt.date(1940, 6, 1)
        if contacted_days_ago is not None:
            session.add(models.CareContact(household_id=h.id, person_id=head.id, method=schema.M_PHONE,
                                           outcome=schema.CARE_OK,
                                           at=dt.datetime.combine(AS_OF - dt.timedelta(days=contacted_days_ago),
                                                                  dt.time(2, 0))))

    verified(("1", 1, "101"))
    visit(("1", 1, "101"), schema.R_CONFIRMED, AT)
    visit(("1", 1, "101"), schema.R_REVISIT, AT + dt.timedelta(days=1))
    verified(("1", 1, "102"))
    finding(("1", 1, "102"), schema.F_TENANT_CHANGED)
    verified(("1", 1, "201"))
    finding(("1", 1, "201"), schema.F_OWNER_CHANGED, schema.FINDING_CLOSED)
    visit(("1", 1, "202"), schema.R_UNREACHABLE, AT)
    visit(("1", 1, "301"), schema.R_REVISIT, AT)
    visit(("1", 1, "301"), schema.R_CORRECTED, AT + dt.timedelta(days=2))
    verified(("1", 1, "301"))
    alone(("2", 1, "101"))
    alone(("2", 1, "502"), contacted_days_ago=10)
    alone(("2", 1, "601"))
    verified(("2", 1, "601"))
    alone(("2", 2, "302"), note="请上门", contacted_days_ago=2)
    alone(("2", 2, "401"), note="行动不便，需上门")
    session.add(models.Event(community_id=community.id, building_id=buildings["3"].id,
                             flat_id=flats[("3", 2, "502")].id, category=schema.EC_REPAIR, description="漏水",
                             state=schema.E_DISPATCHED))
    session.add(models.Event(community_id=community.id, building_id=buildings["3"].id,
                             flat_id=flats[("3", 1, "101")].id, category=schema.EC_SANITATION, description="垃圾",
                             state=schema.E_CLOSED))
    session.add(models.Event(community_id=community.id, building_id=buildings["4"].id, category=schema.EC_SAFETY,
                             description="楼道堆物", state=schema.E_REPORTED))
    for number in "3456":
        for unit in (1, 2, 3):
            for floor in range(1, 7):
                finding((number, unit, f"{floor}01"), schema.F_CONFIRM_ELDERLY)
    finding(("7", 1, "101"))
    finding(("8", 1, "101"))
    session.flush()
    return {"community_id": community.id, "grid_a": grid_a.id, "grid_b": grid_b.id,
            "flats": {key: f.id for key, f in flats.items()}}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('routing') / 'store.db'}"
    engine = store.open_store(url)
    with store.session_scope(engine) as session:
        ids = _build(session)
    yield engine, ids, url
    engine.dispose()


@pytest.fixture
def session(built):
    engine = built[0]
    with store.sessions(engine)() as s:
        yield s


@pytest.fixture(scope="module")
def two_workers(built):
    """The plan of grid A, everything, for two workers (shared by the output tests)."""
    engine, ids, _ = built
    with store.sessions(engine)() as s:
        return routing.plan(s, ids["community_id"], ids["grid_a"], "all", workers=2, as_of=AS_OF, **FAST)


def _keys(stops):
    return {(s.building, s.unit, s.room) for s in stops}


# --- Choosing ------------------------------------------------------------------------------------

def test_verified_flats_are_never_proposed(session, built):
    ids = built[1]
    stops = routing.choose_visits(session, ids["community_id"], ids["grid_a"], "all", as_of=AS_OF)
    keys = _keys(stops)
    for never in (("1", 1, "101"), ("1", 1, "201"), ("1", 1, "301")):
        assert never not in keys
    assert ("1", 1, "102") in keys
    by_key = {(s.building, s.unit, s.room): s for s in stops}
    assert by_key[("1", 1, "102")].what == (schema.F_TENANT_CHANGED,)
    assert by_key[("1", 1, "202")].what == (routing.W_REVISIT,)
    assert by_key[("1", 1, "202")].hints == ("上次联系不上（02-20）",)
    assert all(s.building != "8" for s in stops)


def test_what_selects_categories_and_default_is_findings_and_revisits(session, built):
    ids = built[1]
    default = routing.choose_visits(session, ids["community_id"], ids["grid_a"], None, as_of=AS_OF)
    assert {c for s in default for c in s.what} == {schema.F_TENANT_CHANGED, schema.F_CONFIRM_ELDERLY,
                                                    schema.F_ABSENT_REGISTERED, routing.W_REVISIT}
    only = routing.choose_visits(session, ids["community_id"], ids["grid_a"], "tenant_changed", as_of=AS_OF)
    assert _keys(only) == {("1", 1, "102")}
    assert routing.parse_what("户在人不在,care") == (schema.F_ABSENT_REGISTERED, routing.W_CARE)
    with pytest.raises(InputError, match="bogus"):
        routing.parse_what("care,bogus")


def test_care_rounds_due_and_their_contact_method(session, built):
    ids = built[1]
    stops = routing.choose_visits(session, ids["community_id"], ids["grid_a"], "care", as_of=AS_OF, days=7)
    method = {(s.building, s.unit, s.room): s.method for s in stops}
    assert method == {("2", 1, "101"): schema.M_WINDOW, ("2", 1, "502"): schema.M_PHONE,
                      ("2", 1, "601"): schema.M_PHONE, ("2", 2, "401"): schema.M_DOOR}
    assert all(re.fullmatch(r"138\*{4}\d{4}", s.phone) for s in stops)      # masked
    # With a 1-day interval the flat contacted 2 days ago is due too.
    assert ("2", 2, "302") in _keys(routing.choose_visits(session, ids["community_id"], ids["grid_a"], "care",
                                                          as_of=AS_OF, days=1))
    overdue = routing.overdue_care(session, ids["community_id"], days=7, as_of=AS_OF)
    assert [(r["building"], r["unit"], r["room"]) for r in overdue][-1] == ("2", 1, "502")   # oldest last
    assert overdue[-1]["days_since"] == 10 and overdue[-1]["last_contact"] == "2024-02-20"
    assert all(r["lon"] and r["lat"] and "name" not in r and "phone" not in r for r in overdue)


def test_open_events_at_flats_and_buildings(session, built):
    ids = built[1]
    stops = routing.choose_visits(session, ids["community_id"], ids["grid_a"], "events", as_of=AS_OF)
    assert {(s.building, s.unit, s.room, s.labels) for s in stops} == {
        ("3", 2, "502", ("事件·设施维修",)), ("4", None, "", ("事件·安全隐患",))}


# --- Distances and orders ------------------------------------------------------------------------

def test_footpath_distances_are_at_least_straight_lines():
    # Two roads crossing at (0, 0) without a shared vertex: the crossing must become a node.
    paths = [shapely.LineString([(-100, 0), (100, 0)]), shapely.LineString([(0, -100), (0, 100)]),
             shapely.LineString([(500, 500), (600, 500)])]        # a separate piece of path
    pts = np.array([(0, 10), (100, 10), (50, 5), (-5, 50), (550, 510)], dtype=float)
    net = routing.distance_matrix(pts, paths)
    straight = routing.distance_matrix(pts)
    assert net[0, 1] == pytest.approx(120.0)                      # 10 down, 100 along, 10 up
    assert net[2, 3] == pytest.approx(110.0)                      # through the crossing
    assert net[0, 4] == pytest.approx(straight[0, 4])             # not connected: straight line
    assert np.all(net >= straight - 1e-9) and np.allclose(net, net.T)
    rng = np.random.default_rng(3)
    pts = rng.uniform(-100, 100, (30, 2))
    net = routing.distance_matrix(pts, paths[:2])
    assert np.all(net >= routing.distance_matrix(pts) - 1e-9)


def test_walking_order_is_no_worse_than_nearest_neighbour():
    rng = np.random.default_rng(2020)
    pts = rng.uniform(0, 600, (150, 2))
    m = routing.distance_matrix(pts)
    order = routing.order_route(m, start=0, time_limit_s=0.3)
    assert order[0] == 0 and sorted(order) == list(range(150))
    nn = routing.nearest_neighbour_route(m, 0)
    assert routing.route_length(m, order) <= routing.route_length(m, nn) + 1e-6
    assert routing.order_route(m[:3, :3], start=1) == [1, 0, 2]


def test_stair_order_is_one_pass_per_unit(session, built):
    ids = built[1]
    p = routing.plan(session, ids["community_id"], ids["grid_a"], "all", as_of=AS_OF, **FAST)
    (route,) = p.routes
    assert [rs.order for rs in route.stops] == list(range(1, route.flats + 1))
    runs: list[tuple] = []
    for rs in route.stops:
        key = (rs.stop.building, rs.stop.unit)
        if not runs or runs[-1][0] != key:
            runs.append((key, []))
        runs[-1][1].append(rs.stop.floor or 0)
    keys = [k for k, _ in runs]
    assert len(keys) == len(set(keys)), "a stairwell is entered twice"
    buildings = [k[0] for k in keys]
    assert [b for i, b in enumerate(buildings) if i == 0 or buildings[i - 1] != b] == \
        list(dict.fromkeys(buildings)), "a building is visited twice"
    for (_, unit), floors in runs:
        assert floors == sorted(floors, reverse=True), (unit, floors)   # top first, down the stairs
    up = routing.stair_order([rs.stop for rs in route.stops if rs.stop.building == "2"], routing.STAIR_UP)
    assert [s.floor for s in up if s.unit == 1] == sorted(s.floor for s in up if s.unit == 1)
    cumulative = [rs.cumulative_m for rs in route.stops]
    assert cumulative == sorted(cumulative) and route.length_m >= cumulative[-1]


def test_plan_uses_footpaths_and_reports_unplaced(session, built):
    ids = built[1]
    with_paths = routing.plan(session, ids["community_id"], ids["grid_a"], "all", as_of=AS_OF, **FAST)
    straight = routing.plan(session, ids["community_id"], ids["grid_a"], "all", as_of=AS_OF, use_paths=False,
                            **FAST)
    assert with_paths.distances == routing.D_FOOTPATHS and straight.distances == routing.D_STRAIGHT
    assert with_paths.routes[0].length_m >= straight.routes[0].length_m
    assert _keys(with_paths.unplaced) == {("7", 1, "101")}
    start = _lonlat(-40, -20)
    moved = routing.plan(session, ids["community_id"], ids["grid_a"], "care", start=start, as_of=AS_OF, **FAST)
    assert moved.start == pytest.approx(start, abs=1e-6) and moved.routes[0].path[0] == moved.start


def test_workers_split_balanced(session, built):
    ids = built[1]
    p = routing.plan(session, ids["community_id"], ids["grid_a"], "all", workers=3, as_of=AS_OF, **FAST)
    flats = [r.flats for r in p.routes]
    mean = sum(flats) / 3
    assert len(p.routes) == 3 and all(abs(f - mean) <= 0.2 * mean for f in flats), flats
    every = [rs.stop for r in p.routes for rs in r.stops]
    one = routing.choose_visits(session, ids["community_id"], ids["grid_a"], "all", as_of=AS_OF)
    assert _keys(every) == _keys(s for s in one if s.building != "7")
    assert len(every) == len(_keys(every))                         # nobody visits a flat twice
    assert max(r.minutes for r in p.routes) <= 1.35 * min(r.minutes for r in p.routes)


def test_split_workers_balances_flats_on_points():
    rng = np.random.default_rng(5)
    pts = np.vstack([[0, 0], rng.uniform(0, 400, (24, 2))])
    flats = [0, *rng.integers(2, 9, 24)]
    shares = routing.split_workers(routing.distance_matrix(pts), flats, [0] + [5.0] * 24, 3, time_limit_s=0.3)
    assert sorted(n for s in shares for n in s) == list(range(1, 25))
    loads = [sum(flats[n] for n in s) for s in shares]
    assert all(abs(x - sum(loads) / 3) <= 0.2 * sum(loads) / 3 for x in loads), loads


# --- Output --------------------------------------------------------------------------------------

def test_plan_json_shape(two_workers):
    p = two_workers
    data = json.loads(json.dumps(routing.plan_to_json(p), ensure_ascii=False))
    assert {"community", "grid", "workers"} <= set(data)
    assert data["community"] == "兰翔社区" and data["grid"] == "32041100300701"
    assert [w["worker"] for w in data["workers"]] == [1, 2]
    for w in data["workers"]:
        assert {"worker", "stops", "length_m", "flats"} <= set(w) and w["flats"] == len(w["stops"])
        for s in w["stops"]:
            assert {"order", "building", "unit", "room", "floor", "what", "cumulative_m"} <= set(s)
            assert isinstance(s["what"], list) and s["what"]
    assert "138" not in json.dumps(data)                              # no phone numbers in JSON


def test_xlsx_has_one_sheet_per_worker(two_workers, tmp_path):
    p = two_workers
    path = routing.write_plan_xlsx(p, tmp_path / "plan.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["网格员1", "网格员2"]
    ws = wb["网格员1"]
    assert [c.value for c in ws[3]] == list(routing.SHEET_COLUMNS)
    assert ws.page_setup.orientation == "landscape" and schema.SYNTHETIC_LABEL in ws["A1"].value
    assert ws.max_row == 3 + p.routes[0].flats
    phones = [ws.cell(row=r, column=7).value for r in range(4, ws.max_row + 1)]
    assert all(v is None or "****" in v for v in phones)


def test_html_is_self_contained(two_workers, tmp_path):
    p = two_workers
    text = routing.write_plan_html(p, tmp_path / "plan.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", text, re.IGNORECASE)
    assert "<script" not in text and "<link" not in text
    assert text.count('<section class="worker">') == 2 and "<svg" in text and "@page" in text
    assert not re.search(r"138\d{8}", text)


# --- Command line --------------------------------------------------------------------------------

def _cli(argv):
    parser = argparse.ArgumentParser()
    routing.add_cli(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_writes_the_sheet_and_logs_the_export(built, tmp_path, monkeypatch, capsys):
    engine, _, url = built
    monkeypatch.setenv("GRIDMAP_DB", url)
    out = tmp_path / "route.json"
    assert _cli(["plan-route", "--community", "兰翔社区", "--grid", "32041100300701", "--what", "care,events",
                 "--workers", "2", "--as-of", AS_OF.isoformat(), "--time-limit", "0.2", "--by", "leader1",
                 "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert sum(w["flats"] for w in data["workers"]) == 6 and len(data["workers"]) == 2
    with store.sessions(engine)() as s:
        log = s.scalars(select(models.AuditLog).where(models.AuditLog.username == "leader1")).all()
    assert [(a.action, a.target_type) for a in log] == [(schema.A_EXPORT, "grid")]
    base = ["plan-route", "--community", "兰翔社区"]
    for extra in (["--grid", "1", "--out", str(tmp_path / "x.pdf")],
                  ["--grid", "第一网格", "--what", "nope", "--out", str(out)],
                  ["--grid", "第九网格", "--out", str(out)]):
        with pytest.raises(GridMapError):
            _cli(base + extra)


def test_small_and_empty_plans_still_write_every_sheet(session, built, tmp_path):
    ids = built[1]
    one = routing.plan(session, ids["community_id"], ids["grid_b"], None, workers=2, as_of=AS_OF, **FAST)
    assert [r.flats for r in one.routes] in ([1, 0], [0, 1])
    empty = routing.plan(session, ids["community_id"], ids["grid_b"], "care", workers=2, as_of=AS_OF, **FAST)
    assert [r.flats for r in empty.routes] == [0, 0] and empty.routes[0].length_m == 0
    for p in (one, empty):
        assert openpyxl.load_workbook(routing.write_plan(p, tmp_path / "p.xlsx")).sheetnames == ["网格员1", "网格员2"]
        assert "今日无待走访户" in routing.write_plan(p, tmp_path / "p.html").read_text(encoding="utf-8")
        json.loads(routing.write_plan(p, tmp_path / "p.json").read_text(encoding="utf-8"))
