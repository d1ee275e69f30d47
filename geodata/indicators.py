"""Indicators of the register: per building, per grid, per flat (楼盘表) and per community.

Pure functions over a Session, computed with a few aggregating SQL queries (the demo street has ~40k households and
~100k persons: no per-row ORM loops). Ages are taken from `Person.birth_date` as of a reference date (default today);
people without a birth date count as not elderly. Used by the map (layers, dashboard) and by
`python -m geodata summary`.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, select, union_all
from sqlalchemy.orm import Session, aliased, outerjoin

from geodata import models, schema
from geodata.errors import NotFoundError

#: Badges of a flat in the 楼盘表 (codes; their Chinese labels live in the dashboard's message catalog).
B_ELDERLY_ONLY: Final = "elderly_only"      # 纯老户: every active member is 60+
B_LIVING_ALONE: Final = "living_alone"      # 独居老人: one active person, 60+
B_PARTY: Final = "party"                    # 党员家庭
B_OPEN_ISSUE: Final = "open_issue"          # an open event (事件) at the flat
B_FINDING: Final = "finding"                # an open finding of any category (待核实, incl. confirmations)
B_MISMATCH: Final = "mismatch"              # an open mismatch finding (FLAT_FINDINGS, PERSON_FINDINGS: 有出入)
BADGES: Final = (B_LIVING_ALONE, B_ELDERLY_ONLY, B_PARTY, B_OPEN_ISSUE, B_MISMATCH, B_FINDING)
#: Findings that say the register and the checkpoint disagree (the red outline / count badge on the map).
#: HOUSEHOLD_FINDINGS are routine confirmations (elderly, party family) and never make a building "a problem".
MISMATCH_FINDINGS: Final = (*schema.FLAT_FINDINGS, *schema.PERSON_FINDINGS)

#: The product serves mainland China (one time zone): "today", verification dates and displayed times use it;
#: timestamps are stored as naive UTC (models.utcnow).
LOCAL_TZ: Final = zoneinfo.ZoneInfo("Asia/Shanghai")

BUILDING_STATUS_COLUMNS: Final = (
    "building_id", "number", "grid_id", "households", "verified", "open_findings", "open_mismatches", "elderly_60",
    "elderly_only", "living_alone", "party_families", "open_events", "status")
GRID_COVERAGE_COLUMNS: Final = ("grid_id", "code", "name", "households", "verified", "share")
FLAT_TABLE_COLUMNS: Final = (
    "flat_id", "unit", "floor", "room", "household_id", "households", "head_name", "persons", "vacant", "status",
    B_ELDERLY_ONLY, B_LIVING_ALONE, B_PARTY, B_OPEN_ISSUE, B_MISMATCH, B_FINDING, "badges")
SUMMARY_KEYS: Final = ("name", "street", "grids", "buildings", "flats", "households", "persons", "verified_share",
                       "findings", "open_issues")


def local_today() -> dt.date:
    """Today's date in China (the default reference date of every indicator)."""
    return dt.datetime.now(LOCAL_TZ).date()


def local_time(utc: dt.datetime) -> dt.datetime:
    """A stored naive-UTC timestamp as naive China local time (for display and for local dates)."""
    return utc.replace(tzinfo=dt.timezone.utc).astimezone(LOCAL_TZ).replace(tzinfo=None)


def elderly_cutoff(as_of: dt.date, age: int = schema.ELDERLY_AGE) -> dt.date:
    """Latest birth date of someone who is `age` or older on `as_of` (29 Feb falls back to 28 Feb)."""
    try:
        return as_of.replace(year=as_of.year - age)
    except ValueError:
        return as_of.replace(year=as_of.year - age, day=28)


