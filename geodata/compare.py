"""Street-office comparison (街道社区对比): indicators per community of a street, or per grid of a community.

Aggregates only: street-office staff see no names and no flats. Every cell that counts fewer than
`suppress_below` (default 5) households — or persons, findings, events, visits, which stand for households — or
that is computed from fewer than that many, is suppressed: NaN in the frames (listed in
`frame.attrs["suppressed"]`), '<5' in the exports. So is every cell of an area that has fewer than that many
households. Zero is shown: it singles nobody out.

"As of" a day D means the state at the end of D, China time (timestamps are stored as naive UTC):
- verified: `Household.verified_at` on or before D;
- open findings: created by then (or found by a cross-check whose reference date `run_as_of` is on or before D:
  re-runs and the demo back-date findings) and not closed by then; findings pending approval are not open;
- open issues (事件): reported by then, not closed and not rejected by then (rejection time from the transition log);
- activity — visits per worker per week, median days to close — over the `window_days` (28) ending with D;
- data quality: the latest import batch of each kind created by then (the earliest one if none was) plus the
  persons whose ID is corrupted or invalid now.
The register itself is the current one: the store keeps no validity dates for households and persons, so their
counts do not change with D (ages do: 60+ is taken as of D).

Speed: household, finding and visit counts come from summaries kept per community (geodata.summaries: computed
once, used until a trigger sees a counted row change, then computed again for that community alone); events and
import problems are a GROUP BY query each over the whole street (or city), never a loop per community. Grids are
summed up on the fly. See benchmarks/compare_speed.py.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import getpass
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, String, and_, false, func, not_, or_, select, type_coerce
from sqlalchemy.orm import Session, aliased

from geodata import indicators, models, schema, summaries
from geodata.errors import InputError, NotFoundError


class Indicator(NamedTuple):
    key: str
    label_zh: str
    label_en: str
    unit: str                       # one of UNITS
    higher_is_better: bool | None   # None: neither (size, demography); ranked largest first


# Units (and how they are formatted in exports).
U_HOUSEHOLDS: Final = "households"
U_PERSONS: Final = "persons"
U_COUNT: Final = "count"
U_SHARE: Final = "share"            # 0..1, shown as %
U_PER_100: Final = "per_100"        # per 100 households
U_DAYS: Final = "days"
U_PER_WORKER_WEEK: Final = "per_worker_week"
UNITS: Final = (U_HOUSEHOLDS, U_PERSONS, U_COUNT, U_SHARE, U_PER_100, U_DAYS, U_PER_WORKER_WEEK)
UNIT_LABELS: Final = {U_HOUSEHOLDS: "户", U_PERSONS: "人", U_COUNT: "件", U_SHARE: "%", U_PER_100: "每百户",
                      U_DAYS: "天", U_PER_WORKER_WEEK: "次/人/周"}

FINDING_CATEGORIES: Final = schema.FINDING_CATEGORIES


def finding_key(category: str) -> str:
    """Indicator key of the open findings of one category (schema.F_*) per 100 households."""
    return f"findings_{category}"


INDICATORS: Final[tuple[Indicator, ...]] = (
    Indicator("households", "户数", "Households", U_HOUSEHOLDS, None),
    Indicator("persons", "人口", "Persons", U_PERSONS, None),
    Indicator("verified_share", "已核实户占比", "Verified households", U_SHARE, True),
    Indicator("open_findings", "待核实问题（每百户）", "Open findings per 100 households", U_PER_100, False),
    *(Indicator(finding_key(c), f"{schema.FINDING_LABELS[c]}（每百户）",
                f"Open findings '{c.replace('_', ' ')}' per 100 households", U_PER_100, False)
      for c in FINDING_CATEGORIES),
    Indicator("elderly_share", "60岁以上人口占比", "Residents aged 60+", U_SHARE, None),
    Indicator("elderly_only", "纯老户数", "Elderly-only households", U_HOUSEHOLDS, None),
    Indicator("elderly_only_share", "纯老户占比", "Elderly-only households, share", U_SHARE, None),
    Indicator("living_alone", "独居老人数", "Elderly living alone", U_PERSONS, None),
    Indicator("living_alone_share", "独居老人占60岁以上老人比例", "Elderly living alone, share of the 60+",
              U_SHARE, None),
    Indicator("party_families", "党员家庭数", "Party-member families", U_HOUSEHOLDS, None),
    Indicator("party_family_share", "党员家庭占比", "Party-member families, share", U_SHARE, None),
    Indicator("open_issues", "未结事件", "Open issues", U_COUNT, False),
    Indicator("median_days_to_close", "事件办结天数中位数", "Median days to close an issue", U_DAYS, False),
    Indicator("visits_per_worker_week", "人均每周核实走访", "Visits per worker per week", U_PER_WORKER_WEEK, True),
    Indicator("contact_share", "有联系电话户占比", "Households with a phone number", U_SHARE, True),
    Indicator("data_problems", "数据质量问题（每百户）", "Data-quality problems per 100 households", U_PER_100, False),
)
INDICATOR_KEYS: Final = tuple(i.key for i in INDICATORS)
BY_KEY: Final = {i.key: i for i in INDICATORS}

#: One-line Chinese definitions (the notes sheet of the export).
DEFINITIONS: Final = {
    "households": "在册户数（现行花名册）",
    "persons": "在册户中的在册人员数",
    "verified_share": "截至当日已核实的户 ÷ 户数",
    "open_findings": "截至当日未核实的比对问题数 ÷ 户数 × 100（待审批的不计）",
    "elderly_share": "截至当日满60周岁的人员 ÷ 人口",
    "elderly_only": "全部成员满60周岁的户",
    "elderly_only_share": "纯老户 ÷ 户数",
    "living_alone": "只有一名成员且满60周岁的户",
    "living_alone_share": "独居老人 ÷ 60岁以上人员",
    "party_families": "有中共党员或预备党员的户",
    "party_family_share": "党员家庭 ÷ 户数",
    "open_issues": "截至当日已上报、未结案且未不予受理的事件",
    "median_days_to_close": "统计期内结案事件从上报到结案的天数中位数",
    "visits_per_worker_week": "统计期内核实走访次数 ÷ 走访网格员人数 ÷ 周数",
    "contact_share": "至少一名成员有联系电话的户 ÷ 户数",
    "data_problems": "最近一次导入的隔离行和警告行（身份证号警告除外）+ 身份证号被Excel损坏或无效的人员，÷ 户数 × 100",
    **{finding_key(c): f"截至当日未核实的“{schema.FINDING_LABELS[c]}”问题 ÷ 户数 × 100" for c in FINDING_CATEGORIES},
}

#: Activity indicators look at the last four weeks before the reference day.
WINDOW_DAYS: Final = 28
SUPPRESS_BELOW: Final = 5

LEVEL_COMMUNITY: Final = "community"
LEVEL_GRID: Final = "grid"
LEVEL_LABELS: Final = {LEVEL_COMMUNITY: "社区", LEVEL_GRID: "网格"}
MEDIAN_LABELS: Final = {LEVEL_COMMUNITY: "街道中位数", LEVEL_GRID: "社区中位数"}
#: Households in buildings that no grid contains (grid level only).
NO_GRID_LABEL: Final = "未分网格"

SUFFIX_PREV: Final = "_prev"
SUFFIX_CHANGE: Final = "_change"
SUFFIX_RANK: Final = "_rank"

#: Quarantine row kinds that are data-quality problems (models.QuarantineRow.kind; 'skipped' rows are blank,
#: title or total rows). Candidates for schema.py.
Q_QUARANTINED: Final = "quarantined"
Q_WARNING: Final = "warning"
#: Audit target type of a street-level export (candidate for schema.py).
TARGET_STREET: Final = "street"

#: Raw counts behind the indicators, one column each (index: area id).
_COUNT_COLUMNS: Final = (
    "households", "persons", "verified", "elderly_persons", "elderly_only", "living_alone", "party", "contact",
    "bad_ids", *(finding_key(c) for c in FINDING_CATEGORIES), "open_findings", "open_issues", "closed_in_window",
    "median_days", "visits", "workers", "problems")

#: key -> (numerator count, denominator count, scale) of each indicator; a None numerator means the value is
#: computed elsewhere (median, rate) from the denominator's items.
_RATIOS: Final[dict[str, tuple[str | None, str | None, float]]] = {
    "households": ("households", None, 1.0),
    "persons": ("persons", None, 1.0),
    "verified_share": ("verified", "households", 1.0),
    "open_findings": ("open_findings", "households", 100.0),
    **{finding_key(c): (finding_key(c), "households", 100.0) for c in FINDING_CATEGORIES},
    "elderly_share": ("elderly_persons", "persons", 1.0),
    "elderly_only": ("elderly_only", None, 1.0),
    "elderly_only_share": ("elderly_only", "households", 1.0),
    "living_alone": ("living_alone", None, 1.0),
    "living_alone_share": ("living_alone", "elderly_persons", 1.0),
    "party_families": ("party", None, 1.0),
    "party_family_share": ("party", "households", 1.0),
    "open_issues": ("open_issues", None, 1.0),
    "median_days_to_close": (None, "closed_in_window", 1.0),
    "visits_per_worker_week": (None, "visits", 1.0),
    "contact_share": ("contact", "households", 1.0),
    "data_problems": ("problems", "households", 100.0),
}
#: Counts that stand for households: a cell built on 1..suppress_below-1 of them is suppressed. `persons` is not
#: among them (the household count guards it).
_GUARDED: Final = frozenset(_COUNT_COLUMNS) - {"persons", "median_days", "workers"}


# --- Time --------------------------------------------------------------------------------------------------------

def day_end_utc(day: dt.date) -> dt.datetime:
    """The end of `day` in China time as a naive UTC timestamp (how the store keeps times)."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=indicators.LOCAL_TZ)
    return midnight.astimezone(dt.timezone.utc).replace(tzinfo=None)


