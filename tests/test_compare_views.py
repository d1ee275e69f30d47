"""The comparison page's pure functions (dashboard.compare_views): who may compare what, aggregates only (no person
field or value anywhere in what they return), '<5' for small counts, sorting and ranks, the change against a second
day, the trend days, the exports (logged), and the sequential palette of the map.

Store: tests.factories (河海街道: 兰翔社区 with ~70 households, 白云社区 with one) plus 青山社区, built here with
10 households of which 9 are verified, so the ranking by verified share has three rows: 青山 1, 兰翔 2, 白云 '<5'.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import compare_views as cv
from geodata import access, compare, models, schema, store
from layers import colors
from tests import factories

AS_OF = factories.AS_OF
PASSWORD = "compare-test-1"
#: Keys that would mean a person, a flat or a building reached the page.
PERSON_KEYS = {"name", "id_number", "id_raw", "phone", "phone2", "phone_raw", "birth_date", "head_name", "landlord",
               "person_id", "household_id", "flat_id", "building_id", "floor", "room", "relation",
               "political_status", "members"}
MASKED_ID = re.compile(r"\d{4}\*{10}")


def _strings(value: Any) -> list[str]:
    """Every key and string inside a nested structure."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, (list, tuple)):
        return {k for v in value for k in _keys(v)}
    return set()


