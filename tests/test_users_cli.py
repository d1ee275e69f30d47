"""`python -m dashboard users …`: add, list, disable/enable, reset-password on a temporary store."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import users
from geodata import access, models, schema, store
from geodata.errors import AccessDenied
from geodata.settings import ROOT
from tests.test_access import build_world


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch):
    monkeypatch.setattr(access, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    engine = store.open_store(url)
    with store.session_scope(engine) as s:
        build_world(s)
    engine.dispose()
    return url


def run(db, *argv):
    return users.main(["--db", db, *argv])


def test_add_with_generated_password(db, capsys):
    assert run(db, "add", "wang", "--role", "grid_worker", "--grid", "32041100300101") == 0
    out = capsys.readouterr().out
    password = re.search(r"初始密码.*: (\S+)", out).group(1)
    engine = store.make_engine(db)
    with Session(engine) as s:
        user = access.authenticate(s, "wang", password)
        assert user.must_change_password and user.role == schema.ROLE_GRID_WORKER
        grid = s.scalar(select(models.Grid).where(models.Grid.code == "32041100300101"))
        assert access.scope_for(s, "wang").grid_ids == frozenset({grid.id})
        entry = s.scalar(select(models.AuditLog).where(models.AuditLog.action == schema.A_CHANGE,
                                                       models.AuditLog.target_id == "wang"))
        assert entry.username.startswith("cli:") and password not in (entry.detail or "")
    engine.dispose()


def test_add_each_role_and_list(db, capsys):
    assert run(db, "add", "jd", "--role", "街道工作人员", "--street", "河海街道", "--password", "street-pass-1") == 0
    assert run(db, "add", "sq", "--role", "community_admin", "--community", "兰翔社区",
               "--password", "admin-pass-1", "--display-name", "李主任") == 0
    # grid names repeat across communities: resolved within --community
    assert users.main(["users", "--db", db, "add", "wgz", "--role", "leader", "--community", "兰翔社区",
                       "--grid", "第一网格", "第二网格", "--password", "leader-pass-1"]) == 0
    out = capsys.readouterr().out
    assert "admin-pass-1" not in out and "初始密码" not in out
    assert run(db, "list") == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["username", "role", "street"]
    assert any(line.startswith("wgz") and "32041100300101,32041100300102" in line for line in lines)
    assert any(line.startswith("sq") and "兰翔社区" in line and "李主任" in line for line in lines)
    assert not re.search(r"scrypt|pbkdf2|\$", table)


def test_errors_are_one_clean_line(db, capsys):
    assert run(db, "add", "x1", "--role", "grid_worker", "--grid", "第一网格") == 1      # two communities have it
    err = capsys.readouterr().err
    assert err.startswith("错误:") and "--community" in err and "Traceback" not in err
    assert run(db, "add", "x2", "--role", "community_admin", "--community", "没有社区") == 1
    assert "社区不存在" in capsys.readouterr().err
    assert run(db, "add", "x3", "--role", "community_admin", "--community", "兰翔社区", "--password", "short") == 1
    assert "密码" in capsys.readouterr().err
    assert run(db, "disable", "nobody") == 1
    with pytest.raises(SystemExit):
        run(db, "add", "x4", "--role", "boss")
    assert "grid_worker" in capsys.readouterr().err
    assert run(db, "list") == 0
    assert "x1" not in capsys.readouterr().out                                              # nothing half-made


def test_disable_enable_and_reset_password(db, capsys):
    run(db, "add", "wang", "--role", "grid_worker", "--grid", "32041100300101", "--password", "first-pass-1")
    engine = store.make_engine(db)
    assert run(db, "disable", "wang") == 0
    with Session(engine) as s, pytest.raises(AccessDenied):
        access.authenticate(s, "wang", "first-pass-1")
    assert run(db, "enable", "wang") == 0
    now = models.utcnow()
    with Session(engine) as s:
        for i in range(5):
            with pytest.raises(AccessDenied):
                access.authenticate(s, "wang", f"bad-{i}", now=now)
    capsys.readouterr()
    assert run(db, "list") == 0
    assert "locked" in capsys.readouterr().out
    assert run(db, "reset-password", "wang") == 0
    password = re.search(r"新密码.*: (\S+)", capsys.readouterr().out).group(1)
    with Session(engine) as s:
        user = access.authenticate(s, "wang", password, now=now + dt.timedelta(minutes=1))   # lockout cleared
        assert user.must_change_password
    assert run(db, "reset-password", "wang", "--password", "chosen-pass-2") == 0
    assert "chosen-pass-2" not in capsys.readouterr().out
    with Session(engine) as s:
        assert not access.authenticate(s, "wang", "chosen-pass-2").must_change_password
        details = [e.detail for e in s.scalars(select(models.AuditLog).where(models.AuditLog.target_id == "wang"))]
        assert {"disabled", "enabled", "password reset"} <= set(details)
    engine.dispose()


def test_store_from_environment(db, monkeypatch, capsys):
    monkeypatch.setenv("GRIDMAP_DB", db)
    assert users.main(["add", "jd", "--role", "street_staff", "--street", "河海街道", "--password", "street-pass-1"]) == 0
    assert users.main(["list"]) == 0
    assert "jd" in capsys.readouterr().out


def test_runs_as_a_module(db):
    """The dashboard's __main__ dispatches `users` here; the module itself runs too."""
    result = subprocess.run([sys.executable, "-m", "dashboard.users", "--db", db, "list"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "没有用户" in result.stdout
