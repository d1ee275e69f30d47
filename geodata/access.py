"""Accounts, roles, area scopes, masking, reveals and the audit log (no Dash, no Flask: pure and testable).

Roles (schema.ROLE_*) and what they may see:

| role | scope | person-level data | may reveal |
|---|---|---|---|
| street staff (街道) | every community of their street | no: aggregates and buildings only | no |
| community admin (社区管理员) | their community (or a whole street, or the whole store: see below) | yes | yes |
| grid leader (网格长) | their grids | yes | yes, within their grids |
| grid worker (网格员) | their grid(s) | yes | no |

A community admin with neither community nor street is the *installation admin* (`ensure_first_admin`): a new
store has no community to scope to, so this account covers every community in the store, including those
imported later. Ordinary community admins get a community (`create_user(..., community_id=...)`).

Personal values are masked by default (`mask_id`, `mask_phone`, `mask_name`); `reveal` returns one unmasked value
to a role that may see it, for a stated reason, and writes the reveal to the audit log (who, target, field, reason,
when — never the value). Functions that must leave a durable trace before returning (`authenticate`, `reveal`)
commit their session; the others only flush and leave the transaction to the caller.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import random
import re
import secrets
import string
import unicodedata
from collections.abc import Iterable

from sqlalchemy import ColumnElement, false, func, select, true, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from geodata import models, schema
from geodata.errors import AccessDenied, GridMapError, NotFoundError

#: Repeated failures that lock an account, and for how long.
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
#: Werkzeug's scrypt (N=2**15, r=8, p=1): a memory-hard standard KDF, salted, self-describing hash string.
PASSWORD_METHOD = "scrypt"
FIRST_ADMIN = "admin"

MSG_BAD_LOGIN = "用户名或密码错误"
MSG_LOCKED = "账户已锁定，请15分钟后再试"

#: Audit target types beside schema.ENTITY_* (candidates for schema.py).
TARGET_USER = "user"
TARGET_CHECKPOINT = "checkpoint"

#: Fields `reveal` may unmask, per target type.
REVEALABLE = {
    schema.ENTITY_PERSON: ("name", "id_number", "id_raw", "phone", "phone2", "phone_raw"),
    schema.ENTITY_HOUSEHOLD: ("head_name", "landlord"),
    TARGET_CHECKPOINT: ("name", "id_number", "id_raw", "phone", "phone_raw"),
}

#: Demo accounts: username, role.
DEMO_USERS = (("demo_street", schema.ROLE_STREET), ("demo_admin", schema.ROLE_COMMUNITY_ADMIN),
              ("demo_leader", schema.ROLE_GRID_LEADER), ("demo_worker", schema.ROLE_GRID_WORKER))
DEMO_GRID_SEQ = 2
DEMO_GRID_NAME = "第二网格"

_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
#: Letters and digits that cannot be confused when read aloud or copied by hand (no 0/O, 1/l/I).
_PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


@dataclasses.dataclass(frozen=True)
class Scope:
    """What one signed-in user may see. Built per request by `scope_for`; never cached across requests."""
    username: str
    role: str
    street_ids: frozenset[int]
    community_ids: frozenset[int]
    grid_ids: frozenset[int] | None     # None: every grid of community_ids
    person_level: bool                  # False for street staff
    may_reveal: bool                    # community admins, grid leaders (within their grids)


# --- Passwords ---------------------------------------------------------------------------------

def hash_password(pw: str) -> str:
    return generate_password_hash(pw, method=PASSWORD_METHOD)


def verify_password(hash: str, pw: str) -> bool:  # noqa: A002 - the name the API promises
    if not hash or pw is None:
        return False
    try:
        return check_password_hash(hash, pw)
    except ValueError:  # malformed or unknown method in the stored hash
        return False


def generate_password(length: int = 12, *, rng: random.Random | None = None) -> str:
    """A random password (secrets) of unambiguous letters and digits; `rng` only for reproducible demos."""
    choice = rng.choice if rng is not None else secrets.choice
    while True:
        pw = "".join(choice(_PASSWORD_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def check_password_policy(username: str, password: str) -> None:
    if password is None or len(password) < MIN_PASSWORD_LENGTH:
        raise GridMapError(f"密码至少需要{MIN_PASSWORD_LENGTH}个字符 (password: expected at least "
                           f"{MIN_PASSWORD_LENGTH} characters)")
    if password.strip().lower() == username.strip().lower():
        raise GridMapError("密码不能与用户名相同 (password: must differ from the username)")


def session_fingerprint(user: models.User) -> str:
    """Changes whenever the password changes: sessions carry it, so a reset or new password ends old sessions."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