# --- Areas -------------------------------------------------------------------------------------------------------

def street_by_name(session: Session, name: str) -> models.Street:
    """The street called `name`; NotFoundError names the streets the store has."""
    street = session.scalars(select(models.Street).where(models.Street.name == name.strip())).first()
    if street is None:
        known = session.scalars(select(models.Street.name).order_by(models.Street.name)).all()
        raise NotFoundError(f"street: expected one of {', '.join(known) or '(none: the store is empty)'}, "
                            f"got {name!r}")
    return street


def _communities(session: Session, street_id: int | Sequence[int] | None) -> pd.DataFrame:
    """Communities (id, label, synthetic) of a street, of several, or (None) of the whole store."""
    C, S = models.Community, models.Street
    # official order: by division code (communities without one by name)
    query = (select(C.id, C.name, S.name, C.synthetic, S.synthetic).join(S, S.id == C.street_id)
             .order_by(S.name, func.coalesce(C.code, ""), C.name, C.id))
    if street_id is not None:
        ids = [street_id] if isinstance(street_id, int) else list(street_id)
        if isinstance(street_id, int) and session.get(S, street_id) is None:
            raise NotFoundError(f"street_id: expected the id of a street in the store, got {street_id}")
        query = query.where(C.street_id.in_(ids))
    frame = pd.DataFrame(session.execute(query).all(),
                         columns=["id", "name", "street", "synthetic", "street_synthetic"])
    # Names are unique within a street only: across streets, say which street.
    dup = frame["name"].duplicated(keep=False)
    frame["label"] = frame["name"].where(~dup, frame["street"] + "/" + frame["name"])
    frame["synthetic"] = frame["synthetic"].astype(bool) | frame["street_synthetic"].astype(bool)
    return frame.set_index("id")