def status_of(households: int, verified: int, open_mismatches: int) -> str:
    """Verification status (schema.V_*) of a building, grid or flat from its counts.

    The status is verification *progress*: nobody verified → V_NOT_STARTED, some → V_IN_PROGRESS, every household
    verified → V_VERIFIED, or V_OPEN_FINDINGS when verification is complete but mismatch findings
    (MISMATCH_FINDINGS) are still open. Open mismatches during verification are shown by a separate channel
    (the map's red outline and count badge), so they do not hide the progress.
    A place without households (an empty flat) is complete by definition: open mismatches there (人在户不在)
    make it V_OPEN_FINDINGS, otherwise it has not been started.
    """
    if verified >= households and (households > 0 or open_mismatches > 0):
        return schema.V_OPEN_FINDINGS if open_mismatches > 0 else schema.V_VERIFIED
    if verified > 0:
        return schema.V_IN_PROGRESS
    return schema.V_NOT_STARTED


def _statuses(households: pd.Series, verified: pd.Series, open_mismatches: pd.Series) -> pd.Series:
    """Vectorised `status_of`."""
    complete = (verified >= households) & ((households > 0) | (open_mismatches > 0))
    conditions = [complete & (open_mismatches > 0), complete, verified > 0]
    choices = [schema.V_OPEN_FINDINGS, schema.V_VERIFIED, schema.V_IN_PROGRESS]
    return pd.Series(np.select(conditions, choices, default=schema.V_NOT_STARTED), index=households.index,
                     dtype=object)


def _household_query(*, community_id: int | None = None, building_id: int | None = None, as_of: dt.date) -> Any:
    """One row per active household (of a community or a building): household_id, flat_id, building_id, head_name,
    verified_at, persons (active members), n60 (of them aged 60+ on `as_of`), n_party (of them party members)."""
    person = models.Person
    cutoff = elderly_cutoff(as_of)
    query = (
        select(models.Household.id.label("household_id"), models.Flat.id.label("flat_id"),
               models.Flat.building_id.label("building_id"), models.Household.head_name,
               models.Household.verified_at,
               func.count(person.id).label("persons"),
               func.coalesce(func.sum(case((person.birth_date <= cutoff, 1), else_=0)), 0).label("n60"),
               func.coalesce(func.sum(case((person.political_status.in_(schema.PARTY_CODES), 1), else_=0)), 0)
               .label("n_party"))
        .join(models.Flat, models.Flat.id == models.Household.flat_id)
        .outerjoin(person, and_(person.household_id == models.Household.id, person.active.is_(True)))
        .where(models.Household.active.is_(True))
        .group_by(models.Household.id, models.Flat.id, models.Flat.building_id, models.Household.head_name,
                  models.Household.verified_at))
    if building_id is not None:
        query = query.where(models.Flat.building_id == building_id)
    if community_id is not None:
        query = (query.join(models.Building, models.Building.id == models.Flat.building_id)
                 .where(models.Building.community_id == community_id))
    return query


def _household_frame(session: Session, *, community_id: int | None = None, building_id: int | None = None,
                     as_of: dt.date) -> pd.DataFrame:
    """One row per active household (of a community or a building) with its members' counts and flags."""
    query = _household_query(community_id=community_id, building_id=building_id, as_of=as_of)
    frame = pd.DataFrame(session.execute(query).all(),
                         columns=["household_id", "flat_id", "building_id", "head_name", "verified_at", "persons",
                                  "n60", "n_party"])
    for col in ("persons", "n60", "n_party"):
        frame[col] = frame[col].astype(int)
    verified_at = pd.to_datetime(frame["verified_at"])
    frame["verified"] = verified_at.notna() & (verified_at <= pd.Timestamp(as_of))
    frame["elderly_60"] = frame["n60"] > 0
    frame["elderly_only"] = (frame["persons"] > 0) & (frame["n60"] == frame["persons"])
    frame["living_alone"] = (frame["persons"] == 1) & (frame["n60"] == 1)
    frame["party"] = frame["n_party"] > 0
    return frame


def _finding_flat() -> tuple[Any, Any]:
    """The flat of a finding as (SQL expression, the FROM clause it needs): its own flat, else its household's, else
    its person's household's, else its checkpoint registration's (人在户不在 rows point at a flat only through the
    checkpoint)."""
    finding_hh = aliased(models.Household)
    finding_person = aliased(models.Person)
    person_hh = aliased(models.Household)
    checkpoint = aliased(models.CheckpointRegistration)
    source = (outerjoin(models.Finding, finding_hh, finding_hh.id == models.Finding.household_id)
              .outerjoin(finding_person, finding_person.id == models.Finding.person_id)
              .outerjoin(person_hh, person_hh.id == finding_person.household_id)
              .outerjoin(checkpoint, checkpoint.id == models.Finding.checkpoint_id))
    flat_id = func.coalesce(models.Finding.flat_id, finding_hh.flat_id, person_hh.flat_id, checkpoint.flat_id)
    return flat_id, source


