"""Sign-in over HTTP: a minimal Dash app with `dashboard.auth.init_auth`, driven by Flask's test client."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import time

import dash
import pytest
from dash import Input, Output, dcc, html
from dash.exceptions import PreventUpdate
from sqlalchemy.orm import Session

from dashboard import auth
from dashboard.pages import audit
from geodata import access, models, schema, store
from geodata.settings import Settings, load_settings
from tests.test_access import PASSWORD, PEOPLE, add_users, build_world


@dataclasses.dataclass(frozen=True)
class SecureSettings(Settings):
    cookie_secure: bool = True


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch):
    monkeypatch.setattr(access, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


def make_app(engine, settings) -> dash.Dash:
    app = dash.Dash(__name__, suppress_callback_exceptions=True)
    app.layout = html.Div([dcc.Input(id="flat-id", type="number"), html.Div(id="flat-out"), audit.layout()])

    @app.callback(Output("flat-out", "children"), Input("flat-id", "value"))
    def show_flat(flat_id):
        scope = auth.require_scope()
        if flat_id is None:
            raise PreventUpdate
        with Session(engine) as s:
            if not access.flat_visible(s, scope, int(flat_id)):
                return "无权查看"
            flat = s.get(models.Flat, int(flat_id))
            return [f"{p.name} {access.mask_id(p.id_number)} {access.mask_phone(p.phone)}"
                    for h in flat.households for p in h.persons]

    auth.init_auth(app, engine, settings)
    audit.register(app, engine)
    return app


@pytest.fixture
def site(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path}/s.db")
    with store.session_scope(engine) as s:
        w = build_world(s)
        add_users(s, w)
    settings = load_settings(env={}, db_url=str(engine.url), secret_key="test-secret", session_minutes=30)
    app = make_app(engine, settings)
    yield app, engine, w
    engine.dispose()


def csrf(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def login(client, username, password=PASSWORD, **extra):
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf(client), **extra})


def callback(client, flat_id):
    payload = {"output": "flat-out.children", "outputs": {"id": "flat-out", "property": "children"},
               "inputs": [{"id": "flat-id", "property": "value", "value": flat_id}],
               "changedPropIds": ["flat-id.value"], "state": []}
    return client.post("/_dash-update-component", json=payload)


def personal_values(seq: int) -> list[str]:
    name, id_number, phone = PEOPLE[seq]
    return [name, id_number, id_number[4:-4], access.mask_id(id_number), phone, access.mask_phone(phone),
            phone[-4:], access.mask_name(name)]


def test_everything_requires_login(site):
    app, _, w = site
    client = app.server.test_client()
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    response = client.get("/audit")
    assert response.headers["Location"] == "/login?next=/audit"
    for path in ("/_dash-layout", "/_dash-dependencies", "/_reload-hash"):
        response = client.get(path)
        assert response.status_code == 401 and response.is_json, path
    assert client.get("/assets/style.css").status_code == 302
    response = callback(client, w.flats[1])
    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert json.loads(body)["error"] == "login_required"
    for value in personal_values(1):
        assert value not in body
    page = client.get("/login")
    assert page.status_code == 200
    html_text = page.get_data(as_text=True)
    for element_id in ("login-username", "login-password", "login-submit"):
        assert f'id="{element_id}"' in html_text
    assert "登录" in html_text and "演示账户" not in html_text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Sign in" in client.get("/login?lang=en").get_data(as_text=True)


def test_login_cookie_and_logout(site):
    app, _, _ = site
    client = app.server.test_client()
    response = login(client, "admin", next="/audit")
    assert response.status_code == 302 and response.headers["Location"] == "/audit"
    cookie = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(auth.SESSION_COOKIE)][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    response = client.get("/logout")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/").status_code == 302
    assert callback(client, 1).status_code == 401


def test_secure_cookie_is_configurable(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path}/s.db")
    with store.session_scope(engine) as s:
        add_users(s, build_world(s))
    app = make_app(engine, SecureSettings(db_url=str(engine.url), secret_key="k"))
    client = app.server.test_client()
    response = login(client, "admin")
    cookie = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(auth.SESSION_COOKIE)][0]
    assert "Secure" in cookie and "HttpOnly" in cookie
    engine.dispose()


def test_login_rejects_missing_csrf_and_open_redirects(site):
    app, _, _ = site
    client = app.server.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400 and client.get("/").status_code == 302
    response = login(client, "admin", next="//evil.example/x")
    assert response.headers["Location"] == "/"


def test_five_failures_lock_the_account(site):
    app, engine, _ = site
    client = app.server.test_client()
    for _ in range(4):
        response = login(client, "worker", "not-the-password")
        assert response.status_code == 401 and access.MSG_BAD_LOGIN in response.get_data(as_text=True)
    response = login(client, "worker", "still-wrong")
    assert access.MSG_LOCKED in response.get_data(as_text=True)
    response = login(client, "worker", PASSWORD)
    assert response.status_code == 401 and access.MSG_LOCKED in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert "Account locked" in login(client, "worker", PASSWORD, lang="en").get_data(as_text=True)
    with Session(engine) as s:
        failures = s.query(models.AuditLog).filter_by(username="worker", action=schema.A_LOGIN_FAILED).all()
        assert len(failures) == 7
        assert all("not-the-password" not in (f.detail or "") + (f.reason or "") for f in failures)


def test_worker_cannot_read_another_grids_flat(site):
    app, _, w = site
    client = app.server.test_client()
    assert login(client, "worker").status_code == 302       # grid 1 only
    own = callback(client, w.flats[1])
    assert own.status_code == 200
    body = own.get_data(as_text=True)
    name, id_number, phone = PEOPLE[1]
    assert name in body and access.mask_id(id_number) in body and access.mask_phone(phone) in body
    assert id_number not in body and phone not in body
    for seq in (2, 3):                                       # the other grid of the community; another community
        body = callback(client, w.flats[seq]).get_data(as_text=True)
        assert "无权查看" in body
        for value in personal_values(seq):
            assert value not in body, (seq, value)
    assert "无权查看" in callback(client, 999_999).get_data(as_text=True)


def test_street_staff_get_no_person_level_data(site):
    app, _, w = site
    client = app.server.test_client()
    login(client, "street")
    for seq in (1, 2, 3):
        body = callback(client, w.flats[seq]).get_data(as_text=True)
        for value in personal_values(seq):
            assert value not in body


def test_session_expires_after_inactivity(site):
    app, _, w = site
    client = app.server.test_client()
    login(client, "admin")
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        session["_gm_seen"] = int(time.time()) - 29 * 60
    assert client.get("/").status_code == 200               # activity renews the session
    with client.session_transaction() as session:
        session["_gm_seen"] = int(time.time()) - 31 * 60
    response = callback(client, w.flats[1])
    assert response.status_code == 401 and json.loads(response.get_data(as_text=True))["error"] == "expired"
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, "admin")
    with client.session_transaction() as session:
        session["_gm_seen"] = int(time.time()) - 31 * 60
    response = client.get("/")
    assert "expired=1" in response.headers["Location"]
    assert "登录已过期" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_password_reset_and_disabling_end_sessions(site):
    app, engine, w = site
    client = app.server.test_client()
    login(client, "worker")
    assert callback(client, w.flats[1]).status_code == 200
    with store.session_scope(engine) as s:
        access.set_password(s, "worker", "brand-new-pass", by="cli:root")
    assert callback(client, w.flats[1]).status_code == 401
    other = app.server.test_client()
    login(other, "worker2")
    assert other.get("/").status_code == 200
    with store.session_scope(engine) as s:
        access.set_active(s, "worker2", False, by="cli:root")
    assert other.get("/").status_code == 302


def test_first_admin_must_change_password(tmp_path, capsys):
    engine = store.open_store(f"sqlite:///{tmp_path}/s.db")
    auth.bootstrap_users(engine)
    out = capsys.readouterr().out
    password = re.search(r"admin\s+(\S+)", out).group(1)
    auth.bootstrap_users(engine)
    assert capsys.readouterr().out == ""                    # printed once only
    app = make_app(engine, load_settings(env={}, secret_key="k"))
    client = app.server.test_client()
    response = login(client, "admin", password)
    assert response.headers["Location"] == "/password"
    assert client.get("/").headers["Location"] == "/password"
    assert callback(client, 1).status_code == 403
    token = csrf(client, "/password")
    response = client.post("/password", data={"old": password, "new": "a-new-pass-9", "confirm": "a-new-pass-8",
                                              "csrf": token})
    assert response.status_code == 400
    response = client.post("/password", data={"old": password, "new": "a-new-pass-9", "confirm": "a-new-pass-9",
                                              "csrf": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 200               # the session survives its own password change
    client.get("/logout")
    assert login(client, "admin", "a-new-pass-9").headers["Location"] == "/"
    engine.dispose()


def test_demo_mode_hint_and_start_up_passwords(tmp_path, capsys):
    engine = store.open_store(f"sqlite:///{tmp_path}/s.db")
    with store.session_scope(engine) as s:
        build_world(s, synthetic=True)
    auth.bootstrap_users(engine)
    out = capsys.readouterr().out
    assert "演示账户" in out and "新安装" not in out       # demo accounts, no first admin
    passwords = dict(re.findall(r"(demo_\w+)\s+(\S+)", out))
    assert set(passwords) == {u for u, _ in access.DEMO_USERS}
    auth.bootstrap_users(engine)
    assert capsys.readouterr().out == ""                    # only then
    app = make_app(engine, load_settings(env={}, secret_key="k"))
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "演示账户" in page and "demo_worker" in page
    assert all(p not in page for p in passwords.values())
    assert login(client, "demo_leader", passwords["demo_leader"]).headers["Location"] == "/"
    engine.dispose()


def audit_callback(client, username=None, action=None):
    payload = {"output": "..audit-results.children...audit-count.children..",
               "outputs": [{"id": "audit-results", "property": "children"},
                           {"id": "audit-count", "property": "children"}],
               "inputs": [{"id": "audit-user", "property": "value", "value": username},
                          {"id": "audit-action", "property": "value", "value": action},
                          {"id": "audit-dates", "property": "start_date", "value": None},
                          {"id": "audit-dates", "property": "end_date", "value": None}],
               "changedPropIds": ["audit-user.value"], "state": []}
    return client.post("/_dash-update-component", json=payload)


def test_audit_page_for_community_admins_only(site):
    app, engine, w = site
    leader = app.server.test_client()
    login(leader, "leader")
    with Session(engine) as s:
        access.reveal(s, access.scope_for(s, "leader"), target_type=schema.ENTITY_PERSON, target_id=w.persons[2],
                      field="id_number", reason="核实户籍")
    body = audit_callback(leader).get_data(as_text=True)
    assert "audit-forbidden" in body and "核实户籍" not in body
    admin = app.server.test_client()
    login(admin, "admin")
    body = audit_callback(admin, username="leader", action=schema.A_REVEAL).get_data(as_text=True)
    assert "核实户籍" in body and "field=id_number" in body and "leader" in body
    assert PEOPLE[2][1] not in body
    body = audit_callback(admin, action=schema.A_LOGIN).get_data(as_text=True)
    assert "核实户籍" not in body and "登录" in body


def test_audit_rows_dates_are_local_days(site):
    _, engine, _ = site
    with store.session_scope(engine) as s:
        # 2024-03-01 23:30 in Changzhou is 15:30 UTC
        s.add(models.AuditLog(at=dt.datetime(2024, 3, 1, 15, 30), username="worker", action=schema.A_EXPORT))
    with Session(engine) as s:
        scope = access.scope_for(s, "admin")
        rows = audit.audit_rows(s, scope, action=schema.A_EXPORT, start_date="2024-03-01", end_date="2024-03-01")
        assert [r["at"] for r in rows] == ["2024-03-01 23:30:00"]
        assert audit.audit_rows(s, scope, action=schema.A_EXPORT, start_date="2024-03-02") == []
