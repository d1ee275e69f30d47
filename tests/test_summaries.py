"""Kept-ahead comparison counts (geodata.summaries): the triggers of migration 0004 catch every counted change, on
both backends, so a kept summary is never used after what it counted has changed; and keeping them never changes
an answer, never keeps what a transaction may still roll back, and never waits for a busy store."""
from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from geodata import compare, models, schema, store, summaries
from tests.test_compare import AS_OF, build_street

P, H, F, B = models.Person, models.Household, models.Flat, models.Building


def _indicators(engine, street_id: int) -> pd.DataFrame:
    with Session(engine) as s:
        return compare.community_indicators(s, street_id, as_of=AS_OF, suppress_below=0)


def _fresh(engine, street_id: int) -> pd.DataFrame:
    """The indicators computed from the store alone: every kept summary thrown away first."""
    with store.session_scope(engine) as s:
        s.execute(delete(models.CompareSummary))
    return _indicators(engine, street_id)


def _versions(engine) -> dict[int, int]:
    with Session(engine) as s:
        return dict(s.execute(select(models.CompareVersion.community_id, models.CompareVersion.version)).all())


def _kept(engine) -> dict[int, int]:
    with Session(engine) as s:
        return dict(s.execute(select(models.CompareSummary.community_id, models.CompareSummary.version)).all())


def _first(s: Session, query) -> object:     # noqa: ANN001 - a select
    return s.scalars(query.limit(1)).first()


def _person_of(s: Session, ids: dict[str, int], community: str, **where: object):  # noqa: ANN202
    query = (select(P).join(H, H.id == P.household_id).join(F, F.id == H.flat_id).join(B, B.id == F.building_id)
             .where(B.community_id == ids[community], P.active.is_(True)).order_by(P.id))
    for key, value in where.items():
        query = query.where(getattr(P, key) == value)
    return _first(s, query)


def _household_of(s: Session, ids: dict[str, int], community: str, **where: object):  # noqa: ANN202
    query = (select(H).join(F, F.id == H.flat_id).join(B, B.id == F.building_id)
             .where(B.community_id == ids[community], H.active.is_(True)).order_by(H.id))
    for key, value in where.items():
        query = query.where(getattr(H, key) == value)
    return _first(s, query)


# Each: (what it does, the communities whose counts it changes, the change as a function of (session, ids)).
Change = tuple[str, tuple[str, ...], Callable[[Session, dict[str, int]], None]]


def _new_person(s: Session, ids: dict[str, int]) -> None:
    hh = _household_of(s, ids, "c")
    s.add(P(household_id=hh.id, name="新居民", id_status=schema.ID_OK, birth_date=dt.date(1950, 1, 1)))


def _move_flat(s: Session, ids: dict[str, int]) -> None:
    flat = s.get(F, _household_of(s, ids, "a").flat_id)
    flat.building_id = _first(s, select(B.id).where(B.community_id == ids["b"]))


def _move_building(s: Session, ids: dict[str, int]) -> None:
    building = s.get(B, s.get(F, _household_of(s, ids, "c").flat_id).building_id)
    building.community_id, building.number = ids["b"], "99"


def _new_household(s: Session, ids: dict[str, int]) -> None:
    building = _first(s, select(B.id).where(B.community_id == ids["b"]))
    flat = F(building_id=building, unit=9, floor=9, room="909")
    s.add(flat)
    s.flush()
    s.add(H(flat_id=flat.id, head_name="新户"))


def _close_finding(s: Session, ids: dict[str, int]) -> None:
    finding = _first(s, select(models.Finding).where(models.Finding.community_id == ids["a"],
                                                     models.Finding.status == schema.FINDING_OPEN))
    finding.status, finding.closed_at = schema.FINDING_CLOSED, dt.datetime(2024, 3, 30)


def _new_finding(s: Session, ids: dict[str, int]) -> None:
    s.add(models.Finding(community_id=ids["b"], category=schema.F_MISSING_PHONE, status=schema.FINDING_OPEN,
                         created_at=dt.datetime(2024, 3, 2)))


