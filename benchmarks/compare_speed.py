"""Speed of the street-office comparison (geodata.compare), measured on a synthetic city.

Builds (once, cached under the temp folder) an SQLite store of a city: 1,000 communities of 1,000–5,000 households
(uniform), in streets of 10–15 communities (the first street has 15), written directly with bulk inserts — no
Excel, no loaders. Per community: 36-flat walk-ups, 3–12 grids, households of 1–4 persons (≈2.4 on average, 60+
≈34% of residents), import batches with their warning and quarantined rows, findings of every category (≈1.5 per
household, a third closed during March 2020), verification visits (≈0.3 per household), ≈80 events over four
months with their transitions. Checkpoint registrations and care contacts are not written: the comparison does not
read them at the community level.

Then times, on that store, only the indicator computation (median of --repeat runs, after one warm-up run):
community_indicators for one street of 15 communities and for the whole city, each three ways — with every
community's summary kept (geodata.summaries: the usual case), with one community changed just before (a worker
recorded a visit: that community is computed again), and computed from scratch (no summary kept: a store just
upgraded, or the first view after an import into every community) — plus compare_periods for the street and
grid_indicators for one community (grids are never kept). Prints one table. Targets: street ≤ 300 ms, city ≤ 3 s.

    python benchmarks/compare_speed.py                 # build the city if not cached, then measure
    python benchmarks/compare_speed.py --rebuild       # build it again
    python benchmarks/compare_speed.py --communities 200 --repeat 3
    python benchmarks/compare_speed.py --pg auto       # also on PostgreSQL: a private throwaway cluster
    python benchmarks/compare_speed.py --pg postgresql+psycopg://user@host/db   # or an existing database

With --pg the cached city is copied into PostgreSQL (COPY, then ANALYZE) and the same figures are measured there.
Times are wall-clock medians; the CPU column is this process's CPU time (the database work on SQLite, only the
client's share on PostgreSQL). On PostgreSQL the server CPU column adds up the CPU time of the server's processes
(the session's backend and its parallel workers), read from /proc when the server runs on this machine and its data
directory is readable (as with --pg auto); otherwise it is left blank. The load average is printed: on a shared
machine other processes inflate the wall-clock figures.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from geodata import compare, schema, store  # noqa: E402

#: Bump when the generator changes: a cached store of another version is rebuilt.
VERSION = 1
AS_OF = dt.date(2020, 3, 25)
AGAINST = dt.date(2020, 3, 11)
SEED = 20200325
FLATS_PER_BUILDING = 36          # 6 floors x 3 units x 2 flats
BLOCK = 50                       # communities generated and inserted per chunk

# Household types: (share, size, members aged 60+ (the first ones)).
TYPES = np.array([(0.12, 1, 1), (0.22, 2, 2), (0.08, 1, 0), (0.15, 2, 0), (0.18, 3, 0), (0.15, 4, 1),
                  (0.10, 3, 1)])
# Findings per household, by category (person-level ones point at the head).
FINDING_RATES = {
    schema.F_ABSENT_REGISTERED: 0.17, schema.F_PRESENT_UNREGISTERED: 0.09, schema.F_TENANT_CHANGED: 0.07,
    schema.F_OWNER_CHANGED: 0.03, schema.F_NEW_MEMBER: 0.016, schema.F_ID_AT_TWO_FLATS: 0.002,
    schema.F_BIRTH_MISMATCH: 0.02, schema.F_MISSING_PHONE: 0.12, schema.F_AMBIGUOUS_MATCH: 0.005,
    schema.F_CONFIRM_PARTY: 0.24,
}
SURNAMES = np.array(list("张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗"), dtype=object)
GIVEN = np.array(["民生", "建国", "秀英", "桂兰", "志强", "海燕", "丽华", "文明", "春梅", "国平", "玉珍", "永红",
                  "军", "敏", "静", "伟"], dtype=object)


def ts(values: np.ndarray) -> list[str]:
    """numpy datetime64[s] -> SQLAlchemy's SQLite DateTime text."""
    return [f"{v}.000000".replace("T", " ") for v in values.astype("datetime64[s]").astype(str)]


def day_text(values: np.ndarray) -> list[str]:
    return list(values.astype("datetime64[D]").astype(str))