# --- Users -------------------------------------------------------------------------------------

def _user(session: Session, username: str) -> models.User | None:
    return session.scalar(select(models.User).where(models.User.username == username))


def get_user(session: Session, username: str) -> models.User:
    user = _user(session, username)
    if user is None:
        raise NotFoundError(f"用户不存在: {username!r}")
    return user


def user_grid_ids(session: Session, user_id: int) -> list[int]:
    return list(session.scalars(select(models.UserGrid.grid_id).where(models.UserGrid.user_id == user_id)
                                .order_by(models.UserGrid.grid_id)))


def create_user(session: Session, username: str, password: str, role: str, *, community_id: int | None = None,
                grid_ids: Iterable[int] = (), street_id: int | None = None, display_name: str | None = None,
                must_change_password: bool = False) -> models.User:
    """Add a user with a role and an area scope; every problem is reported at once.

    street staff: street_id; community admin: community_id (street_id alone = every community of the street);
    grid leader / worker: grid_ids (community_id is taken from the grids, and must agree when given).
    """
    username = (username or "").strip()
    grid_ids = sorted(set(grid_ids))
    problems: list[str] = []
    if not _USERNAME.match(username):
        problems.append(f"用户名只能包含字母、数字、_ . -，长度2–64 (username: got {username!r})")
    elif _user(session, username) is not None:
        problems.append(f"用户名已存在: {username!r}")
    if role not in schema.ROLES:
        problems.append(f"角色无效: expected one of {', '.join(schema.ROLES)}, got {role!r}")
    try:
        check_password_policy(username, password)
    except GridMapError as exc:
        problems.append(str(exc))

    community = session.get(models.Community, community_id) if community_id is not None else None
    if community_id is not None and community is None:
        problems.append(f"社区不存在: id {community_id}")
    if street_id is not None and session.get(models.Street, street_id) is None:
        problems.append(f"街道不存在: id {street_id}")
    grids = [session.get(models.Grid, g) for g in grid_ids]
    if any(g is None for g in grids):
        problems.append(f"网格不存在: id {[g for g, obj in zip(grid_ids, grids) if obj is None]}")
    grids = [g for g in grids if g is not None]

    if role == schema.ROLE_STREET:
        if street_id is None and community is not None:
            street_id = community.street_id
        if street_id is None:
            problems.append("街道工作人员需要指定街道 (street_staff: expected a street)")
        if grid_ids:
            problems.append("街道工作人员不分配网格 (street_staff: expected no grids)")
        community_id = None
    elif role == schema.ROLE_COMMUNITY_ADMIN:
        if community is None and street_id is None:
            problems.append("社区管理员需要指定社区 (community_admin: expected a community)")
        if community is not None and street_id is not None and community.street_id != street_id:
            problems.append("社区不属于该街道 (community_admin: community and street disagree)")
        if community is not None:
            street_id = community.street_id
        if grid_ids:
            problems.append("社区管理员不分配网格 (community_admin: expected no grids; the whole community is theirs)")
    elif role in (schema.ROLE_GRID_LEADER, schema.ROLE_GRID_WORKER):
        if not grid_ids:
            problems.append(f"{schema.ROLE_LABELS[role]}需要至少一个网格 ({role}: expected at least one grid)")
        communities = {g.community_id for g in grids}
        if community is not None:
            communities.add(community.id)
        if len(communities) > 1:
            problems.append(f"网格须属于同一个社区 ({role}: grids of {len(communities)} communities)")
        elif communities:
            community_id = communities.pop()
            community = session.get(models.Community, community_id)
            street_id = community.street_id if community is not None else street_id
    if problems:
        raise GridMapError("；".join(problems))

    user = models.User(username=username, display_name=display_name, password_hash=hash_password(password),
                       role=role, street_id=street_id, community_id=community_id, active=True, failed_logins=0,
                       must_change_password=must_change_password)
    session.add(user)
    session.flush()
    session.add_all(models.UserGrid(user_id=user.id, grid_id=g) for g in grid_ids)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str, *, must_change_password: bool = False,
                 by: str | None = None) -> models.User:
    """Set a new password (an admin's reset or the user's own change); clears any lockout; audit-logged."""
    user = get_user(session, username)
    check_password_policy(username, password)
    user.password_hash = hash_password(password)
    user.must_change_password = must_change_password
    user.failed_logins = 0
    user.locked_until = None
    log_audit(session, by or username, schema.A_CHANGE, TARGET_USER, username,
              detail="password reset" if by and by != username else "password changed")
    session.flush()
    return user


