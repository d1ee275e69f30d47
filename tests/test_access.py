"""Accounts, scopes, visibility, lockout, masking, reveals and the audit log (geodata.access, no web server)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import access, models, schema, store
from geodata.errors import AccessDenied, GridMapError, NotFoundError

PASSWORD = "correct-horse-1"


@dataclasses.dataclass
class World:
    """Ids of a tiny street: community A (grids 1 and 2) and community B (grid 3), one flat per grid."""
    street: int
    community_a: int
    community_b: int
    grids: dict[int, int]        # seq -> grid id (3 is community B's)
    buildings: dict[int, int]    # grid seq -> building id
    flats: dict[int, int]
    households: dict[int, int]
    persons: dict[int, int]
    checkpoint_unmatched: int


PEOPLE = {1: ("张民生", "32041119520312041X", "13812345678"),
          2: ("李秀英", "320411195811230425", "13955556666"),
          3: ("王建国", "320411196001010018", "0519-86543210")}


def build_world(session: Session, *, synthetic: bool = False) -> World:
    street = models.Street(name="河海街道", code="320411003", synthetic=synthetic)
    a = models.Community(street=street, name="兰翔社区", synthetic=synthetic)
    b = models.Community(street=street, name="龙虎塘社区", synthetic=synthetic)
    grids = {1: models.Grid(community=a, code="32041100300101", name="第一网格", seq=1),
             2: models.Grid(community=a, code="32041100300102", name="第二网格", seq=2),
             3: models.Grid(community=b, code="32041100300201", name="第一网格", seq=1)}
    session.add_all([street, a, b, *grids.values()])
    session.flush()
    buildings, flats, households, persons = {}, {}, {}, {}
    for seq, grid in grids.items():
        building = models.Building(community_id=grid.community_id, grid_id=grid.id, number=str(10 + seq))
        flat = models.Flat(building=building, unit=1, floor=5, room="502", residence_status=schema.RES_OWNER)
        name, id_number, phone = PEOPLE[seq]
        household = models.Household(flat=flat, head_name=name, landlord=None)
        person = models.Person(household=household, name=name, relation=schema.HEAD_RELATION, id_number=id_number,
                               id_status=schema.ID_OK, phone=phone)
        session.add_all([building, flat, household, person])
        session.flush()
        buildings[seq], flats[seq], households[seq], persons[seq] = building.id, flat.id, household.id, person.id
    cp = models.CheckpointRegistration(community_id=a.id, name="赵六", id_number="320411199001010011",
                                       id_status=schema.ID_OK, flat_id=None)
    session.add(cp)
    session.flush()
    return World(street.id, a.id, b.id, {k: g.id for k, g in grids.items()}, buildings, flats, households,
                 persons, cp.id)


def add_users(session: Session, w: World) -> None:
    """street, admin (A), admin_b (B), leader (grid 2), worker (grid 1), worker2 (grid 2)."""
    access.create_user(session, "street", PASSWORD, schema.ROLE_STREET, street_id=w.street)
    access.create_user(session, "admin", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=w.community_a)
    access.create_user(session, "admin_b", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=w.community_b)
    access.create_user(session, "leader", PASSWORD, schema.ROLE_GRID_LEADER, grid_ids=[w.grids[2]])
    access.create_user(session, "worker", PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[w.grids[1]])
    access.create_user(session, "worker2", PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[w.grids[2]])


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch, request):
    """Cheap hashing for speed; the test of the real KDF opts out."""
    if request.node.name != "test_passwords_use_a_standard_kdf":
        monkeypatch.setattr(access, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path}/s.db")
    yield engine
    engine.dispose()


@pytest.fixture
def world(sqlite_engine):
    with store.session_scope(sqlite_engine) as s:
        w = build_world(s)
        add_users(s, w)
    return sqlite_engine, w


# --- masking -----------------------------------------------------------------------------------

def test_mask_examples():
    assert access.mask_id("32041119520312041X") == "3204**********041X"
    assert access.mask_id("3.20411E+17") == "3.20***E+17"
    assert access.mask_id("1234") == "****"
    assert access.mask_id(None) == ""
    assert access.mask_phone("13812345678") == "138****5678"
    assert access.mask_phone("+86 138-1234-5678") == "138****5678"
    assert access.mask_phone("0519-86546789") == "0519-****6789"
    assert access.mask_phone("13812345678/0519-86546789") == "138****5678/0519-****6789"
    assert access.mask_phone("12345") == "*****"
    assert access.mask_phone(None) == ""
    assert access.mask_name("张三丰") == "张**"
    assert access.mask_name("张三") == "张*"
    assert access.mask_name("欧阳娜娜") == "欧阳**"
    assert access.mask_name(None) == ""


@given(st.text(alphabet="0123456789X", min_size=13, max_size=20), st.data())
def test_mask_id_never_contains_hidden_digits(value, data):
    masked = access.mask_id(value)
    hidden = value[4:-4]
    assert len(masked) == len(value)
    assert masked[4:-4] == "*" * len(hidden)
    assert hidden not in masked   # hidden part longer than any visible run (4)
    other = data.draw(st.text(alphabet="0123456789X", min_size=len(hidden), max_size=len(hidden)))
    assert access.mask_id(value[:4] + other + value[-4:]) == masked   # output independent of the hidden part


@given(st.from_regex(r"\A1[3-9][0-9]{9}\Z"), st.from_regex(r"\A[0-9]{4}\Z"), st.sampled_from(["", "+86", "+86 "]),
       st.sampled_from(["{}", "{} {} {}", "{}-{}-{}"]))
def test_mask_mobile_never_contains_hidden_digits(number, other, prefix, layout):
    written = prefix + (layout.format(number[:3], number[3:7], number[7:]) if layout != "{}" else number)
    masked = access.mask_phone(written)
    assert masked == f"{number[:3]}****{number[7:]}"
    assert access.mask_phone(number[:3] + other + number[7:]) == masked
    assert len(re.findall(r"\d", masked)) == 7


@given(st.from_regex(r"\A[0-9]{8}\Z"), st.from_regex(r"\A[0-9]{4}\Z"))
def test_mask_landline_never_contains_hidden_digits(local, other):
    masked = access.mask_phone(f"0519-{local}")
    assert masked == f"0519-****{local[4:]}"
    assert access.mask_phone(f"0519-{other}{local[4:]}") == masked


@given(st.text(min_size=1, max_size=6).filter(lambda s: s.strip() == s and s))
def test_mask_name_keeps_only_the_surname(name):
    masked = access.mask_name(name)
    assert len(masked) == len(name)
    keep = 2 if len(name) >= 3 and name[:2] in access.COMPOUND_SURNAMES else 1
    assert masked == name[:keep] + "*" * (len(name) - keep)


# --- passwords and users -----------------------------------------------------------------------

def test_passwords_use_a_standard_kdf():
    h = access.hash_password("s3cret-pass")
    assert h.startswith("scrypt:") and "s3cret-pass" not in h
    assert access.verify_password(h, "s3cret-pass")
    assert not access.verify_password(h, "s3cret-pasS")
    assert not access.verify_password("garbage", "x")
    assert access.hash_password("s3cret-pass") != h   # salted


def test_create_user_reports_every_problem(world):
    engine, w = world
    with Session(engine) as s:
        with pytest.raises(GridMapError) as exc:
            access.create_user(s, "a b", "short", "boss")
        message = str(exc.value)
        assert "用户名" in message and "密码" in message and "角色" in message
        with pytest.raises(GridMapError, match="网格"):
            access.create_user(s, "w3", PASSWORD, schema.ROLE_GRID_WORKER)
        with pytest.raises(GridMapError, match="同一个社区"):
            access.create_user(s, "w4", PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[w.grids[1], w.grids[3]])
        with pytest.raises(GridMapError, match="社区"):
            access.create_user(s, "a2", PASSWORD, schema.ROLE_COMMUNITY_ADMIN)
        with pytest.raises(GridMapError, match="已存在"):
            access.create_user(s, "admin", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=w.community_a)
        with pytest.raises(GridMapError, match="用户名"):
            access.create_user(s, "admin2xyz", "Admin2XYZ", schema.ROLE_COMMUNITY_ADMIN, community_id=w.community_a)
        user = s.scalar(select(models.User).where(models.User.username == "worker"))
        assert user.community_id == w.community_a   # taken from the grid


# --- scopes and visibility (both backends) -----------------------------------------------------

def test_scopes_and_visibility_per_role(db_url):
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        w = build_world(s)
        add_users(s, w)
    a, b = w.community_a, w.community_b
    expect = {  # role, communities, grids, person-level, may reveal, flats (by grid seq) visible
        "street": (schema.ROLE_STREET, {a, b}, None, False, False, set()),
        "admin": (schema.ROLE_COMMUNITY_ADMIN, {a}, None, True, True, {1, 2}),
        "admin_b": (schema.ROLE_COMMUNITY_ADMIN, {b}, None, True, True, {3}),
        "leader": (schema.ROLE_GRID_LEADER, {a}, {w.grids[2]}, True, True, {2}),
        "worker": (schema.ROLE_GRID_WORKER, {a}, {w.grids[1]}, True, False, {1}),
    }
    with Session(engine) as s:
        for username, (role, communities, grids, person_level, may_reveal, flats) in expect.items():
            scope = access.scope_for(s, username)
            assert (scope.role, set(scope.community_ids), scope.person_level, scope.may_reveal) == \
                   (role, communities, person_level, may_reveal), username
            assert scope.grid_ids == (None if grids is None else frozenset(grids)), username
            assert scope.street_ids == frozenset({w.street})
            assert access.visible_community_ids(s, scope) == communities
            assert access.person_level_allowed(scope) == person_level
            for seq in (1, 2, 3):
                see = seq in flats
                assert access.flat_visible(s, scope, w.flats[seq]) == see, (username, seq)
                assert access.household_visible(s, scope, w.households[seq]) == see, (username, seq)
                assert access.person_visible(s, scope, w.persons[seq]) == see, (username, seq)
                building_seen = see or (role == schema.ROLE_STREET)
                assert access.building_visible(s, scope, w.buildings[seq]) == building_seen, (username, seq)
            assert access.community_visible(s, scope, a) == (a in communities)
            # SQL clauses agree with the per-id checks
            seen = set(s.scalars(select(models.Flat.id).join(models.Building).where(access.person_clause(scope))))
            assert seen == {w.flats[seq] for seq in flats}
        worker = access.scope_for(s, "worker")
        assert not access.flat_visible(s, worker, 999_999)       # unknown ids: never visible
        assert not access.flat_visible(s, None, w.flats[1])
        assert access.checkpoint_visible(s, access.scope_for(s, "admin"), w.checkpoint_unmatched)
        assert not access.checkpoint_visible(s, worker, w.checkpoint_unmatched)
    engine.dispose()


def test_disabled_and_unknown_users_have_no_scope(world):
    engine, _ = world
    with store.session_scope(engine) as s:
        access.set_active(s, "worker", False, by="admin")
    with Session(engine) as s:
        with pytest.raises(AccessDenied):
            access.scope_for(s, "worker")
        with pytest.raises(AccessDenied):
            access.scope_for(s, "nobody")
        with pytest.raises(AccessDenied, match=access.MSG_BAD_LOGIN):
            access.authenticate(s, "worker", PASSWORD)


# --- authentication and lockout ----------------------------------------------------------------

def test_lockout_after_five_failures(world):
    engine, _ = world
    t0 = dt.datetime(2024, 3, 1, 9, 0)
    with Session(engine) as s:
        for i in range(4):
            with pytest.raises(AccessDenied, match=access.MSG_BAD_LOGIN):
                access.authenticate(s, "worker", f"wrong-{i}", now=t0)
        with pytest.raises(AccessDenied, match=access.MSG_LOCKED):
            access.authenticate(s, "worker", "wrong-4", now=t0)
        with pytest.raises(AccessDenied, match=access.MSG_LOCKED):   # even the right password, while locked
            access.authenticate(s, "worker", PASSWORD, now=t0 + dt.timedelta(minutes=14))
        user = access.authenticate(s, "worker", PASSWORD, now=t0 + dt.timedelta(minutes=16))
        assert user.failed_logins == 0 and user.locked_until is None
    with Session(engine) as s:   # the failures were committed despite the exceptions
        entries = list(s.scalars(select(models.AuditLog).where(models.AuditLog.username == "worker")))
        actions = [e.action for e in entries]
        assert actions.count(schema.A_LOGIN_FAILED) == 6 and actions.count(schema.A_LOGIN) == 1
        for e in entries:
            text = " ".join(str(v) for v in (e.username, e.target_id, e.reason, e.detail))
            assert "wrong-" not in text and PASSWORD not in text


def test_unknown_username_is_not_stored(world):
    engine, _ = world
    with Session(engine) as s:
        with pytest.raises(AccessDenied, match=access.MSG_BAD_LOGIN):
            access.authenticate(s, "my-secret-password", "x")
        e = s.scalars(select(models.AuditLog).order_by(models.AuditLog.id.desc())).first()
        assert e.action == schema.A_LOGIN_FAILED and e.username is None and e.target_id is None


def test_change_password_and_reset(world):
    engine, _ = world
    with store.session_scope(engine) as s:
        with pytest.raises(AccessDenied):
            access.change_password(s, "worker", "wrong", "new-password-1")
    with store.session_scope(engine) as s:
        access.change_password(s, "worker", PASSWORD, "new-password-1")
    with Session(engine) as s:
        assert access.authenticate(s, "worker", "new-password-1")
    with store.session_scope(engine) as s:
        access.set_password(s, "worker", "reset-pass-2", must_change_password=True, by="cli:root")
    with Session(engine) as s:
        assert access.authenticate(s, "worker", "reset-pass-2").must_change_password


# --- reveals and the audit log -----------------------------------------------------------------

def test_reveal_is_logged_without_the_value(world):
    engine, w = world
    name, id_number, phone = PEOPLE[2]
    with Session(engine) as s:
        admin, leader = access.scope_for(s, "admin"), access.scope_for(s, "leader")
        assert access.reveal(s, admin, target_type=schema.ENTITY_PERSON, target_id=w.persons[2],
                             field="id_number", reason="核实户籍") == id_number
        assert access.reveal(s, leader, target_type=schema.ENTITY_PERSON, target_id=w.persons[2],
                             field="phone", reason="电话核实") == phone
        assert access.reveal(s, leader, target_type=schema.ENTITY_HOUSEHOLD, target_id=w.households[2],
                             field="head_name", reason="走访") == name
        denied = [
            (access.scope_for(s, "worker2"), schema.ENTITY_PERSON, w.persons[2], "phone", "x"),   # workers may not
            (access.scope_for(s, "street"), schema.ENTITY_PERSON, w.persons[2], "phone", "x"),    # no person data
            (leader, schema.ENTITY_PERSON, w.persons[1], "phone", "核实"),          # another grid
            (access.scope_for(s, "admin_b"), schema.ENTITY_PERSON, w.persons[1], "phone", "核实"),  # other community
            (admin, schema.ENTITY_PERSON, w.persons[1], "phone", "   "),           # no reason
            (admin, schema.ENTITY_PERSON, w.persons[1], "household_id", "核实"),    # not a revealable field
            (admin, schema.ENTITY_PERSON, 999_999, "phone", "核实"),                # no such person
            (None, schema.ENTITY_PERSON, w.persons[1], "phone", "核实"),
        ]
        for scope, target_type, target_id, field, reason in denied:
            with pytest.raises(AccessDenied):
                access.reveal(s, scope, target_type=target_type, target_id=target_id, field=field, reason=reason)
    with Session(engine) as s:
        reveals = list(s.scalars(select(models.AuditLog).where(models.AuditLog.action == schema.A_REVEAL)
                                 .order_by(models.AuditLog.id)))
        assert [(r.username, r.target_type, r.target_id, r.reason, r.detail) for r in reveals] == [
            ("admin", schema.ENTITY_PERSON, str(w.persons[2]), "核实户籍", "field=id_number"),
            ("leader", schema.ENTITY_PERSON, str(w.persons[2]), "电话核实", "field=phone"),
            ("leader", schema.ENTITY_HOUSEHOLD, str(w.households[2]), "走访", "field=head_name")]
        everything = " ".join(str(v) for r in s.scalars(select(models.AuditLog))
                              for v in (r.username, r.target_id, r.reason, r.detail))
        for value in (name, id_number, phone, id_number[4:-4], phone[3:7]):
            assert value not in everything


def test_audit_entries_filters_and_area(world):
    engine, w = world
    with store.session_scope(engine) as s:
        for username, action, day in [("worker", schema.A_LOGIN, 1), ("leader", schema.A_REVEAL, 2),
                                      ("admin_b", schema.A_LOGIN, 2), ("street", schema.A_LOGIN, 3),
                                      ("worker", schema.A_EXPORT, 3)]:
            s.add(models.AuditLog(at=dt.datetime(2024, 3, day, 10), username=username, action=action))
    with Session(engine) as s:
        admin = access.scope_for(s, "admin")
        everything = access.audit_entries(s, admin)
        assert {e.username for e in everything} == {"worker", "leader"}   # community A's users only
        assert [e.at.day for e in everything] == [3, 2, 1]                # newest first
        assert [e.action for e in access.audit_entries(s, admin, username="worker")] == [schema.A_EXPORT,
                                                                                         schema.A_LOGIN]
        assert [e.username for e in access.audit_entries(s, admin, action=schema.A_REVEAL)] == ["leader"]
        assert len(access.audit_entries(s, admin, since=dt.date(2024, 3, 2), until=dt.date(2024, 3, 2))) == 1
        assert len(access.audit_entries(s, admin, since=dt.datetime(2024, 3, 1, 11))) == 2
        assert len(access.audit_entries(s, admin, limit=1)) == 1
        assert {e.username for e in access.audit_entries(s, access.scope_for(s, "admin_b"))} == {"admin_b"}
        for username in ("leader", "worker", "street"):
            with pytest.raises(AccessDenied):
                access.audit_entries(s, access.scope_for(s, username))


# --- first admin and demo accounts -------------------------------------------------------------

def test_first_admin_once(sqlite_engine):
    with store.session_scope(sqlite_engine) as s:
        created = access.ensure_first_admin(s)
    assert created is not None and created[0] == "admin" and len(created[1]) >= 12
    with store.session_scope(sqlite_engine) as s:
        assert access.ensure_first_admin(s) is None
        w = build_world(s)            # communities imported later are covered
    with Session(sqlite_engine) as s:
        user = access.authenticate(s, "admin", created[1])
        assert user.must_change_password
        scope = access.scope_for(s, "admin")
        assert set(scope.community_ids) == {w.community_a, w.community_b} and scope.may_reveal
        assert access.flat_visible(s, scope, w.flats[3])


def test_demo_users(sqlite_engine):
    with store.session_scope(sqlite_engine) as s:
        build_world(s)
        with pytest.raises(GridMapError, match="synthetic"):     # never on real data
            access.ensure_demo_users(s)
    with store.session_scope(sqlite_engine) as s:
        s.execute(models.Street.__table__.update().values(synthetic=True))
    with store.session_scope(sqlite_engine) as s:
        created = access.ensure_demo_users(s, rng_seed=7)
        assert access.demo_mode(s)
    assert [(u, r) for u, r, _ in created] == [(u, schema.ROLE_LABELS[r]) for u, r in access.DEMO_USERS]
    assert len({p for *_, p in created}) == 4
    with store.session_scope(sqlite_engine) as s:
        assert access.ensure_demo_users(s) == []                 # only when absent
        assert access.ensure_first_admin(s) is None              # users exist: no first admin
        with pytest.raises(NotFoundError):
            access.ensure_demo_users(s, "没有这个社区")
    with Session(sqlite_engine) as s:
        for username, _, password in created:
            access.authenticate(s, username, password)
        grid2 = s.scalar(select(models.Grid).where(models.Grid.name == "第二网格"))
        for username in ("demo_leader", "demo_worker"):
            assert access.scope_for(s, username).grid_ids == frozenset({grid2.id})
        assert not access.scope_for(s, "demo_street").person_level
        assert [u for u, _ in access.demo_usernames(s)] == [u for u, _ in access.DEMO_USERS]
    with store.session_scope(sqlite_engine) as s:
        s.execute(models.UserGrid.__table__.delete())
        s.execute(models.User.__table__.delete().where(models.User.username.like("demo_%")))
        s.execute(models.AuditLog.__table__.delete())
    with store.session_scope(sqlite_engine) as s:   # rng_seed: reproducible passwords
        again = access.ensure_demo_users(s, rng_seed=7)
    assert again == created
