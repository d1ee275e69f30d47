"""Counts kept ahead for the street-office comparison (geodata.compare): per area, the distributions from which
every household, finding and visit count follows for any reference day.

What changes with the day is only *which* rows count: the 60+ (a birth date on or before a cutoff), the verified
(a verification day on or before it), open findings (opened on or before it, not yet closed), visits (in the
window ending with it). So an area is summed up once as `AreaCounts`:
- totals: households, persons, party-member families, households with a phone, persons with an unusable ID;
- verification days as a (day, count) list; the birth dates, the youngest birth date of each household whose
  members' birth dates are all known (elderly-only), the birth date of each one-person household (living
  alone) — each a sorted list of days;
- findings as (category, first day open, first day closed, count);
- visits as (day, worker, count).
`evaluate` turns many areas' summaries into the counts of one day with a few vector operations.

Communities' summaries are kept in the store (`compare_summary`), stamped with the community's data version:
triggers (migration 0004) bump `compare_version` whenever a counted row changes, so a summary is used only while
nothing it counted has changed, and computed again otherwise (~50 ms for a community of 3,000 households).
Grids are summed up on the fly. Days are days since 1970-01-01; "a day" of a stored UTC time is its day in
China (indicators.LOCAL_TZ), the day `compare.day_end_utc` ends.
"""
from __future__ import annotations

import datetime as dt
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import (BigInteger, Connection, Engine, Integer, and_, case, cast, delete, func, insert,
                        literal_column, or_, select, text, type_coerce)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from geodata import indicators, models, schema, store

LOG = logging.getLogger(__name__)

CATEGORIES: Final = schema.FINDING_CATEGORIES
#: "First day no longer open" of a finding still open (and "first day open" of one never open).
NEVER: Final = np.iinfo(np.int32).max
#: A missing day or time (NULL): far before any real one.
MISSING: Final = -(2 ** 40)
TOTALS: Final = ("households", "persons", "party", "contact", "bad_ids")
#: Column widths of the sections after the totals, in stored order.
_SECTIONS: Final = (("verified", 2), ("births", 1), ("elderly_only", 1), ("alone", 1), ("findings", 4),
                    ("visits", 3))
#: Sections of width 1 are sorted lists of days, one per person or household: stored as differences.
_SORTED: Final = frozenset(name for name, width in _SECTIONS if width == 1)
_EPOCH: Final = dt.date(1970, 1, 1)
#: Communities computed together (a chunk of ~100k households: ~0.5 GB at the peak).
CHUNK: Final = 40


def _format() -> int:
    """The summary format: it changes with this layout and with every code a summary was counted by, so a
    summary counted under other definitions is never used."""
    spec = repr((3, TOTALS, _SECTIONS, CATEGORIES, schema.PARTY_CODES, schema.BAD_ID_STATUSES,
                 schema.FINDING_OPEN, schema.FINDING_CLOSED, str(indicators.LOCAL_TZ)))
    return zlib.crc32(spec.encode())


FORMAT: Final = _format()


@dataclass(frozen=True)
class AreaCounts:
    """One area's summary. `totals` follows TOTALS; every other field is an int64 array of rows (see _SECTIONS;
    width-1 sections sorted)."""
    totals: np.ndarray
    verified: np.ndarray
    births: np.ndarray
    elderly_only: np.ndarray
    alone: np.ndarray
    findings: np.ndarray
    visits: np.ndarray

    @staticmethod
    def empty() -> AreaCounts:
        return AreaCounts(np.zeros(len(TOTALS), dtype=np.int64),
                          *(np.zeros((0, width), dtype=np.int64) for _name, width in _SECTIONS))

    def encode(self) -> bytes:
        parts = [getattr(self, name) for name, _width in _SECTIONS]
        header = np.array([len(p) for p in parts] + self.totals.tolist(), dtype=np.int64)
        flat = [np.diff(p[:, 0], prepend=0) if name in _SORTED else p.ravel()
                for (name, _width), p in zip(_SECTIONS, parts)]
        return zlib.compress(np.concatenate([header, *flat]).astype("<i4").tobytes(), 1)

    @staticmethod
    def decode(data: bytes) -> AreaCounts:
        values = np.frombuffer(zlib.decompress(data), dtype="<i4").astype(np.int64)
        lengths = values[:len(_SECTIONS)].tolist()
        at = len(_SECTIONS) + len(TOTALS)
        parts = []
        for (name, width), rows in zip(_SECTIONS, lengths):
            part = values[at:at + rows * width]
            parts.append((np.cumsum(part) if name in _SORTED else part).reshape(rows, width))
            at += rows * width
        return AreaCounts(values[len(_SECTIONS):len(_SECTIONS) + len(TOTALS)], *parts)