def _open_findings_per_flat(session: Session, *, community_id: int | None = None,
                            building_id: int | None = None, by_category: bool = False) -> pd.DataFrame:
    """Open findings per flat (`_finding_flat`).

    Columns flat_id, building_id, n (all open findings), mismatches (those in MISMATCH_FINDINGS); with
    `by_category` one row per flat and category instead (flat_id, building_id, category, n).
    """
    flat_id, source = _finding_flat()
    keys = [models.Flat.id.label("flat_id"), models.Flat.building_id]
    if by_category:
        keys.append(models.Finding.category)
        counts = [func.count(models.Finding.id).label("n")]
    else:
        counts = [func.count(models.Finding.id).label("n"),
                  func.coalesce(func.sum(case((models.Finding.category.in_(MISMATCH_FINDINGS), 1), else_=0)), 0)
                  .label("mismatches")]
    query = (
        select(*keys, *counts)
        .select_from(source)
        .join(models.Flat, models.Flat.id == flat_id)
        .where(models.Finding.status == schema.FINDING_OPEN)
        .group_by(*keys))
    if community_id is not None:
        query = query.where(models.Finding.community_id == community_id)
    if building_id is not None:
        query = query.where(models.Flat.building_id == building_id)
    columns = ["flat_id", "building_id", "category", "n"] if by_category else ["flat_id", "building_id", "n",
                                                                               "mismatches"]
    frame = pd.DataFrame(session.execute(query).all(), columns=columns)
    for col in ("n", "mismatches"):
        if col in frame:
            frame[col] = frame[col].astype(int)
    return frame


def findings_by_category(session: Session, community_id: int) -> pd.DataFrame:
    """Open findings per building and category: columns building_id, category, n (only non-zero rows)."""
    frame = _open_findings_per_flat(session, community_id=community_id, by_category=True)
    return (frame.groupby(["building_id", "category"], as_index=False)["n"].sum()
            .sort_values(["building_id", "category"]).reset_index(drop=True))


def _open_events(session: Session, *, community_id: int | None = None, building_id: int | None = None,
                 per: str = "building") -> pd.DataFrame:
    """Open events (事件) per building (an event's building is its own, else its flat's) or per flat."""
    event_flat = aliased(models.Flat)
    building = func.coalesce(models.Event.building_id, event_flat.building_id)
    key = building if per == "building" else models.Event.flat_id
    query = (select(key.label("key"), func.count(models.Event.id).label("n"))
             .select_from(models.Event)
             .outerjoin(event_flat, event_flat.id == models.Event.flat_id)
             .where(models.Event.state.in_(schema.EVENT_OPEN_STATES), key.is_not(None))
             .group_by(key))
    if community_id is not None:
        query = query.where(models.Event.community_id == community_id)
    if building_id is not None:
        query = query.where(building == building_id)
    frame = pd.DataFrame(session.execute(query).all(), columns=["key", "n"])
    frame["n"] = frame["n"].astype(int)
    return frame