def _recategorise(s: Session, ids: dict[str, int]) -> None:
    finding = _first(s, select(models.Finding).where(models.Finding.community_id == ids["a"],
                                                     models.Finding.category == schema.F_TENANT_CHANGED,
                                                     models.Finding.status == schema.FINDING_OPEN))
    finding.category = schema.F_OWNER_CHANGED


def _new_visit(s: Session, ids: dict[str, int]) -> None:
    flat = _household_of(s, ids, "a").flat_id
    s.add(models.Visit(flat_id=flat, at=dt.datetime(2024, 3, 29, 3), by="w8", method=schema.M_DOOR,
                       result=schema.R_CONFIRMED))


def _visit_by_another(s: Session, ids: dict[str, int]) -> None:
    visit = _first(s, select(models.Visit).where(models.Visit.by == "w8"))      # the one recorded above
    visit.by = "w2"


def _visit_earlier(s: Session, ids: dict[str, int]) -> None:
    visit = _first(s, select(models.Visit).where(models.Visit.by == "w2"))
    visit.at = dt.datetime(2024, 1, 5)


def _bulk_persons(s: Session, ids: dict[str, int]) -> None:
    hh = _household_of(s, ids, "b")
    store.bulk_insert(s, P.__table__, [{"household_id": hh.id, "name": f"导入{k}", "id_status": schema.ID_OK,
                                        "birth_date": dt.date(1940, 1, k + 1), "active": True} for k in range(3)])


def _raw_sql(s: Session, ids: dict[str, int]) -> None:
    hh = _household_of(s, ids, "b")
    s.execute(text("UPDATE household SET verified_at = :d WHERE id = :id"), {"d": dt.date(2024, 3, 1), "id": hh.id})


CHANGES: list[Change] = [
    ("verify a household", ("a",), lambda s, ids: setattr(_household_of(s, ids, "a", verified_at=None),
                                                           "verified_at", dt.date(2024, 3, 20))),
    ("a household moves away", ("a",), lambda s, ids: setattr(_household_of(s, ids, "a"), "active", False)),
    ("a birth date corrected", ("a",), lambda s, ids: setattr(_person_of(s, ids, "a", birth_date=dt.date(1980, 1, 1)),
                                                              "birth_date", dt.date(1950, 1, 1))),
    ("a member moves away", ("b",), lambda s, ids: setattr(_person_of(s, ids, "b"), "active", False)),
    ("a party member recorded", ("c",), lambda s, ids: setattr(_person_of(s, ids, "c"), "political_status", "01")),
    ("a phone removed", ("c",), lambda s, ids: setattr(_person_of(s, ids, "c"), "phone", None)),
    ("a second phone added", ("a",), lambda s, ids: setattr(_person_of(s, ids, "a", birth_date=dt.date(1982, 1, 1)), "phone2",
                                                           "110")),
    ("an ID fixed", ("a",), lambda s, ids: setattr(_person_of(s, ids, "a", id_status=schema.ID_EXCEL_FLOAT),
                                                   "id_status", schema.ID_OK)),
    ("a person moves to another community", ("b", "c"),
     lambda s, ids: setattr(_person_of(s, ids, "b"), "household_id", _household_of(s, ids, "c").id)),
    ("a person added", ("c",), _new_person),
    ("a person deleted", ("c",), lambda s, ids: s.delete(_person_of(s, ids, "c"))),
    ("a household added", ("b",), _new_household),
    ("a flat moved to another building", ("a", "b"), _move_flat),
    ("a building moved to another community", ("b", "c"), _move_building),
    ("a finding closed", ("a",), _close_finding),
    ("a finding added", ("b",), _new_finding),
    ("a finding's category changed", ("a",), _recategorise),
    ("a visit recorded", ("a",), _new_visit),
    ("a visit's worker corrected", ("a",), _visit_by_another),
    ("a visit's time corrected", ("a",), _visit_earlier),
    ("persons imported in bulk (COPY on PostgreSQL)", ("b",), _bulk_persons),
    ("a hand-written SQL update", ("b",), _raw_sql),
]


@pytest.fixture
def world(db_url):
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        ids = build_street(s)
    yield engine, ids
    engine.dispose()