def _grids(session: Session, community_id: int) -> pd.DataFrame:
    G = models.Grid
    if session.get(models.Community, community_id) is None:
        raise NotFoundError(f"community_id: expected the id of a community in the store, got {community_id}")
    frame = pd.DataFrame(session.execute(select(G.id, G.name).where(G.community_id == community_id)
                                         .order_by(G.seq, G.code, G.id)).all(), columns=["id", "name"])
    dup = frame["name"].duplicated(keep=False)
    frame["label"] = frame["name"].where(~dup, frame["name"] + "#" + frame["id"].astype(str))
    return frame.set_index("id")


# --- Counts (one GROUP BY per table) -----------------------------------------------------------------------------
# Raw counts live in a dict of float arrays (one per _COUNT_COLUMNS, rows in area order): the frames are built once,
# at the end, so a street costs a handful of queries plus a few vector operations.

Counts = dict[str, np.ndarray]


def _new_counts(n: int) -> Counts:
    counts = {c: np.zeros(n) for c in _COUNT_COLUMNS}
    counts["median_days"][:] = np.nan
    return counts


def _scatter(counts: Counts, position: dict[int, int], rows: Iterable[Sequence[Any]],
             columns: Sequence[str]) -> None:
    """Add each row's values (after its area id) to `columns` at the row's area; unknown areas are ignored."""
    for row in rows:
        i = position.get(-1 if row[0] is None else int(row[0]))
        if i is not None:
            for column, value in zip(columns, row[1:]):
                counts[column][i] += float(value or 0)   # PostgreSQL sums are Decimal


def _event_queries(level: str, area_ids: Sequence[int] | None, community_id: int | None, *, as_of: dt.date,
                   window_days: int) -> tuple[Any, Any]:
    """(events open at the end of `as_of` per area; (area, reported, closed) of events closed in the window)."""
    E, T = models.Event, models.EventTransition
    end = day_end_utc(as_of)
    if level == LEVEL_COMMUNITY:
        area, from_ = E.community_id, E.__table__
        scope = [E.community_id.in_(area_ids)] if area_ids is not None else []
    else:
        ef = aliased(models.Flat)
        area = func.coalesce(models.Building.grid_id, -1)
        from_ = (E.__table__.outerjoin(ef, ef.id == E.flat_id)
                 .join(models.Building, models.Building.id == func.coalesce(E.building_id, ef.building_id)))
        scope = [E.community_id == community_id]
    # Looked up for the rejected events in scope only (a grouped subquery over the whole transition log cost a
    # street a fifth of its time).
    rejected_at = (select(func.min(T.at)).where(T.event_id == E.id, T.to_state == schema.E_REJECTED)
                   .scalar_subquery())
    # NULLs spelled out: NOT (NULL < end) would drop the row.
    closed_by_end = or_(and_(E.closed_at.is_not(None), E.closed_at < end),
                        and_(E.state == schema.E_CLOSED, E.closed_at.is_(None)))
    rejected_by_end = and_(E.state == schema.E_REJECTED, func.coalesce(rejected_at, E.reported_at) < end)
    open_query = (select(area, func.count()).select_from(from_)
                  .where(*scope, E.reported_at < end, not_(closed_by_end), not_(rejected_by_end))
                  .group_by(area))
    # Times as stored text on SQLite: pandas parses them in one vectorised step.
    closed_query = (select(area, type_coerce(E.reported_at, String), type_coerce(E.closed_at, String))
                    .select_from(from_)
                    .where(*scope, E.state == schema.E_CLOSED, E.closed_at >= end - dt.timedelta(days=window_days),
                           E.closed_at < end))
    return open_query, closed_query


def _median_days(rows: Sequence[Sequence[Any]]) -> tuple[pd.Series, pd.Series]:
    """(closed events, median days from report to close) per area, from (area, reported, closed) rows."""
    if not rows:
        return pd.Series(dtype=float), pd.Series(dtype=float)
    frame = pd.DataFrame(rows, columns=["area", "reported", "closed"])
    frame["area"] = frame["area"].fillna(-1).astype(int)
    days = (pd.to_datetime(frame["closed"], format="ISO8601")
            - pd.to_datetime(frame["reported"], format="ISO8601")).dt.total_seconds() / 86400
    grouped = days.groupby(frame["area"])
    return grouped.size().astype(float), grouped.median()