def building_status(session: Session, community_id: int, as_of: dt.date | None = None, *,
                    building_id: int | None = None) -> pd.DataFrame:
    """One row per building of the community with household counts, care flags and the verification status
    (only the row of `building_id` when given: the building page needs one, not the whole community)."""
    as_of = as_of or local_today()
    query = (select(models.Building.id, models.Building.number, models.Building.grid_id)
             .where(models.Building.community_id == community_id).order_by(models.Building.id))
    if building_id is not None:
        query = query.where(models.Building.id == building_id)
    buildings = pd.DataFrame(session.execute(query).all(), columns=["building_id", "number", "grid_id"])
    households = _household_frame(session, community_id=community_id, building_id=building_id, as_of=as_of)
    per_building = (households.groupby("building_id")
                    .agg(households=("household_id", "size"), verified=("verified", "sum"),
                         elderly_60=("elderly_60", "sum"), elderly_only=("elderly_only", "sum"),
                         living_alone=("living_alone", "sum"), party_families=("party", "sum")))
    findings = (_open_findings_per_flat(session, community_id=community_id, building_id=building_id)
                .groupby("building_id")[["n", "mismatches"]].sum())
    events = _open_events(session, community_id=community_id, building_id=building_id).set_index("key")["n"]
    frame = buildings.join(per_building, on="building_id")
    frame["open_findings"] = frame["building_id"].map(findings["n"])
    frame["open_mismatches"] = frame["building_id"].map(findings["mismatches"])
    frame["open_events"] = frame["building_id"].map(events)
    counts = ["households", "verified", "open_findings", "open_mismatches", "elderly_60", "elderly_only",
              "living_alone", "party_families", "open_events"]
    frame[counts] = frame[counts].fillna(0).astype(int)
    frame["grid_id"] = frame["grid_id"].astype("Int64")
    frame["status"] = _statuses(frame["households"], frame["verified"], frame["open_mismatches"])
    return frame[list(BUILDING_STATUS_COLUMNS)].reset_index(drop=True)


def grid_coverage(session: Session, community_id: int, as_of: dt.date | None = None) -> pd.DataFrame:
    """One row per grid of the community: active households, verified households and their share (0..1)."""
    as_of = as_of or local_today()
    grids = pd.DataFrame(
        session.execute(select(models.Grid.id, models.Grid.code, models.Grid.name)
                        .where(models.Grid.community_id == community_id)
                        .order_by(models.Grid.seq, models.Grid.code)).all(),
        columns=["grid_id", "code", "name"])
    verified = case((and_(models.Household.verified_at.is_not(None), models.Household.verified_at <= as_of), 1),
                    else_=0)
    counts = pd.DataFrame(
        session.execute(select(models.Building.grid_id, func.count(models.Household.id), func.sum(verified))
                        .join(models.Flat, models.Flat.building_id == models.Building.id)
                        .join(models.Household, models.Household.flat_id == models.Flat.id)
                        .where(models.Building.community_id == community_id, models.Household.active.is_(True),
                               models.Building.grid_id.is_not(None))
                        .group_by(models.Building.grid_id)).all(),
        columns=["grid_id", "households", "verified"]).set_index("grid_id")
    frame = grids.join(counts, on="grid_id")
    frame[["households", "verified"]] = frame[["households", "verified"]].fillna(0).astype(int)
    frame["share"] = np.where(frame["households"] > 0,
                              frame["verified"] / frame["households"].where(frame["households"] > 0, 1), np.nan)
    return frame[list(GRID_COVERAGE_COLUMNS)].reset_index(drop=True)


def _verified_on(verified_at: dt.date | dt.datetime | None, as_of: dt.date) -> bool:
    """Whether a household counts as verified on `as_of` (what `_household_frame` computes, for one value)."""
    if verified_at is None:
        return False
    if isinstance(verified_at, dt.datetime):
        return verified_at <= dt.datetime.combine(as_of, dt.time())
    return verified_at <= as_of


def _building_findings(building_id: int) -> Any:
    """Open findings whose flat (`_finding_flat`) may be in the building: flat_id, category, community_id.

    The candidates are found from the building's side first (its flats, their households, persons and checkpoint
    registrations), so the indexes on flat.building_id, household.flat_id, person.household_id and
    finding.flat_id / household_id do most of the work instead of the four-way join over every open finding of
    the store (finding.person_id and checkpoint_id have no index: those two links cost one plain scan of the
    finding table). The caller keeps the rows whose flat_id is one of the building's flats.
    """
    finding = models.Finding
    flats = select(models.Flat.id).where(models.Flat.building_id == building_id)
    households = select(models.Household.id).where(models.Household.flat_id.in_(flats))
    persons = select(models.Person.id).where(models.Person.household_id.in_(households))
    checkpoints = select(models.CheckpointRegistration.id).where(models.CheckpointRegistration.flat_id.in_(flats))
    candidates = union_all(
        select(finding.id).where(finding.flat_id.in_(flats)),
        select(finding.id).where(finding.household_id.in_(households)),
        # one scan serves both unindexed links
        select(finding.id).where(finding.person_id.in_(persons) | finding.checkpoint_id.in_(checkpoints)))
    flat_id, source = _finding_flat()
    return (select(flat_id.label("flat_id"), finding.category, finding.community_id)
            .select_from(source)
            .where(finding.status == schema.FINDING_OPEN, finding.id.in_(candidates)))


