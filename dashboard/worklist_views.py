"""Pure functions behind the worklist page (/worklist, 入户核实清单) and the approvals page (/approvals, 更正审批).

Scope first, as everywhere in the dashboard: a grid worker sees the open findings of their grid(s), a grid leader
those of their grids, a community admin the whole community (with a grid selector); street staff see none (no
person-level data). Rows come from `geodata.worklist.worklist_rows` (walking order, phones masked); the .xlsx
downloads are `geodata.worklist.write_worklist_xlsx` and, for community admins, the updated register
(`geodata.register_export.write_register_xlsx`) — both write their export to the audit log (the caller commits).
Approvals: grid leaders and community admins see the corrections waiting in their area (old → new, contacts
masked) and decide through `geodata.verification.approve_visit`. No Dash here: tested without a browser.
"""
from __future__ import annotations

import collections
import json
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import views
from geodata import access, indicators, models, register_export, schema, verification, worklist
from geodata.errors import AccessDenied, GridMapError, InputError, NotFoundError

#: Roles that decide on corrections waiting for approval.
APPROVER_ROLES = (schema.ROLE_GRID_LEADER, schema.ROLE_COMMUNITY_ADMIN)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def scope_grids(session: Session, scope: access.Scope | None, community_id: int) -> list[dict[str, Any]]:
    """The grids of a community the scope covers (id, code, name), in the community's order."""
    if not access.community_visible(session, scope, community_id) or not access.person_level_allowed(scope):
        return []
    query = (select(models.Grid.id, models.Grid.code, models.Grid.name)
             .where(models.Grid.community_id == community_id).order_by(models.Grid.seq, models.Grid.code))
    if scope.grid_ids is not None:
        query = query.where(models.Grid.id.in_(scope.grid_ids))
    return [{"id": g.id, "code": g.code, "name": g.name} for g in session.execute(query)]


def _links(session: Session, community_id: int) -> tuple[dict[tuple, int], dict[str, int]]:
    """(building number, unit, room) -> flat id, and building number -> building id, of a community."""
    B, F = models.Building, models.Flat
    flats = {(r.number, r.unit, r.room): r.id for r in session.execute(
        select(F.id, B.number, F.unit, F.room).join(B, B.id == F.building_id).where(B.community_id == community_id))}
    buildings = {r.number: r.id for r in session.execute(select(B.id, B.number).where(B.community_id == community_id))}
    return flats, buildings


def worklist_data(session: Session, scope: access.Scope | None, *, community_id: int | None = None,
                  grid_id: int | None = None, category: str | None = None) -> dict[str, Any] | None:
    """The worklist of a community for the scope, or None when it is not theirs (or the role sees no persons).

    {"community": {id, name, synthetic}, "communities": [...], "grids": [{id, code, name}], "grid_id",
    "category", "counts": {category: n} (before the category filter), "total", "groups": [{"grid_id", "grid_code",
    "grid_name", "rows": [row]}], "may_export_register"}. Rows keep worklist.ROW_KEYS (phone masked) plus
    "href": the flat page, or the building page when the finding has no flat in the register, or None.
    """
    if not access.person_level_allowed(scope):
        return None
    if community_id is None:
        community_id = views.default_community_id(session, scope)
    if community_id is None or not access.community_visible(session, scope, community_id):
        return None
    grids = scope_grids(session, scope, community_id)
    allowed = {g["id"] for g in grids}
    if grid_id is not None and grid_id not in allowed:
        return None
    rows = worklist.worklist_rows(session, community_id, grid_id)
    if scope.grid_ids is not None:                  # rows outside any grid belong to community-wide roles only
        rows = [r for r in rows if r["grid_id"] in allowed]
    counts = dict(collections.Counter(r["category"] for r in rows))
    if category:
        rows = [r for r in rows if r["category"] == category]
    flats, buildings = _links(session, community_id)
    groups: list[dict[str, Any]] = []
    for r in rows:
        flat_id = flats.get((r["building"], r["unit"], r["room"]))
        building_id = buildings.get(r["building"])
        r["href"] = (f"/flat/{flat_id}" if flat_id is not None
                     else f"/building/{building_id}" if building_id is not None else None)
        if not groups or groups[-1]["grid_id"] != r["grid_id"]:
            groups.append({"grid_id": r["grid_id"], "grid_code": r["grid_code"],
                           "grid_name": r["grid_name"] or worklist.NO_GRID, "rows": []})
        groups[-1]["rows"].append(r)
    community = next(c for c in views.visible_communities(session, scope) if c["id"] == community_id)
    return {"community": community, "communities": views.visible_communities(session, scope), "grids": grids,
            "grid_id": grid_id, "category": category, "counts": counts, "total": sum(counts.values()),
            "groups": groups, "may_export_register": scope.role == schema.ROLE_COMMUNITY_ADMIN}


def _when(utc: Any) -> str | None:
    """A stored UTC timestamp as local time to the minute."""
    return None if utc is None else indicators.local_time(utc).isoformat(sep=" ", timespec="minutes")


def _stamp() -> str:
    return indicators.local_today().strftime("%Y%m%d")


def _xlsx(write) -> bytes:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory(prefix="gridmap-export-") as folder:
        path = Path(folder) / "export.xlsx"
        write(path)
        return path.read_bytes()