def day_number(day: dt.date) -> int:
    return (day - _EPOCH).days


# --- Days and times as integers, computed by the database (no per-value parsing in Python) ------------------------

def _day(column: Any, dialect: str) -> Any:
    """Days since 1970 of a date column (NULL stays NULL)."""
    if dialect == "postgresql":
        return type_coerce(column - literal_column("DATE '1970-01-01'"), Integer)
    return cast(func.julianday(column) - 2440587.5, Integer)       # exact: whole days .5 apart


def _seconds(column: Any, dialect: str) -> Any:
    """Whole seconds since 1970 of a stored (naive UTC) time, rounded down."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'; strftime would round the fraction (23:59:59.9999 -> the
    # next day), so it is cut off first.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger)


def _local_days(seconds: Any) -> np.ndarray:
    """Days since 1970, in China (indicators.LOCAL_TZ, with its history), of times in seconds since 1970; MISSING
    stays MISSING."""
    seconds = np.asarray(seconds, dtype=np.int64)
    known = seconds != MISSING
    out = np.full(len(seconds), MISSING, dtype=np.int64)
    local = pd.DatetimeIndex(pd.to_datetime(seconds[known], unit="s", utc=True)).tz_convert(indicators.LOCAL_TZ)
    out[known] = local.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
    return out


# --- Queries: one per table, over every area at once ---------------------------------------------------------------

#: Bits of a member's flags (_person_rows).
_MEMBER, _PARTY, _PHONE, _BAD_ID = 1, 2, 4, 8


def _rows(session: Session, query: Any, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of `query` as a frame of `columns`, column by column (a frame built row by row costs more than
    the query)."""
    rows = session.connection().execute(query).all()
    return pd.DataFrame({c: np.asarray(v) for c, v in zip(columns, zip(*rows))} if rows else
                        {c: np.zeros(0, np.int64) for c in columns})


def _person_rows(session: Session, area: Any, where: list[Any]) -> pd.DataFrame:
    """One row per active member of an active household (a household without one: a row with no member): area,
    household, its verification day, the member's birth day (MISSING: none), and flags (_MEMBER, _PARTY, _PHONE,
    _BAD_ID)."""
    B, F, H, P = models.Building, models.Flat, models.Household, models.Person
    dialect = session.get_bind().dialect.name

    def bit(condition: Any, value: int) -> Any:
        return case((condition, value), else_=0)
    flags = case((P.id.is_(None), 0),
                 else_=_MEMBER + bit(P.political_status.in_(schema.PARTY_CODES), _PARTY)
                 + bit(or_(P.phone.is_not(None), P.phone2.is_not(None)), _PHONE)
                 + bit(P.id_status.in_(schema.BAD_ID_STATUSES), _BAD_ID))
    query = (select(area, H.id, func.coalesce(_day(H.verified_at, dialect), MISSING),
                    func.coalesce(_day(P.birth_date, dialect), MISSING), flags)
             .select_from(B).join(F, F.building_id == B.id).join(H, H.flat_id == F.id)
             .outerjoin(P, and_(P.household_id == H.id, P.active.is_(True)))
             .where(H.active.is_(True), *where))
    return _rows(session, query, ["area", "household", "verified", "birth", "flags"])