def test_every_counted_change_is_caught(world):
    """After each change the kept summaries give what the store alone gives — and that differs from before, so a
    missing trigger would show."""
    engine, ids = world
    names = {v: k for k, v in ids.items()}
    before = _indicators(engine, ids["street"])
    assert set(_kept(engine)) == {ids["a"], ids["b"], ids["c"]}
    for what, communities, change in CHANGES:
        versions = _versions(engine)
        with store.session_scope(engine) as s:
            change(s, ids)
        bumped = {names[c] for c, v in _versions(engine).items() if v != versions[c]}
        assert bumped == set(communities), what
        kept = _indicators(engine, ids["street"])      # bumped communities computed again, the others kept
        fresh = _fresh(engine, ids["street"])
        pd.testing.assert_frame_equal(kept, fresh, check_exact=True, obj=what)
        assert not kept.equals(before), f"{what}: the test change should change a figure"
        before = kept


def test_uncounted_changes_keep_the_summaries(world):
    engine, ids = world
    _indicators(engine, ids["street"])
    versions, kept = _versions(engine), _kept(engine)
    with store.session_scope(engine) as s:
        person = _person_of(s, ids, "a")
        person.name, person.note = "改名", "备注"
        _household_of(s, ids, "a").head_name = "改名"
        s.get(B, s.get(F, _household_of(s, ids, "a").flat_id).building_id).label = "新楼名"
        s.add(F(building_id=_first(s, select(B.id).where(B.community_id == ids["c"])), unit=1, floor=1, room="999"))
        s.add(models.Community(street_id=ids["street"], name="新社区"))
    after = _versions(engine)
    assert {c: after[c] for c in versions} == versions and len(after) == len(versions) + 1
    assert _kept(engine) == kept


def test_uncommitted_changes_are_counted_but_never_kept(world):
    engine, ids = world
    before = _indicators(engine, ids["street"])
    kept = _kept(engine)
    with Session(engine) as s:
        for person in s.scalars(select(P).where(P.name.like("居民%"))):
            person.political_status = "01"
        s.flush()
        during = compare.community_indicators(s, ids["street"], as_of=AS_OF, suppress_below=0)
        assert (during["party_families"] > before["party_families"]).all()
        assert _kept(engine) == kept                   # nothing computed from the open transaction was kept
        s.rollback()
    pd.testing.assert_frame_equal(_indicators(engine, ids["street"]), before, check_exact=True)


def test_a_summary_of_another_format_is_computed_again(world, monkeypatch):
    engine, ids = world
    before = _indicators(engine, ids["street"])
    with store.session_scope(engine) as s:        # a wrong summary, as an older version of the code might have kept
        s.execute(update(models.CompareSummary).values(data=summaries.AreaCounts.empty().encode()))
    monkeypatch.setattr(summaries, "FORMAT", summaries.FORMAT + 1)
    pd.testing.assert_frame_equal(_indicators(engine, ids["street"]), before, check_exact=True)
    with Session(engine) as s:
        assert set(s.scalars(select(models.CompareSummary.format))) == {summaries.FORMAT}


