"""Visit planning (走访路线): which doors to knock on today, in what walking order, split between workers.

This module owns
- choosing the visits of a grid (`choose_visits`): open findings by category, revisits (latest visit 需复访 or
  联系不上), care rounds for elderly living alone (独居老人) not contacted for N days, open events (事件);
- walking distances between building entrances (`distance_matrix`): along the community's footpaths (models.Path,
  networkx shortest paths between entrances snapped to the network) when it has any, else straight lines, in
  metres of schema.METRIC_CRS;
- the walking order over buildings (`order_route`, OR-Tools routing), the split between several workers
  (`split_workers`, OR-Tools multi-vehicle routing balanced by flats and time) and the stair order inside a
  building (`stair_order`: one pass per unit);
- the plan as JSON (`plan_to_json`) and as printable visit sheets (`write_plan_xlsx`, `write_plan_html`, phones
  masked with geodata.access.mask_phone), the overdue-care list for a map layer (`overdue_care`), and the
  `plan-route` command (`add_cli`).

Everything but the command is pure: it reads the store and writes nothing. The command logs its export to the
audit log (PIPL: every export is logged).

Time: findings, events and the verification state are taken as they stand; `as_of` (default today, China time)
is the reference day for ages, for the care interval and for which visits and care contacts count.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import getpass
import html
import json
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path as FilePath
from typing import Any, Final

import networkx as nx
import numpy as np
import shapely
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from pyproj import Transformer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from geodata import access, indicators, models, schema, store, worklist
from geodata.errors import InputError, NotFoundError

# --- What can be visited -----------------------------------------------------------------------
#: Visit kinds beside the finding categories (schema.F_*); candidates for schema.py.
W_REVISIT: Final = "revisit"
W_CARE: Final = "care"
W_EVENTS: Final = "events"
W_FINDINGS: Final = "findings"       # shorthand: every finding category
W_ALL: Final = "all"                 # every finding category, revisits, care rounds and events
WHAT_LABELS: Final = {W_REVISIT: "复访", W_CARE: "独居老人关爱", W_EVENTS: "未结事件"}
#: Default selection: open findings and revisits.
DEFAULT_WHAT: Final = (*schema.FINDING_LABELS, W_REVISIT)
#: Latest visit results that call for another visit.
REVISIT_RESULTS: Final = (schema.R_REVISIT, schema.R_UNREACHABLE)
#: A household note containing this asks for care rounds at the door (上门) instead of window or phone.
DOOR_NOTE: Final = "上门"

# --- Planning defaults -------------------------------------------------------------------------
#: Walking speed of a grid worker, metres per minute (~1.2 m/s).
WALK_M_PER_MIN: Final = 70.0
#: Minutes spent at one flat (knock, talk, note the result).
MINUTES_PER_FLAT: Final = 5.0
#: Minutes to climb one storey of a walk-up (the way down counts the same).
MINUTES_PER_FLOOR: Final = 0.3
#: Time budget of the walking order (seconds): 300 stops are planned in under a second.
DEFAULT_TIME_LIMIT_S: Final = 0.8
#: Time budget of the split between workers (seconds).
DEFAULT_SPLIT_TIME_LIMIT_S: Final = 1.0
#: Allowed deviation of each worker's number of flats from the mean, tried in turn (None: no bound).
BALANCE_TOLERANCES: Final = (0.1, 0.2, 0.35, None)
#: Stair order inside a unit: "down" climbs to the top stop first and visits on the way down; "up" visits
#: on the way up.
STAIR_DOWN: Final = "down"
STAIR_UP: Final = "up"
#: Distances are computed in integer decimetres for the solver.
_SCALE: Final = 10.0
#: Distance source of a plan.
D_FOOTPATHS: Final = "footpaths"
D_STRAIGHT: Final = "straight"

SHEET_COLUMNS: Final = ("序号", "楼栋", "单元", "室号", "楼层", "事项", "联系电话", "联系方式建议", "结果", "备注")
_SHEET_WIDTHS: Final = (6, 8, 6, 8, 6, 34, 16, 12, 14, 30)


# --- Data --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Stop:
    """One door to visit: a flat (or a building, for an event reported without a flat) and why."""
    building_id: int
    building: str                     # building number ('12')
    unit: int | None
    room: str
    floor: int | None
    flat_id: int | None
    household_id: int | None
    what: tuple[str, ...]             # codes: schema.F_*, W_REVISIT, W_CARE, W_EVENTS
    labels: tuple[str, ...]           # Chinese labels of `what` (events name their category)
    method: str                       # suggested contact method, schema.M_*
    phone: str = ""                   # masked (access.mask_phone); never the full number
    hints: tuple[str, ...] = ()       # e.g. the last visit's result, the last care contact
    lon: float | None = None          # building entrance, WGS84
    lat: float | None = None


@dataclasses.dataclass(frozen=True)
class RouteStop:
    order: int                        # 1-based position in the worker's route
    stop: Stop
    cumulative_m: float               # walking metres from the start to this stop's building


@dataclasses.dataclass(frozen=True)
class Route:
    worker: int                       # 1-based
    stops: tuple[RouteStop, ...]
    length_m: float                   # closed: start → buildings → start
    minutes: float                    # walking + stairs + MINUTES_PER_FLAT per stop
    path: tuple[tuple[float, float], ...] = ()   # lon/lat: start, building entrances in order, start

    @property
    def flats(self) -> int:
        return len(self.stops)


@dataclasses.dataclass(frozen=True)
class Plan:
    community: str
    community_id: int
    grid: str | None                  # grid code
    grid_name: str | None
    grid_id: int | None
    as_of: dt.date
    what: tuple[str, ...]
    start: tuple[float, float] | None  # lon, lat (WGS84); None when nothing in the grid has a location
    distances: str                    # D_FOOTPATHS or D_STRAIGHT
    routes: tuple[Route, ...]
    unplaced: tuple[Stop, ...] = ()   # stops whose building has no geometry
    synthetic: bool = False
    start_label: str = "社区办公室"    # what the start is, for the sheets

    @property
    def flats(self) -> int:
        return sum(r.flats for r in self.routes)


# --- Choosing the visits -------------------------------------------------------------------------

def parse_what(what: str | Iterable[str] | None) -> tuple[str, ...]:
    """Visit kinds from a comma-separated text or a list: finding categories (schema.F_* codes or their Chinese
    labels), 'findings', 'revisit', 'care', 'events', 'all'. None or empty: DEFAULT_WHAT. Returns the codes in a
    stable order; raises InputError naming every unknown item."""
    if what is None:
        return DEFAULT_WHAT
    items = [w.strip() for w in (what.split(",") if isinstance(what, str) else what) if w and w.strip()]
    if not items:
        return DEFAULT_WHAT
    by_label = {label: code for code, label in schema.FINDING_LABELS.items()}
    by_label.update({label: code for code, label in WHAT_LABELS.items()})
    chosen: set[str] = set()
    unknown = []
    for item in items:
        key = item.lower()
        if key == W_ALL:
            chosen.update(schema.FINDING_LABELS, WHAT_LABELS)
        elif key == W_FINDINGS:
            chosen.update(schema.FINDING_LABELS)
        elif key in schema.FINDING_LABELS or key in WHAT_LABELS:
            chosen.add(key)
        elif item in by_label:
            chosen.add(by_label[item])
        else:
            unknown.append(item)
    if unknown:
        expected = ", ".join([*schema.FINDING_LABELS, W_FINDINGS, W_REVISIT, W_CARE, W_EVENTS, W_ALL])
        raise InputError(f"--what: expected comma-separated items among {expected}; got {', '.join(unknown)}")
    order = [*schema.FINDING_LABELS, W_REVISIT, W_CARE, W_EVENTS]
    return tuple(code for code in order if code in chosen)


def floor_of(room: str | None, floor: int | None = None) -> int | None:
    """The floor of a flat: its stored floor, else derived from the room number (502 → 5)."""
    if floor is not None:
        return floor
    digits = re.match(r"\d+", room or "")
    if digits and len(digits.group()) >= 3:
        return int(digits.group()) // 100
    return None


def care_method(floor: int | None, note: str | None = None) -> str:
    """Suggested contact for a care round: a note asking for 上门 → door; ground floor → window greeting; upper
    floors → phone (the practice in the seed story)."""
    if note and DOOR_NOTE in note:
        return schema.M_DOOR
    return schema.M_WINDOW if (floor or 1) <= 1 else schema.M_PHONE


def _end_utc(as_of: dt.date) -> dt.datetime:
    """The naive-UTC instant at which the local day `as_of` ends (stored timestamps are naive UTC)."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=indicators.LOCAL_TZ)
    return end.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _scope_buildings(session: Session, community_id: int, grid_id: int | None) -> dict[int, Any]:
    query = (select(models.Building.id, models.Building.number, models.Building.grid_id, models.Building.has_lift,
                    models.Building.geom_wkb)
             .where(models.Building.community_id == community_id))
    if grid_id is not None:
        query = query.where(models.Building.grid_id == grid_id)
    return {r.id: r for r in session.execute(query).all()}