def _latest_batches(session: Session, community_ids: Sequence[int] | None,
                    *, as_of: dt.date) -> dict[int, tuple[int, str]]:
    """batch id -> (community id, kind) of the import batch of each (community, kind) in force at the end of
    `as_of`: the latest created by then, or the earliest when none was (the register we hold is the best knowledge
    of that time)."""
    I = models.ImportBatch
    query = (select(I.id, I.community_id, I.kind, I.created_at < day_end_utc(as_of))
             .where(I.community_id.is_not(None)).order_by(I.id))
    if community_ids is not None:
        query = query.where(I.community_id.in_(community_ids))
    chosen: dict[tuple[int, str], tuple[int, bool]] = {}
    for batch_id, community_id, kind, before in session.execute(query):
        key, current = (community_id, kind), chosen.get((community_id, kind))
        # in id order: the first batch, replaced by each later one created before the end of the day
        if current is None or before:
            chosen[key] = (batch_id, bool(before))
    return {batch_id: key for key, (batch_id, _before) in chosen.items()}


def _problem_filter(batches: dict[int, tuple[int, str]]) -> ColumnElement[bool]:
    """Unresolved quarantined and warning rows of `batches`, without the register's ID warnings: the persons' ID
    statuses count those (an ID fixed later no longer counts)."""
    Q = models.QuarantineRow
    register = [b for b, (_c, kind) in batches.items() if kind == schema.K_REGISTER]
    id_warning = and_(Q.column == schema.ID_NUMBER, Q.batch_id.in_(register)) if register else false()
    return and_(Q.batch_id.in_(list(batches)), Q.kind.in_((Q_QUARANTINED, Q_WARNING)), Q.resolved.is_(False),
                not_(id_warning))


def _problems_by_community(session: Session, community_ids: Sequence[int] | None,
                           *, as_of: dt.date) -> list[tuple[int, int]]:
    Q = models.QuarantineRow
    batches = _latest_batches(session, community_ids, as_of=as_of)
    if not batches:
        return []
    rows = session.execute(select(Q.batch_id, func.count()).where(_problem_filter(batches)).group_by(Q.batch_id))
    return [(batches[batch_id][0], n) for batch_id, n in rows]


def _problems_by_grid(session: Session, community_id: int, *, as_of: dt.date) -> list[tuple[int, int]]:
    """Problem rows placed in a grid through the person or checkpoint row they were imported as; rows that were
    not imported (quarantined) have no flat and count for the community only."""
    Q, B, F = models.QuarantineRow, models.Building, models.Flat
    H, P, C = models.Household, models.Person, models.CheckpointRegistration
    batches = _latest_batches(session, [community_id], as_of=as_of)
    if not batches:
        return []
    rows = pd.DataFrame(session.execute(select(Q.batch_id, Q.sheet, Q.row, func.count())
                                        .where(_problem_filter(batches)).group_by(Q.batch_id, Q.sheet, Q.row)).all(),
                        columns=["batch_id", "sheet", "row", "n"])
    grid = func.coalesce(B.grid_id, -1)
    persons = session.execute(
        select(P.batch_id, P.source_sheet, P.source_row, grid)
        .select_from(B).join(F, F.building_id == B.id).join(H, H.flat_id == F.id).join(P, P.household_id == H.id)
        .where(B.community_id == community_id, P.batch_id.in_(list(batches)))).all()
    checkpoints = session.execute(
        select(C.batch_id, C.source_sheet, C.source_row, grid)
        .join(F, F.id == C.flat_id).join(B, B.id == F.building_id)
        .where(C.community_id == community_id, C.batch_id.in_(list(batches)))).all()
    places = (pd.DataFrame([*persons, *checkpoints], columns=["batch_id", "sheet", "row", "area"])
              .drop_duplicates(["batch_id", "sheet", "row"]))
    placed = rows.merge(places, on=["batch_id", "sheet", "row"], how="inner")
    return list(placed.groupby("area")["n"].sum().items())


def _counts(session: Session, level: str, area_ids: list[int], *, community_id: int | None, street_filter: bool,
            as_of: dt.date, window_days: int) -> tuple[list[int], Counts]:
    """Raw counts (_COUNT_COLUMNS) per area, in `area_ids` order; at the grid level a last area -1 holds the
    households in no grid, when there are any."""
    ids = list(area_ids) + ([-1] if level == LEVEL_GRID else [])
    position = {a: i for i, a in enumerate(ids)}
    counts = _new_counts(len(ids))
    if level == LEVEL_COMMUNITY:
        by_area = summaries.community_summaries(session, area_ids)
        filter_ids = area_ids if street_filter else None
    else:
        by_area = summaries.compute_grids(session, community_id, area_ids)
        filter_ids = None
    empty = summaries.AreaCounts.empty()
    counts.update(summaries.evaluate([by_area.get(a, empty) for a in ids], as_of=as_of, window_days=window_days))
    open_query, closed_query = _event_queries(level, filter_ids, community_id, as_of=as_of,
                                              window_days=window_days)
    _scatter(counts, position, session.execute(open_query), ("open_issues",))
    closed, median = _median_days(session.execute(closed_query).all())
    _scatter(counts, position, closed.items(), ("closed_in_window",))
    for area_id, days in median.items():
        if area_id in position:
            counts["median_days"][position[area_id]] = days
    problems = (_problems_by_community(session, filter_ids, as_of=as_of) if level == LEVEL_COMMUNITY
                else _problems_by_grid(session, community_id, as_of=as_of))
    _scatter(counts, position, problems, ("problems",))
    counts["problems"] += counts["bad_ids"]
    if level == LEVEL_GRID and counts["households"][-1] == 0:
        ids = ids[:-1]
        counts = {k: v[:-1] for k, v in counts.items()}
    return ids, counts