class City:
    """Generates the city chunk by chunk with global ids, writing through one sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection, n_communities: int, street_size: int) -> None:
        self.conn = conn
        self.rng = np.random.default_rng(SEED)
        sizes, total = [street_size], street_size
        while total < n_communities:
            sizes.append(int(min(self.rng.integers(10, 16), n_communities - total)))
            total += sizes[-1]
        self.street_sizes = sizes[:] if total == n_communities else sizes
        self.households = self.rng.integers(1000, 5001, n_communities)
        self.next = {k: 1 for k in ("building", "flat", "household", "person", "finding", "visit", "event",
                                    "transition", "batch", "quarantine", "grid")}

    def ids(self, kind: str, n: int) -> np.ndarray:
        start = self.next[kind]
        self.next[kind] += n
        return np.arange(start, start + n)

    def insert(self, table: str, columns: tuple[str, ...], rows) -> None:  # type: ignore[no-untyped-def]
        marks = ", ".join("?" * len(columns))
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def build(self, progress=print) -> None:  # type: ignore[no-untyped-def]
        community_id = 0
        streets, communities = [], []
        for s, size in enumerate(self.street_sizes, start=1):
            streets.append((s, f"3204{s:05d}", f"合成街道{s:03d}", "合成区", 1))
            for _ in range(size):
                community_id += 1
                communities.append((community_id, s, f"3204{s:05d}{community_id % 1000:03d}",
                                    f"合成社区{community_id:04d}", f"合成新村{community_id:04d}", 1))
        self.insert("street", ("id", "code", "name", "district", "synthetic"), streets)
        self.insert("community", ("id", "street_id", "code", "name", "compound", "synthetic"), communities)
        n = len(communities)
        t0 = time.perf_counter()
        for start in range(0, n, BLOCK):
            for cid in range(start + 1, min(start + BLOCK, n) + 1):
                self.community(cid, int(self.households[cid - 1]))
            self.conn.commit()
            progress(f"  {min(start + BLOCK, n)}/{n} communities, {self.next['person'] - 1:,} persons, "
                     f"{time.perf_counter() - t0:.0f} s")

    def community(self, cid: int, n_households: int) -> None:
        rng = self.rng
        n_grids = int(np.clip(round(n_households / 400), 3, 12))
        grid_ids = self.ids("grid", n_grids)
        self.insert("grid", ("id", "community_id", "code", "name", "seq"),
                    [(int(g), cid, f"{cid:06d}{k + 1:02d}", f"第{k + 1}网格", k + 1) for k, g in enumerate(grid_ids)])
        n_buildings = int(np.ceil(n_households / 0.92 / FLATS_PER_BUILDING))
        building_ids = self.ids("building", n_buildings)
        building_grid = grid_ids[np.arange(n_buildings) * n_grids // n_buildings]
        self.insert("building", ("id", "community_id", "grid_id", "number", "label", "floors", "units", "has_lift"),
                    [(int(b), cid, int(g), str(k + 1), f"合成新村{k + 1}幢", 6, 3, 0)
                     for k, (b, g) in enumerate(zip(building_ids, building_grid))])
        n_flats = n_buildings * FLATS_PER_BUILDING
        flat_ids = self.ids("flat", n_flats)
        k = np.tile(np.arange(FLATS_PER_BUILDING), n_buildings)
        flat_building = np.repeat(building_ids, FLATS_PER_BUILDING)
        unit, floor = k // 12 + 1, (k % 12) // 2 + 1
        room = floor * 100 + k % 2 + 1
        self.insert("flat", ("id", "building_id", "unit", "floor", "room", "residence_status"),
                    zip(flat_ids.tolist(), flat_building.tolist(), unit.tolist(), floor.tolist(),
                        room.astype(str).tolist(), [schema.RES_OWNER] * n_flats))

        # batches: grids, buildings, register, checkpoint (imported in late February)
        batch_ids = self.ids("batch", 4)
        kinds = (schema.K_GRIDS, schema.K_BUILDINGS, schema.K_REGISTER, schema.K_CHECKPOINT)
        self.insert("import_batch", ("id", "community_id", "kind", "file_name", "file_hash", "created_at",
                                     "created_by", "rows_read", "imported", "quarantined", "skipped"),
                    [(int(b), cid, kind, f"{kind}.xlsx", f"{cid:08d}{kind}", f"2020-02-2{i} 09:00:00.000000",
                      "bench", 0, 0, 0, 0) for i, (b, kind) in enumerate(zip(batch_ids, kinds))])
        register_batch, checkpoint_batch = int(batch_ids[2]), int(batch_ids[3])

        # households in 92% of the flats
        occupied = np.sort(rng.choice(n_flats, n_households, replace=False))
        hh_ids = self.ids("household", n_households)
        hh_flat = flat_ids[occupied]
        hh_grid = building_grid[occupied // FLATS_PER_BUILDING]
        types = rng.choice(len(TYPES), n_households, p=TYPES[:, 0] / TYPES[:, 0].sum())
        size, n60 = TYPES[types, 1].astype(int), TYPES[types, 2].astype(int)
        verified = rng.random(n_households) < 0.25
        verified_day = np.datetime64("2020-03-02") + rng.integers(0, 24, n_households)
        verified_text = day_text(verified_day)
        self.insert("household", ("id", "flat_id", "head_name", "residence_status", "active", "verified_at",
                                  "verified_by", "version", "batch_id"),
                    zip(hh_ids.tolist(), hh_flat.tolist(), [None] * n_households,
                        [schema.RES_OWNER] * n_households, [1] * n_households,
                        [v if f else None for v, f in zip(verified_text, verified)],
                        ["bench" if f else None for f in verified], [1] * n_households,
                        [register_batch] * n_households))

        # persons
        n_persons = int(size.sum())
        person_ids = self.ids("person", n_persons)
        person_hh = np.repeat(hh_ids, size)
        first = np.repeat(np.cumsum(size) - size, size)
        position = np.arange(n_persons) - first
        elderly = position < np.repeat(n60, size)
        birth = np.where(elderly, np.datetime64("1925-01-01") + rng.integers(0, 35 * 365, n_persons),
                         np.datetime64("1961-01-01") + rng.integers(0, 58 * 365, n_persons))
        birth_text = day_text(birth)
        party = np.where(rng.random(n_persons) < 0.11, "01", "13")
        has_phone = rng.random(n_persons) < np.where(position == 0, 0.95, 0.6)
        phone = [f"13{d:09d}" if f else None for d, f in
                 zip(rng.integers(0, 10**9, n_persons).tolist(), has_phone)]
        u = rng.random(n_persons)
        id_status = np.where(u < 0.03, schema.ID_EXCEL_FLOAT, np.where(u < 0.05, schema.ID_BAD_CHECKSUM,
                                                                       schema.ID_OK))
        id_number = [f"320411{b.replace('-', '')}{p % 1000:03d}{'0' if s == schema.ID_EXCEL_FLOAT else 'X'}"
                     for b, p, s in zip(birth_text, person_ids.tolist(), id_status)]
        names = (rng.choice(SURNAMES, n_persons) + rng.choice(GIVEN, n_persons)).tolist()
        sheet = [f"第{(g - grid_ids[0]) + 1}网格" for g in np.repeat(hh_grid, size).tolist()]
        rows = np.arange(3, n_persons + 3)
        self.insert("person", ("id", "household_id", "name", "relation", "relation_text", "id_number", "id_raw",
                               "id_status", "sex", "birth_date", "birth_raw", "phone", "phone_raw",
                               "political_status", "hukou_type", "active", "version", "batch_id", "source_sheet",
                               "source_row"),
                    zip(person_ids.tolist(), person_hh.tolist(), names,
                        np.where(position == 0, "02", "10").tolist(), np.where(position == 0, "户主", "配偶").tolist(),
                        id_number, id_number, id_status.tolist(),
                        np.where(rng.random(n_persons) < 0.5, "M", "F").tolist(), birth_text, birth_text, phone,
                        phone, party.tolist(), [schema.HUKOU_LOCAL] * n_persons, [1] * n_persons, [1] * n_persons,
                        [register_batch] * n_persons, sheet, rows.tolist()))

        # quarantine: the register's ID warnings, phone and birth warnings, skipped and quarantined rows;
        # checkpoint warnings
        bad = np.nonzero(id_status != schema.ID_OK)[0]
        phone_warn = np.nonzero(rng.random(n_persons) < 0.02)[0]
        birth_warn = np.nonzero(rng.random(n_persons) < 0.01)[0]
        q_rows = ([(register_batch, sheet[i], int(rows[i]), schema.ID_NUMBER, id_number[i], "身份证号问题", "warning")
                   for i in bad]
                  + [(register_batch, sheet[i], int(rows[i]), schema.PHONE, "8013", "电话号码无效", "warning")
                     for i in phone_warn]
                  + [(register_batch, sheet[i], int(rows[i]), schema.BIRTH_DATE, "1989.08", "出生日期不符", "warning")
                     for i in birth_warn]
                  + [(register_batch, "第1网格", 1000000 + j, None, None, "空行", "skipped") for j in range(50)]
                  + [(register_batch, "第1网格", 2000000 + j, schema.BUILDING, "99", "楼栋不在本社区", "quarantined")
                     for j in range(n_households // 300)]
                  + [(checkpoint_batch, "卡口登记", 10 + j, schema.PHONE, "8013", "电话号码无效", "warning")
                     for j in range(int(n_households * 0.03))])
        q_ids = self.ids("quarantine", len(q_rows))
        self.insert("quarantine_row", ("id", "batch_id", "file_name", "sheet", "row", "column", "value", "reason",
                                       "kind", "resolved"),
                    [(int(i), b, "register.xlsx", sh, r, col, v, why, kind, 0)
                     for i, (b, sh, r, col, v, why, kind) in zip(q_ids, q_rows)])

        # findings: every category; person-level ones point at the head (or the person with the bad ID)
        heads = person_ids[np.cumsum(size) - size]
        cats, f_hh, f_person = [], [], []
        for category, rate in FINDING_RATES.items():
            pick = np.nonzero(rng.random(n_households) < rate)[0]
            cats += [category] * len(pick)
            f_hh.append(pick)
            f_person.append(heads[pick] if category in schema.PERSON_FINDINGS else np.zeros(len(pick), int))
        pick = np.nonzero(n60 > 0)[0]
        cats += [schema.F_CONFIRM_ELDERLY] * len(pick)
        f_hh.append(pick)
        f_person.append(np.zeros(len(pick), int))
        person_index = np.searchsorted(hh_ids, person_hh[bad])
        cats += [schema.F_ID_CORRUPTED if id_status[i] == schema.ID_EXCEL_FLOAT else schema.F_ID_INVALID for i in bad]
        f_hh.append(person_index)
        f_person.append(person_ids[bad])
        f_hh_index, f_person_id = np.concatenate(f_hh), np.concatenate(f_person)
        n_findings = len(cats)
        closed = rng.random(n_findings) < 0.35
        closed_at = ts(np.datetime64("2020-03-02T02:00") + rng.integers(0, 24 * 24 * 60, n_findings)
                       .astype("timedelta64[m]"))
        self.insert("finding", ("id", "community_id", "category", "flat_id", "household_id", "person_id", "status",
                                "run_as_of", "created_at", "closed_at"),
                    zip(self.ids("finding", n_findings).tolist(), [cid] * n_findings, cats,
                        hh_flat[f_hh_index].tolist(), hh_ids[f_hh_index].tolist(),
                        [int(p) or None for p in f_person_id.tolist()],
                        [schema.FINDING_CLOSED if c else schema.FINDING_OPEN for c in closed],
                        ["2020-03-01"] * n_findings, ["2020-03-01 02:00:00.000000"] * n_findings,
                        [t if c else None for t, c in zip(closed_at, closed)]))

        # visits: ~0.3 per household during March, by 2-3 workers per grid
        n_visits = int(n_households * 0.3)
        v_hh = rng.integers(0, n_households, n_visits)
        workers = max(2, int(n_grids * 2.5))
        v_at = ts(np.datetime64("2020-03-02T01:00") + rng.integers(0, 24 * 24 * 60, n_visits)
                  .astype("timedelta64[m]"))
        self.insert("visit", ("id", "household_id", "flat_id", "at", "by", "method", "result"),
                    zip(self.ids("visit", n_visits).tolist(), hh_ids[v_hh].tolist(), hh_flat[v_hh].tolist(), v_at,
                        [f"c{cid}w{w}" for w in rng.integers(0, workers, n_visits).tolist()],
                        rng.choice([schema.M_PHONE, schema.M_DOOR, schema.M_WINDOW], n_visits).tolist(),
                        rng.choice([schema.R_CONFIRMED, schema.R_CORRECTED, schema.R_UNREACHABLE, schema.R_REVISIT],
                                   n_visits, p=[0.5, 0.3, 0.1, 0.1]).tolist()))

        # events: ~20 a month from December to late March, with their transitions
        n_events = int(rng.poisson(78))
        e_ids = self.ids("event", n_events)
        e_flat = rng.integers(0, n_flats, n_events)
        reported = np.datetime64("2019-12-01T00:00") + rng.integers(0, 115 * 24 * 60, n_events).astype(
            "timedelta64[m]")
        u = rng.random(n_events)
        state = np.where(u < 0.75, schema.E_CLOSED, np.where(u < 0.80, schema.E_REJECTED,
                                                              np.where(u < 0.83, schema.E_ON_HOLD,
                                                                       schema.E_DISPATCHED)))
        took = (rng.exponential(3 * 24 * 60, n_events) + 60).astype(int).astype("timedelta64[m]")
        closed_when = reported + took
        is_closed = (state == schema.E_CLOSED) & (closed_when < np.datetime64("2020-03-25T12:00"))
        state = np.where((state == schema.E_CLOSED) & ~is_closed, schema.E_IN_PROGRESS, state)
        reported_text, closed_text = ts(reported), ts(closed_when)
        self.insert("event", ("id", "community_id", "building_id", "flat_id", "category", "description", "state",
                              "reported_at", "closed_at"),
                    zip(e_ids.tolist(), [cid] * n_events, flat_building[e_flat].tolist(), flat_ids[e_flat].tolist(),
                        rng.choice(list(schema.EVENT_CATEGORY_LABELS), n_events).tolist(), ["合成事件"] * n_events,
                        state.tolist(), reported_text, [c if f else None for c, f in zip(closed_text, is_closed)]))
        path = {schema.E_CLOSED: (schema.E_REPORTED, schema.E_ACCEPTED, schema.E_DISPATCHED, schema.E_IN_PROGRESS,
                                  schema.E_HANDLED, schema.E_VERIFYING, schema.E_CLOSED),
                schema.E_REJECTED: (schema.E_REPORTED, schema.E_REJECTED),
                schema.E_ON_HOLD: (schema.E_REPORTED, schema.E_ACCEPTED, schema.E_ON_HOLD),
                schema.E_DISPATCHED: (schema.E_REPORTED, schema.E_ACCEPTED, schema.E_DISPATCHED),
                schema.E_IN_PROGRESS: (schema.E_REPORTED, schema.E_ACCEPTED, schema.E_DISPATCHED,
                                       schema.E_IN_PROGRESS)}
        transitions = []
        for eid, st, rep, clo, took_m in zip(e_ids.tolist(), state.tolist(), reported, closed_when,
                                             took.astype(int).tolist()):
            steps = path[st]
            span = (took_m if st == schema.E_CLOSED else 24 * 60) // len(steps)
            for j, to in enumerate(steps):
                at = clo if (st == schema.E_CLOSED and to == schema.E_CLOSED) else rep + np.timedelta64(j * span, "m")
                transitions.append((eid, steps[j - 1] if j else None, to, at))
        t_ids = self.ids("transition", len(transitions))
        at_text = ts(np.array([t[3] for t in transitions], dtype="datetime64[m]"))
        self.insert("event_transition", ("id", "event_id", "from_state", "to_state", "at", "by"),
                    [(int(i), e, f, to, a, "bench") for i, (e, f, to, _), a in zip(t_ids, transitions, at_text)])


def build_city(path: Path, n_communities: int, street_size: int) -> None:
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = store.open_store(f"sqlite:///{partial}")       # the real schema, through the migrations
    engine.dispose()
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    City(conn, n_communities, street_size).build()
    conn.execute("PRAGMA journal_mode=WAL")
    conn.commit()
    conn.close()
    os.replace(partial, path)


#: Tables in foreign-key order, as the city writes them.
CITY_TABLES = ("street", "community", "grid", "building", "flat", "import_batch", "household", "person",
               "quarantine_row", "finding", "visit", "event", "event_transition")


def copy_to_postgres(sqlite_path: Path, url: str) -> None:
    """Copy the city into the PostgreSQL database at `url` (schema through the migrations), unless it is there."""
    import psycopg
    from geodata import models
    engine = store.open_store(url)
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM community")).scalar()
    engine.dispose()
    src = sqlite3.connect(sqlite_path)
    if have == src.execute("SELECT count(*) FROM community").fetchone()[0]:
        print(f"PostgreSQL already holds the city ({have} communities)")
        return
    t0 = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
        for table in CITY_TABLES:
            columns = [c.name for c in models.Base.metadata.tables[table].columns]
            names = ", ".join(f'"{c}"' for c in columns)
            with pg.cursor() as cur, cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in src.execute(f"SELECT {names} FROM \"{table}\""):
                    copy.write_row(row)
            pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))")
            pg.commit()
            print(f"  copied {table} ({time.perf_counter() - t0:.0f} s)")
        pg.autocommit = True
        pg.execute("ANALYZE")
    print(f"copied to PostgreSQL in {time.perf_counter() - t0:.0f} s")


def _proc_times(pid: int) -> tuple[int, list[int]]:
    """(parent pid, [utime, stime, cutime, cstime] in clock ticks) of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()     # after the command name, which may hold spaces
    return int(fields[1]), [int(x) for x in fields[11:15]]


