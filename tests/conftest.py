"""Shared fixtures: stores on both backends (SQLite file, private PostgreSQL + PostGIS cluster)."""
from __future__ import annotations

import itertools
import os

import pytest

from tests import pgcluster

_counter = itertools.count()


def _required(kind: str) -> bool:
    """In CI (GRIDMAP_REQUIRE=postgres,browser) a missing backend fails instead of skipping."""
    return kind in os.environ.get("GRIDMAP_REQUIRE", "").split(",")


@pytest.fixture(scope="session")
def pg_base_url():
    """Base URL (no database) of a PostgreSQL server for the whole session."""
    if os.environ.get("GRIDMAP_TEST_PG"):
        yield os.environ["GRIDMAP_TEST_PG"].rstrip("/")
        return
    try:
        cluster = pgcluster.Cluster()
    except Exception as exc:  # noqa: BLE001 - any failure to start means no PostgreSQL here
        if _required("postgres"):
            pytest.fail(f"PostgreSQL is required here but could not start: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")
    yield cluster.base
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    base = request.getfixturevalue("pg_base_url")
    return pgcluster.create_database(base, f"gridmap_t{os.getpid()}_{next(_counter)}")


@pytest.fixture
def pg_url(pg_base_url):
    return pgcluster.create_database(pg_base_url, f"gridmap_t{os.getpid()}_{next(_counter)}")


@pytest.fixture(scope="session")
def lanxiang_store(tmp_path_factory):
    """(url, manifest, raw dir) of a store holding the demo's 兰翔社区, loaded once through the real import path."""
    from geodata import store
    from geodata.settings import load_settings
    from loaders import demo
    root = tmp_path_factory.mktemp("lanxiang")
    settings = load_settings(db_url=f"sqlite:///{root / 'store.db'}", demo_dir=str(root / "raw"))
    engine = store.make_engine(settings.db_url)
    manifest = demo.build_demo(engine, settings, reset=True, only=["兰翔社区"], progress=None)
    engine.dispose()
    return settings.db_url, manifest, root / "raw"