def worklist_xlsx(session: Session, scope: access.Scope | None, community_id: int,
                  grid_id: int | None = None) -> tuple[str, bytes]:
    """The printable worklist (入户情况汇总表) of a grid, or of the whole community for community-wide roles, as
    (file name, .xlsx bytes); logged as an export (flushed: the caller commits). Phones are masked in it.

    Raises AccessDenied outside the scope, InputError for a grid role with several grids and none chosen.
    """
    grids = scope_grids(session, scope, community_id)
    by_id = {g["id"]: g for g in grids}
    if not grids or (grid_id is not None and grid_id not in by_id):
        raise AccessDenied(f"worklist of community {community_id}: outside your area")
    if grid_id is None and scope.grid_ids is not None:
        if len(grids) > 1:
            raise InputError("请先选择一个网格再下载 (worklist: expected one of your grids, got all of them)")
        grid_id = grids[0]["id"]
    grid = by_id.get(grid_id) if grid_id is not None else None
    community = session.get(models.Community, community_id)
    body = _xlsx(lambda path: worklist.write_worklist_xlsx(session, community_id, path,
                                                           grid["code"] if grid else None, by=scope.username))
    return f"{community.name}-入户情况汇总表-{grid['name'] if grid else '全部网格'}-{_stamp()}.xlsx", body


def register_xlsx(session: Session, scope: access.Scope | None, community_id: int,
                  reason: str | None = None) -> tuple[str, bytes]:
    """The updated master register (家庭户情况平铺表) of a community as (file name, .xlsx bytes), for community
    admins only; logged as an export. It holds full ID numbers and phones — the file the register loader reads
    back — so it is never offered to grid roles."""
    if scope is None or scope.role != schema.ROLE_COMMUNITY_ADMIN or not access.community_visible(
            session, scope, community_id):
        raise AccessDenied(f"register of community {community_id}: community admins of it only")
    if not (reason or "").strip():
        raise GridMapError("导出含完整身份证号和电话的登记表，请先填写导出原因 (a reason is required for an unmasked export)")
    community = session.get(models.Community, community_id)
    body = _xlsx(lambda path: register_export.write_register_xlsx(session, community_id, path, by=scope.username,
                                                                   reason=reason))
    return f"{community.name}-家庭户情况平铺表-{_stamp()}.xlsx", body


# --- approvals -------------------------------------------------------------------------------------------------

def may_approve(scope: access.Scope | None) -> bool:
    return scope is not None and scope.role in APPROVER_ROLES


def _shown(field: str, value: Any) -> Any:
    mask = views.MASKED_HISTORY_FIELDS.get(field)
    return mask(value) if mask and value else value


def _change_rows(session: Session, payload: dict[str, Any], head: str | None) -> list[dict[str, Any]]:
    rows = [{"entity": schema.ENTITY_HOUSEHOLD, "who": head, "field": f, "old": _shown(f, old), "new": _shown(f, new)}
            for f, (old, new) in (payload.get("household") or {}).items()]
    for person_id, fields in (payload.get("persons") or {}).items():
        person = session.get(models.Person, int(person_id))
        rows += [{"entity": schema.ENTITY_PERSON, "who": person.name if person else person_id, "field": f,
                  "old": _shown(f, old), "new": _shown(f, new)} for f, (old, new) in fields.items()]
    for member in payload.get("new_members") or []:
        rows += [{"entity": "new_member", "who": member.get("name"), "field": f, "old": None,
                  "new": access.mask_id(member[f]) if f == "id_number" else _shown(f, member[f])}
                 for f in ("name", "relation", "id_number", "phone", "phone2") if member.get(f)]
    return rows


def pending_approvals(session: Session, scope: access.Scope | None) -> list[dict[str, Any]] | None:
    """Corrections waiting for approval in the scope, oldest first; None for roles that do not approve.

    One item per `record_outcome` call: {"visit_id", "household_id", "flat_id", "address": {building, unit,
    room}, "by", "at", "method", "result", "note", "findings": [category], "changes": [{"entity", "who", "field",
    "old", "new"}] (phones and IDs masked), "own": recorded by this user (who may not decide on it)}.
    """
    if not may_approve(scope):
        return None
    out = []
    for community_id in sorted(access.visible_community_ids(session, scope)):
        for visit in verification.pending_visits(session, community_id):
            if not access.flat_visible(session, scope, visit.flat_id):
                continue
            payload = json.loads(visit.corrections or "{}")
            household = session.get(models.Household, visit.household_id)
            flat = session.get(models.Flat, visit.flat_id)
            building = flat.building
            findings = [session.get(models.Finding, i) for i in payload.get("finding_ids", [])]
            out.append({"visit_id": visit.id, "household_id": visit.household_id, "flat_id": flat.id,
                        "address": {"building": building.label or building.number, "unit": flat.unit,
                                    "room": flat.room},
                        "by": visit.by, "at": _when(visit.at), "method": visit.method, "result": visit.result,
                        "note": visit.note, "findings": [f.category for f in findings if f is not None],
                        "changes": _change_rows(session, payload, household.head_name if household else None),
                        "own": visit.by == scope.username})
    return out


def decide(session: Session, scope: access.Scope | None, visit_id: int, *, approve: bool) -> list[models.Visit]:
    """Approve or reject corrections waiting for approval, as the signed-in grid leader or community admin, after
    the role and area checks (`verification.approve_visit`; the caller commits)."""
    if not may_approve(scope):
        raise AccessDenied("只有网格长或社区管理员可以审批更正 (approvals: grid leaders and community admins only)")
    visit = session.get(models.Visit, visit_id)
    if visit is None:
        raise NotFoundError(f"visit {visit_id} does not exist")
    if not access.flat_visible(session, scope, visit.flat_id):
        raise AccessDenied(f"visit {visit_id}: outside your area")
    return verification.approve_visit(session, visit_id, by=scope.username, approve=approve)
