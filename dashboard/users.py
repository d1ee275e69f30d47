"""`python -m dashboard users add|list|disable|enable|reset-password`: manage accounts from the command line.

A thin shell over geodata.access: arguments are resolved to ids (community and street by name, grids by code or
name), domain errors become one clean line on stderr and exit status 1. A generated password is printed once;
it is never stored in clear or written to a log. Every change is written to the audit log as `cli:<os user>`.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import access, models, schema, store
from geodata.errors import GridMapError, NotFoundError
from geodata.settings import load_settings

_ROLE_BY_TEXT = {**{r: r for r in schema.ROLES}, **{label: r for r, label in schema.ROLE_LABELS.items()},
                 "street": schema.ROLE_STREET, "admin": schema.ROLE_COMMUNITY_ADMIN,
                 "leader": schema.ROLE_GRID_LEADER, "worker": schema.ROLE_GRID_WORKER}


def _role(text: str) -> str:
    try:
        return _ROLE_BY_TEXT[text.strip()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(schema.ROLES)} (or 街道工作人员/社区管理员/网格长/网格员), got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard users", description="管理用户账户 (manage user accounts)")
    p.add_argument("--db", help="store URL (default: GRIDMAP_DB or the SQLite file in var/)")
    sub = p.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, type=_role, help=f"one of {', '.join(schema.ROLES)}")
    add.add_argument("--community", help="community name (community admins; grid roles when grid codes repeat)")
    add.add_argument("--grid", nargs="+", default=[], metavar="CODE", help="grid code(s) or name(s) (grid roles)")
    add.add_argument("--street", help="street name (street staff; a community admin of a whole street)")
    add.add_argument("--display-name")
    _password_options(add)

    sub.add_parser("list", help="list users (no password hashes)")

    disable = sub.add_parser("disable", help="disable a user (kept, cannot sign in; open sessions end)")
    disable.add_argument("username")
    enable = sub.add_parser("enable", help="enable a disabled user")
    enable.add_argument("username")

    reset = sub.add_parser("reset-password", help="set a new password (clears a lockout)")
    reset.add_argument("username")
    _password_options(reset)
    return p


def _password_options(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--password", help="the password (default: generate one and print it once)")
    group.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")


def _operator() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        name = "unknown"
    return f"cli:{name}"[:64]


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated?)"""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if args.password:
        return args.password, False
    return access.generate_password(), True


def _one(session: Session, model: type, name: str, what: str, **where: object):  # type: ignore[no-untyped-def]
    query = select(model).where(model.name == name)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    rows = list(session.scalars(query))
    if not rows:
        raise NotFoundError(f"{what}不存在: {name!r}")
    if len(rows) > 1:
        raise GridMapError(f"{what}名称不唯一: {name!r} ({len(rows)} matches); give --street")
    return rows[0]


def _grid_ids(session: Session, texts: Sequence[str], community: models.Community | None) -> list[int]:
    ids = []
    for text in texts:
        query = select(models.Grid).where((models.Grid.code == text) | (models.Grid.name == text))
        if community is not None:
            query = query.where(models.Grid.community_id == community.id)
        found = list(session.scalars(query))
        if not found:
            where = f" in {community.name}" if community is not None else ""
            raise NotFoundError(f"网格不存在: {text!r}{where}")
        if len(found) > 1:
            raise GridMapError(f"网格不唯一: {text!r} matches {len(found)} grids; give --community")
        ids.append(found[0].id)
    return ids


def _add(session: Session, args: argparse.Namespace) -> list[str]:
    street = _one(session, models.Street, args.street, "街道") if args.street else None
    community = (_one(session, models.Community, args.community, "社区",
                      **({"street_id": street.id} if street else {})) if args.community else None)
    grid_ids = _grid_ids(session, args.grid, community)
    password, generated = _password(args)
    access.create_user(session, args.username, password, args.role, community_id=community.id if community else None,
                       grid_ids=grid_ids, street_id=street.id if street else None, display_name=args.display_name,
                       must_change_password=generated)
    access.log_audit(session, _operator(), schema.A_CHANGE, access.TARGET_USER, args.username.strip(),
                     detail=f"created as {args.role}")
    lines = [f"已创建用户 {args.username.strip()}（{schema.ROLE_LABELS[args.role]}）"]
    if generated:
        lines.append(f"初始密码（只显示这一次，首次登录须修改）: {password}")
    return lines


def _list(session: Session) -> list[str]:
    rows = access.user_rows(session)
    if not rows:
        return ["（没有用户）"]
    header = ("username", "role", "street", "community", "grids", "status", "display name")
    table = [header]
    now = models.utcnow()
    for r in rows:
        status = "disabled" if not r["active"] else (
            "locked" if r["locked_until"] and r["locked_until"] > now else (
                "must change password" if r["must_change_password"] else "active"))
        table.append((str(r["username"]), f"{r['role']} {r['role_label']}", str(r["street"]), str(r["community"]),
                      ",".join(r["grids"]), status, str(r["display_name"])))  # type: ignore[arg-type]
    widths = [max(_width(row[i]) for row in table) for i in range(len(header))]
    return ["  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths)).rstrip() for row in table]


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(c) > 0x2E80 else 1 for c in text)


def _reset(session: Session, args: argparse.Namespace) -> list[str]:
    password, generated = _password(args)
    access.set_password(session, args.username, password, must_change_password=generated, by=_operator())
    lines = [f"已重置 {args.username} 的密码，账户已解锁"]
    if generated:
        lines.append(f"新密码（只显示这一次，登录后须修改）: {password}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["users"]:
        argv = argv[1:]
    args = parser().parse_args(argv)
    url = args.db or load_settings().db_url
    try:
        engine = store.open_store(url)
        try:
            with store.session_scope(engine) as session:
                if args.command == "add":
                    lines = _add(session, args)
                elif args.command == "list":
                    lines = _list(session)
                elif args.command in ("disable", "enable"):
                    access.set_active(session, args.username, args.command == "enable", by=_operator())
                    lines = [f"已{'启用' if args.command == 'enable' else '停用'}用户 {args.username}"]
                else:
                    lines = _reset(session, args)
        finally:
            engine.dispose()
    except GridMapError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 1
    # Printed only after the commit: a password is never shown for an account that was not saved.
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