def _add_qingshan(session: Session, street_id: int) -> int:
    """青山社区: one building, 10 households of one elderly person each (born 1940), 9 verified three days before
    AS_OF, 4 visits (the first two weeks before AS_OF)."""
    community = models.Community(street_id=street_id, name="青山社区", code="320411003009", synthetic=True,
                                 geom_wkb=store.to_wkb(shapely.box(factories.ORIGIN[0] + 0.02, factories.ORIGIN[1],
                                                                   factories.ORIGIN[0] + 0.021,
                                                                   factories.ORIGIN[1] + 0.001)))
    session.add(community)
    session.flush()
    building = models.Building(community_id=community.id, number="1", label="青山1幢", floors=5, units=1)
    session.add(building)
    session.flush()
    for k in range(10):
        flat = models.Flat(building_id=building.id, unit=1, floor=k // 2 + 1, room=f"{(k // 2 + 1) * 100 + k % 2 + 1}")
        session.add(flat)
        session.flush()
        hh = models.Household(flat_id=flat.id, head_name=f"孙青山{k}", residence_status=schema.RES_OWNER,
                              verified_at=AS_OF - dt.timedelta(days=3) if k < 9 else None)
        session.add(hh)
        session.flush()
        birth = dt.date(1940, 1, 1 + k)
        session.add(models.Person(household_id=hh.id, name=f"孙青山{k}", relation=schema.HEAD_RELATION,
                                  birth_date=birth, id_number=factories.id_number(birth, 500 + k),
                                  id_status=schema.ID_OK, phone=f"1390000{k:04d}", political_status="13"))
        if k < 4:
            session.add(models.Visit(flat_id=flat.id, household_id=hh.id, by="qs_worker", method=schema.M_DOOR,
                                     result=schema.R_CONFIRMED,
                                     at=dt.datetime.combine(AS_OF - dt.timedelta(days=14 - k), dt.time(2))))
    session.flush()
    return community.id


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(engine, built, qingshan id, {role: scope})."""
    engine, built = factories.make_store(tmp_path_factory.mktemp("compare-views") / "store.db")
    with store.session_scope(engine) as s:
        qingshan = _add_qingshan(s, built.street_id)
        access.create_user(s, "street1", PASSWORD, schema.ROLE_STREET, street_id=built.street_id)
        access.create_user(s, "admin1", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=built.community_id)
        access.create_user(s, "leader1", PASSWORD, schema.ROLE_GRID_LEADER, grid_ids=[built.grid_ids[0]])
        access.create_user(s, "worker1", PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[built.grid_ids[1]])
    with Session(engine) as s:
        scopes = {name: access.scope_for(s, name) for name in ("street1", "admin1", "leader1", "worker1")}
    yield engine, built, qingshan, scopes
    engine.dispose()


def _lanxiang_share(built: factories.Built) -> float:
    return sum(h.verified for h in built.households) / len(built.households)


def _resident_texts(built: factories.Built) -> list[str]:
    texts = [m.name for h in built.households for m in h.members] + ["钱多多"]
    texts += [m.phone for h in built.households for m in h.members if m.phone]
    return texts + [f"孙青山{k}" for k in range(10)]


def _stored_identifiers(engine) -> list[str]:
    """Every resident's name, ID number (and its birth-date part), phone and head-of-household name in the store."""
    with Session(engine) as s:
        people = s.execute(select(models.Person.name, models.Person.id_number, models.Person.phone)).all()
        heads = s.scalars(select(models.Household.head_name)).all()
    values = [v for row in people for v in row if v] + [h for h in heads if h]
    return values + [p.id_number[6:14] for p in people if p.id_number]


# --- who may compare --------------------------------------------------------------------------------------------

def test_grid_roles_and_strangers_get_nothing(world):
    engine, built, _q, scopes = world
    with Session(engine) as s:
        for who in ("leader1", "worker1"):
            assert cv.compare_streets(s, scopes[who]) == []
            assert cv.compare_data(s, scopes[who], built.street_id, as_of=AS_OF) is None
            assert cv.export_xlsx(s, scopes[who], built.street_id, key="verified_share", as_of=AS_OF) is None
        assert cv.compare_data(s, None, built.street_id, as_of=AS_OF) is None
        assert cv.compare_data(s, scopes["street1"], built.street_id + 99, as_of=AS_OF) is None
        assert cv.community_id_by_name(s, scopes["worker1"], built.street_id, "兰翔社区") is None


def test_street_staff_get_aggregates_only(world):
    engine, built, qingshan, scopes = world
    with Session(engine) as s:
        assert [x["id"] for x in cv.compare_streets(s, scopes["street1"])] == [built.street_id]
        data = cv.compare_data(s, scopes["street1"], built.street_id, key="living_alone", as_of=AS_OF,
                               against=AS_OF - dt.timedelta(days=7))
    assert data is not None
    assert {r["community"] for r in data["rows"]} == {"兰翔社区", "白云社区", "青山社区"}
    assert not (_keys(data) & PERSON_KEYS)
    text = json.dumps(data, ensure_ascii=False)
    for value in _resident_texts(built) + _stored_identifiers(engine):
        assert value not in text
    assert not MASKED_ID.search(text)
    # the map carries the community's name, value text and colour, nothing else
    props = {k for f in data["map"]["geojson"]["features"] for k in f["properties"]}
    assert props == {"id", "community", "text", "color"}
    assert {f["id"] for f in data["map"]["geojson"]["features"]} == {built.community_id, built.other_community_id,
                                                                      qingshan}
    # street staff may open every community's map; links say so
    assert all(r["link"] for r in data["rows"])


def test_community_admin_compares_their_street_and_links_only_their_own(world):
    engine, built, _q, scopes = world
    with Session(engine) as s:
        data = cv.compare_data(s, scopes["admin1"], built.street_id, as_of=AS_OF)
        assert cv.community_id_by_name(s, scopes["admin1"], built.street_id, "兰翔社区") == built.community_id
    links = {r["community"]: r["link"] for r in data["rows"]}
    assert links == {"兰翔社区": True, "白云社区": False, "青山社区": False}
    assert not (_keys(data) & PERSON_KEYS)


def test_small_counts_are_shown_as_less_than_5(world):
    engine, built, _q, scopes = world
    with Session(engine) as s:
        data = cv.compare_data(s, scopes["street1"], built.street_id, as_of=AS_OF)
    baiyun = next(r for r in data["rows"] if r["community"] == "白云社区")   # one household: everything hidden
    for col in data["columns"]:
        assert baiyun[col["field"]] is None
        assert baiyun[col["field"] + cv.TEXT] == "<5"
    assert baiyun["rank"] is None
    assert data["suppress_text"] == "<5"
    bar = next(v for v in data["bars"][0]["values"] if v["community"] == "白云社区")
    assert bar == {**bar, "value": None, "text": "<5", "suppressed": True, "color": colors.NO_DATA_COLOR}
    feature = next(f for f in data["map"]["geojson"]["features"] if f["id"] == built.other_community_id)
    assert feature["properties"]["text"] == "<5"
    assert data["map"]["legend"]["no_data"] == colors.NO_DATA_COLOR
    # open findings: 兰翔社区 has one (fewer than 5) -> '<5'; 青山社区 none -> '0.0', zero is shown
    lanxiang = next(r for r in data["rows"] if r["community"] == "兰翔社区")
    qingshan = next(r for r in data["rows"] if r["community"] == "青山社区")
    assert lanxiang["open_findings" + cv.TEXT] == "<5" and lanxiang["open_findings"] is None
    assert qingshan["open_findings" + cv.TEXT] == "0.0" and qingshan["open_findings"] == 0.0


def test_rows_are_sorted_by_the_chosen_indicator_with_ranks_and_the_median(world):
    engine, built, _q, scopes = world
    share = _lanxiang_share(built)
    with Session(engine) as s:
        data = cv.compare_data(s, scopes["street1"], built.street_id, key="verified_share", as_of=AS_OF)
        alone = cv.compare_data(s, scopes["street1"], built.street_id, key="living_alone", as_of=AS_OF,
                                series=False)
    assert [(r["community"], r["rank"]) for r in data["rows"]] == [("青山社区", 1), ("兰翔社区", 2), ("白云社区", None)]
    assert data["rows"][0]["verified_share"] == pytest.approx(0.9)
    assert data["rows"][1]["verified_share"] == pytest.approx(share)
    assert data["rows"][0]["verified_share" + cv.TEXT] == "90.0%"
    # the median of the values shown (suppressed ones left out), in the same fields
    assert data["median"]["verified_share"] == pytest.approx((0.9 + share) / 2)
    assert data["median"]["community"] == compare.MEDIAN_LABELS[compare.LEVEL_COMMUNITY]
    assert data["columns"][0] == {"field": "verified_share", "key": "verified_share", "kind": "value"}
    # living alone: 青山 10, 兰翔 one in six households (kind 0)
    lanxiang_alone = sum(len(h.members) == 1 and h.members[0].birth.year < 1964 for h in built.households)
    assert [(r["community"], r["living_alone"]) for r in alone["rows"][:2]] == (
        sorted([("青山社区", 10.0), ("兰翔社区", float(lanxiang_alone))], key=lambda x: -x[1]))
    assert alone["columns"][0]["field"] == "living_alone"
    assert alone["series"] is None
    # bars: the chosen indicator first, then SMALL_MULTIPLES others, in the table's order
    assert [b["key"] for b in data["bars"]][:1] == ["verified_share"]
    assert len(data["bars"]) == 1 + cv.SMALL_MULTIPLES
    assert [v["community"] for v in data["bars"][3]["values"]] == [r["community"] for r in data["rows"]]


def test_change_columns_against_a_second_day(world):
    engine, built, _q, scopes = world
    before = AS_OF - dt.timedelta(days=5)          # before anyone was verified
    with Session(engine) as s:
        data = cv.compare_data(s, scopes["street1"], built.street_id, key="verified_share", as_of=AS_OF,
                               against=before)
        expected = compare.compare_periods(s, built.street_id, AS_OF, before)
        mine = cv.with_change(compare.community_indicators(s, built.street_id, as_of=AS_OF),
                              compare.community_indicators(s, built.street_id, as_of=before))
    pd.testing.assert_frame_equal(mine, expected)
    assert mine.attrs == expected.attrs
    fields = [c["field"] for c in data["columns"][:3]]
    assert fields == ["verified_share", "verified_share_prev", "verified_share_change"]
    top = data["rows"][0]
    assert top["verified_share_prev"] == 0.0 and top["verified_share_prev" + cv.TEXT] == "0.0%"
    assert top["verified_share_change"] == pytest.approx(0.9)
    assert top["verified_share_change" + cv.TEXT] == "+90.0"
    assert data["against"] == before.isoformat()
    baiyun = next(r for r in data["rows"] if r["community"] == "白云社区")
    assert baiyun["verified_share_change" + cv.TEXT] == "<5"
    chosen = data["bars"][0]["values"][0]
    assert chosen["prev"] == 0.0 and chosen["change_text"] == "+90.0"


def test_trend_lines_run_from_the_first_visit_to_the_day(world):
    engine, built, _q, scopes = world
    with Session(engine) as s:
        data = cv.compare_data(s, scopes["street1"], built.street_id, as_of=AS_OF)
        assert cv.activity_range(s, built.street_id) == (AS_OF - dt.timedelta(days=14),
                                                         AS_OF - dt.timedelta(days=11))
    series = data["series"]
    assert series["days"][0] == (AS_OF - dt.timedelta(days=14)).isoformat()
    assert series["days"][-1] == AS_OF.isoformat()
    assert len(series["days"]) == cv.SERIES_POINTS
    qingshan = next(line for line in series["lines"] if line["community"] == "青山社区")
    assert qingshan["values"][0] == 0.0 and qingshan["values"][-1] == pytest.approx(0.9)
    baiyun = next(line for line in series["lines"] if line["community"] == "白云社区")
    assert baiyun["values"] == [None] * cv.SERIES_POINTS and set(baiyun["texts"]) == {"<5"}


def test_dates():
    start, end = dt.date(2020, 3, 2), dt.date(2020, 3, 25)
    days = cv.series_dates(start, end)
    assert days[0] == start and days[-1] == end and len(days) == cv.SERIES_POINTS
    assert days == sorted(set(days))
    assert cv.series_dates(end, end) == [end]
    assert cv.series_dates(start, start + dt.timedelta(days=2)) == [start + dt.timedelta(days=d) for d in range(3)]
    today = dt.date(2026, 12, 4)
    assert cv.default_as_of(None, today) == today
    assert cv.default_as_of((start, end), today) == end                     # an archive opens on its data
    assert cv.default_as_of((start, today - dt.timedelta(days=3)), today) == today
    assert cv.parse_day("2020-03-25T00:00:00") == end and cv.parse_day("") is None
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        cv.parse_day("25.3.2020")


def test_format_value():
    assert cv.format_value("verified_share", 0.2524) == "25.2%"
    assert cv.format_value("verified_share", 0.031, change=True) == "+3.1"
    assert cv.format_value("verified_share", -0.031, change=True) == "-3.1"
    assert cv.format_value("households", 2567.0) == "2,567"
    assert cv.format_value("households", 2633.5) == "2,633.5"
    assert cv.format_value("open_issues", 3.0, change=True) == "+3"
    assert cv.format_value("open_findings", 94.2345) == "94.2"
    assert cv.format_value("open_findings", float("nan")) == cv.NO_VALUE
    assert cv.format_value("median_days_to_close", None) == cv.NO_VALUE


# --- exports ----------------------------------------------------------------------------------------------------

def _audit(engine, username: str) -> list[models.AuditLog]:
    with Session(engine) as s:
        return list(s.scalars(select(models.AuditLog).where(models.AuditLog.username == username,
                                                            models.AuditLog.action == schema.A_EXPORT)))


def test_xlsx_export_is_the_table_with_less_than_5_and_is_logged(world):
    engine, built, _q, scopes = world
    with store.session_scope(engine) as s:
        name, body = cv.export_xlsx(s, scopes["street1"], built.street_id, key="living_alone", as_of=AS_OF,
                                    against=AS_OF - dt.timedelta(days=7))
    assert name.endswith(".xlsx") and "独居老人数" in name
    wb = openpyxl.load_workbook(io.BytesIO(body))
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[2]]
    assert headers[:5] == ["社区", f"独居老人数（{AS_OF}）", f"独居老人数（{AS_OF - dt.timedelta(days=7)}）",
                           "独居老人数 变化", "独居老人数 排名"]
    labels = [ws.cell(row=r, column=1).value for r in range(3, ws.max_row + 1)]
    assert labels[-1] == "街道中位数" and labels[0] in ("青山社区", "兰翔社区")
    baiyun = labels.index("白云社区") + 3
    assert ws.cell(row=baiyun, column=2).value == "<5"
    cells = " ".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)
    for value in _resident_texts(built) + [v for v in _stored_identifiers(engine) if not v.isdigit() or len(v) > 8]:
        assert value not in cells
    assert not MASKED_ID.search(cells)
    entries = _audit(engine, "street1")
    assert any(e.target_type == compare.TARGET_STREET and e.target_id == str(built.street_id)
               and json.loads(e.detail)["format"] == "xlsx" for e in entries)


