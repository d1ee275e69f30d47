"""Store round trips on both backends (SQLite and PostgreSQL + PostGIS), migrations and the change log."""
from __future__ import annotations

import datetime as dt

import pytest
import shapely
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from geodata import history, models, schema, store


def _sample(session: Session) -> models.Person:
    street = models.Street(name="河海街道", code="320411003")
    community = models.Community(street=street, name="兰翔社区", compound="兰翔新村",
                                 geom_wkb=store.to_wkb(shapely.box(119.96, 31.81, 119.97, 31.82)))
    grid = models.Grid(community=community, code="32041100300101", name="第一网格", seq=1)
    building = models.Building(community_id=None, number="12", label="兰翔新村12幢", floors=6, units=4,
                               geom_wkb=store.to_wkb(shapely.box(119.961, 31.811, 119.9616, 31.8111)))
    session.add_all([street, community, grid])
    session.flush()
    building.community_id, building.grid_id = community.id, grid.id
    flat = models.Flat(building=building, unit=4, floor=2, room="202", residence_status=schema.RES_OWNER)
    household = models.Household(flat=flat, head_name="张民生", residence_status=schema.RES_OWNER)
    person = models.Person(household=household, name="张民生", relation=schema.HEAD_RELATION,
                           id_number="32041119520312041X", id_status=schema.ID_OK,
                           birth_date=dt.date(1952, 3, 12), sex=schema.SEX_MALE, phone="13812345678",
                           political_status="01")
    session.add_all([building, flat, household, person])
    session.flush()
    return person


def test_round_trip(db_url):
    engine = store.open_store(db_url)
    assert store.is_empty(engine)
    with store.session_scope(engine) as s:
        _sample(s)
    assert not store.is_empty(engine)
    with Session(engine) as s:
        p = s.scalars(select(models.Person)).one()
        assert (p.name, p.id_number, p.birth_date) == ("张民生", "32041119520312041X", dt.date(1952, 3, 12))
        b = p.household.flat.building
        assert b.label == "兰翔新村12幢"
        geom = store.from_wkb(b.geom_wkb)
        assert geom.equals_exact(shapely.box(119.961, 31.811, 119.9616, 31.8111), 1e-12)
        assert p.household.flat.room == "202"


def test_transaction_rolls_back_on_error(db_url):
    engine = store.open_store(db_url)
    with pytest.raises(RuntimeError):
        with store.session_scope(engine) as s:
            _sample(s)
            raise RuntimeError("crash mid-import")
    assert store.is_empty(engine)


def test_bulk_insert_returns_ids_fills_defaults_and_rolls_back(db_url):
    """The bulk path (COPY on PostgreSQL, executemany on SQLite): ids match their rows, Python-side defaults are
    applied as an ORM insert would, awkward text survives, and it is part of the session's transaction."""
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        flat_id = _sample(s).household.flat_id
    awkward = ["王\t小明", "李\\四", "O'Neil \"x\"", "赵\n五", "钱,七"]
    rows = [{"flat_id": flat_id, "head_name": name, "residence_status": None, "landlord": None}
            for name in awkward]
    with store.session_scope(engine) as s:
        ids = store.bulk_insert(s, models.Household.__table__, rows, ("head_name",))
        assert sorted(ids) == sorted((n,) for n in awkward) and len(set(ids.values())) == len(awkward)
        people = [{"household_id": ids[(n,)], "name": n, "id_status": schema.ID_MISSING,
                   "birth_date": dt.date(1950, 1, 2)} for n in awkward]
        assert store.bulk_insert(s, models.Person.__table__, people) == {}
    with Session(engine) as s:
        for name, hid in ids.items():
            hh = s.get(models.Household, hid)
            assert (hh.head_name, hh.active, hh.version) == (name[0], True, 1)
            (p,) = hh.persons
            assert (p.name, p.birth_date, p.active, p.version) == (name[0], dt.date(1950, 1, 2), True, 1)
        # the ORM goes on from the ids the bulk path took
        extra = models.Household(flat_id=flat_id, head_name="孙八")
        s.add(extra)
        s.commit()
        assert extra.id > max(ids.values())
    with pytest.raises(RuntimeError):
        with store.session_scope(engine) as s:
            store.bulk_insert(s, models.Household.__table__, rows[:1])
            raise RuntimeError("crash mid-import")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.Household)) == 1 + len(awkward) + 1


def test_change_log_keeps_who_when_how_old_new(db_url):
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        person = _sample(s)
        rows = history.apply_changes(s, person, {"phone": "13900001111", "name": "张民生"}, by="worker1",
                                     how=schema.HOW_VISIT)
        assert len(rows) == 1  # the unchanged name is not logged
        pid = person.id
    with Session(engine) as s:
        log = history.history_of(s, schema.ENTITY_PERSON, pid)
        assert [(r.field, r.old, r.new, r.by, r.how) for r in log] == [
            ("phone", "13812345678", "13900001111", "worker1", schema.HOW_VISIT)]
        assert s.get(models.Person, pid).phone == "13900001111"


def test_concurrent_edit_is_refused(db_url):
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        pid = _sample(s).id
    a, b = Session(engine), Session(engine)
    pa, pb = a.get(models.Person, pid), b.get(models.Person, pid)
    pa.phone = "13900000001"
    a.commit()
    pb.phone = "13900000002"
    with pytest.raises(StaleDataError):
        b.commit()
    b.rollback()
    with Session(engine) as s:
        assert s.get(models.Person, pid).phone == "13900000001"
    a.close(), b.close()


def test_migrations_from_empty_and_upgrade_keeps_data(db_url):
    engine = store.make_engine(db_url)
    store.migrate(engine, "0001")
    assert store.current_revision(engine) == "0001"
    with store.session_scope(engine) as s:
        s.add(models.Street(name="河海街道"))
    store.migrate(engine)
    assert store.current_revision(engine) == "0004"
    with Session(engine) as s:
        assert s.scalars(select(models.Street.name)).all() == ["河海街道"]
    tables = set(inspect(engine).get_table_names())
    assert {"person", "household", "finding", "visit", "event", "event_transition", "care_contact", "app_user",
            "user_grid", "audit_log", "change_log", "import_batch", "quarantine_row",
            "checkpoint_registration"} <= tables
    finding_indexes = {ix["name"] for ix in inspect(engine).get_indexes("finding")}
    assert {"ix_finding_person_id", "ix_finding_checkpoint_id", "ix_finding_household_id"} <= finding_indexes


def test_sqlite_uses_wal(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_postgis_geometry_is_generated_from_wkb(pg_url):
    engine = store.open_store(pg_url)
    with store.session_scope(engine) as s:
        _sample(s)
    with engine.connect() as conn:
        srid, inside = conn.execute(text(
            "SELECT ST_SRID(b.geom), ST_Within(b.geom, c.geom) FROM building b, community c")).one()
    assert (srid, inside) == (4326, True)


def test_bad_url_is_a_clear_error():
    with pytest.raises(ValueError, match="GRIDMAP_DB"):
        store.make_engine("mysql://x")


def test_models_and_migrations_agree(tmp_path):
    """A column or index added to geodata.models needs its migration: the migrated schema has nothing to add."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    engine = store.open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), models.Base.metadata) == []
    engine.dispose()