_FINDING_COLUMNS: Final = ("area", "category", "open", "run_as_of", "created_at", "closed_at")


def _finding_columns(dialect: str) -> tuple[Any, ...]:
    F = models.Finding
    return (F.category, case((F.status == schema.FINDING_OPEN, 1), else_=0),
            func.coalesce(_day(F.run_as_of, dialect), MISSING), func.coalesce(_seconds(F.created_at, dialect), MISSING),
            func.coalesce(_seconds(F.closed_at, dialect), MISSING))


def _may_be_open() -> Any:
    """Findings open at some time: open ones, and closed ones that say when (pending approval never counts)."""
    F = models.Finding
    return or_(F.status == schema.FINDING_OPEN, and_(F.status == schema.FINDING_CLOSED, F.closed_at.is_not(None)))


def _community_finding_rows(session: Session, community_ids: Sequence[int]) -> pd.DataFrame:
    F = models.Finding
    query = (select(F.community_id, *_finding_columns(session.get_bind().dialect.name))
             .where(F.community_id.in_(community_ids), _may_be_open()))
    return _rows(session, query, _FINDING_COLUMNS)


def _grid_finding_rows(session: Session, community_id: int) -> pd.DataFrame:
    """A finding's grid is its flat's: its own flat, else its household's, its person's household's, its
    checkpoint row's."""
    F = models.Finding
    fh, fp, ph = aliased(models.Household), aliased(models.Person), aliased(models.Household)
    cp = aliased(models.CheckpointRegistration)
    flat_id = func.coalesce(F.flat_id, fh.flat_id, ph.flat_id, cp.flat_id)
    query = (select(func.coalesce(models.Building.grid_id, -1), *_finding_columns(session.get_bind().dialect.name))
             .select_from(F)
             .outerjoin(fh, fh.id == F.household_id).outerjoin(fp, fp.id == F.person_id)
             .outerjoin(ph, ph.id == fp.household_id).outerjoin(cp, cp.id == F.checkpoint_id)
             .join(models.Flat, models.Flat.id == flat_id)
             .join(models.Building, models.Building.id == models.Flat.building_id)
             .where(F.community_id == community_id, _may_be_open()))
    return _rows(session, query, _FINDING_COLUMNS)


def _visit_rows(session: Session, area: Any, where: list[Any]) -> pd.DataFrame:
    V, B, F = models.Visit, models.Building, models.Flat
    query = (select(area, _seconds(V.at, session.get_bind().dialect.name), V.by).select_from(B)
             .join(F, F.building_id == B.id).join(V, V.flat_id == F.id).where(*where))
    return _rows(session, query, ["area", "at", "by"])


# --- From rows to summaries ----------------------------------------------------------------------------------------

def _histogram(area: np.ndarray, keys: list[np.ndarray], weights: np.ndarray | None = None) -> pd.DataFrame:
    """Rows (area, *keys, total weight (default: rows)) grouped, sorted by area."""
    n = np.ones(len(area), np.int64) if weights is None else weights
    frame = pd.DataFrame({"area": area, **{f"k{i}": k for i, k in enumerate(keys)}, "n": n})
    return frame.groupby(["area", *(f"k{i}" for i in range(len(keys)))], sort=True)["n"].sum().reset_index()


def _sorted_days(area: np.ndarray, days: np.ndarray) -> pd.DataFrame:
    """Rows (area, day), one per item, sorted by area and day."""
    order = np.lexsort((days, area))
    return pd.DataFrame({"area": area[order], "k0": days[order]})


def _split(frame: pd.DataFrame, areas: Sequence[int], width: int) -> dict[int, np.ndarray]:
    """area -> its rows (without the area column) of a frame sorted by area."""
    values = frame.drop(columns="area").to_numpy(dtype=np.int64).reshape(-1, width)
    keys = frame["area"].to_numpy(dtype=np.int64)
    lo, hi = np.searchsorted(keys, areas, "left"), np.searchsorted(keys, areas, "right")
    return {a: values[i:j] for a, i, j in zip(areas, lo.tolist(), hi.tolist())}


