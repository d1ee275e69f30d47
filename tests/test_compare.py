"""Street-office comparison (geodata.compare): known answers on a hand-built street, suppression of small counts,
"as of" semantics, median and rank, exports and the CLI, and plausible figures on the demo's 兰翔社区.

The street (测试街道, as of 2024-03-31; China time, timestamps stored as naive UTC, so the day ends at 16:00 UTC):

甲社区 — grid 一 (building 1), grid 二 (building 2), building 3 in no grid:
  h1  b1  1940 (alone)                         phone   verified 03-10
  h2  b1  1950 + 1952, one 中共党员              phone   verified 04-05 (after the day: unverified)
  h3  b1  1980 + 1982 + 2010, one ID Excel-mangled     no phone
  h4  b1  1955 + 1985 (预备党员)                  phone2 only   verified 03-31
  h5  b1  1990, ID with a bad check char        phone
  h6  b2  born 1964-03-31: 60 on the day (alone) phone
  h7  b2  1930 (alone) + a moved-away member     phone
  h8  b2  an inactive household (1940)           -> not counted at all
  h9  b3  no members (no grid)
  h10 b2  four people born in the 1990s          phone
  => households 9, persons 15, verified 2, 60+ 6, elderly-only 4 (h1 h2 h6 h7), living alone 3 (h1 h6 h7),
     party families 2, with a phone 7, bad IDs 2.
  Findings open at the end of the day: 户在人不在 1, 租户变更 2 (one closed only on 04-02), 核实60岁以上老人 1
  (created later but found by a cross-check as of 03-15) => 4; not: closed 03-20, created 04-10, pending approval.
  Events open: e3 (closed 04-05), e5 (rejected 04-02), e7 (挂账), e9 (closed 03-31 17:00 UTC = 04-01 local) => 4;
  not open: e1 e2 (closed), e4 (rejected 03-26), e6 (reported 04-01), e8 (February).
  Closed in the 28 days: e1 (3.0 days), e2 (1.5 days) => median 2.25.
  Visits in the 28 days: 4 by 2 workers => 4 / 2 / 4 weeks = 0.5 a week.
  Data problems: register batch of 02-01 (phone + birth warnings, a quarantined row; its ID warning, a skipped
  row and a resolved warning do not count) 3 + checkpoint warning 1 + bad IDs 2 = 6. A register batch of 04-15
  (10 warnings) replaces the first one from that day on.
乙社区 — 6 households: three elderly living alone (1940s), three young couples; everyone has a phone.
丙社区 — 3 households.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import os

import numpy as np
import openpyxl
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import compare, models, schema, store
from geodata.errors import InputError, NotFoundError
from tests import pgcluster

AS_OF = dt.date(2024, 3, 31)
STREET = "测试街道"


def utc(month: int, day: int, hour: int = 2, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute)


def _person(hh: models.Household, birth: dt.date, *, phone: str | None = None, phone2: str | None = None,
            political: str = "13", id_status: str = schema.ID_OK, active: bool = True, n: list[int]) -> models.Person:
    n[0] += 1
    person = models.Person(name=f"居民{n[0]}", birth_date=birth, phone=phone, phone2=phone2,
                           political_status=political, id_status=id_status, active=active,
                           relation=schema.HEAD_RELATION, hukou_type=schema.HUKOU_LOCAL)
    hh.persons.append(person)      # saved with its household
    return person


def build_street(session: Session, *, synthetic: bool = False, name: str = STREET,
                 code: str = "320411099") -> dict[str, int]:
    """Write 测试街道 (see the module docstring), or a copy of it called `name`, and return the ids the tests
    need."""
    street = models.Street(name=name, code=code, synthetic=synthetic)
    a = models.Community(street=street, name="甲社区", synthetic=synthetic)
    b = models.Community(street=street, name="乙社区", synthetic=synthetic)
    c = models.Community(street=street, name="丙社区", synthetic=synthetic)
    session.add_all([street, a, b, c])
    session.flush()
    g1 = models.Grid(community_id=a.id, code="01", name="一网格", seq=1)
    g2 = models.Grid(community_id=a.id, code="02", name="二网格", seq=2)
    session.add_all([g1, g2])
    session.flush()
    counter = [0]
    flats: dict[str, models.Flat] = {}

    def household(community: models.Community, building: str, grid: models.Grid | None, key: str,
                  **kw: object) -> models.Household:
        bld = session.scalars(select(models.Building).where(models.Building.community_id == community.id,
                                                            models.Building.number == building)).first()
        if bld is None:
            bld = models.Building(community_id=community.id, grid_id=grid.id if grid else None, number=building)
            session.add(bld)
            session.flush()
        flat = models.Flat(building_id=bld.id, unit=1, floor=1, room=f"{len(flats) + 101}")
        session.add(flat)
        session.flush()
        flats[key] = flat
        hh = models.Household(flat_id=flat.id, **kw)
        session.add(hh)
        return hh

    P = _person
    h1 = household(a, "1", g1, "h1", verified_at=dt.date(2024, 3, 10))
    P(h1, dt.date(1940, 5, 1), phone="13800000001", n=counter)
    h2 = household(a, "1", g1, "h2", verified_at=dt.date(2024, 4, 5))
    P(h2, dt.date(1950, 1, 1), phone="13800000002", political="01", n=counter)
    P(h2, dt.date(1952, 1, 1), n=counter)
    h3 = household(a, "1", g1, "h3")
    P(h3, dt.date(1980, 1, 1), id_status=schema.ID_EXCEL_FLOAT, n=counter)
    P(h3, dt.date(1982, 1, 1), n=counter)
    P(h3, dt.date(2010, 1, 1), n=counter)
    h4 = household(a, "1", g1, "h4", verified_at=AS_OF)
    P(h4, dt.date(1955, 1, 1), n=counter)
    P(h4, dt.date(1985, 1, 1), political="02", phone2="0519-88880000", n=counter)
    h5 = household(a, "1", g1, "h5")
    P(h5, dt.date(1990, 1, 1), phone="13800000005", id_status=schema.ID_BAD_CHECKSUM, n=counter)
    h6 = household(a, "2", g2, "h6")
    P(h6, dt.date(1964, 3, 31), phone="13800000006", n=counter)
    h7 = household(a, "2", g2, "h7")
    P(h7, dt.date(1930, 1, 1), phone="13800000007", n=counter)
    P(h7, dt.date(1990, 1, 1), phone="13800000077", id_status=schema.ID_BAD_CHECKSUM, active=False, n=counter)
    h8 = household(a, "2", g2, "h8", active=False)
    P(h8, dt.date(1940, 1, 1), phone="13800000008", n=counter)
    household(a, "3", None, "h9")
    h10 = household(a, "2", g2, "h10")
    for year in (1990, 1991, 1992, 1993):
        P(h10, dt.date(year, 1, 1), phone="13800000010", n=counter)
    for k in range(3):
        alone = household(b, "1", None, f"b_alone{k}")
        P(alone, dt.date(1940 + k, 1, 1), phone="13900000000", n=counter)
        couple = household(b, "1", None, f"b_couple{k}")
        P(couple, dt.date(1985, 1, 1), phone="13900000001", n=counter)
        P(couple, dt.date(1986, 1, 1), phone="13900000002", n=counter)
        small = household(c, "1", None, f"c{k}")
        P(small, dt.date(1970, 1, 1), phone="13700000000", n=counter)
    session.flush()
    h10_member = session.scalars(select(models.Person).where(models.Person.household_id == h10.id)).first()

    F = models.Finding
    session.add_all([
        F(community_id=a.id, category=schema.F_ABSENT_REGISTERED, flat_id=flats["h1"].id, household_id=h1.id,
          status=schema.FINDING_OPEN, created_at=utc(3, 1)),
        F(community_id=a.id, category=schema.F_ABSENT_REGISTERED, flat_id=flats["h3"].id, household_id=h3.id,
          status=schema.FINDING_CLOSED, created_at=utc(3, 1), closed_at=utc(3, 20)),
        F(community_id=a.id, category=schema.F_TENANT_CHANGED, flat_id=flats["h2"].id,
          status=schema.FINDING_CLOSED, created_at=utc(3, 1), closed_at=utc(4, 2)),
        F(community_id=a.id, category=schema.F_MISSING_PHONE, household_id=h3.id, status=schema.FINDING_OPEN,
          created_at=utc(4, 10), run_as_of=dt.date(2024, 4, 10)),
        F(community_id=a.id, category=schema.F_CONFIRM_ELDERLY, flat_id=flats["h6"].id, household_id=h6.id,
          status=schema.FINDING_OPEN, created_at=utc(5, 1), run_as_of=dt.date(2024, 3, 15)),
        F(community_id=a.id, category=schema.F_OWNER_CHANGED, flat_id=flats["h4"].id,
          status=schema.FINDING_PENDING_APPROVAL, created_at=utc(3, 1)),
        # placed only through its person (grid level: 二网格)
        F(community_id=a.id, category=schema.F_TENANT_CHANGED, person_id=h10_member.id, status=schema.FINDING_OPEN,
          created_at=utc(3, 5)),
    ])

    E = models.Event

    def event(key: str, flat: str, reported: dt.datetime, state: str, closed: dt.datetime | None = None,
              rejected: dt.datetime | None = None) -> None:
        e = E(community_id=a.id, flat_id=flats[flat].id, category=schema.EC_REPAIR, description=key, state=state,
              reported_at=reported, closed_at=closed)
        session.add(e)
        session.flush()
        session.add(models.EventTransition(event_id=e.id, to_state=schema.E_REPORTED, at=reported))
        if rejected:
            session.add(models.EventTransition(event_id=e.id, from_state=schema.E_REPORTED,
                                               to_state=schema.E_REJECTED, at=rejected))

    event("e1", "h1", utc(3, 1, 10), schema.E_CLOSED, closed=utc(3, 4, 10))
    event("e2", "h2", utc(3, 10, 0), schema.E_CLOSED, closed=utc(3, 11, 12))
    event("e3", "h3", utc(3, 20), schema.E_CLOSED, closed=utc(4, 5))
    event("e4", "h4", utc(3, 25), schema.E_REJECTED, rejected=utc(3, 26))
    event("e5", "h5", utc(3, 28), schema.E_REJECTED, rejected=utc(4, 2))
    event("e6", "h6", utc(4, 1, 0), schema.E_REPORTED)
    event("e7", "h7", utc(3, 15), schema.E_ON_HOLD)
    event("e8", "h10", utc(2, 1), schema.E_CLOSED, closed=utc(2, 3))
    event("e9", "h10", utc(3, 30, 10), schema.E_CLOSED, closed=utc(3, 31, 17))

    V = models.Visit
    for at, by, flat in ((utc(3, 10), "w1", "h1"), (utc(3, 12), "w1", "h2"), (utc(3, 20), "w2", "h6"),
                         (utc(3, 31, 15, 59), "w2", "h7"), (utc(3, 31, 16, 30), "w3", "h1"),
                         (utc(2, 20), "w3", "h1")):
        session.add(V(flat_id=flats[flat].id, at=at, by=by, method=schema.M_PHONE, result=schema.R_CONFIRMED))

    I, Q = models.ImportBatch, models.QuarantineRow

    def batch(kind: str, created: dt.datetime) -> models.ImportBatch:
        bt = I(community_id=a.id, kind=kind, file_name=f"{kind}.xlsx", file_hash=f"{kind}{created}",
               created_at=created)
        session.add(bt)
        session.flush()
        return bt

    first, later = batch(schema.K_REGISTER, utc(2, 1)), batch(schema.K_REGISTER, utc(4, 15))
    checkpoint = batch(schema.K_CHECKPOINT, utc(3, 1))
    rows = [(first, schema.PHONE, "warning", False), (first, schema.BIRTH_DATE, "warning", False),
            (first, schema.BUILDING, "quarantined", False), (first, schema.ID_NUMBER, "warning", False),
            (first, None, "skipped", False), (first, schema.PHONE, "warning", True),
            (checkpoint, schema.PHONE, "warning", False),
            *((later, schema.PHONE, "warning", False) for _ in range(10))]
    for k, (bt, column, kind, resolved) in enumerate(rows):
        session.add(Q(batch_id=bt.id, file_name=bt.file_name, sheet="一网格", row=k + 3, column=column,
                      reason="test", kind=kind, resolved=resolved))
    session.flush()
    return {"street": street.id, "a": a.id, "b": b.id, "c": c.id}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def street(request, tmp_path_factory):
    """(engine, ids) of a store holding 测试街道 (committed), on SQLite and on PostgreSQL; built once per module
    (the tests only read it, but for the CLI's audit rows)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('compare') / 'store.db'}"
    else:
        url = pgcluster.create_database(request.getfixturevalue("pg_base_url"), f"gridmap_compare_{os.getpid()}")
    engine = store.open_store(url)
    with store.session_scope(engine) as s:
        ids = build_street(s)
    yield engine, ids
    engine.dispose()


EXPECTED_A = {
    "households": 9, "persons": 15, "verified_share": 2 / 9,
    "open_findings": 4 / 9 * 100, "findings_absent_registered": 1 / 9 * 100,
    "findings_tenant_changed": 2 / 9 * 100, "findings_confirm_elderly": 1 / 9 * 100,
    "findings_owner_changed": 0, "findings_missing_phone": 0,
    "elderly_share": 6 / 15, "elderly_only": 4, "elderly_only_share": 4 / 9, "living_alone": 3,
    "living_alone_share": 3 / 6, "party_families": 2, "party_family_share": 2 / 9,
    "open_issues": 4, "median_days_to_close": 2.25, "visits_per_worker_week": 0.5, "contact_share": 7 / 9,
    "data_problems": 6 / 9 * 100,
}


def test_indicator_table_is_complete_and_ordered():
    assert compare.INDICATOR_KEYS[:3] == ("households", "persons", "verified_share")
    assert len(set(compare.INDICATOR_KEYS)) == len(compare.INDICATORS)
    for key, zh, en, unit, better in compare.INDICATORS:
        assert zh and en and unit in compare.UNITS and better in (True, False, None)
        assert key in compare.DEFINITIONS
    assert all(compare.finding_key(c) in compare.BY_KEY for c in schema.FINDING_LABELS)


def test_known_answers_without_suppression(street):
    engine, ids = street
    with Session(engine) as s:
        df = compare.community_indicators(s, ids["street"], as_of=AS_OF, suppress_below=0)
    assert list(df.index) == ["丙社区", "乙社区", "甲社区"] and list(df.columns) == list(compare.INDICATOR_KEYS)
    got = df.loc["甲社区"]
    for key, want in EXPECTED_A.items():
        assert got[key] == pytest.approx(want), key
    b = df.loc["乙社区"]
    assert (b["households"], b["persons"], b["living_alone"], b["living_alone_share"]) == (6, 9, 3, 1.0)
    assert (b["elderly_only_share"], b["party_families"], b["contact_share"]) == (0.5, 0, 1.0)
    assert b["open_issues"] == 0 and b["visits_per_worker_week"] == 0.0 and math.isnan(b["median_days_to_close"])
    assert df.attrs["suppressed"] == [] and df.attrs["as_of"] == "2024-03-31" and df.attrs["synthetic"] is False


def test_small_counts_are_suppressed(street):
    engine, ids = street
    with Session(engine) as s:
        df = compare.community_indicators(s, ids["street"], as_of=AS_OF)
    hidden = {tuple(p) for p in df.attrs["suppressed"]}
    b = df.loc["乙社区"]
    # three elderly living alone: the count and every share built on it are withheld
    for key in ("living_alone", "living_alone_share", "elderly_only", "elderly_only_share", "elderly_share"):
        assert pd.isna(b[key]) and ("乙社区", key) in hidden, key
    # six households, nine persons, nobody in the party, everybody reachable: shown
    assert (b["households"], b["persons"], b["party_families"], b["contact_share"]) == (6, 9, 0, 1.0)
    # a community of three households shows nothing at all
    assert df.loc["丙社区"].isna().all()
    a = df.loc["甲社区"]
    assert a["households"] == 9 and a["persons"] == 15
    for key in ("verified_share", "living_alone", "open_issues", "party_families", "median_days_to_close",
                "visits_per_worker_week", "findings_absent_registered"):
        assert pd.isna(a[key]), key        # built on 1..4 households, findings, events or visits
    assert a["elderly_share"] == pytest.approx(0.4) and a["data_problems"] == pytest.approx(6 / 9 * 100)
    assert a["findings_owner_changed"] == 0        # zero singles nobody out
    with Session(engine) as s:
        loose = compare.community_indicators(s, ids["street"], as_of=AS_OF, suppress_below=3)
    assert loose.loc["乙社区", "living_alone"] == 3 and pd.isna(loose.loc["甲社区", "verified_share"])


def test_a_lone_withheld_category_takes_another_with_it():
    def counts(**by_category: float) -> compare.Counts:
        c = compare._new_counts(1)
        c["households"][:] = 500
        for category, n in by_category.items():
            c[compare.finding_key(category)][:] = n
        c["open_findings"][:] = sum(by_category.values())
        return c

    def withheld(c: compare.Counts) -> set[str]:
        _, mask = compare._indicators_from_counts(c, suppress_below=5, window_days=28)
        return {k for k, m in zip(compare.INDICATOR_KEYS, mask[0]) if m}

    # 3 + 20 + 40 = 63: showing 20, 40 and 63 would give away the 3
    assert withheld(counts(id_at_two_flats=3, tenant_changed=20, confirm_elderly=40)) == {
        "findings_id_at_two_flats", "findings_tenant_changed"}
    # nothing else to hide: the total goes
    assert withheld(counts(id_at_two_flats=3)) == {"findings_id_at_two_flats", "open_findings"}
    # two withheld already hide each other
    assert withheld(counts(id_at_two_flats=3, new_member=2, tenant_changed=20)) == {
        "findings_id_at_two_flats", "findings_new_member"}


def test_as_of_uses_the_timestamps(street):
    engine, ids = street
    with Session(engine) as s:
        before = compare.community_indicators(s, ids["street"], as_of=dt.date(2024, 3, 9), suppress_below=0)
        on = compare.community_indicators(s, ids["street"], as_of=AS_OF, suppress_below=0)
        after = compare.community_indicators(s, ids["street"], as_of=dt.date(2024, 4, 30), suppress_below=0)
    a0, a1, a2 = before.loc["甲社区"], on.loc["甲社区"], after.loc["甲社区"]
    # h2, verified on 04-05, is unverified on 03-31
    assert (a0["verified_share"], a1["verified_share"], a2["verified_share"]) == pytest.approx((0, 2 / 9, 3 / 9))
    # the 03-20 closure and the 04-02 closure; the finding created on 04-10
    assert a0["findings_absent_registered"] == pytest.approx(200 / 9)
    assert a2["open_findings"] == pytest.approx(4 / 9 * 100)      # absent, tenant (person), elderly, missing phone
    assert a2["findings_missing_phone"] == pytest.approx(100 / 9)
    # events: on 04-30 e6 and e7 are open (e3, e9 closed, e5 rejected)
    assert a2["open_issues"] == 2
    # the register batch of 04-15 replaces the first one: 10 warnings + 1 checkpoint + 2 bad IDs
    assert a2["data_problems"] == pytest.approx(13 / 9 * 100)
    # ages are taken on the day: h6's member turns 60 on 03-31
    assert a0["elderly_share"] == pytest.approx(5 / 15) and a1["elderly_share"] == pytest.approx(6 / 15)
    assert a0["living_alone"] == 2


def test_grid_indicators(street):
    engine, ids = street
    with Session(engine) as s:
        grids = compare.grid_indicators(s, ids["a"], as_of=AS_OF, suppress_below=0)
        hidden = compare.grid_indicators(s, ids["a"], as_of=AS_OF)
    assert list(grids.index) == ["一网格", "二网格", compare.NO_GRID_LABEL]
    assert grids["households"].tolist() == [5, 3, 1] and grids["persons"].tolist() == [9, 6, 0]
    one, two = grids.loc["一网格"], grids.loc["二网格"]
    assert one["findings_tenant_changed"] == pytest.approx(20)
    assert two["findings_tenant_changed"] == pytest.approx(100 / 3)          # placed through its person
    assert two["findings_confirm_elderly"] == pytest.approx(100 / 3) and two["living_alone"] == 2
    assert one["data_problems"] == 40.0          # the bad IDs of h3 and h5 (h7's is a moved-away member's)
    assert two["visits_per_worker_week"] == pytest.approx(2 / 1 / 4)   # w2's two visits
    assert grids.attrs["level"] == "grid" and grids.attrs["community"] == "甲社区"
    assert hidden.loc["二网格"].isna().all() and hidden.loc["一网格", "households"] == 5


def test_median_and_rank():
    df = pd.DataFrame({"households": [100.0, 300.0, 200.0, np.nan], "verified_share": [0.5, 0.2, 0.9, 0.1],
                       "open_findings": [10.0, 30.0, 20.0, 5.0]}, index=pd.Index(list("ABCD"), name="community"))
    df.attrs = {"level": "community", "suppressed": [["D", "households"]]}
    out = compare.with_median_and_rank(df)
    assert list(out.index) == ["A", "B", "C", "D", "街道中位数"]
    assert out.loc["街道中位数", "households"] == 200 and out.loc["街道中位数", "open_findings"] == 15
    assert out["verified_share_rank"].tolist()[:4] == [2, 3, 1, 4]             # higher is better
    assert out["open_findings_rank"].tolist()[:4] == [2, 4, 3, 1]              # lower is better
    assert pd.isna(out.loc["D", "households_rank"]) and out.loc["B", "households_rank"] == 1
    assert pd.isna(out.loc["街道中位数", "verified_share_rank"])
    assert list(compare.with_median_and_rank(df, ranks=False).columns) == list(df.columns)


def test_compare_periods(street):
    engine, ids = street
    with Session(engine) as s:
        df = compare.compare_periods(s, ids["street"], dt.date(2024, 4, 30), AS_OF, suppress_below=0)
        hidden = compare.compare_periods(s, ids["street"], dt.date(2024, 4, 30), AS_OF)
    a = df.loc["甲社区"]
    assert (a["verified_share"], a["verified_share_prev"], a["verified_share_change"]) == pytest.approx(
        (3 / 9, 2 / 9, 1 / 9))
    assert (a["open_issues"], a["open_issues_prev"], a["open_issues_change"]) == (2, 4, -2)
    assert df.attrs["against"] == "2024-03-31" and df.attrs["as_of"] == "2024-04-30"
    assert pd.isna(hidden.loc["甲社区", "open_issues_change"])
    assert ["甲社区", "open_issues_change"] in hidden.attrs["suppressed"]


def test_a_city_is_its_streets_side_by_side(db_url):
    """Over several streets, or the whole store, the query groups by household rather than by street; the rows must
    be the streets' own rows, with repeated community names prefixed by their street."""
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        first = build_street(s)["street"]
        second = build_street(s, name="别的街道", code="320411098")["street"]
    with Session(engine) as s:
        for suppress_below in (0, 5):
            for as_of in (AS_OF, dt.date(2024, 4, 30)):
                streets = {name: compare.community_indicators(s, sid, as_of=as_of, suppress_below=suppress_below)
                           for name, sid in (("别的街道", second), (STREET, first))}
                want = pd.concat([df.rename(index=lambda c, n=name: f"{n}/{c}") for name, df in streets.items()])
                want_hidden = sorted([f"{name}/{r}", k] for name, df in streets.items()
                                     for r, k in df.attrs["suppressed"])
                for got in (compare.community_indicators(s, None, as_of=as_of, suppress_below=suppress_below),
                            compare.community_indicators(s, [first, second], as_of=as_of,
                                                         suppress_below=suppress_below)):
                    assert list(got.index) == list(want.index)
                    pd.testing.assert_frame_equal(got, want, check_exact=True, check_names=False)
                    assert sorted(got.attrs["suppressed"]) == want_hidden
                    assert got.attrs["street"] == "别的街道、测试街道"
    engine.dispose()


def test_arguments_are_checked(street):
    engine, ids = street
    with Session(engine) as s:
        with pytest.raises(NotFoundError, match="street_id"):
            compare.community_indicators(s, 999)
        with pytest.raises(InputError, match="suppress_below"):
            compare.community_indicators(s, ids["street"], suppress_below=-1)
        with pytest.raises(NotFoundError, match=STREET):
            compare.street_by_name(s, "没有这个街道")


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    compare.add_cli(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


EXPECTED_HEADER = [
    "社区", "户数", "人口", "已核实户占比（%）", "待核实问题（每百户）", "户在人不在（每百户）", "人在户不在（每百户）",
    "租户变更（每百户）", "户主变更（每百户）", "新增成员（每百户）", "一证多户（每百户）", "身份证号被Excel损坏（每百户）",
    "身份证号无效（每百户）", "出生日期与身份证不符（每百户）", "缺少联系电话（每百户）", "匹配不唯一（每百户）",
    "核实党员家庭（每百户）", "核实60岁以上老人（每百户）", "60岁以上人口占比（%）", "纯老户数", "纯老户占比（%）",
    "独居老人数", "独居老人占60岁以上老人比例（%）", "党员家庭数", "党员家庭占比（%）", "未结事件", "事件办结天数中位数",
    "人均每周核实走访", "有联系电话户占比（%）", "数据质量问题（每百户）"]


def test_cli_writes_csv_and_xlsx(street, tmp_path, monkeypatch, capsys):
    engine, ids = street
    monkeypatch.setenv("GRIDMAP_DB", str(engine.url))
    out_csv = tmp_path / "compare.csv"
    assert _run_cli(["compare", "--street", STREET, "--as-of", "2024-03-31", "--out", str(out_csv), "--by", "t"]) == 0
    with out_csv.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == EXPECTED_HEADER
    assert [r[0] for r in rows[1:]] == ["丙社区", "乙社区", "甲社区", "街道中位数"]
    a = dict(zip(rows[0], rows[3]))
    assert (a["户数"], a["人口"], a["已核实户占比（%）"], a["独居老人数"], a["60岁以上人口占比（%）"]) == (
        "9", "15", "<5", "<5", "40.0")
    assert dict(zip(rows[0], rows[1]))["户数"] == "<5"
    assert "测试街道" in capsys.readouterr().out

    out_xlsx = tmp_path / "compare.xlsx"
    assert _run_cli(["compare", "--street", STREET, "--as-of", "2024-03-31", "--against", "2024-03-09",
                     "--out", str(out_xlsx)]) == 0
    ws = openpyxl.load_workbook(out_xlsx)["社区对比"]
    assert "截至 2024-03-31" in ws["A1"].value and schema.SYNTHETIC_LABEL not in ws["A1"].value
    header = [c.value for c in ws[2]]
    assert header[:4] == ["社区", "户数（2024-03-31）", "户数（2024-03-09）", "户数 变化"]
    assert [ws.cell(row=r, column=1).value for r in range(3, ws.max_row + 1)] == [
        "丙社区", "乙社区", "甲社区", "街道中位数"]
    assert ws.cell(row=5, column=2).value == 9 and ws.cell(row=3, column=2).value == "<5"
    share = header.index("60岁以上人口占比（2024-03-31）") + 1
    assert ws.cell(row=5, column=share).number_format == "0.0%"
    assert ws.cell(row=ws.max_row, column=1).font.bold
    with Session(engine) as s:
        exports = s.scalars(select(models.AuditLog.detail).where(models.AuditLog.action == schema.A_EXPORT,
                                                                  models.AuditLog.username == "t")).all()
    assert len(exports) == 1 and '"file": "compare.csv"' in exports[0]


def test_cli_refuses_bad_output_and_unknown_street(street, tmp_path, monkeypatch):
    engine, _ = street
    monkeypatch.setenv("GRIDMAP_DB", str(engine.url))
    with pytest.raises(InputError, match=r"\.xlsx or \.csv"):
        _run_cli(["compare", "--street", STREET, "--out", str(tmp_path / "x.pdf")])
    with pytest.raises(NotFoundError, match="测试街道"):
        _run_cli(["compare", "--street", "别的街道", "--out", str(tmp_path / "x.csv")])
    with pytest.raises(SystemExit):
        _run_cli(["compare", "--street", STREET, "--as-of", "31.3.2024", "--out", str(tmp_path / "x.csv")])


def test_synthetic_street_is_marked(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    with store.session_scope(engine) as s:
        ids = build_street(s, synthetic=True)
        df = compare.with_median_and_rank(compare.community_indicators(s, ids["street"], as_of=AS_OF))
    assert df.attrs["synthetic"] is True
    path = compare.write_compare_xlsx(df, tmp_path / "demo.xlsx", synthetic=True)
    book = openpyxl.load_workbook(path)
    assert book["社区对比"]["A1"].value.endswith(f"（{schema.SYNTHETIC_LABEL}）")
    assert any(schema.SYNTHETIC_LABEL in str(r[0].value) for r in book["说明"].iter_rows())
    csv_path = compare.write_compare_csv(df, tmp_path / "demo.csv", synthetic=True)
    assert csv_path.read_text(encoding="utf-8-sig").startswith(f"社区（{schema.SYNTHETIC_LABEL}）,户数,")
    engine.dispose()


def test_lanxiang_figures_are_plausible(lanxiang_store):
    url, manifest, _ = lanxiang_store
    engine = store.make_engine(url)
    as_of = dt.date.fromisoformat(manifest.get("as_of", "2020-03-25"))
    with Session(engine) as s:
        street_id = s.scalar(select(models.Street.id).where(models.Street.name == "河海街道"))
        df = compare.community_indicators(s, street_id, as_of=as_of)
        grids = compare.grid_indicators(s, s.scalar(select(models.Community.id)), as_of=as_of)
        earlier = compare.community_indicators(s, street_id, as_of=as_of - dt.timedelta(days=14))
    engine.dispose()
    r = df.loc["兰翔社区"]
    assert df.attrs["synthetic"] is True and r["households"] == 2567
    assert 2.2 <= r["persons"] / r["households"] <= 2.8
    assert 0.30 <= r["elderly_share"] <= 0.40                  # DOMAIN: 32–38% of residents
    assert 0.20 <= r["elderly_only_share"] <= 0.45
    assert 0.08 <= r["living_alone_share"] <= 0.16             # 10–14% of the 60+
    assert 0.15 <= r["party_family_share"] <= 0.30             # 20–25% of households
    assert 0.85 <= r["contact_share"] <= 1.0
    assert 0 < r["verified_share"] < 1 and earlier.loc["兰翔社区", "verified_share"] < r["verified_share"]
    assert 0 < r["data_problems"] < 60
    assert r["visits_per_worker_week"] > 0 and 0 < r["median_days_to_close"] < 30
    assert grids["households"].sum() == 2567 and len(grids) == 8
    assert grids["persons"].sum() == r["persons"]
