"""The store: engine, sessions, migrations, and every SQLite/PostGIS difference in one place.

Default: an SQLite file in WAL mode (settings.DEFAULT_DB_PATH). With a `postgresql+psycopg://` URL the same
tables live in PostgreSQL, and migrations add PostGIS geometry columns generated from the stored WKB.
"""
from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import shapely
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Table, create_engine, event, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from geodata import models
from geodata.errors import GridMapError
from geodata.settings import load_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Tables with a stored geometry (WKB, EPSG:4326); on PostGIS each also gets a generated `geom` column.
GEOMETRY_TABLES = ("community", "grid", "building", "path")
#: How long an SQLite connection waits for another's write to finish: the usual wait, and a short one for writes
#: that may be skipped (kept summaries).
SQLITE_BUSY_MS = 10000
SQLITE_SHORT_WAIT_MS = 200


def default_url() -> str:
    return load_settings().db_url


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    """An engine for `url` (default: the settings' store). Creates the SQLite file's folder if needed."""
    url = url or default_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True)
    raise GridMapError(f"GRIDMAP_DB: expected an sqlite:/// or postgresql+psycopg:// URL, got {url.split(':')[0]}:…")


def backend(engine: Engine) -> str:
    """'sqlite' or 'postgresql'."""
    return engine.dialect.name


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (default the newest); a store made by an older version upgrades in place."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_store(url: str | None = None) -> Engine:
    """Engine on `url`, migrated to the newest schema."""
    engine = make_engine(url)
    migrate(engine)
    return engine


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on any error (one transaction)."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _with_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[tuple]]:
    """Column names and value tuples for `rows` (dicts with the same keys), with the columns' Python-side
    defaults filled in as an ORM or Core insert would (COPY knows only server defaults)."""
    names = list(rows[0])
    extra = {}
    for col in table.columns:
        if col.name in names or col.primary_key or col.default is None:
            continue
        default = col.default
        if getattr(default, "is_scalar", False):
            extra[col.name] = lambda d=default: d.arg
        elif getattr(default, "is_callable", False):
            extra[col.name] = lambda d=default: d.arg(None)
    cols = names + list(extra)
    get = operator.itemgetter(*names)
    given = get if len(names) > 1 else lambda r: (get(r),)   # itemgetter of one name returns the bare value
    fns = list(extra.values())
    values = [given(r) + tuple(f() for f in fns) for r in rows] if fns else [given(r) for r in rows]
    return cols, values


def _copy(session: Session, table: Table, cols: list[str], values: list[tuple]) -> None:
    """PostgreSQL COPY FROM STDIN on the session's connection (same transaction)."""
    quoted = ", ".join(f'"{c}"' for c in cols)
    with session.connection().connection.dbapi_connection.cursor() as cursor, \
            cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in values:
            copy.write_row(row)


def _executemany(session: Session, table: Table, cols: list[str], values: list[tuple]) -> None:
    """SQLite: one INSERT prepared once and run by the driver for every row, each value passed through its
    column type's bind processor as a Core insert would (a Core executemany spends as long building each row's
    parameters as SQLite takes to insert it)."""
    dialect = session.get_bind().dialect
    procs = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in cols]
    if any(procs):
        columns = list(zip(*values))
        for i, proc in enumerate(procs):
            if proc is not None:
                columns[i] = tuple(map(proc, columns[i]))
        values = list(zip(*columns))
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
           f"VALUES ({', '.join('?' * len(cols))})")
    session.connection().exec_driver_sql(sql, values)


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]],
                returning: Sequence[str] = ()) -> dict[tuple, int]:
    """Insert many `rows` (dicts with the same keys) into `table` in the session's transaction.

    With `returning`, the new id of each row keyed by the tuple of those columns' values. On PostgreSQL the rows
    go in by COPY (ids taken from the table's sequence first): a multi-row INSERT of a large register spends
    most of its time having its SQL text split and parsed. On SQLite, the driver's executemany of one prepared
    INSERT (not the ORM's bulk insert, which splits rows into a statement per pattern of None values and splices
    the RETURNING rows back together at a cost growing with the square of the rows; nor a Core executemany, which
    builds every row's parameters through the compiled statement), the new ids read back after it.
    """
    if not rows:
        return {}
    if "id" in rows[0]:
        raise ValueError(f"bulk_insert into {table.name}: the store assigns ids; rows must not carry one")
    session.flush()     # pending ORM rows first: the rows may refer to them, and the driver call bypasses autoflush
    if session.get_bind().dialect.name != "postgresql":
        _executemany(session, table, *_with_defaults(table, rows))
        if not returning:
            return {}
        # SQLite gives a new row the id after the largest one (INTEGER PRIMARY KEY without AUTOINCREMENT), and
        # the transaction holds the write lock from its first insert on: the new rows are the last len(rows).
        new = select(table.c.id, *(table.c[k] for k in returning)).order_by(table.c.id.desc()).limit(len(rows))
        return {tuple(row[1:]): row[0] for row in reversed(session.execute(new).all())}
    cols, values = _with_defaults(table, rows)
    out: dict[tuple, int] = {}
    if returning:
        ids = session.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                              {"t": table.name, "n": len(rows)}).scalars().all()
        cols = ["id", *cols]
        values = [(i, *v) for i, v in zip(ids, values)]
        out = {tuple(r[k] for k in returning): i for i, r in zip(ids, rows)}
    _copy(session, table, cols, values)
    return out


def is_empty(engine: Engine) -> bool:
    """True when the store has no community yet (or no tables)."""
    if not inspect(engine).has_table("community"):
        return True
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(models.Community)) == 0


def to_wkb(geom: shapely.Geometry | None) -> bytes | None:
    return None if geom is None else shapely.to_wkb(geom)


def from_wkb(data: bytes | None) -> shapely.Geometry | None:
    return None if data is None else shapely.from_wkb(bytes(data))