def server_cpu_clock(session: Session) -> Callable[[], float] | None:
    """A function returning the CPU seconds used so far by the PostgreSQL server of `session` — the postmaster's
    children now running plus those it has reaped (parallel workers) — or None when that server's processes cannot
    be read here (another machine, or not allowed)."""
    try:
        data_dir = session.execute(text("SHOW data_directory")).scalar()
        postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
        _proc_times(postmaster)
    except Exception:  # noqa: BLE001 - any failure means the server's CPU cannot be read from here
        session.rollback()
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def clock() -> float:
        total = sum(_proc_times(postmaster)[1])
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    parent, times = _proc_times(int(entry))
                except OSError:      # the process has ended meanwhile
                    continue
                if parent == postmaster:
                    total += times[0] + times[1]
        return total / tick
    return clock


def timed(fn: Callable[[], object], repeat: int, server_clock: Callable[[], float] | None = None,
          setup: Callable[[], object] | None = None) -> tuple[float, float, float, float | None]:
    """(median wall time, max wall time, median CPU time of this process, median server CPU time or None) of
    `repeat` runs after a warm-up; `setup` (not timed) runs before each."""
    if setup:
        setup()
    fn()    # warm-up: statement compilation, caches
    wall, cpu, server = [], [], []
    for _ in range(repeat):
        if setup:
            setup()
        before = server_clock() if server_clock else 0.0
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        if server_clock:
            server.append(server_clock() - before)
    return (statistics.median(wall), max(wall), statistics.median(cpu),
            statistics.median(server) if server else None)


