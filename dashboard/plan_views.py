"""Visit planning on the dashboard (`/plan`) and care contacts on the flat page: ids and a scope in, plain JSON-able
data out (no Dash here; dashboard/pages/plan.py and dashboard/components/care.py turn it into components).

Who plans what (checked here, on the server, in every function — the page's controls are only a convenience):

| role | grids | workers per plan | 今日进度 (progress) |
|---|---|---|---|
| grid worker (网格员) | their own grid(s) | 1 | no |
| grid leader (网格长) | their grids | 1..MAX_WORKERS | their grids |
| community admin (社区管理员) | every grid of their community | 1..MAX_WORKERS | every grid |
| street staff (街道) | none: no person-level data | – | – |

Where a plan lives. The store has no route table, and a browser store (dcc.Store) is per browser while the leader
watches from another one. So a generated plan is saved in the audit log — where PIPL wants it anyway, since it
lists residents' doors — as one entry: action A_EXPORT, target ('grid', grid id), reason PLAN_REASON, and as
`detail` a compact JSON of the plan (`plan_entry`): ids, codes, room numbers, walking order and the route's
coordinates; never names or phone numbers. The page shows the latest plan of the day for a grid (the user's own,
else anyone's); printed sheets are rebuilt from that entry (phones masked, looked up now) so they match the screen.

Progress is not stored: a stop counts as done when its flat has a verification visit (models.Visit, any result) or
a care contact (models.CareContact) dated that local day, whoever recorded it. The leader's 今日进度 lists, per
grid, the flats planned today (every planner's latest plan of the day), how many of them are done, and every visit
and care contact of the day in the grid.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import access, indicators, models, routing, schema, verification
from geodata.errors import AccessDenied, InputError, NotFoundError
from layers import geojson, routes

#: Reason of the audit entry that saves a plan; of the one that logs a printed sheet.
PLAN_REASON: Final = "plan"
SHEET_REASON: Final = "plan sheet"
PLAN_TARGET: Final = "grid"
#: Version of the plan JSON kept in the audit log.
PLAN_VERSION: Final = 1
MAX_WORKERS: Final = 8
MAX_DAYS: Final = 365
DEFAULT_DAYS: Final = 7
#: Solver budget per route on the page (a worker waits for it).
TIME_LIMIT_S: Final = 0.5
SHEET_FORMATS: Final = ("xlsx", "html")

PLANNER_ROLES: Final = (schema.ROLE_COMMUNITY_ADMIN, schema.ROLE_GRID_LEADER, schema.ROLE_GRID_WORKER)
#: Roles that may split a plan between several workers and watch a grid's progress.
LEADER_ROLES: Final = (schema.ROLE_COMMUNITY_ADMIN, schema.ROLE_GRID_LEADER)

#: What to visit, as the page offers it: finding categories in three groups, then revisits, care rounds, events.
G_MISMATCH: Final = "mismatch"
G_PERSON: Final = "person"
G_HOUSEHOLD: Final = "household"
WHAT_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    G_MISMATCH: schema.FLAT_FINDINGS, G_PERSON: schema.PERSON_FINDINGS, G_HOUSEHOLD: schema.HOUSEHOLD_FINDINGS,
    routing.W_REVISIT: (routing.W_REVISIT,), routing.W_CARE: (routing.W_CARE,), routing.W_EVENTS: (routing.W_EVENTS,),
}
#: Open findings and revisits (routing.DEFAULT_WHAT).
DEFAULT_GROUPS: Final = (G_MISMATCH, G_PERSON, G_HOUSEHOLD, routing.W_REVISIT)

#: Kinds of a stop's items, for the page's labels: finding (code), revisit, care, event (category).
I_FINDING, I_REVISIT, I_CARE, I_EVENT = "finding", "revisit", "care", "event"
_EVENT_BY_LABEL: Final = {label: code for code, label in schema.EVENT_CATEGORY_LABELS.items()}


# --- scope ---------------------------------------------------------------------------------------

def may_plan(scope: access.Scope | None) -> bool:
    return scope is not None and scope.person_level and scope.role in PLANNER_ROLES


def leads(scope: access.Scope | None) -> bool:
    """Grid leaders and community admins: several workers per plan, and the 今日进度 view."""
    return may_plan(scope) and scope.role in LEADER_ROLES


def plannable_grids(session: Session, scope: access.Scope | None) -> list[dict[str, Any]]:
    """The grids the scope may plan for: id, code, name, community_id, community, synthetic (ordered)."""
    if not may_plan(scope) or not scope.community_ids:
        return []
    query = (select(models.Grid, models.Community).join(models.Community,
                                                        models.Community.id == models.Grid.community_id)
             .where(models.Grid.community_id.in_(scope.community_ids))
             .order_by(models.Community.name, models.Community.id, models.Grid.seq, models.Grid.code))
    if scope.grid_ids is not None:
        query = query.where(models.Grid.id.in_(scope.grid_ids))
    return [{"id": g.id, "code": g.code, "name": g.name, "community_id": c.id, "community": c.name,
             "synthetic": bool(c.synthetic or c.street.synthetic)} for g, c in session.execute(query).all()]


def _grid(session: Session, scope: access.Scope | None, grid_id: Any) -> models.Grid:
    """The grid, if the scope may plan for it; AccessDenied otherwise (also for a malformed or unknown id)."""
    try:
        gid = int(grid_id)
    except (TypeError, ValueError):
        raise AccessDenied(f"grid {grid_id!r}: not a grid you may plan for") from None
    if not may_plan(scope) or not access.grid_visible(session, scope, gid):
        raise AccessDenied(f"grid {gid}: not a grid you may plan for")
    grid = session.get(models.Grid, gid)
    if grid is None:
        raise AccessDenied(f"grid {gid}: not a grid you may plan for")
    return grid


# --- planning ------------------------------------------------------------------------------------

def what_codes(groups: Iterable[str] | None) -> tuple[str, ...]:
    """routing.plan's `what` codes for the page's groups (WHAT_GROUPS); InputError for an unknown or empty choice."""
    chosen = [g for g in (groups or []) if g]
    unknown = [g for g in chosen if g not in WHAT_GROUPS]
    if unknown:
        raise InputError(f"what: expected groups among {', '.join(WHAT_GROUPS)}, got {', '.join(map(str, unknown))}")
    if not chosen:
        raise InputError("what: expected at least one kind of visit, got none")
    return routing.parse_what([code for g in chosen for code in WHAT_GROUPS[g]])


def _int_in(value: Any, low: int, high: int, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a whole number from {low} to {high}, got {value!r}") from None
    if not low <= number <= high:
        raise InputError(f"{name}: expected a whole number from {low} to {high}, got {number}")
    return number


def plan_for(session: Session, scope: access.Scope | None, grid_id: Any, groups: Iterable[str] | None, *,
             workers: Any = 1, days: Any = DEFAULT_DAYS, as_of: dt.date | None = None,
             time_limit_s: float = TIME_LIMIT_S) -> routing.Plan:
    """Today's route for a grid the scope may plan for (`routing.plan`). Grid workers plan for themselves only
    (workers must be 1); AccessDenied outside the scope, InputError for a bad choice."""
    grid = _grid(session, scope, grid_id)
    workers = _int_in(workers, 1, MAX_WORKERS, "workers")
    if workers > 1 and not leads(scope):
        raise AccessDenied("workers: a grid worker plans a route for one worker")
    days = _int_in(days, 1, MAX_DAYS, "days")
    return routing.plan(session, grid.community_id, grid.id, what_codes(groups), workers=workers,
                        as_of=as_of or indicators.local_today(), days=days, time_limit_s=time_limit_s,
                        split_time_limit_s=max(time_limit_s, 0.5))


def _stop_entry(s: routing.Stop, cumulative_m: float | None = None) -> dict[str, Any]:
    out = {"f": s.flat_id, "b": s.building_id, "h": s.household_id, "w": list(s.what), "l": list(s.labels),
           "m": s.method, "n": list(s.hints)}
    if cumulative_m is not None:
        out["c"] = cumulative_m
    return out


def plan_entry(p: routing.Plan, *, days: int) -> dict[str, Any]:
    """The plan as kept in the audit log: ids, codes, room-free stop tuples, walking order, route coordinates.
    No names, no phone numbers (those are looked up, masked, when the plan is shown or printed)."""
    return {"kind": PLAN_REASON, "v": PLAN_VERSION, "grid_id": p.grid_id, "community_id": p.community_id,
            "as_of": p.as_of.isoformat(), "what": list(p.what), "days": days, "distances": p.distances,
            "start": list(p.start) if p.start else None,
            "routes": [{"w": r.worker, "len": r.length_m, "min": r.minutes,
                        "path": [[round(x, 6), round(y, 6)] for x, y in r.path],
                        "stops": [_stop_entry(rs.stop, rs.cumulative_m) for rs in r.stops]} for r in p.routes],
            "unplaced": [_stop_entry(s) for s in p.unplaced]}


def _latest_audit_id(session: Session, username: str, reason: str) -> int:
    return session.scalar(select(models.AuditLog.id).where(models.AuditLog.username == username,
                                                           models.AuditLog.reason == reason)
                          .order_by(models.AuditLog.id.desc()).limit(1))


def save_plan(session: Session, scope: access.Scope | None, p: routing.Plan, *, days: int = DEFAULT_DAYS) -> int:
    """Keep a plan in the audit log (see the module docstring); returns its id (the plan id). Flushes only."""
    if p.grid_id is None:
        raise InputError("plan: expected a plan of one grid, got a community-wide plan")
    _grid(session, scope, p.grid_id)
    access.log_audit(session, scope.username, schema.A_EXPORT, PLAN_TARGET, p.grid_id, reason=PLAN_REASON,
                     detail=json.dumps(plan_entry(p, days=days), ensure_ascii=False, separators=(",", ":")))
    return _latest_audit_id(session, scope.username, PLAN_REASON)


def generate(session: Session, scope: access.Scope | None, grid_id: Any, groups: Iterable[str] | None, *,
             workers: Any = 1, days: Any = DEFAULT_DAYS, as_of: dt.date | None = None) -> int:
    """Plan and save in one step (the page's '生成今日路线'); returns the plan id. The caller commits."""
    p = plan_for(session, scope, grid_id, groups, workers=workers, days=days, as_of=as_of)
    return save_plan(session, scope, p, days=int(days))


def _day_range(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The naive-UTC instants at which the local day starts and ends (stored timestamps are naive UTC)."""
    def utc(d: dt.date) -> dt.datetime:
        local = dt.datetime.combine(d, dt.time(), tzinfo=indicators.LOCAL_TZ)
        return local.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return utc(day), utc(day + dt.timedelta(days=1))


def _plan_rows(session: Session, grid_ids: Iterable[int], day: dt.date) -> list[models.AuditLog]:
    """The plans saved on a local day for these grids, oldest first."""
    start, end = _day_range(day)
    targets = [str(g) for g in grid_ids]
    if not targets:
        return []
    return list(session.scalars(select(models.AuditLog).where(
        models.AuditLog.action == schema.A_EXPORT, models.AuditLog.reason == PLAN_REASON,
        models.AuditLog.target_type == PLAN_TARGET, models.AuditLog.target_id.in_(targets),
        models.AuditLog.at >= start, models.AuditLog.at < end).order_by(models.AuditLog.id)))


def _decode(row: models.AuditLog) -> dict[str, Any] | None:
    try:
        entry = json.loads(row.detail or "")
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("kind") != PLAN_REASON or entry.get("v") != PLAN_VERSION:
        return None
    return entry


def latest_plan_id(session: Session, scope: access.Scope | None, grid_id: Any,
                   day: dt.date | None = None) -> int | None:
    """The plan to show for a grid on a day: the user's own latest, else anyone's latest; None without one."""
    try:
        grid = _grid(session, scope, grid_id)
    except AccessDenied:
        return None
    rows = [r for r in _plan_rows(session, [grid.id], day or indicators.local_today()) if _decode(r) is not None]
    own = [r for r in rows if r.username == scope.username]
    chosen = (own or rows)[-1:] if rows else []
    return chosen[0].id if chosen else None


def _entry(session: Session, scope: access.Scope | None, plan_id: Any) -> tuple[models.AuditLog, dict] | None:
    """The saved plan `plan_id`, if it is a plan of a grid the scope may plan for."""
    try:
        row = session.get(models.AuditLog, int(plan_id))
    except (TypeError, ValueError):
        return None
    if row is None or row.action != schema.A_EXPORT or row.reason != PLAN_REASON or row.target_type != PLAN_TARGET:
        return None
    entry = _decode(row)
    if entry is None:
        return None
    try:
        _grid(session, scope, entry.get("grid_id"))
    except AccessDenied:
        return None
    return row, entry


def _masked_phones(session: Session, household_ids: Iterable[int]) -> dict[int, str]:
    """household id → the masked phone a worker calls (the head's, else the first member's with a number)."""
    ids = sorted({h for h in household_ids if h is not None})
    if not ids:
        return {}
    P = models.Person
    out: dict[int, str] = {}
    for hh, phone, phone2 in session.execute(
            select(P.household_id, P.phone, P.phone2).where(P.household_id.in_(ids), P.active.is_(True))
            .order_by(P.household_id, P.relation != schema.HEAD_RELATION, P.id)).all():
        if hh not in out and (phone or phone2):
            out[hh] = access.mask_phone(phone or phone2)
    return out


def load_plan(session: Session, scope: access.Scope | None, plan_id: Any) -> routing.Plan | None:
    """A saved plan as a routing.Plan (for the page and the printed sheets), or None outside the scope.

    Addresses come from the store now, phones are looked up and masked now; stops in buildings the scope no
    longer covers are left out."""
    found = _entry(session, scope, plan_id)
    if found is None:
        return None
    _row, entry = found
    grid = session.get(models.Grid, entry["grid_id"])
    community = session.get(models.Community, grid.community_id)
    all_stops = [s for r in entry["routes"] for s in r["stops"]] + list(entry["unplaced"])
    building_ids = {s["b"] for s in all_stops}
    visible = set(session.scalars(select(models.Building.id).where(models.Building.id.in_(building_ids),
                                                                   access.person_clause(scope))))
    numbers = dict(session.execute(select(models.Building.id, models.Building.number)
                                   .where(models.Building.id.in_(visible))).all())
    flat_ids = {s["f"] for s in all_stops if s["f"] is not None}
    flats = {r.id: r for r in session.execute(select(models.Flat.id, models.Flat.building_id, models.Flat.unit,
                                                     models.Flat.room, models.Flat.floor)
                                              .where(models.Flat.id.in_(flat_ids))).all()}
    phones = _masked_phones(session, (s["h"] for s in all_stops))

    def stop(s: dict[str, Any], lonlat: Sequence[float] | None) -> routing.Stop | None:
        if s["b"] not in visible or (s["f"] is not None and s["f"] not in flats):
            return None
        flat = flats.get(s["f"])
        return routing.Stop(
            building_id=s["b"], building=numbers[s["b"]], unit=flat.unit if flat else None,
            room=flat.room if flat else "", floor=routing.floor_of(flat.room, flat.floor) if flat else None,
            flat_id=s["f"], household_id=s["h"], what=tuple(s["w"]), labels=tuple(s["l"]), method=s["m"],
            phone=phones.get(s["h"], "") if s["h"] is not None else "", hints=tuple(s.get("n") or ()),
            lon=lonlat[0] if lonlat else None, lat=lonlat[1] if lonlat else None)

    out_routes = []
    for r in entry["routes"]:
        path = tuple(tuple(pt) for pt in r["path"])
        order: list[int] = []
        for s in r["stops"]:
            if not order or order[-1] != s["b"]:
                order.append(s["b"])
        entrance = {b: path[k + 1] for k, b in enumerate(order) if k + 1 < len(path)}
        kept = [(stop(s, entrance.get(s["b"])), s.get("c", 0.0)) for s in r["stops"]]
        kept = [(s, c) for s, c in kept if s is not None]
        out_routes.append(routing.Route(
            worker=r["w"], stops=tuple(routing.RouteStop(order=i, stop=s, cumulative_m=c)
                                       for i, (s, c) in enumerate(kept, start=1)),
            length_m=r["len"], minutes=r["min"], path=path))
    unplaced = tuple(s for s in (stop(x, None) for x in entry["unplaced"]) if s is not None)
    return routing.Plan(community=community.name, community_id=community.id, grid=grid.code, grid_name=grid.name,
                        grid_id=grid.id, as_of=dt.date.fromisoformat(entry["as_of"]), what=tuple(entry["what"]),
                        start=tuple(entry["start"]) if entry.get("start") else None, distances=entry["distances"],
                        routes=tuple(out_routes), unplaced=unplaced,
                        synthetic=bool(community.synthetic or community.street.synthetic))


# --- progress ------------------------------------------------------------------------------------

def done_flats(session: Session, flat_ids: Iterable[int], day: dt.date) -> set[int]:
    """Flats among `flat_ids` with a verification visit or a care contact on the local `day` (any result)."""
    ids = sorted({f for f in flat_ids if f is not None})
    if not ids:
        return set()
    start, end = _day_range(day)
    visited = set(session.scalars(select(models.Visit.flat_id).where(
        models.Visit.flat_id.in_(ids), models.Visit.at >= start, models.Visit.at < end)))
    cared = set(session.scalars(select(models.Household.flat_id)
                                .join(models.CareContact, models.CareContact.household_id == models.Household.id)
                                .where(models.Household.flat_id.in_(ids), models.CareContact.at >= start,
                                       models.CareContact.at < end)))
    return visited | cared


def _items(s: routing.Stop) -> list[list[str | None]]:
    """A stop's reasons as [kind, code] pairs the page translates (events carry their category)."""
    out: list[list[str | None]] = []
    for code in s.what:
        if code == routing.W_REVISIT:
            out.append([I_REVISIT, None])
        elif code == routing.W_CARE:
            out.append([I_CARE, None])
        elif code == routing.W_EVENTS:
            cats = [_EVENT_BY_LABEL.get(label.split("·", 1)[-1]) for label in s.labels if label.startswith("事件")]
            out += [[I_EVENT, c] for c in dict.fromkeys(cats)] or [[I_EVENT, None]]
        else:
            out.append([I_FINDING, code])
    return out


def _grid_buildings(session: Session, grid_id: int, *, visited: set[int], planned: set[int],
                    offset: str | None) -> dict[str, Any]:
    """The grid's buildings as three FeatureCollections (visited today, planned but not visited, others)."""
    rows = session.execute(select(models.Building.id, models.Building.number, models.Building.geom_wkb)
                           .where(models.Building.grid_id == grid_id).order_by(models.Building.id)).all()
    groups: dict[str, list[Any]] = {"visited": [], "planned": [], "idle": []}
    for r in rows:
        key = "visited" if r.id in visited else "planned" if r.id in planned else "idle"
        groups[key].append(r)
    out = {key: geojson.feature_collection(geojson.geometries_from_wkb([r.geom_wkb for r in group]),
                                           [r.id for r in group], [{"number": r.number} for r in group],
                                           offset=offset)
           for key, group in groups.items()}
    grid = session.get(models.Grid, grid_id)
    outline = geojson.feature_collection(geojson.geometries_from_wkb([grid.geom_wkb]), [grid.id],
                                         [{"name": grid.name}], offset=offset)
    out["outline"] = outline
    out["bounds"] = geojson.merge_bounds(*(geojson.bounds(out[k]) for k in ("visited", "planned", "idle")),
                                         geojson.bounds(outline))
    return out


def route_view(session: Session, scope: access.Scope | None, plan_id: Any, *, offset: str | None = None,
               as_of: dt.date | None = None) -> dict[str, Any] | None:
    """What the route tab shows for a saved plan, or None outside the scope: per worker its colour, counts, path
    and numbered markers ([lat, lon] in display coordinates) and its stops in walking order with masked phones and
    `done` (recorded on the plan's day); the grid's buildings with today's visited ones apart."""
    found = _entry(session, scope, plan_id)
    p = load_plan(session, scope, plan_id)
    if found is None or p is None:
        return None
    row, entry = found
    day = as_of or p.as_of
    stops_all = [rs.stop for r in p.routes for rs in r.stops] + list(p.unplaced)
    done = done_flats(session, (s.flat_id for s in stops_all), day)

    def stop_view(order: int | None, s: routing.Stop, latlng: list[float] | None) -> dict[str, Any]:
        return {"order": order, "flat_id": s.flat_id, "building_id": s.building_id, "building": s.building,
                "unit": s.unit, "room": s.room, "floor": s.floor, "items": _items(s), "labels": list(s.labels),
                "phone": s.phone, "method": s.method, "hints": list(s.hints), "latlng": latlng,
                "done": s.flat_id is not None and s.flat_id in done}

    route_rows = []
    for r in p.routes:
        points = routes.display_latlon([(rs.stop.lon, rs.stop.lat) for rs in r.stops], offset=offset)
        stops = [stop_view(rs.order, rs.stop, pt) for rs, pt in zip(r.stops, points)]
        markers: list[dict[str, Any]] = []
        for s in stops:
            if s["latlng"] is None:
                continue
            if markers and markers[-1]["building_id"] == s["building_id"]:
                markers[-1]["orders"].append(s["order"])
                markers[-1]["done"] = markers[-1]["done"] and s["done"]
            else:
                markers.append({"building_id": s["building_id"], "building": s["building"], "latlng": s["latlng"],
                                "orders": [s["order"]], "done": s["done"]})
        route_rows.append({"worker": r.worker, "color": routes.worker_color(r.worker), "flats": len(stops),
                           "done": sum(s["done"] for s in stops), "length_m": r.length_m, "minutes": r.minutes,
                           "path": [pt for pt in routes.display_latlon(r.path, offset=offset) if pt],
                           "stops": stops, "markers": markers})
    visited_buildings = {s.building_id for s in stops_all if s.flat_id in done}
    planned_buildings = {s.building_id for s in stops_all}
    maps = _grid_buildings(session, p.grid_id, visited=visited_buildings | _visited_buildings(session, p.grid_id, day),
                           planned=planned_buildings, offset=offset)
    start = routes.display_latlon([p.start], offset=offset)[0] if p.start else None
    points = [pt for r in route_rows for pt in r["path"]] + ([start] if start else [])
    if points:   # the route's start (the community office) may lie outside the grid: keep it in view
        lats, lons = [pt[0] for pt in points], [pt[1] for pt in points]
        maps["bounds"] = geojson.merge_bounds(maps["bounds"], [[min(lats), min(lons)], [max(lats), max(lons)]])
    return {"plan_id": row.id, "grid_id": p.grid_id, "grid": p.grid_name, "grid_code": p.grid,
            "community": p.community, "community_id": p.community_id, "synthetic": p.synthetic,
            "as_of": p.as_of.isoformat(), "created_by": row.username,
            "created_at": indicators.local_time(row.at).strftime("%H:%M"), "what": list(p.what),
            "days": entry.get("days"), "distances": p.distances, "routes": route_rows,
            "unplaced": [stop_view(None, s, None) for s in p.unplaced], "start": start,
            "flats": sum(r["flats"] for r in route_rows), "done": sum(r["done"] for r in route_rows),
            "buildings": maps}


def _visited_buildings(session: Session, grid_id: int, day: dt.date) -> set[int]:
    return {a["building_id"] for a in _activity(session, grid_id, day)}


def plan_sheet(session: Session, scope: access.Scope | None, plan_id: Any, fmt: str) -> tuple[str, bytes] | None:
    """A saved plan as a printable visit sheet (`routing.write_plan_xlsx` / `write_plan_html`, phones masked),
    logged in the audit log as A_EXPORT (flushed; the caller commits). None outside the scope."""
    if fmt not in SHEET_FORMATS:
        raise InputError(f"fmt: expected one of {', '.join(SHEET_FORMATS)}, got {fmt!r}")
    p = load_plan(session, scope, plan_id)
    if p is None:
        return None
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"plan.{fmt}"
        (routing.write_plan_xlsx if fmt == "xlsx" else routing.write_plan_html)(p, path)
        body = path.read_bytes()
    access.log_audit(session, scope.username, schema.A_EXPORT, PLAN_TARGET, p.grid_id, reason=SHEET_REASON,
                     detail=json.dumps({"plan_id": int(plan_id), "format": fmt, "stops": p.flats}))
    name = f"{p.community}-{p.grid_name}-走访清单-{p.as_of:%Y%m%d}.{fmt}"
    return name, body


def _activity(session: Session, grid_id: int, day: dt.date) -> list[dict[str, Any]]:
    """Every verification visit and care contact of a local day in a grid, newest first."""
    start, end = _day_range(day)
    F, B = models.Flat, models.Building
    out = []
    for v, f, b in session.execute(
            select(models.Visit, F, B).join(F, F.id == models.Visit.flat_id).join(B, B.id == F.building_id)
            .where(B.grid_id == grid_id, models.Visit.at >= start, models.Visit.at < end)).all():
        out.append({"at": v.at, "by": v.by, "kind": "visit", "flat_id": f.id, "building_id": b.id,
                    "building": b.number, "unit": f.unit, "room": f.room, "method": v.method, "result": v.result})
    for c, f, b in session.execute(
            select(models.CareContact, F, B)
            .join(models.Household, models.Household.id == models.CareContact.household_id)
            .join(F, F.id == models.Household.flat_id).join(B, B.id == F.building_id)
            .where(B.grid_id == grid_id, models.CareContact.at >= start, models.CareContact.at < end)).all():
        out.append({"at": c.at, "by": c.by or "", "kind": "care", "flat_id": f.id, "building_id": b.id,
                    "building": b.number, "unit": f.unit, "room": f.room, "method": c.method, "result": c.outcome})
    out.sort(key=lambda a: a["at"], reverse=True)
    for a in out:
        a["at"] = indicators.local_time(a["at"]).strftime("%H:%M")
    return out


def _planned_flats(session: Session, grid_id: int, day: dt.date) -> tuple[set[int], list[str]]:
    """Flats of every planner's latest plan of the day for a grid, and the planners."""
    latest: dict[str, dict[str, Any]] = {}
    for row in _plan_rows(session, [grid_id], day):
        entry = _decode(row)
        if entry is not None:
            latest[row.username or ""] = entry
    flats = {s["f"] for e in latest.values() for r in e["routes"] for s in r["stops"] if s["f"] is not None}
    flats |= {s["f"] for e in latest.values() for s in e["unplaced"] if s["f"] is not None}
    return flats, sorted(latest)


def progress(session: Session, scope: access.Scope | None, as_of: dt.date | None = None) -> list[dict[str, Any]] | None:
    """今日进度 for a leader or admin: per grid of the scope, the flats planned today (None without a plan), how
    many of them are done, the visits and care contacts recorded today and who planned. None for other roles."""
    if not leads(scope):
        return None
    day = as_of or indicators.local_today()
    rows = []
    for g in plannable_grids(session, scope):
        planned, planners = _planned_flats(session, g["id"], day)
        activity = _activity(session, g["id"], day)
        rows.append({"grid_id": g["id"], "code": g["code"], "name": g["name"], "community": g["community"],
                     "planned": len(planned) if planners else None,
                     "done": len(done_flats(session, planned, day)) if planned else 0,
                     "visits": sum(a["kind"] == "visit" for a in activity),
                     "care": sum(a["kind"] == "care" for a in activity),
                     "workers": sorted({a["by"] for a in activity if a["by"]}), "planners": planners})
    return rows


def progress_detail(session: Session, scope: access.Scope | None, grid_id: Any, *, offset: str | None = None,
                    as_of: dt.date | None = None) -> dict[str, Any] | None:
    """One grid's day for a leader or admin: planned / done counts, the day's visits and care contacts (time, by
    whom, where, how, result) and the grid's buildings, those visited today apart. None outside the scope."""
    if not leads(scope):
        return None
    try:
        grid = _grid(session, scope, grid_id)
    except AccessDenied:
        return None
    day = as_of or indicators.local_today()
    planned, planners = _planned_flats(session, grid.id, day)
    activity = _activity(session, grid.id, day)
    planned_buildings = set(session.scalars(select(models.Flat.building_id).where(models.Flat.id.in_(planned)))) \
        if planned else set()
    return {"grid_id": grid.id, "grid": grid.name, "as_of": day.isoformat(),
            "planned": len(planned) if planners else None, "done": len(done_flats(session, planned, day)),
            "planners": planners, "activity": activity,
            "buildings": _grid_buildings(session, grid.id, visited={a["building_id"] for a in activity},
                                         planned=planned_buildings, offset=offset)}


# --- care rounds ---------------------------------------------------------------------------------

def care_rows(session: Session, scope: access.Scope | None, grid_id: Any, days: Any = DEFAULT_DAYS,
              as_of: dt.date | None = None) -> list[dict[str, Any]] | None:
    """Elderly living alone in a grid not contacted for `days` days (`routing.overdue_care`), never contacted
    first, with the masked phone to call; None outside the scope."""
    try:
        grid = _grid(session, scope, grid_id)
    except AccessDenied:
        return None
    days = _int_in(days, 1, MAX_DAYS, "days")
    rows = routing.overdue_care(session, grid.community_id, days, as_of or indicators.local_today(), grid_id=grid.id)
    phones = _masked_phones(session, (r["household_id"] for r in rows))
    return [{**r, "phone": phones.get(r["household_id"], "")} for r in rows]


def care_panel(session: Session, scope: access.Scope | None, flat_id: Any, *, limit: int = 10) -> dict[str, Any] | None:
    """The care form's side data for a flat: its households' latest care contacts (newest first). None outside
    the scope."""
    try:
        fid = int(flat_id)
    except (TypeError, ValueError):
        return None
    if not access.flat_visible(session, scope, fid):
        return None
    rows = session.execute(
        select(models.CareContact).join(models.Household, models.Household.id == models.CareContact.household_id)
        .where(models.Household.flat_id == fid)
        .order_by(models.CareContact.at.desc(), models.CareContact.id.desc()).limit(limit)).scalars().all()
    return {"flat_id": fid,
            "recent": [{"id": c.id, "at": indicators.local_time(c.at).isoformat(sep=" ", timespec="minutes"),
                        "by": c.by or "", "method": c.method, "outcome": c.outcome, "concern": c.concern,
                        "event_id": c.event_id} for c in rows]}


def suggested_care_method(floor: int | None, room: str | None = None, note: str | None = None) -> str:
    """Ground floor → window greeting, upper floors → phone, a note asking for 上门 → door (routing.care_method)."""
    return routing.care_method(routing.floor_of(room, floor), note)


def save_care_contact(session: Session, scope: access.Scope | None, household_id: Any, *, method: str, outcome: str,
                      concern: str | None = None, open_issue: bool = False) -> models.CareContact:
    """Record a care contact as the signed-in user (`verification.record_care_contact`), after the scope check.
    The caller commits."""
    try:
        hid = int(household_id)
    except (TypeError, ValueError):
        raise NotFoundError(f"household {household_id!r} does not exist") from None
    if not access.household_visible(session, scope, hid):
        raise AccessDenied(f"household {hid}: outside your area")
    return verification.record_care_contact(session, hid, by=scope.username, method=method, outcome=outcome,
                                            concern=concern, open_issue=bool(open_issue))