def _check_scope(session: Session, community_id: int, grid_id: int | None) -> tuple[models.Community,
                                                                                    models.Grid | None]:
    community = session.get(models.Community, community_id)
    if community is None:
        raise NotFoundError(f"community {community_id} does not exist")
    grid = None
    if grid_id is not None:
        grid = session.get(models.Grid, grid_id)
        if grid is None or grid.community_id != community_id:
            raise NotFoundError(f"grid {grid_id} does not exist in community {community.name}")
    return community, grid


def _living_alone(session: Session, building_ids: Sequence[int], as_of: dt.date) -> list[dict[str, Any]]:
    """Active households of these buildings with exactly one active person, aged 60+ on `as_of`, with their last
    care contact up to the end of `as_of`."""
    if not building_ids:
        return []
    P, H, F = models.Person, models.Household, models.Flat
    cutoff = indicators.elderly_cutoff(as_of)
    singles = (select(P.household_id).join(H, H.id == P.household_id).join(F, F.id == H.flat_id)
               .where(P.active.is_(True), H.active.is_(True), F.building_id.in_(building_ids))
               .group_by(P.household_id).having(func.count(P.id) == 1).subquery())
    rows = session.execute(
        select(H.id, H.note, F.id, F.building_id, F.unit, F.room, F.floor, P.id, P.phone, P.phone2)
        .join(F, F.id == H.flat_id).join(P, P.household_id == H.id)
        .where(H.id.in_(select(singles.c.household_id)), P.active.is_(True), P.birth_date <= cutoff)
        .order_by(H.id)).all()
    last = dict(session.execute(
        select(models.CareContact.household_id, func.max(models.CareContact.at))
        .where(models.CareContact.household_id.in_([r[0] for r in rows]),
               models.CareContact.at < _end_utc(as_of))
        .group_by(models.CareContact.household_id)).all()) if rows else {}
    out = []
    for hh, note, flat, building, unit, room, floor, person, phone, phone2 in rows:
        at = last.get(hh)
        day = indicators.local_time(at).date() if at is not None else None
        out.append({"household_id": hh, "note": note, "flat_id": flat, "building_id": building, "unit": unit,
                    "room": room, "floor": floor_of(room, floor), "person_id": person, "phone": phone or phone2,
                    "last_contact": day, "days_since": None if day is None else (as_of - day).days})
    return out


def _is_due(days_since: int | None, days: int) -> bool:
    """Due for a care round: never contacted, or the last contact is `days` or more days old."""
    return days_since is None or days_since >= days


def _event_label(category: str) -> str:
    return f"事件·{schema.EVENT_CATEGORY_LABELS.get(category, category)}"