def test_a_busy_store_is_answered_without_waiting(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = store.open_store(url)
    with store.session_scope(engine) as s:
        ids = build_street(s)
    fresh = _indicators(engine, ids["street"])
    with store.session_scope(engine) as s:
        s.execute(delete(models.CompareSummary))
    writer = sqlite3.connect(tmp_path / "store.db")
    writer.execute("BEGIN IMMEDIATE")                 # an import holding the write lock
    try:
        t = time.monotonic()
        got = _indicators(engine, ids["street"])
        waited = time.monotonic() - t
    finally:
        writer.rollback()
        writer.close()
    pd.testing.assert_frame_equal(got, fresh, check_exact=True)
    assert waited < store.SQLITE_BUSY_MS / 1000 / 2, "it waited for the writer"
    assert _kept(engine) == {}
    engine.dispose()


def test_summaries_round_trip():
    rng = np.random.default_rng(1)
    sections = [rng.integers(-30000, 30000, (n, w)) for n, w in ((3, 2), (0, 1), (7, 1), (1, 1), (9, 4), (2, 3))]
    sections[2] = np.sort(sections[2], axis=0)
    counts = summaries.AreaCounts(np.array([5, 12, 1, 4, 0]), *sections)
    back = summaries.AreaCounts.decode(counts.encode())
    for field in ("totals", "verified", "births", "elderly_only", "alone", "findings", "visits"):
        assert np.array_equal(getattr(back, field), getattr(counts, field)), field
    empty = summaries.AreaCounts.decode(summaries.AreaCounts.empty().encode())
    assert empty.findings.shape == (0, 4) and empty.totals.tolist() == [0, 0, 0, 0, 0]


def test_an_upgraded_store_has_a_version_for_each_community(db_url):
    engine = store.make_engine(db_url)
    store.migrate(engine, "0003")
    with store.session_scope(engine) as s:
        build_street(s)
    store.migrate(engine)
    with Session(engine) as s:
        assert (s.scalar(select(func.count()).select_from(models.CompareVersion))
                == s.scalar(select(func.count()).select_from(models.Community)) == 3)
    engine.dispose()


def test_a_time_just_before_midnight_counts_for_its_own_day(world):
    """23:59:59.999999 China time is still the day (SQLite's strftime would round it into the next one)."""
    engine, ids = world
    with store.session_scope(engine) as s:
        flat = _household_of(s, ids, "c").flat_id
        last = dt.datetime(2024, 3, 31, 15, 59, 59, 999999)           # UTC
        s.add(models.Visit(flat_id=flat, at=last, by="w5", method=schema.M_DOOR, result=schema.R_CONFIRMED))
        s.add(models.Finding(community_id=ids["c"], category=schema.F_MISSING_PHONE, status=schema.FINDING_CLOSED,
                             created_at=dt.datetime(2024, 3, 1), closed_at=last))
    with Session(engine) as s:
        day = compare.community_indicators(s, ids["street"], as_of=AS_OF, suppress_below=0).loc["丙社区"]
        next_day = compare.community_indicators(s, ids["street"], as_of=AS_OF + dt.timedelta(days=1),
                                                suppress_below=0).loc["丙社区"]
    assert day["visits_per_worker_week"] == pytest.approx(1 / 4) and day["open_findings"] == 0
    assert next_day["visits_per_worker_week"] == pytest.approx(1 / 4) and next_day["open_findings"] == 0
    with Session(engine) as s:
        before = compare.community_indicators(s, ids["street"], as_of=AS_OF - dt.timedelta(days=1),
                                              suppress_below=0).loc["丙社区"]
    assert before["open_findings"] == pytest.approx(100 / 3)      # closed on the 31st: open on the 30th


def test_warm_computes_what_is_not_kept(world):
    engine, ids = world
    assert summaries.warm(engine) == 3 and set(_kept(engine)) == {ids["a"], ids["b"], ids["c"]}
    assert summaries.warm(engine) == 0
    with store.session_scope(engine) as s:
        _household_of(s, ids, "b").verified_at = dt.date(2024, 3, 30)
    assert summaries.warm(engine) == 1
    assert _kept(engine)[ids["b"]] == _versions(engine)[ids["b"]]


def _plain_counts(s: Session, community_id: int, as_of: dt.date, window_days: int) -> dict[str, float]:
    """The household, finding and visit counts of one community, by the definitions in geodata.compare's
    docstring, counted in plain Python over the ORM objects: the oracle the kept summaries must agree with."""
    from geodata import indicators
    cutoff, end = indicators.elderly_cutoff(as_of), compare.day_end_utc(as_of)
    out = dict.fromkeys(("households", "persons", "verified", "elderly_persons", "elderly_only", "living_alone",
                         "party", "contact", "bad_ids", "open_findings", "visits"), 0.0)
    households = s.scalars(select(H).join(F, F.id == H.flat_id).join(B, B.id == F.building_id)
                           .where(B.community_id == community_id, H.active.is_(True))).all()
    for hh in households:
        members = [p for p in hh.persons if p.active]
        old = [p for p in members if p.birth_date is not None and p.birth_date <= cutoff]
        out["households"] += 1
        out["persons"] += len(members)
        out["verified"] += hh.verified_at is not None and hh.verified_at <= as_of
        out["elderly_persons"] += len(old)
        out["elderly_only"] += bool(members) and len(old) == len(members)
        out["living_alone"] += len(members) == 1 and len(old) == 1
        out["party"] += any(p.political_status in schema.PARTY_CODES for p in members)
        out["contact"] += any(p.phone or p.phone2 for p in members)
        out["bad_ids"] += sum(p.id_status in schema.BAD_ID_STATUSES for p in members)
    for c in schema.FINDING_CATEGORIES:
        out[compare.finding_key(c)] = 0.0
    for f in s.scalars(select(models.Finding).where(models.Finding.community_id == community_id)):
        found = f.created_at < end or (f.run_as_of is not None and f.run_as_of <= as_of)
        still_open = f.status == schema.FINDING_OPEN or (f.status == schema.FINDING_CLOSED
                                                         and f.closed_at is not None and f.closed_at >= end)
        if found and still_open:
            out["open_findings"] += 1
            if f.category in schema.FINDING_CATEGORIES:
                out[compare.finding_key(f.category)] += 1
    visits = s.scalars(select(models.Visit).join(F, F.id == models.Visit.flat_id).join(B, B.id == F.building_id)
                       .where(B.community_id == community_id)).all()
    inside = [v for v in visits if end - dt.timedelta(days=window_days) <= v.at < end]
    out["visits"], out["workers"] = float(len(inside)), float(len({v.by for v in inside}))
    return out


def test_kept_counts_agree_with_a_plain_count_on_the_demo_community(lanxiang_store):
    """兰翔社区 as the demo loads it (real import path): on the days around its data's edges and before, during and
    long after its verification round, with two windows, the counts from kept summaries equal a plain count of
    the ORM objects."""
    url, manifest, _ = lanxiang_store
    engine = store.make_engine(url)
    as_of = dt.date.fromisoformat(manifest.get("as_of", "2020-03-25"))
    with Session(engine) as s:
        community_id = s.scalar(select(models.Community.id).where(models.Community.name == "兰翔社区"))
        # Days around the data's own edges: the day findings were found, a finding's closing day, a household's
        # verification day, the first and last day a visit is inside a 7-day window; and days before, during and
        # long after the round.
        from geodata import indicators
        closing = []        # closing days of findings that were open for a while before
        for f in s.scalars(select(models.Finding).where(models.Finding.community_id == community_id,
                                                        models.Finding.status == schema.FINDING_CLOSED)):
            found = min(indicators.local_time(f.created_at).date(), f.run_as_of or dt.date.max)
            if f.closed_at is not None and indicators.local_time(f.closed_at).date() > found:
                closing.append(indicators.local_time(f.closed_at).date())
        verified = s.scalar(select(func.max(H.verified_at)))
        visit = indicators.local_time(s.scalar(select(func.max(models.Visit.at)))).date()
        found = s.scalar(select(func.min(models.Finding.run_as_of)).where(models.Finding.community_id == community_id))
        # (the demo's history closes findings before the cross-check's reference day: then `closing` is empty)
        edges = [*closing[:1], *closing[-1:], found, verified, visit, visit + dt.timedelta(days=6)]
        days = sorted({*(e + dt.timedelta(days=d) for e in edges for d in (-1, 0, 1)),
                       *(as_of + dt.timedelta(days=d) for d in (-60, -14, 0, 400))})
        seen = dict.fromkeys(("verified", "visits", "workers", "elderly_only", "open_findings"), 0.0)
        for day in days:
            for window in (28, 7):
                _ids, counts = compare._counts(s, compare.LEVEL_COMMUNITY, [community_id], community_id=None,
                                               street_filter=True, as_of=day, window_days=window)
                want = _plain_counts(s, community_id, day, window)
                got = {k: float(counts[k][0]) for k in want}
                assert got == want, (day, window, {k: (got[k], want[k]) for k in want if got[k] != want[k]})
                seen = {k: max(v, want[k]) for k, v in seen.items()}
        assert all(seen.values()), seen         # the oracle counted something of each kind
    engine.dispose()