def _summaries(areas: Sequence[int], persons: pd.DataFrame, findings: pd.DataFrame,
               visits: pd.DataFrame) -> dict[int, AreaCounts]:
    """Each area's AreaCounts from the rows of the three queries (areas with no rows get empty ones)."""
    flags = persons["flags"].to_numpy(dtype=np.int64)
    p = pd.DataFrame({"household": persons["household"].to_numpy(dtype=np.int64),
                      "area": persons["area"].to_numpy(dtype=np.int64),
                      "verified": persons["verified"].to_numpy(dtype=np.int64),
                      "birth": persons["birth"].to_numpy(dtype=np.int64),
                      "party": (flags & _PARTY) > 0, "phone": (flags & _PHONE) > 0,
                      "n": flags & _MEMBER, "bad_ids": (flags & _BAD_ID) // _BAD_ID})
    p["n_birth"] = ((p["birth"] != MISSING) & (p["n"] == 1)).astype(np.int64)
    by_household = p.groupby("household", sort=False)
    households = pd.concat([by_household[["area", "verified", "birth", "party", "phone"]].max(),
                            by_household[["n", "n_birth", "bad_ids"]].sum()], axis=1).rename(
        columns={"birth": "youngest"})
    birth, has_birth = p["birth"].to_numpy(), p["n_birth"].to_numpy() == 1
    area = households["area"].to_numpy(dtype=np.int64)
    n = households["n"].to_numpy(dtype=np.int64)
    youngest = households["youngest"].to_numpy(dtype=np.int64)
    all_known = (n > 0) & (households["n_birth"].to_numpy(dtype=np.int64) == n)
    alone = all_known & (n == 1)
    totals = pd.DataFrame({"area": area, "households": 1, "persons": n,
                           "party": households["party"].to_numpy(dtype=np.int64),
                           "contact": households["phone"].to_numpy(dtype=np.int64),
                           "bad_ids": households["bad_ids"].to_numpy(dtype=np.int64)}
                          ).groupby("area")[list(TOTALS)].sum()
    verified = households["verified"].to_numpy(dtype=np.int64)
    was_verified = verified != MISSING
    sections = {
        "verified": _histogram(area[was_verified], [verified[was_verified]]),
        "births": _sorted_days(p["area"].to_numpy(dtype=np.int64)[has_birth], birth[has_birth]),
        "elderly_only": _sorted_days(area[all_known], youngest[all_known]),
        "alone": _sorted_days(area[alone], youngest[alone]),
    }
    f = findings
    # Open on day D when found by then (created by the end of D, or by a cross-check as of D or earlier) and not
    # yet closed at the end of D: from `start` to the day before `stop`.
    created, run = _local_days(f["created_at"]), f["run_as_of"].to_numpy(dtype=np.int64)
    start = np.minimum(np.where(created == MISSING, NEVER, created), np.where(run == MISSING, NEVER, run))
    stop = np.where(f["open"].to_numpy(dtype=np.int64) == 1, NEVER, _local_days(f["closed_at"]))
    category = pd.Series(f["category"]).map({c: i for i, c in enumerate(CATEGORIES)}).fillna(-1).to_numpy(
        dtype=np.int64)
    opens = start < stop
    sections["findings"] = _histogram(f["area"].to_numpy(dtype=np.int64)[opens],
                                      [category[opens], start[opens], stop[opens]])
    worker = pd.factorize(pd.Series(visits["by"], dtype=object).fillna(""))[0].astype(np.int64)
    sections["visits"] = _histogram(visits["area"].to_numpy(dtype=np.int64), [_local_days(visits["at"]), worker])
    split = {name: _split(sections[name], list(areas), width) for name, width in _SECTIONS}
    totals = totals.reindex(list(areas), fill_value=0).to_numpy(dtype=np.int64)
    return {a: AreaCounts(totals[i], *(split[name][a] for name, _width in _SECTIONS)) for i, a in enumerate(areas)}


def compute_communities(session: Session, community_ids: Sequence[int]) -> dict[int, AreaCounts]:
    """Summaries of communities, from the store (no cache)."""
    if not community_ids:
        return {}
    B = models.Building
    ids = [int(c) for c in community_ids]
    where = [B.community_id.in_(ids)]
    return _summaries(ids, _person_rows(session, B.community_id, where), _community_finding_rows(session, ids),
                      _visit_rows(session, B.community_id, where))


def compute_grids(session: Session, community_id: int, grid_ids: Sequence[int]) -> dict[int, AreaCounts]:
    """Summaries of a community's grids (and of -1: its buildings in no grid), from the store."""
    B = models.Building
    area, where = func.coalesce(B.grid_id, -1), [B.community_id == community_id]
    return _summaries([*grid_ids, -1], _person_rows(session, area, where), _grid_finding_rows(session, community_id),
                      _visit_rows(session, area, where))


# --- The kept summaries -------------------------------------------------------------------------------------------

def _own_writes(session: Session) -> bool:
    """Whether the session's transaction has changed anything (then what it sees may yet be rolled back)."""
    if session.new or session.dirty or session.deleted:
        return True
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return conn.execute(text("SELECT txid_current_if_assigned()")).scalar() is not None
    return bool(conn.connection.dbapi_connection.in_transaction)


def _save(session: Session, rows: list[dict[str, Any]]) -> None:
    """Keep summaries, in a transaction of their own; when the store is busy (an import is writing), don't wait:
    they are computed again next time."""
    bind = session.get_bind()
    if not rows or isinstance(bind, Connection) or ":memory:" in str(bind.url):
        return
    sqlite = bind.dialect.name == "sqlite"
    S = models.CompareSummary.__table__
    try:
        with bind.connect() as conn:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={store.SQLITE_SHORT_WAIT_MS}")
            try:
                conn.execute(delete(S).where(S.c.community_id.in_([r["community_id"] for r in rows])))
                conn.execute(insert(S), rows)
                conn.commit()
            finally:
                conn.rollback()
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={store.SQLITE_BUSY_MS}")
                    conn.commit()
    except DBAPIError as exc:
        LOG.info("comparison summaries of %d communities not kept: %s", len(rows), type(exc.orig).__name__)


def warm(engine: Engine, community_ids: Sequence[int] | None = None) -> int:
    """Compute and keep the summaries of every community of the store (or of these) that has none valid, so the
    first street-office view after an upgrade or a large import is as fast as the next. Returns how many were
    computed. Safe beside other work: it only reads the register, and keeps what it computed in short writes."""
    V, S = models.CompareVersion, models.CompareSummary
    with Session(engine) as session:
        query = (select(V.community_id).outerjoin(S, and_(S.community_id == V.community_id, S.format == FORMAT,
                                                          S.version == V.version))
                 .where(S.community_id.is_(None)).order_by(V.community_id))
        if community_ids is not None:
            query = query.where(V.community_id.in_([int(c) for c in community_ids]))
        stale = list(session.scalars(query))
        for start in range(0, len(stale), CHUNK):
            community_summaries(session, stale[start:start + CHUNK])
            session.rollback()          # a fresh snapshot for the next chunk
    if stale:
        LOG.info("comparison summaries computed for %d communities", len(stale))
    return len(stale)


def community_summaries(session: Session, community_ids: Sequence[int]) -> dict[int, AreaCounts]:
    """Summaries of communities: the kept ones still valid, the others computed (and kept, unless the session has
    uncommitted changes of its own)."""
    V, S = models.CompareVersion, models.CompareSummary
    ids = [int(c) for c in community_ids]
    if not ids:
        return {}
    # The versions first: the data read after them is at least as new, so a summary is never stamped newer than
    # what it counted.
    versions = dict(session.execute(select(V.community_id, V.version).where(V.community_id.in_(ids))).all())
    out: dict[int, AreaCounts] = {}
    for community_id, version, data in session.execute(
            select(S.community_id, S.version, S.data).where(S.community_id.in_(ids), S.format == FORMAT)):
        if versions.get(community_id) == version:
            out[community_id] = AreaCounts.decode(data)
    stale = [c for c in ids if c not in out]
    for start in range(0, len(stale), CHUNK):        # a city from scratch: a chunk at a time, in bounded memory
        chunk = stale[start:start + CHUNK]
        computed = compute_communities(session, chunk)
        out.update(computed)
        if not _own_writes(session):
            now = models.utcnow()
            _save(session, [{"community_id": c, "version": versions[c], "format": FORMAT, "computed_at": now,
                             "data": computed[c].encode()} for c in chunk if c in versions])
    return out


# --- Evaluation ---------------------------------------------------------------------------------------------------

def _stack(summaries: Sequence[AreaCounts], name: str, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(area position of each row, rows) of one section over all areas."""
    parts = [getattr(s, name) for s in summaries]
    lengths = [len(p) for p in parts]
    rows = np.concatenate(parts) if parts else np.zeros((0, width), np.int64)
    return np.repeat(np.arange(len(parts)), lengths), rows.reshape(-1, width)


def evaluate(summaries: Sequence[AreaCounts], *, as_of: dt.date, window_days: int) -> dict[str, np.ndarray]:
    """Counts of the day `as_of`, one array per key (in `summaries` order): TOTALS and verified, elderly_persons,
    elderly_only, living_alone, open_findings, findings_<category> for each of CATEGORIES, visits, workers."""
    n = len(summaries)
    day, cutoff = day_number(as_of), day_number(indicators.elderly_cutoff(as_of))
    totals = np.vstack([s.totals for s in summaries]) if n else np.zeros((0, len(TOTALS)), np.int64)
    out = {key: totals[:, i].astype(float) for i, key in enumerate(TOTALS)}

    def on_or_before(name: str, width: int, last: int) -> np.ndarray:
        """Per area: the items (width 1) or the counts (width 2) of days up to `last`."""
        pos, rows = _stack(summaries, name, width)
        keep = rows[:, 0] <= last
        return np.bincount(pos[keep], weights=rows[keep, 1] if width == 2 else None, minlength=n).astype(float)

    out["verified"] = on_or_before("verified", 2, day)
    out["elderly_persons"] = on_or_before("births", 1, cutoff)
    out["elderly_only"] = on_or_before("elderly_only", 1, cutoff)
    out["living_alone"] = on_or_before("alone", 1, cutoff)
    pos, rows = _stack(summaries, "findings", 4)
    open_ = (rows[:, 1] <= day) & (day < rows[:, 2])
    out["open_findings"] = np.bincount(pos[open_], weights=rows[open_, 3], minlength=n).astype(float)
    known = open_ & (rows[:, 0] >= 0)
    by_category = np.bincount(pos[known] * len(CATEGORIES) + rows[known, 0], weights=rows[known, 3],
                              minlength=n * len(CATEGORIES)).reshape(n, len(CATEGORIES))
    for i, category in enumerate(CATEGORIES):
        out[f"findings_{category}"] = by_category[:, i].astype(float)
    # The window: the `window_days` days ending with as_of (China has kept UTC+8 without summer time since
    # 1991, so these are the stored times from day_end_utc(as_of) - window_days to day_end_utc(as_of)).
    pos, rows = _stack(summaries, "visits", 3)
    inside = (rows[:, 0] > day - window_days) & (rows[:, 0] <= day)
    out["visits"] = np.bincount(pos[inside], weights=rows[inside, 2], minlength=n).astype(float)
    pairs = np.unique(pos[inside] * (1 << 32) + rows[inside, 1])       # (area, worker), each once
    out["workers"] = np.bincount(pairs >> 32, minlength=n).astype(float)
    return out