def _forget(engine, community_ids: list[int] | None) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    """A setup that throws away the kept summaries of these communities (None: all)."""
    def run() -> None:
        with engine.begin() as conn:
            where = "" if community_ids is None else f" WHERE community_id IN ({','.join(map(str, community_ids))})"
            conn.execute(text("DELETE FROM compare_summary" + where))
    return run


def _touch(engine, community_id: int) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    """A setup that changes one household of a community (its verification day, back and forth), as a worker's
    visit would: the community's summary has to be computed again, the others are kept."""
    def run() -> None:
        with engine.begin() as conn:
            conn.execute(text(
                "UPDATE household SET verified_at = CASE WHEN verified_at IS NULL THEN :day ELSE NULL END "
                "WHERE id = (SELECT min(h.id) FROM household h JOIN flat f ON f.id = h.flat_id "
                "JOIN building b ON b.id = f.building_id WHERE b.community_id = :c)"),
                {"day": AS_OF, "c": community_id})
    return run


def measure(url: str, backend: str, repeat: int, cold_repeat: int) -> None:
    engine = store.open_store(url)          # a city cached by an older version gets the newer migrations
    with Session(engine) as s:
        server_clock = server_cpu_clock(s) if backend == "postgresql" else None
        street_id, community_id = 1, 1
        street_ids = list(s.scalars(text("SELECT id FROM community WHERE street_id = 1 ORDER BY id")))
        city_n = s.scalar(text("SELECT count(*) FROM community"))
        s.rollback()

        def street() -> object:
            s.rollback()            # a new transaction: it sees the setup's change
            return compare.community_indicators(s, street_id, as_of=AS_OF)

        def city() -> object:
            s.rollback()
            return compare.community_indicators(s, None, as_of=AS_OF)
        runs = [
            (f"street ({len(street_ids)} communities), summaries kept", 0.3, street, None, repeat),
            ("street, one community changed just before", 0.3, street, _touch(engine, community_id), repeat),
            ("street, computed from scratch (no summary kept)", None, street, _forget(engine, street_ids), repeat),
            ("compare_periods, street, summaries kept", None,
             lambda: compare.compare_periods(s, street_id, AS_OF, AGAINST), None, repeat),
            ("grid_indicators, one community (never kept)", None,
             lambda: compare.grid_indicators(s, community_id, as_of=AS_OF), None, repeat),
            (f"city ({city_n} communities), summaries kept", 3.0, city, None, repeat),
            ("city, one community changed just before", 3.0, city, _touch(engine, community_id), repeat),
            ("city, computed from scratch (no summary kept)", None, city, _forget(engine, None), cold_repeat),
        ]
        for name, target, fn, setup, n in runs:
            median, worst, cpu, server = timed(fn, n, server_clock, setup)
            ok = "" if target is None else ("yes" if median <= target else "NO")
            tgt = "" if target is None else f"{target * 1000:.0f} ms"
            server_text = "" if server is None else f"{server * 1000:8.0f} ms"
            print(f"{backend:10s} {name:56s} {median * 1000:8.0f} ms {worst * 1000:8.0f} ms {cpu * 1000:8.0f} ms "
                  f"{server_text:>11s} {tgt:>8s}  {ok}", flush=True)
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--communities", type=int, default=1000)
    p.add_argument("--street-size", type=int, default=15)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--cold-repeat", type=int, default=1, help="runs of the city computed from scratch (slow)")
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--cache-dir", default=tempfile.gettempdir())
    p.add_argument("--pg", help="also measure on PostgreSQL: a database URL, or 'auto' for a private cluster")
    args = p.parse_args(argv)

    path = Path(args.cache_dir) / f"gridmap_compare_city_v{VERSION}_{args.communities}_{args.street_size}.db"
    if args.rebuild or not path.exists():
        print(f"building the synthetic city ({args.communities} communities) → {path}")
        t = time.perf_counter()
        build_city(path, args.communities, args.street_size)
        print(f"built in {time.perf_counter() - t:.0f} s ({path.stat().st_size / 1e9:.1f} GB)")
    else:
        print(f"using the cached city {path} (--rebuild to build it again)")

    with sqlite3.connect(path) as conn:
        sizes = dict(conn.execute(
            "SELECT 'households', count(*) FROM household UNION ALL SELECT 'persons', count(*) FROM person "
            "UNION ALL SELECT 'findings', count(*) FROM finding UNION ALL SELECT 'visits', count(*) FROM visit "
            "UNION ALL SELECT 'events', count(*) FROM event").fetchall())
    print("store: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    cluster = None
    pg_url = args.pg
    if args.pg == "auto":
        from tests import pgcluster
        cluster = pgcluster.Cluster()
        pg_url = pgcluster.create_database(cluster.base, "gridmap_compare_city")
    try:
        if pg_url:
            copy_to_postgres(path, pg_url)
        print(f"\nload average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; "
              f"median of {args.repeat} runs after a warm-up\n")
        print(f"{'backend':10s} {'what':56s} {'median':>11s} {'max':>11s} {'CPU':>11s} {'server CPU':>11s} "
              f"{'target':>8s}  ok")
        measure(f"sqlite:///{path}", "sqlite", args.repeat, args.cold_repeat)
        if pg_url:
            measure(pg_url, "postgresql", args.repeat, args.cold_repeat)
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