def choose_visits(session: Session, community_id: int, grid_id: int | None, what: str | Iterable[str] | None,
                  *, as_of: dt.date | None = None, days: int = 7) -> list[Stop]:
    """The doors to visit in a grid (or, with grid_id None, the whole community), one Stop per flat.

    `what`: see `parse_what`. A flat already verified (every active household has verified_at, and no open
    finding) is never proposed for findings or revisits; care rounds and open events are proposed whatever the
    verification state (they are recurring or unresolved by nature). Care rounds: households with one active
    person aged 60+ whose last care contact is `days` or more days before `as_of`, or who have none.
    Stops come sorted by building, unit, floor and room; coordinates are filled in by `plan`.
    """
    codes = parse_what(what)
    if days < 0:
        raise InputError(f"days: expected 0 or more, got {days}")
    as_of = as_of or indicators.local_today()
    _check_scope(session, community_id, grid_id)
    buildings = _scope_buildings(session, community_id, grid_id)
    building_ids = list(buildings)
    if not building_ids:
        return []
    F, H, P = models.Flat, models.Household, models.Person
    flats = {r.id: r for r in session.execute(
        select(F.id, F.building_id, F.unit, F.room, F.floor).where(F.building_id.in_(building_ids))).all()}
    households = session.execute(
        select(H.id, H.flat_id, H.note, H.verified_at).join(F, F.id == H.flat_id)
        .where(H.active.is_(True), F.building_id.in_(building_ids)).order_by(H.id)).all()
    hh_of_flat: dict[int, list[int]] = defaultdict(list)
    hh_info = {}
    for h in households:
        hh_of_flat[h.flat_id].append(h.id)
        hh_info[h.id] = h
    phones: dict[int, str] = {}
    for hh, _relation, phone, phone2 in session.execute(
            select(P.household_id, P.relation, P.phone, P.phone2).join(H, H.id == P.household_id)
            .join(F, F.id == H.flat_id)
            .where(P.active.is_(True), H.active.is_(True), F.building_id.in_(building_ids))
            .order_by(P.household_id, (P.relation != schema.HEAD_RELATION), P.id)).all():
        if hh not in phones and (phone or phone2):
            phones[hh] = phone or phone2

    # Open findings and the flat each belongs to (its own, its household's, its person's, its checkpoint row's).
    fh, fp, ph = aliased(H), aliased(P), aliased(H)
    cp = aliased(models.CheckpointRegistration)
    finding_flat = func.coalesce(models.Finding.flat_id, fh.flat_id, ph.flat_id, cp.flat_id)
    findings = session.execute(
        select(models.Finding.category, finding_flat, func.coalesce(models.Finding.household_id, fp.household_id))
        .select_from(models.Finding)
        .outerjoin(fh, fh.id == models.Finding.household_id)
        .outerjoin(fp, fp.id == models.Finding.person_id)
        .outerjoin(ph, ph.id == fp.household_id)
        .outerjoin(cp, cp.id == models.Finding.checkpoint_id)
        .where(models.Finding.community_id == community_id, models.Finding.status == schema.FINDING_OPEN)).all()
    open_at: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    for category, flat_id, hh in findings:
        if flat_id in flats:
            open_at[flat_id].append((category, hh))

    def verified_clean(flat_id: int) -> bool:
        ids = hh_of_flat.get(flat_id, [])
        return bool(ids) and all(hh_info[h].verified_at is not None for h in ids) and not open_at.get(flat_id)

    items: dict[tuple, dict[str, Any]] = {}

    def add(key: tuple, code: str, label: str, hh: int | None, hint: str | None = None,
            care: str | None = None, phone: str | None = None) -> None:
        entry = items.setdefault(key, {"pairs": [], "hints": [], "hh": None, "care": None, "phone": None})
        if (code, label) not in entry["pairs"]:
            entry["pairs"].append((code, label))
        if hint and hint not in entry["hints"]:
            entry["hints"].append(hint)
        entry["hh"] = entry["hh"] if entry["hh"] is not None else hh
        entry["care"] = entry["care"] or care
        entry["phone"] = entry["phone"] or phone

    wanted = set(codes)
    for flat_id, found in open_at.items():
        for category, hh in found:
            if category in wanted:
                add(("f", flat_id), category, schema.FINDING_LABELS.get(category, category), hh)

    end = _end_utc(as_of)
    if W_REVISIT in wanted:
        latest: dict[tuple, Any] = {}
        for v in session.execute(
                select(models.Visit.flat_id, models.Visit.household_id, models.Visit.at, models.Visit.result)
                .join(F, F.id == models.Visit.flat_id)
                .where(F.building_id.in_(building_ids), models.Visit.at < end)
                .order_by(models.Visit.at, models.Visit.id)).all():
            latest[("h", v.household_id) if v.household_id is not None else ("f", v.flat_id)] = v
        for v in latest.values():
            if v.result not in REVISIT_RESULTS or verified_clean(v.flat_id):
                continue
            if v.household_id is not None and v.household_id not in hh_info:
                continue              # the household has moved away since
            day = indicators.local_time(v.at).date()
            add(("f", v.flat_id), W_REVISIT, WHAT_LABELS[W_REVISIT], v.household_id,
                f"上次{schema.RESULT_LABELS[v.result]}（{day:%m-%d}）")

    if W_CARE in wanted:
        for c in _living_alone(session, building_ids, as_of):
            if not _is_due(c["days_since"], days):
                continue
            hint = f"上次关爱 {c['last_contact']:%m-%d}" if c["last_contact"] else "无关爱记录"
            add(("f", c["flat_id"]), W_CARE, WHAT_LABELS[W_CARE], c["household_id"], hint,
                care=care_method(c["floor"], c["note"]), phone=c["phone"])

    if W_EVENTS in wanted:
        ef = aliased(F)
        event_building = func.coalesce(models.Event.building_id, ef.building_id)
        for flat_id, building_id, category in session.execute(
                select(models.Event.flat_id, event_building, models.Event.category)
                .select_from(models.Event).outerjoin(ef, ef.id == models.Event.flat_id)
                .where(models.Event.community_id == community_id,
                       models.Event.state.in_(schema.EVENT_OPEN_STATES), event_building.in_(building_ids))
                .order_by(models.Event.reported_at, models.Event.id)).all():
            key = ("f", flat_id) if flat_id in flats else ("b", building_id)
            add(key, W_EVENTS, _event_label(category), None)

    stops = []
    for key, entry in items.items():
        if key[0] == "f":
            flat = flats[key[1]]
            building_id, unit, room, floor = flat.building_id, flat.unit, flat.room, floor_of(flat.room, flat.floor)
            hh = entry["hh"] if entry["hh"] is not None else next(iter(hh_of_flat.get(flat.id, [])), None)
            flat_id = flat.id
        else:
            building_id, unit, room, floor, hh, flat_id = key[1], None, "", None, None, None
        pairs = sorted(entry["pairs"], key=lambda pair: _what_rank(pair[0]))
        what = tuple(dict.fromkeys(code for code, _ in pairs))
        method = entry["care"] if what == (W_CARE,) else schema.M_DOOR
        phone = entry["phone"] or (phones.get(hh) if hh is not None else None)
        stops.append(Stop(building_id=building_id, building=buildings[building_id].number, unit=unit, room=room,
                          floor=floor, flat_id=flat_id, household_id=hh, what=what,
                          labels=tuple(dict.fromkeys(label for _, label in pairs)), method=method,
                          phone=access.mask_phone(phone), hints=tuple(entry["hints"])))
    stops.sort(key=lambda s: (_natural(s.building), s.building_id, s.unit or 0, s.floor or 0, _natural(s.room)))
    return stops


def _what_rank(code: str) -> int:
    order = [*schema.FINDING_LABELS, W_REVISIT, W_CARE, W_EVENTS]
    return order.index(code) if code in order else len(order)