# --- From counts to indicators -----------------------------------------------------------------------------------

def _indicators_from_counts(counts: Counts, *, suppress_below: int,
                            window_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, suppressed) arrays of shape (areas, len(INDICATOR_KEYS)); suppressed values are NaN."""
    n = len(counts["households"])
    values = np.full((n, len(INDICATOR_KEYS)), np.nan)
    mask = np.zeros((n, len(INDICATOR_KEYS)), dtype=bool)

    def small(col: str) -> np.ndarray:
        return (counts[col] > 0) & (counts[col] < suppress_below)

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    tiny_area = small("households")
    for j, key in enumerate(INDICATOR_KEYS):
        num, den, scale = _RATIOS[key]
        if num is not None and den is None:
            value = counts[num]
        elif num is not None:
            value = ratio(counts[num], counts[den]) * scale
        elif key == "median_days_to_close":
            value = counts["median_days"]
        else:   # visits per worker per week; no visits at all is 0, not unknown
            value = ratio(counts["visits"], counts["workers"] * (window_days / 7))
            value = np.where(counts["visits"] == 0, 0.0, value)
        suppressed = tiny_area.copy()
        for col in (num, den):
            if col is not None and col in _GUARDED:
                suppressed |= small(col)
        values[:, j] = value
        mask[:, j] = suppressed & (counts["households"] > 0)
    _protect_categories(counts, mask)
    values[mask] = np.nan
    return values, mask


_CATEGORY_COLUMNS: Final = [INDICATOR_KEYS.index(finding_key(c)) for c in FINDING_CATEGORIES]
_TOTAL_COLUMN: Final = INDICATOR_KEYS.index("open_findings")


def _protect_categories(counts: Counts, mask: np.ndarray) -> None:
    """Secondary suppression: the open findings total minus the categories shown would give away the one category
    withheld, so withhold the next smallest category too (or, when every other one is zero, the total)."""
    by_category = np.column_stack([counts[finding_key(c)] for c in FINDING_CATEGORIES])
    lone = np.nonzero((mask[:, _CATEGORY_COLUMNS].sum(axis=1) == 1) & ~mask[:, _TOTAL_COLUMN])[0]
    for i in lone:
        shown = [(by_category[i, k], col) for k, col in enumerate(_CATEGORY_COLUMNS)
                 if not mask[i, col] and by_category[i, k] > 0]
        mask[i, min(shown)[1] if shown else _TOTAL_COLUMN] = True


def _frame(values: np.ndarray, mask: np.ndarray, labels: list[str], *, level: str,
           attrs: dict[str, Any]) -> pd.DataFrame:
    out = pd.DataFrame(values, index=pd.Index(labels, name=level), columns=list(INDICATOR_KEYS))
    rows, cols = np.nonzero(mask)
    out.attrs = {**attrs, "level": level,
                 "suppressed": [[labels[r], INDICATOR_KEYS[c]] for r, c in zip(rows.tolist(), cols.tolist())]}
    return out


def _check(as_of: dt.date | None, suppress_below: int, window_days: int) -> dt.date:
    if as_of is not None and not isinstance(as_of, dt.date):
        raise InputError(f"as_of: expected a date, got {as_of!r}")
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    if not isinstance(suppress_below, int) or suppress_below < 0:
        raise InputError(f"suppress_below: expected a whole number >= 0, got {suppress_below!r}")
    if not isinstance(window_days, int) or window_days < 1:
        raise InputError(f"window_days: expected a whole number of days >= 1, got {window_days!r}")
    return as_of or indicators.local_today()


def community_indicators(session: Session, street_id: int | Sequence[int] | None, *, as_of: dt.date | None = None,
                         suppress_below: int = SUPPRESS_BELOW, window_days: int = WINDOW_DAYS) -> pd.DataFrame:
    """One row per community of the street (index: community name), one column per INDICATOR_KEYS, as of a day.

    `street_id` may also be a list of street ids, or None for every community of the store (a city); names that
    repeat across streets become '街道/社区'. Suppressed cells are NaN and listed in `attrs["suppressed"]`
    ([label, key] pairs); `attrs` also holds as_of, suppress_below, window_days, synthetic and street.
    """
    as_of = _check(as_of, suppress_below, window_days)
    areas = _communities(session, street_id)
    ids, counts = _counts(session, LEVEL_COMMUNITY, areas.index.tolist(), community_id=None,
                          street_filter=street_id is not None, as_of=as_of, window_days=window_days)
    values, mask = _indicators_from_counts(counts, suppress_below=suppress_below, window_days=window_days)
    streets = sorted(set(areas["street"]))
    attrs = {"as_of": as_of.isoformat(), "suppress_below": suppress_below, "window_days": window_days,
             "synthetic": bool(areas["synthetic"].any()), "street": "、".join(streets)}
    return _frame(values, mask, areas.loc[ids, "label"].tolist(), level=LEVEL_COMMUNITY, attrs=attrs)


def grid_indicators(session: Session, community_id: int, *, as_of: dt.date | None = None,
                    suppress_below: int = SUPPRESS_BELOW, window_days: int = WINDOW_DAYS) -> pd.DataFrame:
    """One row per grid of the community (index: grid name; a last row 未分网格 when some households are in no
    grid), one column per INDICATOR_KEYS. Same definitions and suppression as `community_indicators`."""
    as_of = _check(as_of, suppress_below, window_days)
    areas = _grids(session, community_id)
    ids, counts = _counts(session, LEVEL_GRID, areas.index.tolist(), community_id=community_id,
                          street_filter=True, as_of=as_of, window_days=window_days)
    values, mask = _indicators_from_counts(counts, suppress_below=suppress_below, window_days=window_days)
    community = session.get(models.Community, community_id)
    attrs = {"as_of": as_of.isoformat(), "suppress_below": suppress_below, "window_days": window_days,
             "synthetic": bool(community.synthetic or community.street.synthetic), "street": community.street.name,
             "community": community.name}
    labels = [areas.at[i, "label"] if i in areas.index else NO_GRID_LABEL for i in ids]
    return _frame(values, mask, labels, level=LEVEL_GRID, attrs=attrs)


def compare_periods(session: Session, street_id: int | Sequence[int] | None, as_of: dt.date, against: dt.date,
                    *, suppress_below: int = SUPPRESS_BELOW, window_days: int = WINDOW_DAYS) -> pd.DataFrame:
    """Indicators as of `as_of` and as of `against`, and the change: for each key the columns key,
    key + SUFFIX_PREV (as of `against`) and key + SUFFIX_CHANGE (key minus prev; shares change in points of 0..1).
    A change is suppressed when either value is."""
    now = community_indicators(session, street_id, as_of=as_of, suppress_below=suppress_below,
                               window_days=window_days)
    then = community_indicators(session, street_id, as_of=against, suppress_below=suppress_below,
                                window_days=window_days)
    return combine_periods(now, then)


def combine_periods(now: pd.DataFrame, then: pd.DataFrame) -> pd.DataFrame:
    """Two indicator frames (as of now and as of the earlier date) as one: key, key + SUFFIX_PREV, key +
    SUFFIX_CHANGE per indicator; a change is suppressed when either value is."""
    then = then.reindex(now.index)
    columns: dict[str, pd.Series] = {}
    for key in INDICATOR_KEYS:
        columns[key] = now[key]
        columns[key + SUFFIX_PREV] = then[key]
        columns[key + SUFFIX_CHANGE] = now[key] - then[key]
    out = pd.DataFrame(columns, index=now.index)
    suppressed = {tuple(p) for p in now.attrs["suppressed"]}
    earlier = {tuple(p) for p in then.attrs["suppressed"]}
    pairs = ([[r, k] for r, k in sorted(suppressed)] + [[r, k + SUFFIX_PREV] for r, k in sorted(earlier)]
             + [[r, k + SUFFIX_CHANGE] for r, k in sorted(suppressed | earlier)])
    out.attrs = {**now.attrs, "against": then.attrs["as_of"], "suppressed": pairs}
    return out


# --- Median and rank ----------------------------------------------------------------------------------------------

def base_key(column: str) -> str | None:
    """The indicator key a column is about ('verified_share_change' -> 'verified_share'), or None."""
    for suffix in (SUFFIX_PREV, SUFFIX_CHANGE, SUFFIX_RANK, ""):
        if column.endswith(suffix) and column[:len(column) - len(suffix)] in BY_KEY:
            return column[:len(column) - len(suffix)]
    return None


def with_median_and_rank(df: pd.DataFrame, *, ranks: bool = True) -> pd.DataFrame:
    """`df` plus, when `ranks`, a rank column per indicator (key + SUFFIX_RANK: 1 = best by higher_is_better,
    largest first for neutral indicators; ties share the best rank; no rank for a suppressed or unknown value),
    and a last row with the median of every column over the values shown (label MEDIAN_LABELS[level])."""
    level = df.attrs.get("level", LEVEL_COMMUNITY)
    out = df.copy()
    if ranks:
        for key in INDICATOR_KEYS:
            if key in df.columns:
                ascending = BY_KEY[key].higher_is_better is False
                out[key + SUFFIX_RANK] = df[key].rank(method="min", ascending=ascending, na_option="keep")
    median = out.median(numeric_only=True)
    for column in out.columns:
        if column.endswith(SUFFIX_RANK):
            median[column] = np.nan
    median_row = pd.DataFrame([median.reindex(out.columns)], index=pd.Index([MEDIAN_LABELS[level]]))
    result = pd.concat([out, median_row.astype(float)], axis=0)
    result.index.name = df.index.name
    result.attrs = {**df.attrs, "median_row": MEDIAN_LABELS[level]}
    return result


# --- Exports -------------------------------------------------------------------------------------------------------

def column_label(column: str, attrs: dict[str, Any] | None = None) -> str:
    """Chinese header of a column of these frames ('已核实户占比', '已核实户占比（2020-03-11）', '… 变化', '… 排名')."""
    attrs = attrs or {}
    key = base_key(column)
    if key is None:
        return column
    label = BY_KEY[key].label_zh
    if column.endswith(SUFFIX_RANK):
        return f"{label} 排名"
    if column.endswith(SUFFIX_CHANGE):
        return f"{label} 变化"
    if column.endswith(SUFFIX_PREV):
        return f"{label}（{attrs.get('against', '对比日')}）"
    if "against" in attrs:
        return f"{label}（{attrs['as_of']}）"
    return label


def _suppressed_cells(df: pd.DataFrame) -> set[tuple[Any, str]]:
    return {(r, c) for r, c in df.attrs.get("suppressed", [])}


def _suppressed_text(df: pd.DataFrame) -> str:
    return f"<{df.attrs.get('suppress_below', SUPPRESS_BELOW)}"


def _csv_header(column: str, attrs: dict[str, Any]) -> str:
    label = column_label(column, attrs)
    key = base_key(column)
    if key is not None and not column.endswith(SUFFIX_RANK) and BY_KEY[key].unit == U_SHARE:
        return f"{label}（%）" if not column.endswith(SUFFIX_CHANGE) else f"{label}（百分点）"
    return label


def _csv_value(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    key = base_key(column)
    if key is None:
        return str(value)
    if column.endswith(SUFFIX_RANK):
        return str(int(value))
    unit = BY_KEY[key].unit
    if unit == U_SHARE:
        return f"{value * 100:.1f}"
    if unit in (U_HOUSEHOLDS, U_PERSONS, U_COUNT) and float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}"


def write_compare_csv(df: pd.DataFrame, path: str | Path, *, synthetic: bool = False) -> Path:
    """The table as UTF-8 CSV with a BOM (Excel opens it as Chinese text): Chinese headers (shares in %, their
    changes in percentage points), suppressed cells '<5', unknown cells empty. When `synthetic`, the first header
    says so ('社区（演示数据）')."""
    path = Path(path)
    level = df.attrs.get("level", LEVEL_COMMUNITY)
    first = LEVEL_LABELS.get(level, str(df.index.name or ""))
    if synthetic:
        first = f"{first}（{schema.SYNTHETIC_LABEL}）"
    suppressed = _suppressed_cells(df)
    hidden = _suppressed_text(df)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([first, *(_csv_header(c, df.attrs) for c in df.columns)])
        for label, row in df.iterrows():
            writer.writerow([label, *(hidden if (label, c) in suppressed else _csv_value(c, row[c])
                                      for c in df.columns)])
    return path


_XLSX_FORMATS: Final = {U_HOUSEHOLDS: "#,##0", U_PERSONS: "#,##0", U_COUNT: "#,##0", U_SHARE: "0.0%",
                        U_PER_100: "0.0", U_DAYS: "0.0", U_PER_WORKER_WEEK: "0.0"}
_XLSX_CHANGE_FORMATS: Final = {U_HOUSEHOLDS: "+#,##0;-#,##0;0", U_PERSONS: "+#,##0;-#,##0;0",
                               U_COUNT: "+#,##0;-#,##0;0", U_SHARE: "+0.0%;-0.0%;0.0%", U_PER_100: "+0.0;-0.0;0.0",
                               U_DAYS: "+0.0;-0.0;0.0", U_PER_WORKER_WEEK: "+0.0;-0.0;0.0"}


def _xlsx_format(column: str, value: float) -> str:
    key = base_key(column)
    if key is None:
        return "General"
    if column.endswith(SUFFIX_RANK):
        return "0"
    unit = BY_KEY[key].unit
    fmt = (_XLSX_CHANGE_FORMATS if column.endswith(SUFFIX_CHANGE) else _XLSX_FORMATS)[unit]
    if unit in (U_HOUSEHOLDS, U_PERSONS, U_COUNT) and not float(value).is_integer():
        fmt = fmt.replace("#,##0", "#,##0.0")   # a median between two counts
    return fmt


def write_compare_xlsx(df: pd.DataFrame, path: str | Path, *, synthetic: bool, title: str | None = None) -> Path:
    """The table as a formatted workbook: a title row (with 演示数据 when `synthetic`), Chinese headers, one row
    per community (or grid), the median row (if any) last and in bold, numbers kept as numbers with their formats,
    suppressed cells '<5'. A second sheet 说明 holds each indicator's definition and the suppression rule."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    path = Path(path)
    attrs = df.attrs
    level = attrs.get("level", LEVEL_COMMUNITY)
    median_label = attrs.get("median_row")
    suppressed = _suppressed_cells(df)
    hidden = _suppressed_text(df)
    wb = Workbook()
    ws = wb.active
    ws.title = "社区对比" if level == LEVEL_COMMUNITY else "网格对比"
    if title is None:
        area = attrs.get("community") if level == LEVEL_GRID else attrs.get("street")
        when = f"截至 {attrs['as_of']}" if "as_of" in attrs else ""
        if "against" in attrs:
            when += f"，对比 {attrs['against']}"
        title = " ".join(x for x in (area, f"{LEVEL_LABELS.get(level, '')}指标对比", when) if x)
    ws.cell(row=1, column=1, value=f"{title}（{schema.SYNTHETIC_LABEL}）" if synthetic else title)
    ws.cell(row=1, column=1).font = Font(bold=True, size=13, color="C00000" if synthetic else "000000")
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    thin = Side(style="thin", color="999999")
    columns = list(df.columns)
    headers = [LEVEL_LABELS.get(level, str(df.index.name or "")), *(column_label(c, attrs) for c in columns)]
    for j, text in enumerate(headers, start=1):
        cell = ws.cell(row=2, column=j, value=text)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = Border(bottom=thin)
    grey = Font(color="808080", italic=True)
    for i, (label, row) in enumerate(df.iterrows(), start=3):
        is_median = median_label is not None and label == median_label
        ws.cell(row=i, column=1, value=str(label))
        for j, column in enumerate(columns, start=2):
            value = row[column]
            cell = ws.cell(row=i, column=j)
            if (label, column) in suppressed:
                cell.value, cell.font = hidden, grey
                cell.alignment = Alignment(horizontal="right")
            elif isinstance(value, (int, float, np.number)) and not pd.isna(value):
                cell.value = float(value)
                cell.number_format = _xlsx_format(column, float(value))
            elif not pd.isna(value):
                cell.value = str(value)
        if is_median:
            for j in range(1, len(headers) + 1):
                cell = ws.cell(row=i, column=j)
                cell.font = Font(bold=True, italic=cell.font.italic, color=cell.font.color)
                cell.fill = PatternFill("solid", fgColor="F2F2F2")
                cell.border = Border(top=thin)
    ws.freeze_panes = "B3"
    ws.row_dimensions[2].height = 48
    ws.column_dimensions["A"].width = 16
    for j in range(2, len(headers) + 1):
        ws.column_dimensions[get_column_letter(j)].width = 12

    notes = wb.create_sheet("说明")
    lines: list[tuple[str, ...]] = [("指标", "Indicator", "单位", "越高越好", "定义")]
    for ind in INDICATORS:
        better = {True: "是", False: "否", None: "—"}[ind.higher_is_better]
        lines.append((ind.label_zh, ind.label_en, UNIT_LABELS[ind.unit], better, DEFINITIONS[ind.key]))
    lines += [(), ("说明",),
              (f"“{hidden}”：涉及不足{attrs.get('suppress_below', SUPPRESS_BELOW)}户（或由不足该数计算）的数值不予显示，"
               "以免识别到具体住户；空白：无数据。",),
              (f"统计日：{attrs.get('as_of', '')}；走访和结案按统计日前 {attrs.get('window_days', WINDOW_DAYS)} 天计算。",),
              ("户数和人口按现行花名册；核实、问题和事件按统计日当日结束时的状态。",)]
    if median_label:
        lines.append((f"“{median_label}”：各{LEVEL_LABELS.get(level, '')}显示值的中位数（不含不予显示的值）。",))
    if any(c.endswith(SUFFIX_RANK) for c in columns):
        lines.append(("排名：1 为最好；中性指标按数值从大到小。",))
    if synthetic:
        lines.append((f"{schema.SYNTHETIC_LABEL}：本表数据为合成的演示数据，不是真实住户。",))
    for line in lines:
        notes.append(list(line))
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDE", (28, 40, 10, 10, 80)):
        notes.column_dimensions[letter].width = width
    wb.save(path)
    return path


