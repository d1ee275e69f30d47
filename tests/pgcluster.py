"""A private PostgreSQL + PostGIS cluster for the tests: initdb into a temp dir, own port, trust auth.

As root, the server runs as the `postgres` system user (initdb refuses root). Set GRIDMAP_TEST_PG to a server
URL to use an existing server instead.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql postgresql-15-postgis-3)")
        self.dir = Path(tempfile.mkdtemp(prefix="gridmap-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._prefix = ["runuser", "-u", "postgres", "--"]
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--locale=C.UTF-8"])
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                   f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off", "start"])
        self.pg_ctl = pg_ctl
        self.base = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _run(self, cmd: list[str]) -> None:
        subprocess.run(self._prefix + cmd, check=True, capture_output=True, cwd="/")

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    """CREATE DATABASE `name` (dropping an old one) and return its SQLAlchemy URL."""
    import psycopg
    dsn = base_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    for _ in range(50):
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            break
        except psycopg.OperationalError:
            time.sleep(0.2)
    return f"{base_url}/{name}"