def building_register(session: Session, building_id: int, as_of: dt.date | None = None
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One building's status and its 楼盘表 in plain Python: (status, flats).

    `status` has the keys of BUILDING_STATUS_COLUMNS with the values of the building's row in `building_status`;
    `flats` has one dict per flat (unit, floor, room order) with the keys and values of `flat_table`'s rows
    (household_id None for an empty flat, badges a tuple). This is what the building page, its side panel and
    the flat page ask for on every click: five small queries that filter by the building first, and no pandas
    (for one building's few dozen flats, building frames costs more than the arithmetic).
    """
    as_of = as_of or local_today()
    building = session.execute(
        select(models.Building.id, models.Building.number, models.Building.grid_id, models.Building.community_id)
        .where(models.Building.id == building_id)).first()
    if building is None:
        raise NotFoundError(f"building {building_id} does not exist")
    community_id = building.community_id
    flat_rows = session.execute(
        select(models.Flat.id, models.Flat.unit, models.Flat.floor, models.Flat.room)
        .where(models.Flat.building_id == building_id)
        .order_by(models.Flat.unit, models.Flat.floor, models.Flat.room)).all()
    households = session.execute(_household_query(building_id=building_id, as_of=as_of)
                                 .order_by(models.Household.id)).all()
    findings = session.execute(_building_findings(building_id)).all()
    event_flat = aliased(models.Flat)
    events = session.execute(
        select(models.Event.flat_id, models.Event.community_id)
        .outerjoin(event_flat, event_flat.id == models.Event.flat_id)
        .where(models.Event.state.in_(schema.EVENT_OPEN_STATES),
               (models.Event.building_id == building_id)
               | models.Event.flat_id.in_(select(models.Flat.id).where(models.Flat.building_id == building_id)),
               func.coalesce(models.Event.building_id, event_flat.building_id) == building_id)).all()

    status = {"building_id": building.id, "number": building.number, "grid_id": building.grid_id,
              "households": len(households), "verified": 0, "open_findings": 0, "open_mismatches": 0,
              "elderly_60": 0, "elderly_only": 0, "living_alone": 0, "party_families": 0,
              "open_events": sum(1 for e in events if e.community_id == community_id)}
    flats = {r.id: {"flat_id": r.id, "unit": r.unit, "floor": r.floor, "room": r.room, "household_id": None,
                    "households": 0, "head_name": None, "persons": 0, "verified": 0, B_ELDERLY_ONLY: False,
                    B_LIVING_ALONE: False, B_PARTY: False, "findings": 0, "mismatches": 0, "events": 0}
             for r in flat_rows}
    for hh in households:   # household id order: the first one of a flat is its head household
        verified = _verified_on(hh.verified_at, as_of)
        persons, n60, n_party = int(hh.persons), int(hh.n60), int(hh.n_party)
        elderly_only = persons > 0 and n60 == persons
        living_alone = persons == 1 and n60 == 1
        status["verified"] += verified
        status["elderly_60"] += n60 > 0
        status["elderly_only"] += elderly_only
        status["living_alone"] += living_alone
        status["party_families"] += n_party > 0
        flat = flats[hh.flat_id]
        if flat["household_id"] is None:
            flat["household_id"] = hh.household_id
        if flat["head_name"] is None:    # the first known name (a household without one does not hide the next)
            flat["head_name"] = hh.head_name
        flat["households"] += 1
        flat["persons"] += persons
        flat["verified"] += verified
        flat[B_ELDERLY_ONLY] |= elderly_only
        flat[B_LIVING_ALONE] |= living_alone
        flat[B_PARTY] |= n_party > 0
    for f in findings:
        flat = flats.get(f.flat_id)
        if flat is None:
            continue
        mismatch = f.category in MISMATCH_FINDINGS
        flat["findings"] += 1
        flat["mismatches"] += mismatch
        if f.community_id == community_id:
            status["open_findings"] += 1
            status["open_mismatches"] += mismatch
    for e in events:
        if e.flat_id in flats:
            flats[e.flat_id]["events"] += 1
    status["status"] = status_of(status["households"], status["verified"], status["open_mismatches"])

    out = []
    for flat in flats.values():
        row = {k: flat[k] for k in ("flat_id", "unit", "floor", "room", "household_id", "households", "head_name",
                                    "persons")}
        row["vacant"] = flat["households"] == 0
        row["status"] = status_of(flat["households"], flat["verified"], flat["mismatches"])
        row[B_ELDERLY_ONLY] = flat[B_ELDERLY_ONLY]
        row[B_LIVING_ALONE] = flat[B_LIVING_ALONE]
        row[B_PARTY] = flat[B_PARTY]
        row[B_OPEN_ISSUE] = flat["events"] > 0
        row[B_MISMATCH] = flat["mismatches"] > 0
        row[B_FINDING] = flat["findings"] > 0 and flat["mismatches"] == 0   # the mismatch badge says more
        row["badges"] = tuple(b for b in BADGES if row[b])
        out.append({k: row[k] for k in FLAT_TABLE_COLUMNS})
    return {k: status[k] for k in BUILDING_STATUS_COLUMNS}, out


def flat_table(session: Session, building_id: int, as_of: dt.date | None = None) -> pd.DataFrame:
    """The 楼盘表 of a building: one row per flat with its (first active) household, status and badges.

    A flat with several active households (shared rentals) shows the first as head and sums the persons.
    `status` is a schema.V_* code; `vacant` is true when no active household lives there. (The rows of
    `building_register` as a frame.)
    """
    _, rows = building_register(session, building_id, as_of=as_of)
    frame = pd.DataFrame(rows, columns=list(FLAT_TABLE_COLUMNS))
    frame["household_id"] = frame["household_id"].astype("Int64")
    frame["head_name"] = frame["head_name"].astype(object).where(frame["head_name"].notna(), None)
    frame["status"] = frame["status"].astype(object)
    return frame


def _count_by(session: Session, key: Any, query: Any) -> dict[Any, int]:
    return {k: int(n or 0) for k, n in session.execute(query.add_columns(func.count()).group_by(key)).all()}


def community_summary(session: Session, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """One dict per community (street, then name order) with exactly the keys of SUMMARY_KEYS.

    Without `as_of` the current state is counted; with it, households verified on or before that day, and
    findings and events that were open at the end of that day (created before, not closed by then).
    """
    B, F, H, P = models.Building, models.Flat, models.Household, models.Person
    communities = session.execute(
        select(models.Community.id, models.Community.name, models.Street.name)
        .join(models.Street, models.Street.id == models.Community.street_id)
        .order_by(models.Street.name, models.Community.name, models.Community.id)).all()
    grids = _count_by(session, models.Grid.community_id, select(models.Grid.community_id))
    buildings = _count_by(session, B.community_id, select(B.community_id))
    flats = _count_by(session, B.community_id, select(B.community_id).join(F, F.building_id == B.id))
    households = _count_by(session, B.community_id, select(B.community_id).join(F, F.building_id == B.id)
                           .join(H, H.flat_id == F.id).where(H.active.is_(True)))
    verified_query = (select(B.community_id).join(F, F.building_id == B.id).join(H, H.flat_id == F.id)
                      .where(H.active.is_(True), H.verified_at.is_not(None)))
    if as_of is not None:
        verified_query = verified_query.where(H.verified_at <= as_of)
    verified = _count_by(session, B.community_id, verified_query)
    persons = _count_by(session, B.community_id, select(B.community_id).join(F, F.building_id == B.id)
                        .join(H, H.flat_id == F.id).join(P, P.household_id == H.id)
                        .where(H.active.is_(True), P.active.is_(True)))

    finding_query = select(models.Finding.community_id, models.Finding.category, func.count())
    event_query = select(models.Event.community_id, func.count())
    if as_of is None:
        finding_query = finding_query.where(models.Finding.status == schema.FINDING_OPEN)
        event_query = event_query.where(models.Event.state.in_(schema.EVENT_OPEN_STATES))
    else:
        end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
        finding_query = finding_query.where(
            models.Finding.created_at < end, models.Finding.status != schema.FINDING_PENDING_APPROVAL,
            (models.Finding.status == schema.FINDING_OPEN) | (models.Finding.closed_at >= end))
        event_query = event_query.where(
            models.Event.reported_at < end, models.Event.state != schema.E_REJECTED,
            models.Event.state.in_(schema.EVENT_OPEN_STATES) | (models.Event.closed_at >= end))
    findings: dict[int, dict[str, int]] = {}
    for cid, category, n in session.execute(
            finding_query.group_by(models.Finding.community_id, models.Finding.category)).all():
        findings.setdefault(cid, {})[category] = int(n)
    events = {cid: int(n) for cid, n in session.execute(event_query.group_by(models.Event.community_id)).all()}

    out = []
    for cid, name, street in communities:
        n_households = households.get(cid, 0)
        share = round(verified.get(cid, 0) / n_households, 3) if n_households else 0.0
        out.append({"name": name, "street": street, "grids": grids.get(cid, 0), "buildings": buildings.get(cid, 0),
                    "flats": flats.get(cid, 0), "households": n_households, "persons": persons.get(cid, 0),
                    "verified_share": share, "findings": dict(sorted(findings.get(cid, {}).items())),
                    "open_issues": events.get(cid, 0)})
    return out


COMMUNITY_COVERAGE_COLUMNS: Final = ("community_id", "name", "code", "buildings", "households", "verified", "share",
                                     "open_mismatches", "open_events")


def community_coverage(session: Session, street_id: int, as_of: dt.date | None = None) -> pd.DataFrame:
    """One row per community of a street: buildings, active households, verified households, their share (0..1),
    open mismatch findings (MISMATCH_FINDINGS) and open events. Aggregates only (the street view)."""
    as_of = as_of or local_today()
    B, F, H = models.Building, models.Flat, models.Household
    communities = pd.DataFrame(
        session.execute(select(models.Community.id, models.Community.name, models.Community.code)
                        .where(models.Community.street_id == street_id)
                        .order_by(models.Community.code, models.Community.id)).all(),
        columns=["community_id", "name", "code"])
    ids = communities["community_id"].tolist()
    verified = case((and_(H.verified_at.is_not(None), H.verified_at <= as_of), 1), else_=0)
    households = dict.fromkeys(ids, (0, 0))
    for cid, n, v in session.execute(select(B.community_id, func.count(H.id), func.sum(verified))
                                     .join(F, F.building_id == B.id).join(H, H.flat_id == F.id)
                                     .where(B.community_id.in_(ids), H.active.is_(True))
                                     .group_by(B.community_id)).all():
        households[cid] = (int(n or 0), int(v or 0))
    buildings = _count_by(session, B.community_id, select(B.community_id).where(B.community_id.in_(ids)))
    mismatches = _count_by(session, models.Finding.community_id,
                           select(models.Finding.community_id)
                           .where(models.Finding.community_id.in_(ids),
                                  models.Finding.status == schema.FINDING_OPEN,
                                  models.Finding.category.in_(MISMATCH_FINDINGS)))
    events = _count_by(session, models.Event.community_id,
                       select(models.Event.community_id)
                       .where(models.Event.community_id.in_(ids), models.Event.state.in_(schema.EVENT_OPEN_STATES)))
    frame = communities.copy()
    frame["buildings"] = [buildings.get(c, 0) for c in ids]
    frame["households"] = [households[c][0] for c in ids]
    frame["verified"] = [households[c][1] for c in ids]
    frame["share"] = [v / n if n else np.nan for n, v in zip(frame["households"], frame["verified"])]
    frame["open_mismatches"] = [mismatches.get(c, 0) for c in ids]
    frame["open_events"] = [events.get(c, 0) for c in ids]
    return frame[list(COMMUNITY_COVERAGE_COLUMNS)].reset_index(drop=True)