def test_png_export_draws_the_charts_and_is_logged(world):
    engine, built, _q, scopes = world
    with store.session_scope(engine) as s:
        name, body = cv.export_png(s, scopes["street1"], built.street_id, key="verified_share", as_of=AS_OF)
    assert name.endswith(".png") and body[:8] == b"\x89PNG\r\n\x1a\n" and len(body) > 20_000
    assert any(json.loads(e.detail)["format"] == "png" for e in _audit(engine, "street1"))
    with Session(engine) as s:
        assert cv.export_png(s, scopes["worker1"], built.street_id, key="verified_share", as_of=AS_OF) is None


def test_png_without_a_cjk_font_still_draws(world):
    from dashboard import compare_png
    engine, built, _q, scopes = world
    with Session(engine) as s:
        data = cv.compare_data(s, scopes["street1"], built.street_id, as_of=AS_OF)
    assert compare_png.charts_png(data, font=None)[:4] == b"\x89PNG"


# --- the map's palette ------------------------------------------------------------------------------------------

def test_sequential_breaks_and_colours():
    values = [0.05, 0.16, 0.25, 0.30, 0.47]
    breaks = colors.sequential_breaks(values)
    assert len(breaks) == 4 and list(breaks) == sorted(breaks)
    assert values[0] < breaks[0] and breaks[-1] <= values[-1]
    fills = colors.sequential_colors(values, breaks)
    assert fills[0] == colors.SEQUENTIAL_COLORS[0] and fills[-1] == colors.SEQUENTIAL_COLORS[-1]
    assert colors.sequential_colors([np.nan, 0.3], breaks)[0] == colors.NO_DATA_COLOR
    # counts get round breaks; one distinct value (or none) gets one class
    assert all(float(b).is_integer() for b in colors.sequential_breaks([950, 1200, 2567, 4200]))
    assert colors.sequential_breaks([3, 3, np.nan]) == ()
    assert colors.sequential_colors([3, 3], ()) == [colors.sequential_palette(1)[0]] * 2
    assert colors.sequential_palette(2) == [colors.SEQUENTIAL_COLORS[0], colors.SEQUENTIAL_COLORS[-1]]
    with pytest.raises(ValueError, match="n:"):
        colors.sequential_palette(0)