def _natural(text: str) -> tuple:
    """Sort key that puts '2' before '10' and '7A' after '7'."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.findall(r"\d+|\D+", text or ""))


def overdue_care(session: Session, community_id: int, days: int = 7, as_of: dt.date | None = None, *,
                 grid_id: int | None = None) -> list[dict[str, Any]]:
    """Elderly living alone (one active person, 60+) whose last care contact is `days` or more days before `as_of`
    (or who have none), for an overdue-contact map layer. One dict per household, never-contacted first, then
    the longest overdue: household_id, person_id, flat_id, building_id, grid_id, building, unit, room, floor,
    last_contact (ISO date or None), days_since (None when never contacted), method (suggested, schema.M_*),
    lon, lat (the building's representative point, WGS84). No names or phones: the layer looks them up with the
    viewer's scope."""
    as_of = as_of or indicators.local_today()
    _check_scope(session, community_id, grid_id)
    buildings = _scope_buildings(session, community_id, grid_id)
    points: dict[int, tuple[float | None, float | None]] = {}
    for b in buildings.values():
        geom = store.from_wkb(b.geom_wkb)
        point = None if geom is None or geom.is_empty else geom.representative_point()
        points[b.id] = (None, None) if point is None else (round(point.x, 7), round(point.y, 7))
    out = []
    for c in _living_alone(session, list(buildings), as_of):
        if not _is_due(c["days_since"], days):
            continue
        b = buildings[c["building_id"]]
        lon, lat = points[b.id]
        out.append({"household_id": c["household_id"], "person_id": c["person_id"], "flat_id": c["flat_id"],
                    "building_id": b.id, "grid_id": b.grid_id, "building": b.number, "unit": c["unit"],
                    "room": c["room"], "floor": c["floor"],
                    "last_contact": c["last_contact"].isoformat() if c["last_contact"] else None,
                    "days_since": c["days_since"], "method": care_method(c["floor"], c["note"]),
                    "lon": lon, "lat": lat})
    out.sort(key=lambda r: (r["days_since"] is not None, -(r["days_since"] or 0), _natural(r["building"]),
                            r["unit"], _natural(r["room"])))
    return out


# --- Distances ---------------------------------------------------------------------------------

def _as_xy(points: Any) -> np.ndarray:
    if len(points) and isinstance(points[0], shapely.Geometry):
        return np.array([(p.x, p.y) for p in points], dtype=float).reshape(-1, 2)
    return np.asarray(points, dtype=float).reshape(-1, 2)


def distance_matrix(points: Any, paths: Sequence[shapely.Geometry] | None = None) -> np.ndarray:
    """Walking metres between every pair of `points` ((n, 2) x/y or shapely Points, in schema.METRIC_CRS).

    Without `paths`: straight lines. With `paths` (LineStrings in the same CRS): each point walks straight to the
    nearest point of the network, then along it (networkx Dijkstra; paths are noded where they cross). Pairs the
    network does not connect fall back to the straight line. Every distance is at least the straight line."""
    xy = _as_xy(points)
    straight = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    lines = [g for g in (paths or ()) if g is not None and not g.is_empty]
    if not lines or len(xy) < 2:
        return straight
    network = _network_distances(xy, lines)
    return np.where(np.isfinite(network), np.maximum(network, straight), straight)


def _network_distances(xy: np.ndarray, lines: Sequence[shapely.Geometry]) -> np.ndarray:
    noded = shapely.union_all(lines)          # splits the lines where they cross, so crossings become nodes
    parts = [g for g in shapely.get_parts(noded) if g.geom_type == "LineString"]
    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for part in parts:
        coords = [tuple(c) for c in np.asarray(part.coords)[:, :2]]
        segments += [(a, b) for a, b in zip(coords, coords[1:]) if a != b]
    if not segments:
        return np.full((len(xy), len(xy)), np.inf)
    graph = nx.Graph()
    for a, b in segments:
        graph.add_edge(a, b, weight=math.dist(a, b))
    tree = shapely.STRtree([shapely.LineString(s) for s in segments])
    nearest = tree.nearest(shapely.points(xy))
    access_m = np.zeros(len(xy))
    on_segment: dict[int, list[tuple[float, Any]]] = defaultdict(list)
    for i, (x, y) in enumerate(xy):
        (ax, ay), (bx, by) = segments[nearest[i]]
        dx, dy = bx - ax, by - ay
        t = min(1.0, max(0.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
        sx, sy = ax + t * dx, ay + t * dy
        access_m[i] = math.hypot(x - sx, y - sy)
        on_segment[nearest[i]].append((t, ("snap", i)))
    # Entrances snapped onto one segment split it in order along it: a - s1 - s2 - … - b.
    for k, snaps in on_segment.items():
        a, b = segments[k]
        length = math.dist(a, b)
        if graph.has_edge(a, b):
            graph.remove_edge(a, b)
        chain = [(0.0, a), *sorted(snaps, key=lambda s: s[0]), (1.0, b)]
        for (t0, n0), (t1, n1) in zip(chain, chain[1:]):
            graph.add_edge(n0, n1, weight=(t1 - t0) * length)
    out = np.full((len(xy), len(xy)), np.inf)
    for i in range(len(xy)):
        reach = nx.single_source_dijkstra_path_length(graph, ("snap", i), weight="weight")
        for j in range(len(xy)):
            d = reach.get(("snap", j))
            if d is not None:
                out[i, j] = access_m[i] + d + access_m[j]
    np.fill_diagonal(out, 0.0)
    return out


# --- Orders ------------------------------------------------------------------------------------

def route_length(matrix: np.ndarray, order: Sequence[int], *, closed: bool = True) -> float:
    """Length of visiting `order` (and returning to its first node when `closed`)."""
    if len(order) < 2:
        return 0.0
    idx = list(order) + ([order[0]] if closed else [])
    m = np.asarray(matrix, dtype=float)
    return float(sum(m[a, b] for a, b in zip(idx, idx[1:])))


def nearest_neighbour_route(matrix: np.ndarray, start: int = 0) -> list[int]:
    """The nearest-neighbour tour from `start` (a baseline and the fallback when the solver returns nothing)."""
    m = np.asarray(matrix, dtype=float)
    n = len(m)
    seen = np.zeros(n, dtype=bool)
    order = [start]
    seen[start] = True
    for _ in range(n - 1):
        row = np.where(seen, np.inf, m[order[-1]])
        nxt = int(np.argmin(row))
        order.append(nxt)
        seen[nxt] = True
    return order


#: First-solution strategies tried in turn by `order_route` (each followed by OR-Tools' local search); the
#: best tour wins. Christofides first: it is the best single start on larger instances.
_FIRST_SOLUTIONS: Final = ("CHRISTOFIDES", "PATH_CHEAPEST_ARC", "SAVINGS", "LOCAL_CHEAPEST_INSERTION",
                           "GLOBAL_CHEAPEST_ARC")
#: Share of the budget for OR-Tools; the rest is for `_finish_descent`.
_SOLVER_SHARE: Final = 0.8
#: Guided local search after the multi-start, when budget is left: base seconds plus seconds per node.
_GLS_BASE_S: Final = 0.05
_GLS_MIN_NODES: Final = 8
_GLS_PER_NODE_S: Final = 0.004


def _int_matrix(matrix: np.ndarray) -> list[list[int]]:
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise InputError(f"matrix: expected a square matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise InputError("matrix: expected finite, non-negative distances")
    return np.rint(m * _SCALE).astype(np.int64).tolist()


def _tour(routing: pywrapcp.RoutingModel, manager: pywrapcp.RoutingIndexManager, solution: Any,
          vehicle: int = 0) -> list[int]:
    index = routing.Start(vehicle)
    order = []
    while not routing.IsEnd(index):
        order.append(manager.IndexToNode(index))
        index = solution.Value(routing.NextVar(index))
    return order


def order_route(matrix: np.ndarray, start: int = 0, time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> list[int]:
    """A short closed walking tour over every node of `matrix` (metres), beginning at `start`.

    OR-Tools routing: several first-solution strategies, each improved by OR-Tools' local search, within most of
    `time_limit_s`; guided local search from the shortest tour while that share lasts (small instances); then, on
    a symmetric matrix, `_finish_descent` until the budget ends. Returns the node order starting with `start`
    (the walk back to `start` is implied)."""
    ints = _int_matrix(matrix)
    n = len(ints)
    if not 0 <= start < n:
        raise InputError(f"start: expected a node between 0 and {n - 1}, got {start}")
    if n <= 3:
        return [start, *[i for i in range(n) if i != start]]
    began = time.perf_counter()
    deadline = began + max(0.01, time_limit_s)
    solver_deadline = began + max(0.01, time_limit_s) * _SOLVER_SHARE
    best = nearest_neighbour_route(matrix, start)
    best_cost = _cost(ints, best)

    def model() -> tuple[pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel, Any]:
        manager = pywrapcp.RoutingIndexManager(n, 1, start)
        routing = pywrapcp.RoutingModel(manager)
        routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(ints))
        return manager, routing, pywrapcp.DefaultRoutingSearchParameters()

    for name in _FIRST_SOLUTIONS:
        remaining = solver_deadline - time.perf_counter()
        if remaining < 0.005:
            break
        manager, routing, params = model()
        params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, name)
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        params.time_limit.FromMicroseconds(max(1000, int(remaining * 1e6)))
        solution = routing.SolveWithParameters(params)
        if solution is not None and solution.ObjectiveValue() < best_cost:
            best, best_cost = _tour(routing, manager, solution), solution.ObjectiveValue()
    gls = min(solver_deadline - time.perf_counter(), _GLS_BASE_S + _GLS_PER_NODE_S * n)
    if gls >= 0.01 and n >= _GLS_MIN_NODES:
        manager, routing, params = model()
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        params.time_limit.FromMicroseconds(int(gls * 1e6))
        routing.CloseModelWithParameters(params)
        initial = routing.ReadAssignmentFromRoutes([[manager.NodeToIndex(i) for i in best[1:]]], True)
        solution = routing.SolveFromAssignmentWithParameters(initial, params) if initial is not None else None
        if solution is not None and solution.ObjectiveValue() < best_cost:
            best, best_cost = _tour(routing, manager, solution), solution.ObjectiveValue()
    if n >= 5 and ints == [list(row) for row in zip(*ints)]:
        best = _finish_descent(ints, best, deadline)
    return best


def _cost(ints: list[list[int]], tour: Sequence[int]) -> int:
    return sum(ints[a][b] for a, b in zip(tour, [*tour[1:], tour[0]]))


def _finish_descent(dist: list[list[int]], tour: list[int], deadline: float, k: int = 10) -> list[int]:
    """2-opt and Or-opt (segments of 1–3 stops, either way round) over the k nearest neighbours of each stop, with
    don't-look bits, until no move shortens the tour or `deadline` passes. Symmetric distances only.

    Written here because no library fits: OR-Tools' generic routing local search takes 1–2 s to reach a local
    optimum on 300 stops, and stopped at the time limit it leaves 1–3 %; this finishes the descent in ~0.1 s."""
    n = len(tour)
    start = tour[0]
    neighbours = np.argsort(np.asarray(dist), axis=1, kind="stable")[:, 1:k + 1].tolist()
    tour = list(tour)
    pos = [0] * n
    for i, c in enumerate(tour):
        pos[c] = i

    def reverse(i: int, j: int) -> None:
        """Reverse tour positions i..j (cyclic, forward from i); the shorter side is reversed."""
        length = (j - i) % n + 1
        if 2 * length > n:
            i, j, length = (j + 1) % n, (i - 1) % n, n - length
        for _ in range(length // 2):
            a, b = tour[i], tour[j]
            tour[i], tour[j], pos[b], pos[a] = b, a, i, j
            i, j = (i + 1) % n, (j - 1) % n

    def two_opt(a: int) -> tuple[int, ...] | None:
        i = pos[a]
        for succ in (True, False):
            b = tour[(i + 1) % n] if succ else tour[(i - 1) % n]
            d_ab = dist[a][b]
            for c in neighbours[a]:
                d_ac = dist[a][c]
                if d_ac >= d_ab:
                    break
                j = pos[c]
                d = tour[(j + 1) % n] if succ else tour[(j - 1) % n]
                if c == b or d == a:
                    continue
                if d_ac + dist[b][d] < d_ab + dist[c][d]:
                    if succ:
                        reverse((i + 1) % n, j)      # a b … c d  →  a c … b d
                    else:
                        reverse(j, (i - 1) % n)      # d c … b a  →  d b … c a
                    return a, b, c, d
        return None

    def or_opt(a: int) -> tuple[int, ...] | None:
        nonlocal tour
        for length in (1, 2, 3):
            if n < length + 3:
                break
            i = pos[a]
            seg = [tour[(i + m) % n] for m in range(length)]
            p, q = tour[(i - 1) % n], tour[(i + length) % n]
            gain = dist[p][seg[0]] + dist[seg[-1]][q] - dist[p][q]
            inside = set(seg)
            for c in {*neighbours[seg[0]], *neighbours[seg[-1]]}:
                if c in inside:
                    continue
                for x, y in ((c, tour[(pos[c] + 1) % n]), (tour[(pos[c] - 1) % n], c)):
                    if y in inside or x in inside:
                        continue
                    forward = dist[x][seg[0]] + dist[seg[-1]][y]
                    backward = dist[x][seg[-1]] + dist[seg[0]][y]
                    if min(forward, backward) - dist[x][y] < gain:
                        rest = [t for t in tour if t not in inside]
                        at = rest.index(x) + 1
                        tour = rest[:at] + (seg if forward <= backward else seg[::-1]) + rest[at:]
                        for m, t in enumerate(tour):
                            pos[t] = m
                        return (p, q, x, y, *seg)
        return None

    queue = list(reversed(tour))
    queued = set(tour)
    steps = 0
    while queue:
        steps += 1
        if steps % 32 == 0 and time.perf_counter() > deadline:
            break
        a = queue.pop()
        queued.discard(a)
        touched = two_opt(a) or or_opt(a)
        if touched:
            for t in touched:
                if t not in queued:
                    queue.append(t)
                    queued.add(t)
    s = tour.index(start)
    return tour[s:] + tour[:s]


def stair_order(stops: Iterable[Stop], direction: str = STAIR_DOWN) -> list[Stop]:
    """Stops of one building in the order to walk them: stops without a unit (at the entrance) first, then one
    pass per unit (units in ascending order): from the top stop down (`STAIR_DOWN`: climb once, visit on the way
    down) or from the bottom up (`STAIR_UP`); rooms of a floor in ascending order."""
    if direction not in (STAIR_DOWN, STAIR_UP):
        raise InputError(f"direction: expected {STAIR_DOWN!r} or {STAIR_UP!r}, got {direction!r}")
    sign = -1 if direction == STAIR_DOWN else 1
    return sorted(stops, key=lambda s: (s.unit is not None, s.unit or 0, sign * (s.floor or 0), _natural(s.room)))


def _climb_minutes(stops: Sequence[Stop], has_lift: bool | None) -> float:
    """Stairs of one unit: up to the highest stop and back down."""
    if has_lift:
        return 0.0
    top = max((s.floor or 1) for s in stops)
    return 2 * (top - 1) * MINUTES_PER_FLOOR


def split_workers(matrix: np.ndarray, flats: Sequence[int], service_min: Sequence[float], workers: int, *,
                  time_limit_s: float = DEFAULT_SPLIT_TIME_LIMIT_S) -> list[list[int]]:
    """Share the nodes 1..n-1 of `matrix` (metres; node 0 is the start) between `workers`, balanced.

    OR-Tools multi-vehicle routing: every worker starts and ends at node 0; the number of flats per worker is
    held within ±10% of the mean (relaxed to ±20%, ±35%, then unbounded when that is infeasible), and a global
    span cost on time (walking at WALK_M_PER_MIN plus `service_min` at each node) evens out the working time.
    Returns, per worker, the nodes it visits in the solver's order (possibly empty)."""
    n = len(matrix)
    nodes = list(range(1, n))
    if workers < 1:
        raise InputError(f"workers: expected 1 or more, got {workers}")
    if workers == 1 or not nodes:
        return [nodes] + [[] for _ in range(workers - 1)]
    ints = _int_matrix(matrix)
    seconds = [[int(round(float(matrix[i][j]) / WALK_M_PER_MIN * 60 + service_min[i] * 60)) for j in range(n)]
               for i in range(n)]
    demand = [0, *[int(flats[i]) for i in nodes]]
    total = sum(demand)
    mean = total / workers
    for tolerance in BALANCE_TOLERANCES:
        if tolerance is not None and len(nodes) < workers:
            continue
        manager = pywrapcp.RoutingIndexManager(n, workers, 0)
        routing = pywrapcp.RoutingModel(manager)
        routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(ints))
        time_cb = routing.RegisterTransitMatrix(seconds)
        routing.AddDimension(time_cb, 0, 10 ** 9, True, "time")
        # 1 s of the longest working day weighs as much as 10 m of total walking (distances in dm).
        routing.GetDimensionOrDie("time").SetGlobalSpanCostCoefficient(100)
        if tolerance is not None:
            upper = math.floor(mean * (1 + tolerance))
            lower = math.ceil(mean * (1 - tolerance))
            if upper < max(demand) or upper * workers < total:
                continue
            routing.AddDimensionWithVehicleCapacity(routing.RegisterUnaryTransitVector(demand), 0,
                                                    [upper] * workers, True, "flats")
            dim = routing.GetDimensionOrDie("flats")
            for v in range(workers):
                dim.CumulVar(routing.End(v)).SetMin(lower)
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        params.time_limit.FromMicroseconds(max(1000, int(time_limit_s * 1e6)))
        solution = routing.SolveWithParameters(params)
        if solution is not None:
            return [_tour(routing, manager, solution, v)[1:] for v in range(workers)]
    # Unreachable in practice (the unbounded model is always feasible); keep every node with worker 1.
    return [nodes] + [[] for _ in range(workers - 1)]


# --- Coordinates -------------------------------------------------------------------------------

def _to_metric() -> Transformer:
    return Transformer.from_crs(schema.STORE_CRS, schema.METRIC_CRS, always_xy=True)


def _to_store() -> Transformer:
    return Transformer.from_crs(schema.METRIC_CRS, schema.STORE_CRS, always_xy=True)


def _project(geom: shapely.Geometry, transformer: Transformer) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def _start_point(community: models.Community, grid: models.Grid | None, start: tuple[float, float] | None,
                 entrances: dict[int, shapely.Point], to_metric: Transformer) -> shapely.Point | None:
    """The start and end of every route (metric): `start` (lon, lat), else the community office taken as the
    representative point of the community's boundary, else of the grid, else the mean of the entrances."""
    if start is not None:
        lon, lat = start
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(f"start: expected lon,lat in WGS84 degrees, got {lon},{lat}")
        return shapely.Point(*to_metric.transform(lon, lat))
    for source in (community.geom_wkb, grid.geom_wkb if grid is not None else None):
        geom = store.from_wkb(source)
        if geom is not None and not geom.is_empty:
            return _project(geom, to_metric).representative_point()
    if not entrances:
        return None
    xy = np.array([(p.x, p.y) for p in entrances.values()])
    return shapely.Point(*xy.mean(axis=0))


def _community_paths(session: Session, community_id: int, to_metric: Transformer) -> list[shapely.Geometry]:
    out = []
    for (wkb,) in session.execute(select(models.Path.geom_wkb).where(models.Path.community_id == community_id)):
        geom = store.from_wkb(wkb)
        if geom is not None and not geom.is_empty and geom.geom_type in ("LineString", "MultiLineString"):
            out.append(_project(geom, to_metric))
    return out


# --- The plan ----------------------------------------------------------------------------------

def plan(session: Session, community_id: int, grid_id: int | None, what: str | Iterable[str] | None = None,
         workers: int = 1, start: tuple[float, float] | None = None, *, as_of: dt.date | None = None,
         days: int = 7, time_limit_s: float = DEFAULT_TIME_LIMIT_S,
         split_time_limit_s: float = DEFAULT_SPLIT_TIME_LIMIT_S, use_paths: bool = True,
         stair: str = STAIR_DOWN) -> Plan:
    """Today's visits of a grid in walking order, for one worker or shared between `workers`.

    Visits: `choose_visits`. Walking distances between building entrances (the representative point of each
    footprint) follow the community's footpaths when it has any (`use_paths`), else straight lines. Every route
    starts and ends at `start` (lon, lat), by default the community office (the boundary's representative point).
    Buildings are ordered by `order_route`; inside a building `stair_order` gives one pass per unit. With several
    workers the stairwells (building, unit) are shared by `split_workers`, then each worker's buildings are
    ordered again. Stops in buildings without a footprint are returned in `Plan.unplaced`."""
    if workers < 1:
        raise InputError(f"workers: expected 1 or more, got {workers}")
    if stair not in (STAIR_DOWN, STAIR_UP):
        raise InputError(f"stair: expected {STAIR_DOWN!r} or {STAIR_UP!r}, got {stair!r}")
    as_of = as_of or indicators.local_today()
    community, grid = _check_scope(session, community_id, grid_id)
    codes = parse_what(what)
    stops = choose_visits(session, community_id, grid_id, codes, as_of=as_of, days=days)
    to_metric, to_store = _to_metric(), _to_store()
    buildings = _scope_buildings(session, community_id, grid_id)
    entrances: dict[int, shapely.Point] = {}
    for b in buildings.values():
        geom = store.from_wkb(b.geom_wkb)
        if geom is not None and not geom.is_empty:
            entrances[b.id] = _project(geom, to_metric).representative_point()
    lonlat = {bid: tuple(round(c, 7) for c in to_store.transform(p.x, p.y)) for bid, p in entrances.items()}
    placed = [dataclasses.replace(s, lon=lonlat[s.building_id][0], lat=lonlat[s.building_id][1])
              for s in stops if s.building_id in entrances]
    unplaced = tuple(s for s in stops if s.building_id not in entrances)
    origin = _start_point(community, grid, start, entrances, to_metric)
    start_lonlat = tuple(round(c, 7) for c in to_store.transform(origin.x, origin.y)) if origin is not None \
        else None
    paths = _community_paths(session, community_id, to_metric) if use_paths else []

    # Nodes of the building-level matrix: 0 = start, then each building with stops.
    building_order = sorted({s.building_id for s in placed}, key=lambda b: (_natural(buildings[b].number), b))
    node_of = {b: i + 1 for i, b in enumerate(building_order)}
    matrix = distance_matrix([origin, *[entrances[b] for b in building_order]], paths) if placed else \
        np.zeros((1, 1))

    by_unit: dict[tuple[int, int | None], list[Stop]] = defaultdict(list)
    for s in placed:
        by_unit[(s.building_id, s.unit)].append(s)
    if workers == 1:
        shares = [building_order]
        unit_shares: list[set] = [set(by_unit)]
    else:
        wells = sorted(by_unit, key=lambda k: (node_of[k[0]], k[1] is not None, k[1] or 0))
        well_nodes = [0, *[node_of[b] for b, _ in wells]]
        well_matrix = matrix[np.ix_(well_nodes, well_nodes)]
        flats = [0, *[len(by_unit[k]) for k in wells]]
        service = [0.0, *[len(by_unit[k]) * MINUTES_PER_FLAT + _climb_minutes(by_unit[k], buildings[k[0]].has_lift)
                          for k in wells]]
        assigned = split_workers(well_matrix, flats, service, workers, time_limit_s=split_time_limit_s)
        unit_shares = [{wells[i - 1] for i in nodes} for nodes in assigned]
        shares = [sorted({b for b, _ in share}, key=lambda b: node_of[b]) for share in unit_shares]

    routes = []
    for w, (share, units) in enumerate(zip(shares, unit_shares), start=1):
        sub = [0, *[node_of[b] for b in share]]
        order = order_route(matrix[np.ix_(sub, sub)], 0, time_limit_s) if len(sub) > 1 else [0]
        sequence = [share[i - 1] for i in order[1:]]
        route_stops: list[RouteStop] = []
        walked, here, minutes = 0.0, 0, 0.0
        for b in sequence:
            walked += float(matrix[here, node_of[b]])
            here = node_of[b]
            in_building = [s for key in units if key[0] == b for s in by_unit[key]]
            for key in {(s.building_id, s.unit) for s in in_building}:
                minutes += _climb_minutes(by_unit[key], buildings[b].has_lift)
            for s in stair_order(in_building, stair):
                route_stops.append(RouteStop(order=len(route_stops) + 1, stop=s, cumulative_m=round(walked, 1)))
        length = walked + float(matrix[here, 0]) if sequence else 0.0
        minutes += length / WALK_M_PER_MIN + len(route_stops) * MINUTES_PER_FLAT
        path = (start_lonlat, *[lonlat[b] for b in sequence], start_lonlat) if sequence else ()
        routes.append(Route(worker=w, stops=tuple(route_stops), length_m=round(length, 1),
                            minutes=round(minutes, 1), path=path))
    return Plan(community=community.name, community_id=community.id, grid=grid.code if grid else None,
                grid_name=grid.name if grid else None, grid_id=grid.id if grid else None, as_of=as_of, what=codes,
                start=start_lonlat, distances=D_FOOTPATHS if paths else D_STRAIGHT, routes=tuple(routes),
                unplaced=unplaced, synthetic=bool(community.synthetic),
                start_label="社区办公室" if start is None else f"指定地点（{start[0]:.6f}, {start[1]:.6f}）")


# --- Output ------------------------------------------------------------------------------------

def _stop_json(s: Stop) -> dict[str, Any]:
    return {"building": s.building, "unit": s.unit, "room": s.room, "floor": s.floor, "what": list(s.what),
            "labels": list(s.labels), "method": s.method, "building_id": s.building_id, "flat_id": s.flat_id,
            "household_id": s.household_id, "lon": s.lon, "lat": s.lat}


def plan_to_json(p: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data: {"community", "grid", "workers": [{"worker", "stops": [{"order", "building",
    "unit", "room", "floor", "what", "cumulative_m", …}], "length_m", "flats", "minutes", "path"}], …}.
    No names and no phone numbers."""
    return {
        "community": p.community, "grid": p.grid, "grid_name": p.grid_name, "as_of": p.as_of.isoformat(),
        "what": list(p.what), "start": list(p.start) if p.start else None, "distances": p.distances,
        "synthetic": p.synthetic,
        "workers": [{"worker": r.worker,
                     "stops": [{"order": rs.order, **_stop_json(rs.stop), "cumulative_m": rs.cumulative_m}
                               for rs in r.stops],
                     "length_m": r.length_m, "flats": r.flats, "minutes": r.minutes,
                     "path": [list(pt) for pt in r.path]} for r in p.routes],
        "unplaced": [_stop_json(s) for s in p.unplaced],
    }


def _sheet_rows(r: Route) -> list[tuple[Any, ...]]:
    return [(rs.order, rs.stop.building, "" if rs.stop.unit is None else rs.stop.unit, rs.stop.room,
             "" if rs.stop.floor is None else rs.stop.floor, "、".join(rs.stop.labels), rs.stop.phone,
             schema.METHOD_LABELS.get(rs.stop.method, rs.stop.method), "", "；".join(rs.stop.hints))
            for rs in r.stops]


def _title(p: Plan, r: Route) -> str:
    grid = f"{p.grid_name}（{p.grid}）" if p.grid else "全社区"
    mark = f" · {schema.SYNTHETIC_LABEL}" if p.synthetic else ""
    return f"{p.community} {grid} 走访清单 · 网格员{r.worker} · {p.as_of.isoformat()}{mark}"


def _summary(p: Plan, r: Route) -> str:
    basis = "沿步行道" if p.distances == D_FOOTPATHS else "直线"
    return (f"共 {r.flats} 户；步行约 {r.length_m:.0f} 米（{basis}）；预计 {r.minutes:.0f} 分钟；"
            f"起点和终点：{p.start_label}。联系电话已脱敏。")


def write_plan_xlsx(p: Plan, path: str | FilePath) -> FilePath:
    """A printable visit sheet: one worksheet per worker (landscape A4, fitted to the page width, header rows
    repeated on every page), columns SHEET_COLUMNS; 结果 is left blank for the worker. Phones are masked."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    path = FilePath(path)
    wb = Workbook()
    wb.remove(wb.active)
    thin = Side(style="thin", color="808080")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    routes = p.routes or (Route(worker=1, stops=(), length_m=0.0, minutes=0.0),)
    for r in routes:
        ws = wb.create_sheet(f"网格员{r.worker}")
        ws.append([_title(p, r)])
        ws.append([_summary(p, r)])
        ws.append(list(SHEET_COLUMNS))
        last_col = get_column_letter(len(SHEET_COLUMNS))
        ws.merge_cells(f"A1:{last_col}1")
        ws.merge_cells(f"A2:{last_col}2")
        ws["A1"].font = Font(bold=True, size=14)
        for cell in ws[3]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDDDDD")
            cell.border = box
            cell.alignment = Alignment(horizontal="center", vertical="center")
        previous = None
        for row in _sheet_rows(r):
            ws.append(list(row))
            new_building = previous is not None and row[1] != previous
            previous = row[1]
            for cell in ws[ws.max_row]:
                cell.border = Border(left=thin, right=thin, bottom=thin,
                                     top=Side(style="medium") if new_building else thin)
                cell.alignment = Alignment(vertical="center", wrap_text=True)
        if not r.stops:
            ws.append(["今日无待走访户"])
        for i, width in enumerate(_SHEET_WIDTHS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        worklist.print_setup(ws, header_rows=3)
    wb.save(path)
    return path


_HTML_CSS = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 16px; color: #111; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
p.summary { margin: 0 0 8px 0; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border: 1px solid #777; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #ddd; }
tr.new-building td { border-top: 2px solid #000; }
td.blank { min-width: 90px; }
svg { border: 1px solid #bbb; margin: 6px 0 10px 0; }
section.worker + section.worker { break-before: page; page-break-before: always; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
@page { size: A4 landscape; margin: 10mm; }
@media print { body { margin: 0; } }
"""


def _sketch(r: Route, width: int = 640, height: int = 220) -> str:
    """A small inline SVG of the route (no external assets): start, buildings numbered in walking order."""
    if not r.path:
        return ""
    pts = np.array(r.path, dtype=float)
    lat0 = math.radians(float(np.nanmean(pts[:, 1])))
    xy = np.column_stack([pts[:, 0] * math.cos(lat0), pts[:, 1]])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    scale = min((width - 40) / span[0], (height - 40) / span[1])
    px = [(20 + (x - lo[0]) * scale, height - 20 - (y - lo[1]) * scale) for x, y in xy]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in px)
    buildings = []
    seen: list[str] = []
    for rs in r.stops:
        if not seen or seen[-1] != rs.stop.building:
            seen.append(rs.stop.building)
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="路线示意">',
             f'<polyline points="{line}" fill="none" stroke="#1f6fb2" stroke-width="2"/>',
             f'<rect x="{px[0][0] - 6:.1f}" y="{px[0][1] - 6:.1f}" width="12" height="12" fill="#c0392b"/>',
             f'<text x="{px[0][0] + 8:.1f}" y="{px[0][1] - 8:.1f}" font-size="11">起点</text>']
    for k, ((x, y), number) in enumerate(zip(px[1:-1], seen), start=1):
        buildings.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="#fff" stroke="#1f6fb2"/>'
                         f'<text x="{x:.1f}" y="{y + 4:.1f}" font-size="10" text-anchor="middle">{k}</text>'
                         f'<text x="{x + 11:.1f}" y="{y - 6:.1f}" font-size="10">{html.escape(number)}幢</text>')
    return "".join(parts + buildings) + "</svg>"


def write_plan_html(p: Plan, path: str | FilePath) -> FilePath:
    """A self-contained printable visit sheet (inline CSS and SVG, no external assets): one section per worker
    with a route sketch and the table of SHEET_COLUMNS, each worker on a new landscape page."""
    path = FilePath(path)
    esc = html.escape
    routes = p.routes or (Route(worker=1, stops=(), length_m=0.0, minutes=0.0),)
    sections = []
    for r in routes:
        rows = []
        previous = None
        for row in _sheet_rows(r):
            cls = ' class="new-building"' if previous is not None and row[1] != previous else ""
            previous = row[1]
            cells = "".join('<td class="blank"></td>' if i == 8 else f"<td>{esc(str(v))}</td>"
                            for i, v in enumerate(row))
            rows.append(f"<tr{cls}>{cells}</tr>")
        if not rows:
            rows.append(f'<tr><td colspan="{len(SHEET_COLUMNS)}">今日无待走访户</td></tr>')
        head = "".join(f"<th>{esc(c)}</th>" for c in SHEET_COLUMNS)
        sections.append(f'<section class="worker"><h1>{esc(_title(p, r))}</h1>'
                        f'<p class="summary">{esc(_summary(p, r))}</p>{_sketch(r)}'
                        f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>')
    if p.unplaced:
        items = "、".join(f"{s.building}-{s.unit or ''}-{s.room}" for s in p.unplaced)
        sections.append(f'<p class="summary">未定位（楼栋缺少轮廓，未排入路线）：{esc(items)}</p>')
    doc = (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
           f'<title>{esc(p.community)} 走访清单 {esc(p.as_of.isoformat())}</title>'
           f'<style>{_HTML_CSS}</style></head><body>{"".join(sections)}</body></html>\n')
    path.write_text(doc, encoding="utf-8")
    return path


# --- Command line ------------------------------------------------------------------------------

def find_grid(session: Session, community_id: int, text: str) -> models.Grid:
    """A grid of the community by its code, else its name, else its sequence number."""
    grids = list(session.scalars(select(models.Grid).where(models.Grid.community_id == community_id)
                                 .order_by(models.Grid.seq, models.Grid.code)))
    wanted = (text or "").strip()
    for match in (lambda g: g.code == wanted, lambda g: g.name == wanted,
                  lambda g: wanted.isdigit() and g.seq == int(wanted)):
        found = [g for g in grids if match(g)]
        if len(found) == 1:
            return found[0]
    known = "、".join(f"{g.code} {g.name}" for g in grids) or "无"
    raise NotFoundError(f"--grid: no grid {wanted!r} in this community; its grids: {known}")


_WRITERS = {".json": "json", ".xlsx": "xlsx", ".html": "html", ".htm": "html"}


def _parse_lonlat(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        lon, lat = (float(v) for v in text.replace("，", ",").split(","))
    except ValueError as exc:
        raise InputError(f"--start: expected LON,LAT in WGS84 degrees, got {text!r}") from exc
    return lon, lat


def _parse_date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--as-of: expected a date YYYY-MM-DD, got {text!r}") from exc


def write_plan(p: Plan, path: str | FilePath) -> FilePath:
    """Write the plan as .json, .xlsx or .html, chosen by the file's extension."""
    path = FilePath(path)
    kind = _WRITERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"--out: expected a .json, .xlsx or .html path, got {str(path)!r}")
    if kind == "json":
        path.write_text(json.dumps(plan_to_json(p), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path
    return write_plan_xlsx(p, path) if kind == "xlsx" else write_plan_html(p, path)


def run_cli(args: argparse.Namespace) -> int:
    """`plan-route`: plan, write the sheet, log the export (who, what, when) in the audit log."""
    from geodata.geoframes import community_by_name

    out = FilePath(args.out)
    if out.suffix.lower() not in _WRITERS:
        raise InputError(f"--out: expected a .json, .xlsx or .html path, got {args.out!r}")
    if args.workers < 1:
        raise InputError(f"--workers: expected 1 or more, got {args.workers}")
    what = parse_what(args.what)
    start = _parse_lonlat(args.start)
    as_of = _parse_date(args.as_of)
    engine = store.open_store()
    with store.session_scope(engine) as session:
        community = community_by_name(session, args.community)
        grid = find_grid(session, community.id, args.grid)
        result = plan(session, community.id, grid.id, what, workers=args.workers, start=start, as_of=as_of,
                      days=args.days, time_limit_s=args.time_limit, use_paths=not args.straight)
        write_plan(result, out)
        access.log_audit(session, args.by or getpass.getuser(), schema.A_EXPORT, target_type="grid",
                         target_id=grid.id, reason="plan-route 走访清单",
                         detail=f"{out.suffix.lstrip('.')} {result.flats} stops, {len(result.routes)} workers")
    for r in result.routes:
        print(f"网格员{r.worker}: {r.flats} 户, {r.length_m:.0f} m, ~{r.minutes:.0f} min")
    if result.unplaced:
        print(f"未定位 | unplaced (building without footprint): {len(result.unplaced)}")
    print(f"→ {out}")
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register `plan-route` on the `python -m geodata` subparsers; its func is `run_cli`."""
    p = subparsers.add_parser("plan-route", help="走访路线：今日走访户的步行顺序 | today's visits in walking order")
    p.add_argument("--community", required=True, help="社区名称 | community name")
    p.add_argument("--grid", required=True, help="网格编号（或名称、序号）| grid code (or name, sequence)")
    p.add_argument("--what", default=None,
                   help="逗号分隔：比对问题类别 (F_* codes)、findings、revisit、care、events、all；"
                        "默认：全部待核实问题 + 复访 | comma-separated kinds (default: open findings + revisits)")
    p.add_argument("--workers", type=int, default=1, help="分给几名网格员 | number of workers to split between")
    p.add_argument("--days", type=int, default=7, help="独居老人多少天未联系即需关爱 | care interval in days")
    p.add_argument("--as-of", default=None, help="参考日期 YYYY-MM-DD（默认今天）| reference date")
    p.add_argument("--start", default=None,
                   help="起终点 LON,LAT (WGS84)；默认社区办公室（社区边界代表点）| start/end point")
    p.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S,
                   help="路线求解时间上限（秒）| solver time budget per route, seconds")
    p.add_argument("--straight", action="store_true", help="忽略步行道，按直线距离 | ignore footpaths")
    p.add_argument("--by", default=None, help="导出人（审计日志；默认系统用户）| who exports, for the audit log")
    p.add_argument("--out", required=True, help="输出文件 .json / .xlsx / .html")
    p.set_defaults(func=run_cli)
    return p