def change_password(session: Session, username: str, old_password: str, new_password: str) -> models.User:
    """The user's own change: needs the current password; the new one must differ."""
    user = get_user(session, username)
    if not user.active or not verify_password(user.password_hash, old_password):
        raise AccessDenied("原密码错误 (current password is wrong)")
    if old_password == new_password:
        raise GridMapError("新密码不能与原密码相同 (new password: must differ from the current one)")
    return set_password(session, username, new_password, must_change_password=False, by=username)


def set_active(session: Session, username: str, active: bool, *, by: str | None = None) -> models.User:
    user = get_user(session, username)
    user.active = active
    log_audit(session, by, schema.A_CHANGE, TARGET_USER, username, detail="enabled" if active else "disabled")
    session.flush()
    return user


# --- Authentication ----------------------------------------------------------------------------

@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that unknown and known users take the same time."""
    return hash_password(secrets.token_hex(16))


def authenticate(session: Session, username: str, password: str, *, now: dt.datetime | None = None) -> models.User:
    """The user, if the password is right and the account neither disabled nor locked; else AccessDenied.

    MAX_FAILED_LOGINS failures in a row lock the account for LOCKOUT. Every attempt is logged to the audit log
    (login / login_failed; never the password) and committed, so a failed attempt counts even though it raises.
    """
    now = now or models.utcnow()
    username = (username or "").strip()
    user = _user(session, username) if username else None
    if user is None or not user.active:
        verify_password(_dummy_hash(), password or "")
        # An unknown username may be a password typed in the wrong field: never store it.
        log_audit(session, username if user is not None else None, schema.A_LOGIN_FAILED, TARGET_USER,
                  username if user is not None else None,
                  detail="disabled account" if user is not None else "unknown username")
        session.commit()
        raise AccessDenied(MSG_BAD_LOGIN)
    if user.locked_until is not None and user.locked_until > now:
        log_audit(session, username, schema.A_LOGIN_FAILED, TARGET_USER, username, detail="locked")
        session.commit()
        raise AccessDenied(MSG_LOCKED)
    if not verify_password(user.password_hash, password or ""):
        # Atomic increment: two simultaneous failures both count.
        session.execute(update(models.User).where(models.User.id == user.id)
                        .values(failed_logins=func.coalesce(models.User.failed_logins, 0) + 1))
        session.refresh(user)
        locked = user.failed_logins >= MAX_FAILED_LOGINS
        if locked:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        log_audit(session, username, schema.A_LOGIN_FAILED, TARGET_USER, username,
                  detail="wrong password; account locked" if locked else "wrong password")
        session.commit()
        raise AccessDenied(MSG_LOCKED if locked else MSG_BAD_LOGIN)
    user.failed_logins = 0
    user.locked_until = None
    log_audit(session, username, schema.A_LOGIN, TARGET_USER, username)
    session.commit()
    return user


# --- Scopes and visibility ---------------------------------------------------------------------

def scope_for(session: Session, username: str) -> Scope:
    """The area a user may see, resolved from the store now (new communities and grids count at once)."""
    user = _user(session, username)
    if user is None or not user.active:
        raise AccessDenied(f"用户不存在或已停用: {username!r}")
    role = user.role
    grid_ids: frozenset[int] | None = None
    if role == schema.ROLE_STREET:
        communities = select(models.Community.id).where(models.Community.street_id == user.street_id)
    elif role == schema.ROLE_COMMUNITY_ADMIN:
        if user.community_id is not None:
            communities = select(models.Community.id).where(models.Community.id == user.community_id)
        elif user.street_id is not None:
            communities = select(models.Community.id).where(models.Community.street_id == user.street_id)
        else:  # installation admin
            communities = select(models.Community.id)
    elif role in (schema.ROLE_GRID_LEADER, schema.ROLE_GRID_WORKER):
        grid_ids = frozenset(user_grid_ids(session, user.id))
        communities = (select(models.Grid.community_id).where(models.Grid.id.in_(grid_ids)) if grid_ids
                       else select(models.Community.id).where(false()))
    else:
        raise AccessDenied(f"未知角色: {role!r}")
    community_ids = frozenset(session.scalars(communities))
    street_ids = frozenset(session.scalars(select(models.Community.street_id)
                                           .where(models.Community.id.in_(community_ids))))
    if role == schema.ROLE_STREET and user.street_id is not None:
        street_ids = street_ids | {user.street_id}
    return Scope(username=user.username, role=role, street_ids=street_ids, community_ids=community_ids,
                 grid_ids=grid_ids, person_level=role != schema.ROLE_STREET,
                 may_reveal=role in (schema.ROLE_COMMUNITY_ADMIN, schema.ROLE_GRID_LEADER))


def person_level_allowed(scope: Scope | None) -> bool:
    return scope is not None and scope.person_level


def visible_community_ids(session: Session, scope: Scope | None) -> set[int]:
    """Communities whose aggregates the scope may see (for grid roles: the communities of their grids)."""
    return set(scope.community_ids) if scope is not None else set()


def community_visible(session: Session, scope: Scope | None, community_id: int | None) -> bool:
    return scope is not None and community_id is not None and community_id in scope.community_ids


def grid_visible(session: Session, scope: Scope | None, grid_id: int | None) -> bool:
    if scope is None or grid_id is None:
        return False
    if scope.grid_ids is not None:
        return grid_id in scope.grid_ids
    return community_visible(session, scope, session.scalar(select(models.Grid.community_id)
                                                             .where(models.Grid.id == grid_id)))


def building_clause(scope: Scope | None) -> ColumnElement[bool]:
    """A WHERE clause over models.Building: the buildings in the scope (join flats, households, persons to it)."""
    if scope is None or not scope.community_ids:
        return false()
    clause = models.Building.community_id.in_(scope.community_ids)
    if scope.grid_ids is not None:
        clause = clause & models.Building.grid_id.in_(scope.grid_ids)
    return clause


def person_clause(scope: Scope | None) -> ColumnElement[bool]:
    """Like `building_clause`, and false for roles without person-level access (street staff)."""
    return building_clause(scope) if person_level_allowed(scope) else false()


def building_visible(session: Session, scope: Scope | None, building_id: int | None) -> bool:
    """Buildings are not personal data: street staff see those of their street (as aggregates)."""
    if scope is None or building_id is None:
        return False
    found = session.scalar(select(models.Building.id).where(models.Building.id == building_id,
                                                            building_clause(scope)))
    return found is not None


def _person_level_exists(session: Session, scope: Scope | None, query) -> bool:  # type: ignore[no-untyped-def]
    if not person_level_allowed(scope):
        return False
    return session.scalar(query.where(building_clause(scope)).limit(1)) is not None


def flat_visible(session: Session, scope: Scope | None, flat_id: int | None) -> bool:
    """Flats carry residents: person-level roles only, within their grids."""
    if flat_id is None:
        return False
    return _person_level_exists(session, scope, select(models.Flat.id)
                                .join(models.Building, models.Flat.building_id == models.Building.id)
                                .where(models.Flat.id == flat_id))


def household_visible(session: Session, scope: Scope | None, household_id: int | None) -> bool:
    if household_id is None:
        return False
    return _person_level_exists(session, scope, select(models.Household.id)
                                .join(models.Flat, models.Household.flat_id == models.Flat.id)
                                .join(models.Building, models.Flat.building_id == models.Building.id)
                                .where(models.Household.id == household_id))


def person_visible(session: Session, scope: Scope | None, person_id: int | None) -> bool:
    if person_id is None:
        return False
    return _person_level_exists(session, scope, select(models.Person.id)
                                .join(models.Household, models.Person.household_id == models.Household.id)
                                .join(models.Flat, models.Household.flat_id == models.Flat.id)
                                .join(models.Building, models.Flat.building_id == models.Building.id)
                                .where(models.Person.id == person_id))


def checkpoint_visible(session: Session, scope: Scope | None, checkpoint_id: int | None) -> bool:
    """A checkpoint row matched to a flat follows the flat; an unmatched row needs community-wide access."""
    if checkpoint_id is None or not person_level_allowed(scope):
        return False
    row = session.get(models.CheckpointRegistration, checkpoint_id)
    if row is None:
        return False
    if row.flat_id is not None:
        return flat_visible(session, scope, row.flat_id)
    return scope.grid_ids is None and community_visible(session, scope, row.community_id)


# --- Masking -----------------------------------------------------------------------------------

def mask_id(v: str | None) -> str:
    """`3204**********041X`: first 4 and last 4 characters kept, length preserved; short values fully masked."""
    if v is None:
        return ""
    s = str(v).strip()
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d)(\d{4})(\d{4})$")
_LANDLINE = re.compile(r"^(0\d{2,3})(-?)(\d{3,4})(\d{4})$")
_PHONE_SEPARATORS = re.compile(r"([/,;，；、]+)")


def _mask_one_phone(s: str) -> str:
    compact = re.sub(r"[\s\-]", "", s)
    if m := _MOBILE.match(compact):
        return f"{m.group(1)}****{m.group(3)}"
    if m := _LANDLINE.match(re.sub(r"\s", "", s)):
        return f"{m.group(1)}{m.group(2)}{'*' * len(m.group(3))}{m.group(4)}"
    # Unknown shape: keep the last 4 characters of long values only.
    return "*" * len(s) if len(s) <= 8 else "*" * (len(s) - 4) + s[-4:]


def mask_phone(v: str | None) -> str:
    """Mobiles `138****5678`, landlines `0519-****6789`; cells holding two numbers are masked number by number."""
    if v is None:
        return ""
    s = unicodedata.normalize("NFKC", str(v)).strip()
    return "".join(part if _PHONE_SEPARATORS.fullmatch(part) or not part.strip() else _mask_one_phone(part.strip())
                   for part in _PHONE_SEPARATORS.split(s))


#: Two-character surnames that are common enough to keep whole.
COMPOUND_SURNAMES = frozenset("欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 "
                              "独孤 南宫 西门 申屠 公羊 澹台 太史 万俟 闻人 钟离 赫连 拓跋".split())


def mask_name(v: str | None) -> str:
    """`张**`: the surname kept, every other character a star (length preserved)."""
    if v is None:
        return ""
    s = str(v).strip()
    keep = 2 if len(s) >= 3 and s[:2] in COMPOUND_SURNAMES else 1
    return s[:keep] + "*" * (len(s) - keep)


# --- Reveals and the audit log -----------------------------------------------------------------

def log_audit(session: Session, username: str | None, action: str, target_type: str | None = None,
              target_id: str | int | None = None, reason: str | None = None, detail: str | None = None) -> None:
    """Add one audit entry (flushed, committed by the caller). Never pass a personal value in reason or detail."""
    session.add(models.AuditLog(at=models.utcnow(), username=username, action=action, target_type=target_type,
                                target_id=None if target_id is None else str(target_id), reason=reason,
                                detail=detail))
    session.flush()


_TARGETS = {schema.ENTITY_PERSON: (models.Person, person_visible),
            schema.ENTITY_HOUSEHOLD: (models.Household, household_visible),
            TARGET_CHECKPOINT: (models.CheckpointRegistration, checkpoint_visible)}


def reveal(session: Session, scope: Scope | None, *, target_type: str, target_id: int, field: str,
           reason: str) -> str:
    """The unmasked value of one field, for a role that may reveal it, with a reason; logged and committed first.

    Raises AccessDenied (and logs nothing) when the role may not reveal, the target is outside the scope or
    does not exist, the field is not revealable, or the reason is empty.
    """
    reason = (reason or "").strip()
    if scope is None or not scope.may_reveal:
        raise AccessDenied("当前角色无权查看完整信息 (reveal: role may not reveal)")
    if target_type not in _TARGETS or field not in REVEALABLE.get(target_type, ()):
        raise AccessDenied(f"不能查看该字段 (reveal: {target_type}.{field} is not revealable)")
    if not reason:
        raise AccessDenied("请填写查看原因 (reveal: a reason is required)")
    model, visible = _TARGETS[target_type]
    if not visible(session, scope, target_id):
        raise AccessDenied("无权查看该记录 (reveal: target outside your area)")
    obj = session.get(model, target_id)
    value = getattr(obj, field)
    log_audit(session, scope.username, schema.A_REVEAL, target_type, target_id, reason=reason[:500],
              detail=f"field={field}")
    session.commit()
    return "" if value is None else str(value)


def _end_of(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time.max)


def _start_of(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time.min)


def audit_entries(session: Session, scope: Scope | None, *, username: str | None = None, action: str | None = None,
                  since: dt.date | dt.datetime | None = None, until: dt.date | dt.datetime | None = None,
                  limit: int = 500) -> list[models.AuditLog]:
    """Audit entries, newest first, for community admins only.

    A community admin sees the entries of users of their community (admins, grid leaders, workers); a street-wide
    admin also those of the street's staff; the installation admin sees everything, including failed logins of
    unknown usernames. A date `until` includes that whole day.
    """
    if scope is None or scope.role != schema.ROLE_COMMUNITY_ADMIN:
        raise AccessDenied("只有社区管理员可以查看审计日志 (audit log: community admins only)")
    admin = get_user(session, scope.username)
    query = select(models.AuditLog)
    if admin.community_id is not None or admin.street_id is not None:
        users = select(models.User.username).where(models.User.community_id.in_(scope.community_ids))
        if admin.community_id is None:  # street-wide admin: the street's staff too
            users = users.union(select(models.User.username).where(models.User.community_id.is_(None),
                                                                   models.User.street_id.in_(scope.street_ids)))
        query = query.where(models.AuditLog.username.in_(users))
    if username:
        query = query.where(models.AuditLog.username == username.strip())
    if action:
        query = query.where(models.AuditLog.action == action)
    if since is not None:
        query = query.where(models.AuditLog.at >= _start_of(since))
    if until is not None:
        query = query.where(models.AuditLog.at <= _end_of(until))
    query = query.order_by(models.AuditLog.at.desc(), models.AuditLog.id.desc()).limit(max(1, min(limit, 10_000)))
    return list(session.scalars(query))


# --- First admin and demo accounts -------------------------------------------------------------

def has_users(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(models.User)) or 0) > 0


def ensure_first_admin(session: Session) -> tuple[str, str] | None:
    """On a store without any user: create the installation admin `admin` with a one-time password.

    The account is a community admin of every community in the store (a new store has none to scope it to),
    and must change its password at first login. Returns (username, password) the one time it is created —
    print it then; it cannot be recovered — and None otherwise. Flushes; the caller commits. Call it once at
    start-up, before worker processes fork.
    """
    if has_users(session):
        return None
    password = generate_password()
    session.add(models.User(username=FIRST_ADMIN, display_name="管理员", password_hash=hash_password(password),
                            role=schema.ROLE_COMMUNITY_ADMIN, street_id=None, community_id=None, active=True,
                            failed_logins=0, must_change_password=True))
    session.flush()
    log_audit(session, None, schema.A_CHANGE, TARGET_USER, FIRST_ADMIN, detail="installation admin created")
    return FIRST_ADMIN, password


def _demo_grid(session: Session, community: models.Community) -> models.Grid:
    grids = list(session.scalars(select(models.Grid).where(models.Grid.community_id == community.id)
                                 .order_by(models.Grid.seq, models.Grid.code)))
    for pick in (lambda g: g.seq == DEMO_GRID_SEQ, lambda g: g.name == DEMO_GRID_NAME):
        found = [g for g in grids if pick(g)]
        if found:
            return found[0]
    raise NotFoundError(f"{community.name}: no grid {DEMO_GRID_NAME} (seq {DEMO_GRID_SEQ}) for the demo accounts")


def ensure_demo_users(session: Session, community_name: str = "兰翔社区", *,
                      rng_seed: int | None = None) -> list[tuple[str, str, str]]:
    """One account per role on the synthetic demo street; returns (username, role label, password) of those
    created now (existing accounts are left alone, and their passwords cannot be shown again).

    street staff of the community's street, the community admin, the leader and the worker of grid 2 (第二网格).
    Passwords are random (secrets) unless `rng_seed` asks for reproducible ones (tests only). Refuses a
    community that is not synthetic: demo accounts never go onto real data. Flushes; the caller commits.
    """
    community = session.scalar(select(models.Community).join(models.Street)
                               .where(models.Community.name == community_name)
                               .order_by(models.Street.synthetic.desc(), models.Community.id))
    if community is None:
        raise NotFoundError(f"社区不存在: {community_name!r} (demo accounts)")
    if not (community.synthetic or community.street.synthetic):
        raise GridMapError(f"{community_name}: demo accounts are only created on the synthetic demo street")
    grid = _demo_grid(session, community)
    rng = random.Random(rng_seed) if rng_seed is not None else None
    created = []
    for username, role in DEMO_USERS:
        if _user(session, username) is not None:
            continue
        password = generate_password(rng=rng)
        kwargs: dict = {schema.ROLE_STREET: {"street_id": community.street_id},
                        schema.ROLE_COMMUNITY_ADMIN: {"community_id": community.id}}.get(role, {"grid_ids": [grid.id]})
        create_user(session, username, password, role, display_name=f"演示{schema.ROLE_LABELS[role]}", **kwargs)
        log_audit(session, None, schema.A_CHANGE, TARGET_USER, username, detail="demo account created")
        created.append((username, schema.ROLE_LABELS[role], password))
    return created


def demo_mode(session: Session) -> bool:
    """True when the store holds a synthetic (demo) street."""
    return session.scalar(select(models.Street.id).where(models.Street.synthetic == true()).limit(1)) is not None


def demo_usernames(session: Session) -> list[tuple[str, str]]:
    """(username, role label) of the active demo accounts, for the login page's hint (never passwords)."""
    names = [u for u, _ in DEMO_USERS]
    users = session.scalars(select(models.User).where(models.User.username.in_(names), models.User.active == true()))
    by_name = {u.username: u for u in users}
    return [(n, schema.ROLE_LABELS[by_name[n].role]) for n in names if n in by_name]


def user_rows(session: Session) -> list[dict[str, object]]:
    """Users for listing (CLI, admin pages): no hashes."""
    rows = []
    for u in session.scalars(select(models.User).order_by(models.User.username)):
        grids = list(session.scalars(select(models.Grid.code).join(models.UserGrid,
                                                                  models.UserGrid.grid_id == models.Grid.id)
                                     .where(models.UserGrid.user_id == u.id).order_by(models.Grid.code)))
        community = session.get(models.Community, u.community_id) if u.community_id else None
        street = session.get(models.Street, u.street_id) if u.street_id else None
        rows.append({"username": u.username, "display_name": u.display_name or "", "role": u.role,
                     "role_label": schema.ROLE_LABELS.get(u.role, u.role), "street": street.name if street else "",
                     "community": community.name if community else "", "grids": grids, "active": u.active,
                     "locked_until": u.locked_until, "must_change_password": u.must_change_password})
    return rows