# --- Command line ---------------------------------------------------------------------------------------------------

def _date_arg(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def compare_table(session: Session, street_id: int, *, as_of: dt.date | None = None,
                  against: dt.date | None = None, suppress_below: int = SUPPRESS_BELOW) -> pd.DataFrame:
    """What the CLI writes: one row per community, one column per indicator (and with `against`, its value then and
    the change), the street's median last."""
    if against is None:
        frame = community_indicators(session, street_id, as_of=as_of, suppress_below=suppress_below)
    else:
        frame = compare_periods(session, street_id, as_of or indicators.local_today(), against,
                                suppress_below=suppress_below)
    return with_median_and_rank(frame, ranks=False)


def run_cli(args: argparse.Namespace) -> int:
    """`python -m geodata compare`: write the street's comparison table, log the export, print one line."""
    from geodata import store   # the CLI edge opens the store; the functions above take a Session

    out = Path(args.out)
    if out.suffix.lower() not in (".xlsx", ".csv"):
        raise InputError(f"--out: expected a path ending in .xlsx or .csv, got {out.name!r}")
    engine = store.open_store()
    with store.session_scope(engine) as session:
        street = street_by_name(session, args.street)
        table = compare_table(session, street.id, as_of=args.as_of, against=args.against)
        synthetic = bool(table.attrs.get("synthetic"))
        if out.suffix.lower() == ".xlsx":
            write_compare_xlsx(table, out, synthetic=synthetic)
        else:
            write_compare_csv(table, out, synthetic=synthetic)
        session.add(models.AuditLog(
            username=args.by or getpass.getuser(), action=schema.A_EXPORT, target_type=TARGET_STREET,
            target_id=str(street.id), reason="街道社区对比",
            detail=json.dumps({"export": "compare", "file": out.name, "as_of": table.attrs["as_of"],
                               "against": table.attrs.get("against"), "rows": len(table) - 1}, ensure_ascii=False)))
    note = f"（{schema.SYNTHETIC_LABEL}）" if synthetic else ""
    print(f"{street.name}{note}：{len(table) - 1} 个社区 × {len(INDICATORS)} 项指标，截至 {table.attrs['as_of']}"
          f"{'，对比 ' + table.attrs['against'] if 'against' in table.attrs else ''} → {out}")
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register `compare` on the `python -m geodata` subparsers."""
    p = subparsers.add_parser(
        "compare", help="街道各社区指标对比 | compare the communities of a street",
        description="每个社区一行、每项指标一列，最后一行为街道中位数；不足5户的数值不予显示。 | One row per "
                    "community, one column per indicator, the street's median last; cells about fewer than 5 "
                    "households are suppressed.")
    p.add_argument("--street", required=True, help="街道名称 | street name")
    p.add_argument("--as-of", type=_date_arg, default=None, help="统计日 YYYY-MM-DD（默认今天）| reference day")
    p.add_argument("--against", type=_date_arg, default=None,
                   help="对比日 YYYY-MM-DD：再加一列该日数值和变化 | second day: add its values and the change")
    p.add_argument("--out", required=True, help="输出文件 .xlsx 或 .csv | output file")
    p.add_argument("--by", default=None, help="导出人（记入审计日志，默认系统用户）| who exports (audit log)")
    p.set_defaults(func=run_cli)
    return p
