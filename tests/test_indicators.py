"""Indicators over a small factory community, checked against plain-Python counts of the factory's spec."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
import shapely
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from geodata import indicators, models, schema, store
from tests import factories

AS_OF = factories.AS_OF


@pytest.fixture
def built_store(tmp_path):
    engine, built = factories.make_store(tmp_path / "store.db")
    yield engine, built
    engine.dispose()


@pytest.fixture
def session(built_store):
    with Session(built_store[0]) as s:
        yield s


def _oracle(specs, as_of=AS_OF):
    """Per building: households, verified, elderly_60, elderly_only, living_alone, party_families."""
    cutoff = indicators.elderly_cutoff(as_of)
    out = {}
    for spec in specs:
        row = out.setdefault(spec.building, dict.fromkeys(
            ("households", "verified", "elderly_60", "elderly_only", "living_alone", "party_families"), 0))
        old = [m.birth <= cutoff for m in spec.members]
        row["households"] += 1
        row["verified"] += spec.verified
        row["elderly_60"] += any(old)
        row["elderly_only"] += all(old)
        row["living_alone"] += len(old) == 1 and old[0]
        row["party_families"] += any(m.political in schema.PARTY_CODES for m in spec.members)
    return out


def test_elderly_cutoff_handles_leap_day():
    assert indicators.elderly_cutoff(dt.date(2024, 3, 1)) == dt.date(1964, 3, 1)
    assert indicators.elderly_cutoff(dt.date(2024, 2, 29)) == dt.date(1964, 2, 29)
    assert indicators.elderly_cutoff(dt.date(2021, 2, 28), age=61) == dt.date(1960, 2, 28)
    assert indicators.elderly_cutoff(dt.date(2028, 2, 29), age=61) == dt.date(1967, 2, 28)


@pytest.mark.parametrize("counts, expected", [
    ((10, 10, 0), schema.V_VERIFIED), ((10, 3, 0), schema.V_IN_PROGRESS), ((10, 0, 0), schema.V_NOT_STARTED),
    # open mismatches do not hide progress (they are the map's second channel) ...
    ((10, 0, 5), schema.V_NOT_STARTED), ((10, 3, 5), schema.V_IN_PROGRESS),
    # ... until verification is complete: then they are what remains
    ((10, 10, 1), schema.V_OPEN_FINDINGS), ((0, 0, 0), schema.V_NOT_STARTED),
    ((0, 0, 1), schema.V_OPEN_FINDINGS)])     # an empty flat with 人在户不在: nothing to verify, a mismatch open
def test_status_of(counts, expected):
    assert indicators.status_of(*counts) == expected
    vectorised = indicators._statuses(*(pd.Series([c]) for c in counts))
    assert vectorised.tolist() == [expected]


def test_building_status_matches_the_spec(session, built_store):
    _, built = built_store
    frame = indicators.building_status(session, built.community_id, as_of=AS_OF)
    assert tuple(frame.columns) == indicators.BUILDING_STATUS_COLUMNS
    assert len(frame) == 4
    oracle = _oracle(built.households)
    for row in frame.to_dict("records"):
        expected = oracle[row["number"]]
        assert {k: row[k] for k in expected} == expected, row["number"]
    by_number = frame.set_index("number")
    # building 3 has an open mismatch but nobody verified yet: its fill says "not started"
    assert by_number["status"].to_dict() == {"1": schema.V_VERIFIED, "2": schema.V_IN_PROGRESS,
                                             "3": schema.V_NOT_STARTED, "4": schema.V_NOT_STARTED}
    assert by_number["open_findings"].to_dict() == {"1": 0, "2": 0, "3": 1, "4": 0}   # the closed one is not open
    assert by_number["open_mismatches"].to_dict() == {"1": 0, "2": 0, "3": 1, "4": 0}
    assert by_number["open_events"].to_dict() == {"1": 0, "2": 0, "3": 0, "4": 1}     # the closed event is not open
    assert by_number.loc["1", "grid_id"] == built.grid_ids[0] and by_number.loc["3", "grid_id"] == built.grid_ids[1]


def test_building_status_as_of_moves_ages_and_verification(session, built_store):
    _, built = built_store
    early = indicators.building_status(session, built.community_id, as_of=dt.date(1990, 1, 1))
    assert early["elderly_60"].sum() == 0          # the oldest residents were born in 1944
    assert early["verified"].sum() == 0            # verified in 2024
    late = indicators.building_status(session, built.community_id, as_of=dt.date(2045, 1, 1))
    assert late["elderly_60"].sum() > indicators.building_status(session, built.community_id,
                                                                 as_of=AS_OF)["elderly_60"].sum()


def test_inactive_people_and_households_do_not_count(session, built_store):
    _, built = built_store
    before = indicators.building_status(session, built.community_id, as_of=AS_OF).set_index("number")
    living_alone_flat = next(s for s in built.households if s.building == "2" and len(s.members) == 1
                             and s.members[0].birth.year < 1950)
    hh = session.get(models.Household, built.household_ids[(living_alone_flat.building, living_alone_flat.unit,
                                                            living_alone_flat.room)])
    hh.persons[0].active = False
    other = session.get(models.Household, built.household_ids[("4", 1, "102")])
    other.active = False
    session.flush()
    after = indicators.building_status(session, built.community_id, as_of=AS_OF).set_index("number")
    assert after.loc["2", "living_alone"] == before.loc["2", "living_alone"] - 1
    assert after.loc["2", "households"] == before.loc["2", "households"]   # the household stays, without persons
    assert after.loc["4", "households"] == before.loc["4", "households"] - 1


def test_findings_reach_their_flat_through_household_or_person(session, built_store):
    _, built = built_store
    person = session.scalars(select(models.Person).where(
        models.Person.household_id == built.household_ids[("4", 1, "202")])).first()
    session.add_all([
        models.Finding(community_id=built.community_id, category=schema.F_ID_INVALID, person_id=person.id),
        models.Finding(community_id=built.community_id, category=schema.F_CONFIRM_PARTY,
                       household_id=built.household_ids[("4", 2, "101")]),
    ])
    session.flush()
    frame = indicators.building_status(session, built.community_id, as_of=AS_OF).set_index("number")
    assert frame.loc["4", "open_findings"] == 2
    assert frame.loc["4", "open_mismatches"] == 1             # the ID problem; the party confirmation is routine
    assert frame.loc["4", "status"] == schema.V_NOT_STARTED
    flats = indicators.flat_table(session, built.building_ids["4"], as_of=AS_OF).set_index("room")
    assert flats.loc["202"].query("unit == 1")["mismatch"].item()
    assert not flats.loc["202"].query("unit == 1")["finding"].item()
    assert flats.loc["101"].query("unit == 2")["finding"].item()
    assert not flats.loc["101"].query("unit == 2")["mismatch"].item()


def test_confirmations_never_turn_a_building_red_but_mismatches_after_verification_do(session, built_store):
    _, built = built_store
    verified_hh = built.household_ids[("1", 1, "102")]
    session.add(models.Finding(community_id=built.community_id, category=schema.F_CONFIRM_ELDERLY,
                               household_id=verified_hh))
    session.flush()
    frame = indicators.building_status(session, built.community_id, as_of=AS_OF).set_index("number")
    assert frame.loc["1", "open_findings"] == 1 and frame.loc["1", "open_mismatches"] == 0
    assert frame.loc["1", "status"] == schema.V_VERIFIED
    # a tenant change found after every household was verified: complete, but a mismatch remains
    session.add(models.Finding(community_id=built.community_id, category=schema.F_TENANT_CHANGED,
                               flat_id=built.flat_ids[("1", 2, "301")]))
    session.flush()
    frame = indicators.building_status(session, built.community_id, as_of=AS_OF).set_index("number")
    assert frame.loc["1", "open_mismatches"] == 1
    assert frame.loc["1", "status"] == schema.V_OPEN_FINDINGS
    flats = indicators.flat_table(session, built.building_ids["1"], as_of=AS_OF)
    assert flats.set_index(["unit", "room"]).loc[(2, "301"), "status"] == schema.V_OPEN_FINDINGS
    assert set(indicators.MISMATCH_FINDINGS) == set(schema.FLAT_FINDINGS) | set(schema.PERSON_FINDINGS)
    assert not set(indicators.MISMATCH_FINDINGS) & set(schema.HOUSEHOLD_FINDINGS)


def test_findings_by_category(session, built_store):
    _, built = built_store
    session.add_all([models.Finding(community_id=built.community_id, category=schema.F_CONFIRM_PARTY,
                                    household_id=built.household_ids[k])
                     for k in (("3", 2, "102"), ("3", 2, "201"), ("4", 1, "202"))])
    session.flush()
    frame = indicators.findings_by_category(session, built.community_id)
    got = {(r.building_id, r.category): r.n for r in frame.itertuples()}
    assert got == {(built.building_ids["3"], schema.F_ABSENT_REGISTERED): 1,
                   (built.building_ids["3"], schema.F_CONFIRM_PARTY): 2,
                   (built.building_ids["4"], schema.F_CONFIRM_PARTY): 1}


def test_community_coverage(session, built_store):
    _, built = built_store
    frame = indicators.community_coverage(session, built.street_id, as_of=AS_OF)
    assert tuple(frame.columns) == indicators.COMMUNITY_COVERAGE_COLUMNS
    rows = frame.set_index("name")
    n_households = len(built.households)
    n_verified = sum(s.verified for s in built.households)
    assert rows.loc["兰翔社区", "households"] == n_households and rows.loc["兰翔社区", "verified"] == n_verified
    assert rows.loc["兰翔社区", "share"] == pytest.approx(n_verified / n_households)
    assert rows.loc["兰翔社区", "buildings"] == 4
    assert rows.loc["兰翔社区", "open_mismatches"] == 1 and rows.loc["兰翔社区", "open_events"] == 1
    assert rows.loc["白云社区", "households"] == 1 and rows.loc["白云社区", "share"] == 0


def test_building_status_uses_few_queries(session, built_store):
    _, built = built_store
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        indicators.building_status(session, built.community_id, as_of=AS_OF)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert len(statements) <= 5


def test_grid_coverage(session, built_store):
    _, built = built_store
    session.add(models.Grid(community_id=built.community_id, code="32041100300703", name="第三网格", seq=3,
                            geom_wkb=store.to_wkb(shapely.box(0, 0, 1, 1))))
    session.flush()
    frame = indicators.grid_coverage(session, built.community_id, as_of=AS_OF)
    assert tuple(frame.columns) == indicators.GRID_COVERAGE_COLUMNS
    assert frame["name"].tolist() == ["第一网格", "第二网格", "第三网格"]
    oracle = _oracle(built.households)
    first = frame.iloc[0]
    assert first["households"] == oracle["1"]["households"] + oracle["2"]["households"]
    assert first["verified"] == oracle["1"]["verified"] + oracle["2"]["verified"]
    assert first["share"] == pytest.approx(first["verified"] / first["households"])
    assert frame.iloc[1]["share"] == 0
    assert frame.iloc[2]["households"] == 0 and math.isnan(frame.iloc[2]["share"])


def test_flat_table_is_the_building_register(session, built_store):
    _, built = built_store
    table = indicators.flat_table(session, built.building_ids["3"], as_of=AS_OF)
    assert tuple(table.columns) == indicators.FLAT_TABLE_COLUMNS
    assert len(table) == 6 * 3 * 2
    specs = {(s.unit, s.room): s for s in built.households if s.building == "3"}
    for row in table.to_dict("records"):
        spec = specs.get((row["unit"], row["room"]))
        assert row["vacant"] == (spec is None)
        if spec is None:
            assert row["persons"] == 0 and row["head_name"] is None and pd.isna(row["household_id"])
            continue
        assert row["head_name"] == spec.members[0].name and row["persons"] == len(spec.members)
        alone = len(spec.members) == 1 and spec.members[0].birth.year < 1960
        assert row["living_alone"] == alone
        assert (indicators.B_LIVING_ALONE in row["badges"]) == alone
        assert row["party"] == any(m.political in schema.PARTY_CODES for m in spec.members)
    finding = table[(table["unit"] == 1) & (table["room"] == "101")].iloc[0]
    assert finding["status"] == schema.V_NOT_STARTED and finding["badges"] == (indicators.B_MISMATCH,)
    issue = indicators.flat_table(session, built.building_ids["4"], as_of=AS_OF)
    assert issue[(issue["unit"] == 2) & (issue["room"] == "502")]["open_issue"].item()
    assert issue["open_issue"].sum() == 1


def test_community_summary(session, built_store):
    _, built = built_store
    rows = indicators.community_summary(session)
    assert [r["name"] for r in rows] == ["兰翔社区", "白云社区"]
    assert all(tuple(r) == indicators.SUMMARY_KEYS for r in rows)
    lanxiang = rows[0]
    n_households = len(built.households)
    n_verified = sum(s.verified for s in built.households)
    assert lanxiang == {
        "name": "兰翔社区", "street": "河海街道", "grids": 2, "buildings": 4, "flats": 96, "households": n_households,
        "persons": sum(len(s.members) for s in built.households),
        "verified_share": round(n_verified / n_households, 3),
        "findings": {schema.F_ABSENT_REGISTERED: 1}, "open_issues": 1}
    assert rows[1]["households"] == 1 and rows[1]["verified_share"] == 0.0 and rows[1]["findings"] == {}


def test_community_summary_as_of_counts_what_was_open_then(session, built_store):
    _, built = built_store
    finding = session.scalars(select(models.Finding).where(models.Finding.status == schema.FINDING_OPEN)).one()
    finding.created_at = dt.datetime(2024, 2, 1)
    finding.status, finding.closed_at = schema.FINDING_CLOSED, dt.datetime(2024, 3, 10)
    session.flush()
    assert indicators.community_summary(session)[0]["findings"] == {}
    then = indicators.community_summary(session, as_of=dt.date(2024, 3, 5))[0]
    assert then["findings"] == {schema.F_ABSENT_REGISTERED: 1}
    assert indicators.community_summary(session, as_of=dt.date(2024, 1, 1))[0]["verified_share"] == 0.0


def test_building_status_of_one_building_equals_its_row(session, built_store):
    _, built = built_store
    whole = indicators.building_status(session, built.community_id, as_of=AS_OF).set_index("building_id")
    for number in ("1", "3", "4"):
        bid = built.building_ids[number]
        one = indicators.building_status(session, built.community_id, as_of=AS_OF, building_id=bid)
        assert len(one) == 1
        assert one.set_index("building_id").loc[bid].to_dict() == whole.loc[bid].to_dict()


# --- the building page's fast path against the pandas implementation it replaced ---------------------

def _reference_flat_table(session, building_id, as_of):
    """`flat_table` as it was before `building_register` (community-style pandas over the shared helpers): the
    oracle the plain-Python version must match exactly."""
    flats = pd.DataFrame(
        session.execute(select(models.Flat.id, models.Flat.unit, models.Flat.floor, models.Flat.room)
                        .where(models.Flat.building_id == building_id)
                        .order_by(models.Flat.unit, models.Flat.floor, models.Flat.room)).all(),
        columns=["flat_id", "unit", "floor", "room"])
    households = indicators._household_frame(session, building_id=building_id, as_of=as_of).sort_values(
        "household_id")
    per_flat = (households.groupby("flat_id")
                .agg(household_id=("household_id", "first"), households=("household_id", "size"),
                     head_name=("head_name", "first"), persons=("persons", "sum"), verified=("verified", "sum"),
                     elderly_only=("elderly_only", "any"), living_alone=("living_alone", "any"),
                     party=("party", "any")))
    findings = indicators._open_findings_per_flat(session, building_id=building_id).set_index("flat_id")
    events = indicators._open_events(session, building_id=building_id, per="flat").set_index("key")["n"]
    frame = flats.join(per_flat, on="flat_id")
    frame["household_id"] = frame["household_id"].astype("Int64")
    frame[["households", "persons", "verified"]] = (frame[["households", "persons", "verified"]]
                                                    .fillna(0).astype(int))
    for flag in (indicators.B_ELDERLY_ONLY, indicators.B_LIVING_ALONE, indicators.B_PARTY):
        frame[flag] = frame[flag].astype("boolean").fillna(False).astype(bool)
    n_findings = frame["flat_id"].map(findings["n"]).fillna(0).astype(int)
    n_mismatches = frame["flat_id"].map(findings["mismatches"]).fillna(0).astype(int)
    frame[indicators.B_FINDING] = (n_findings > 0) & (n_mismatches == 0)
    frame[indicators.B_MISMATCH] = n_mismatches > 0
    frame[indicators.B_OPEN_ISSUE] = frame["flat_id"].map(events).fillna(0).astype(int) > 0
    frame["vacant"] = frame["households"] == 0
    frame["head_name"] = frame["head_name"].astype(object).where(frame["head_name"].notna(), None)
    frame["status"] = indicators._statuses(frame["households"], frame["verified"], n_mismatches)
    frame["badges"] = [tuple(b for b in indicators.BADGES if row[b])
                       for _, row in frame[list(indicators.BADGES)].iterrows()]
    return frame[list(indicators.FLAT_TABLE_COLUMNS)].reset_index(drop=True)


def _awkward_data(session, built):
    """Every path a finding or an event can take to a flat, plus the cases the plain-Python version could get wrong:
    findings reaching a flat through a person or a checkpoint registration only, a finding whose own flat is in
    another building than its household, one filed under the other community, a building-level event, an event of
    one building at another building's flat, a flat with two households (the first without a name), inactive rows
    and verification on the reference day itself."""
    ids, flats, hhs = built.building_ids, built.flat_ids, built.household_ids
    person = session.scalars(select(models.Person).where(models.Person.household_id == hhs[("3", 2, "201")])).first()
    registration = models.CheckpointRegistration(community_id=built.community_id, name="赵六", id_status=schema.ID_OK,
                                                 flat_id=flats[("4", 1, "301")], role=schema.CP_TENANT)
    session.add(registration)
    session.flush()
    session.get(models.Household, hhs[("2", 1, "201")]).head_name = None
    shared = models.Household(flat_id=flats[("2", 1, "201")], head_name="租客甲", residence_status=schema.RES_RENTED)
    session.add(shared)
    session.flush()
    session.add(models.Person(household_id=shared.id, name="租客甲", relation=schema.HEAD_RELATION,
                              birth_date=dt.date(1950, 1, 1), id_status=schema.ID_OK, political_status="01"))
    session.get(models.Household, hhs[("2", 1, "202")]).verified_at = AS_OF
    session.get(models.Household, hhs[("2", 1, "301")]).verified_at = AS_OF + dt.timedelta(days=1)
    session.get(models.Household, hhs[("1", 2, "101")]).active = False
    f = models.Finding
    session.add_all([
        f(community_id=built.community_id, category=schema.F_ID_INVALID, person_id=person.id),
        f(community_id=built.community_id, category=schema.F_PRESENT_UNREGISTERED, checkpoint_id=registration.id),
        f(community_id=built.community_id, category=schema.F_CONFIRM_PARTY, household_id=hhs[("3", 1, "201")],
          flat_id=flats[("4", 1, "102")]),
        f(community_id=built.other_community_id, category=schema.F_TENANT_CHANGED, flat_id=flats[("1", 1, "201")]),
        f(community_id=built.community_id, category=schema.F_CONFIRM_ELDERLY, household_id=hhs[("1", 1, "202")]),
        f(community_id=built.community_id, category=schema.F_ID_INVALID, flat_id=flats[("2", 2, "101")],
          status=schema.FINDING_CLOSED),
    ])
    e = models.Event
    session.add_all([
        e(community_id=built.community_id, building_id=ids["2"], category=schema.EC_SAFETY, description="楼道堆物",
          state=schema.E_REPORTED),
        e(community_id=built.community_id, building_id=ids["3"], flat_id=flats[("4", 1, "201")],
          category=schema.EC_DISPUTE, description="邻里纠纷", state=schema.E_REPORTED),
        e(community_id=built.community_id, flat_id=flats[("1", 2, "302")], category=schema.EC_REPAIR,
          description="门锁坏了", state=schema.E_REPORTED),
        e(community_id=built.other_community_id, flat_id=flats[("3", 3, "601")], category=schema.EC_OTHER,
          description="其他", state=schema.E_REPORTED),
    ])
    session.flush()


@pytest.mark.parametrize("as_of", [AS_OF, dt.date(1990, 1, 1), dt.date(2045, 6, 30)])
def test_building_register_equals_the_pandas_version(session, built_store, as_of):
    _, built = built_store
    _awkward_data(session, built)
    for community_id in (built.community_id, built.other_community_id):
        whole = indicators.building_status(session, community_id, as_of=as_of)
        for expected in whole.to_dict("records"):
            building_id = expected["building_id"]
            status, rows = indicators.building_register(session, building_id, as_of=as_of)
            expected["grid_id"] = None if pd.isna(expected["grid_id"]) else expected["grid_id"]
            assert status == expected, building_id
            reference = _reference_flat_table(session, building_id, as_of)
            pd.testing.assert_frame_equal(indicators.flat_table(session, building_id, as_of=as_of), reference)
            assert [r["flat_id"] for r in rows] == reference["flat_id"].tolist()
    with pytest.raises(LookupError):
        indicators.building_register(session, 99999, as_of=as_of)


def test_building_register_uses_few_queries(session, built_store):
    _, built = built_store
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        indicators.building_register(session, built.building_ids["3"], as_of=AS_OF)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert len(statements) == 5
