"""Pure functions the pages and callbacks call: ids and a scope in, plain JSON-able data out.

No Dash here (the page modules turn this data into components), so everything is testable without a browser.
Every function that returns community, building or flat data checks the caller's scope with `geodata.access`
first and returns None when the area is not theirs; the pages show "无权查看" for None. Values are codes
(schema.V_*, indicators.B_*, schema.M_*): the pages translate them through the message catalog.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geodata import access, contacts, history, indicators, models, schema, verification
from geodata.errors import AccessDenied, ConflictError, NotFoundError
from layers import basemap, buildings, colors, communities, geojson, grids, legend, markers

DEFAULT_COMMUNITY = "兰翔社区"
#: Change-log fields whose old/new values are personal identifiers: shown masked.
MASKED_HISTORY_FIELDS = {"id_number": access.mask_id, "id_raw": access.mask_id, "phone": access.mask_phone,
                         "phone2": access.mask_phone, "phone_raw": access.mask_phone}


def _when(utc: dt.datetime | None) -> str | None:
    """A stored UTC timestamp as local time to the minute, e.g. '2024-03-01 09:30'."""
    return None if utc is None else indicators.local_time(utc).isoformat(sep=" ", timespec="minutes")


def age_on(birth: dt.date | None, as_of: dt.date) -> int | None:
    if birth is None:
        return None
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


# --- communities ---------------------------------------------------------------------------------

def visible_communities(session: Session, scope: access.Scope | None) -> list[dict[str, Any]]:
    """Communities the scope may see: id, name, street, synthetic, ordered by street and name."""
    ids = access.visible_community_ids(session, scope)
    if not ids:
        return []
    rows = session.execute(select(models.Community.id, models.Community.name, models.Street.name,
                                  models.Community.synthetic, models.Street.synthetic)
                           .join(models.Street, models.Street.id == models.Community.street_id)
                           .where(models.Community.id.in_(ids))
                           .order_by(models.Street.name, models.Community.name, models.Community.id)).all()
    return [{"id": r[0], "name": r[1], "street": r[2], "synthetic": bool(r[3] or r[4])} for r in rows]


def default_community_id(session: Session, scope: access.Scope | None) -> int | None:
    """The first visible community named 兰翔社区, else the first visible one (lowest id)."""
    communities = visible_communities(session, scope)
    if not communities:
        return None
    named = [c["id"] for c in communities if c["name"] == DEFAULT_COMMUNITY]
    return min(named) if named else min(c["id"] for c in communities)


def _community(session: Session, community_id: int) -> dict[str, Any]:
    c = session.get(models.Community, community_id)
    if c is None:
        raise NotFoundError(f"community {community_id} does not exist")
    return {"id": c.id, "name": c.name, "compound": c.compound, "code": c.code, "street": c.street.name,
            "synthetic": bool(c.synthetic or c.street.synthetic)}


def _visible_building_ids(session: Session, scope: access.Scope | None, community_id: int) -> set[int]:
    return set(session.scalars(select(models.Building.id).where(models.Building.community_id == community_id,
                                                                access.building_clause(scope))))


def map_data(session: Session, scope: access.Scope | None, community_id: int, *, offset: str | None = None,
             as_of: dt.date | None = None, details: bool = False) -> dict[str, Any] | None:
    """Everything the map page of a community shows, or None outside the scope.

    Keys: community, buildings / grids / outline / paths (FeatureCollections in display coordinates; the buildings
    carry class codes, plus their counts with `details` — `layers.buildings`), category_classes (category →
    {building id: class code}, the findings theme by category), bounds
    ([[s, w], [n, e]]), coverage (rows per grid), totals (households, verified, share, open findings and events,
    elderly households, living alone, party families, buildings).
    """
    if not access.community_visible(session, scope, community_id):
        return None
    as_of = as_of or indicators.local_today()
    community = _community(session, community_id)
    status = indicators.building_status(session, community_id, as_of=as_of)
    visible_buildings = _visible_building_ids(session, scope, community_id)
    status = status[status["building_id"].isin(visible_buildings)].reset_index(drop=True)
    categories = indicators.findings_by_category(session, community_id)
    coverage = indicators.grid_coverage(session, community_id, as_of=as_of)
    if scope is not None and scope.grid_ids is not None:
        coverage = coverage[coverage["grid_id"].isin(scope.grid_ids)].reset_index(drop=True)
    building_fc = buildings.buildings_geojson(session, community_id, status=status, visible=visible_buildings,
                                              offset=offset, details=details)
    issues_fc = markers.issues_geojson(session, community_id, visible=visible_buildings, offset=offset, as_of=as_of)
    grid_fc = grids.grids_geojson(session, community_id, coverage=coverage, visible=set(coverage["grid_id"]),
                                  offset=offset)
    outline_fc = basemap.outline_geojson(session, community_id, offset=offset)
    paths_fc = basemap.paths_geojson(session, community_id, offset=offset)
    fitted = geojson.merge_bounds(geojson.bounds(building_fc), geojson.bounds(grid_fc))
    coverage_rows = [
        {"grid_id": int(r.grid_id), "code": r.code, "name": r.name, "households": int(r.households),
         "verified": int(r.verified), "share": None if pd.isna(r.share) else round(float(r.share), 3),
         "color": colors.coverage_color(None if pd.isna(r.share) else float(r.share))}
        for r in coverage.itertuples()]
    households = int(status["households"].sum())
    verified = int(status["verified"].sum())
    totals = {"buildings": len(status), "households": households, "verified": verified,
              "share": round(verified / households, 3) if households else None,
              "open_findings": int(status["open_findings"].sum()), "open_events": int(status["open_events"].sum()),
              "open_mismatches": int(status["open_mismatches"].sum()),
              "elderly_60": int(status["elderly_60"].sum()), "living_alone": int(status["living_alone"].sum()),
              "party_families": int(status["party_families"].sum()),
              "status_counts": {s: int((status["status"] == s).sum()) for s in colors.STATUS_ORDER}}
    categories = categories[categories["building_id"].isin(visible_buildings)]
    present = set(categories["category"])
    grid_index = {f["properties"]["code"]: {"id": f["id"], "name": f["properties"]["name"],
                                            "bounds": geojson.bounds({"features": [f]})}
                  for f in grid_fc["features"]}
    return {"community": community, "buildings": building_fc, "grids": grid_fc, "outline": outline_fc,
            "paths": paths_fc, "issues": issues_fc, "bounds": fitted or geojson.bounds(outline_fc),
            "coverage": coverage_rows, "totals": totals, "grid_index": grid_index,
            "categories": [c for c in legend.FINDING_CATEGORIES if c in present],
            "category_classes": buildings.category_classes(categories)}


def category_classes(session: Session, scope: access.Scope | None, community_id: int,
                     category: str | None) -> dict[str, int] | None:
    """{building id: class code} of the open findings of one category in the community's visible buildings (what
    the map's hideout needs when that category is chosen; `buildings.category_classes`), {} for no category;
    None outside the scope."""
    if not access.community_visible(session, scope, community_id):
        return None
    if category not in legend.FINDING_CATEGORIES:
        return {}
    counts = indicators.findings_by_category(session, community_id)
    counts = counts[(counts["category"] == category)
                    & counts["building_id"].isin(_visible_building_ids(session, scope, community_id))]
    return buildings.category_classes(counts).get(category, {})


# --- buildings -----------------------------------------------------------------------------------

def _building_page(session: Session, building_id: int, as_of: dt.date, *,
                   names: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the building's info and counts, its flat rows) from one `indicators.building_register` call."""
    b = session.get(models.Building, building_id)
    if b is None:
        raise NotFoundError(f"building {building_id} does not exist")
    row, flats = indicators.building_register(session, building_id, as_of=as_of)
    counts = {k: row[k] for k in ("households", "verified", "open_findings", "open_mismatches", "elderly_60",
                                  "elderly_only", "living_alone", "party_families", "open_events")}
    community = session.get(models.Community, b.community_id)
    info = {"id": b.id, "number": b.number, "label": b.label or b.number, "floors": b.floors, "units": b.units,
            "community_id": b.community_id, "community": community.name,
            "synthetic": bool(community.synthetic or community.street.synthetic), "grid_id": b.grid_id,
            "grid": session.scalar(select(models.Grid.name).where(models.Grid.id == b.grid_id)) if b.grid_id else None,
            "status": row["status"], "color": colors.status_color(row["status"]),
            "flags": buildings.flags_of(row), **counts}
    rows = [{"flat_id": r["flat_id"], "unit": r["unit"], "floor": r["floor"], "room": r["room"],
             "household_id": r["household_id"], "households": r["households"],
             "head_name": r["head_name"] if names else None, "persons": r["persons"], "vacant": r["vacant"],
             "status": r["status"], "color": colors.flat_color(r["status"], r["vacant"]), "badges": list(r["badges"])}
            for r in flats]
    return info, rows


def building_summary(session: Session, scope: access.Scope | None, building_id: int,
                     as_of: dt.date | None = None) -> dict[str, Any] | None:
    """The side panel of a clicked building: its counts and, for person-level roles, its flats laid out as in
    `building_sheet` but without names."""
    if not access.building_visible(session, scope, building_id):
        return None
    as_of = as_of or indicators.local_today()
    info, flats = _building_page(session, building_id, as_of, names=False)
    if not access.person_level_allowed(scope):
        return {"building": info, "units": [], "floors": [], "cells": {}, "flats": None}
    return {"building": info, **_sheet(flats)}


def building_sheet(session: Session, scope: access.Scope | None, building_id: int,
                   as_of: dt.date | None = None) -> dict[str, Any] | None:
    """The 楼盘表: floors top first, units as column groups, one cell per flat position (None where none).

    Returns {"building", "units": [{"unit", "positions": [1, 2]}], "floors": [6, 5, …],
    "cells": {floor: {unit: [flat row | None per position]}}, "flats": [flat rows]}; flats and cells only for
    person-level roles (street staff get the building's counts).
    """
    if not access.building_visible(session, scope, building_id):
        return None
    as_of = as_of or indicators.local_today()
    info, flats = _building_page(session, building_id, as_of, names=True)
    if not access.person_level_allowed(scope):
        return {"building": info, "units": [], "floors": [], "cells": {}, "flats": None}
    return {"building": info, **_sheet(flats)}


def _sheet(flats: list[dict[str, Any]]) -> dict[str, Any]:
    """Flat rows laid out as the 楼盘表: floors top first, per unit the flat positions, None where no flat is."""
    floors = sorted({f["floor"] for f in flats if f["floor"] is not None}, reverse=True)
    positions: dict[int, set[int]] = {}
    placed: dict[tuple[Any, int, int], dict[str, Any]] = {}
    for f in flats:
        pos = _position(f)
        positions.setdefault(f["unit"], set()).add(pos)
        placed[(f["floor"], f["unit"], pos)] = f        # two flats on one position: the later one shows
    units = [{"unit": unit, "positions": sorted(positions[unit])} for unit in sorted(positions)]
    cells = {floor: {u["unit"]: [placed.get((floor, u["unit"], p)) for p in u["positions"]] for u in units}
             for floor in floors}
    return {"units": units, "floors": floors, "cells": cells, "flats": flats}


def _position(flat: dict[str, Any]) -> int:
    """Flat number on its floor: room 502 → 2 (room = floor × 100 + n); otherwise the room's last digits."""
    digits = "".join(ch for ch in str(flat["room"]) if ch.isdigit())
    if flat["floor"] is not None and digits and int(digits) // 100 == flat["floor"]:
        return int(digits) % 100
    return int(digits[-2:]) if digits else 0


# --- flats ---------------------------------------------------------------------------------------

def _history_rows(session: Session, targets: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for entity, entity_id in targets:
        for r in history.history_of(session, entity, entity_id):
            mask = MASKED_HISTORY_FIELDS.get(r.field)
            rows.append({"at": _when(r.at), "by": r.by, "how": r.how,
                         "entity": entity, "entity_id": entity_id, "field": r.field,
                         "old": mask(r.old) if mask and r.old else r.old,
                         "new": mask(r.new) if mask and r.new else r.new})
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows


def flat_detail(session: Session, scope: access.Scope | None, flat_id: int,
                as_of: dt.date | None = None) -> dict[str, Any] | None:
    """Everything the flat page shows, with ID numbers and phones masked; None outside the scope.

    "contacts" is who to call about the flat (`geodata.contacts.flat_contacts`): the register's occupants (户主
    first), former occupants no longer in the register (with the date they left) and checkpoint registrants not in
    the register household, each {"source", "name", "head", "phone" (masked), "since"}."""
    if not access.flat_visible(session, scope, flat_id):
        return None
    as_of = as_of or indicators.local_today()
    flat = session.get(models.Flat, flat_id)
    building = flat.building
    community = session.get(models.Community, building.community_id)
    row = next(r for r in _building_page(session, building.id, as_of, names=False)[1] if r["flat_id"] == flat_id)
    households = []
    for hh in sorted(flat.households, key=lambda h: (not h.active, h.id)):
        if not hh.active:
            continue
        members = []
        for p in sorted(hh.persons, key=lambda p: (p.relation != schema.HEAD_RELATION, p.id)):
            if not p.active:
                continue
            members.append({"id": p.id, "name": p.name, "relation": p.relation, "relation_text": p.relation_text,
                            "sex": p.sex, "age": age_on(p.birth_date, as_of),
                            "elderly": (age_on(p.birth_date, as_of) or 0) >= schema.ELDERLY_AGE,
                            "id_number": access.mask_id(p.id_number or p.id_raw), "id_status": p.id_status,
                            "phone": access.mask_phone(p.phone), "political": p.political_status,
                            "party": p.political_status in schema.PARTY_CODES,
                            "hukou": p.hukou_type})
        households.append({"id": hh.id, "head_name": hh.head_name, "residence_status": hh.residence_status,
                           "version": hh.version, "verified_at": hh.verified_at.isoformat() if hh.verified_at else None,
                           "verified_by": hh.verified_by, "members": members})
    household_ids = [h.id for h in flat.households]
    person_ids = [p.id for h in flat.households for p in h.persons]
    findings = list(session.scalars(
        select(models.Finding).where(
            (models.Finding.flat_id == flat_id) | models.Finding.household_id.in_(household_ids)
            | models.Finding.person_id.in_(person_ids))
        .order_by(models.Finding.status != schema.FINDING_OPEN, models.Finding.id.desc())))
    visits = list(session.scalars(select(models.Visit).where(models.Visit.flat_id == flat_id)
                                  .order_by(models.Visit.at.desc(), models.Visit.id.desc())))
    events = list(session.scalars(select(models.Event).where(models.Event.flat_id == flat_id)
                                  .order_by(models.Event.reported_at.desc(), models.Event.id.desc())))
    targets = ([(schema.ENTITY_FLAT, flat_id)] + [(schema.ENTITY_HOUSEHOLD, h) for h in household_ids]
               + [(schema.ENTITY_PERSON, p) for p in person_ids])
    return {
        "flat": {"id": flat.id, "unit": flat.unit, "floor": flat.floor, "room": flat.room,
                 "residence_status": flat.residence_status, "status": row["status"], "color": row["color"],
                 "vacant": row["vacant"], "badges": row["badges"]},
        "building": {"id": building.id, "number": building.number, "label": building.label or building.number},
        "community": {"id": community.id, "name": community.name, "compound": community.compound,
                      "synthetic": bool(community.synthetic or community.street.synthetic)},
        "households": households,
        "findings": [{"id": f.id, "category": f.category, "status": f.status, "evidence": f.evidence,
                      "created_at": _when(f.created_at)}
                     for f in findings],
        "visits": [{"id": v.id, "at": _when(v.at), "by": v.by, "method": v.method,
                    "result": v.result, "note": v.note, "household_id": v.household_id} for v in visits],
        "events": [{"id": e.id, "category": e.category, "state": e.state, "description": e.description,
                    "reporter": e.reporter, "reported_at": _when(e.reported_at)}
                   for e in events],
        "history": _history_rows(session, targets),
        "contacts": _contact_rows(contacts.flat_contacts(session, flat_id).contacts),
    }


def save_flat_visit(session: Session, scope: access.Scope | None, flat_id: int, *, method: str, result: str,
                    note: str | None) -> models.Visit:
    """Record a verification of a flat without a household (`verification.record_flat_visit`), scope-checked.

    Raises ConflictError when the flat has a register household by now (the form was drawn before an import or a
    correction added one): that household is verified instead, so nothing is written."""
    if not access.flat_visible(session, scope, flat_id):
        raise AccessDenied(f"flat {flat_id}: outside your area")
    if session.scalar(select(func.count()).select_from(models.Household)
                      .where(models.Household.flat_id == flat_id, models.Household.active)):
        raise ConflictError(f"flat {flat_id} has a register household by now; reload and verify the household")
    return verification.record_flat_visit(session, flat_id, by=scope.username, method=method, result=result,
                                          note=note)


def save_event(session: Session, scope: access.Scope | None, flat_id: int, *, category: str, description: str,
               reporter: str | None) -> models.Event:
    """Report an event at a flat as the signed-in user (`verification.report_event`), after the scope check."""
    if not access.flat_visible(session, scope, flat_id):
        raise AccessDenied(f"flat {flat_id}: outside your area")
    return verification.report_event(session, flat_id, category=category, description=description,
                                     reporter=reporter, by=scope.username)


# --- map state in the URL ------------------------------------------------------------------------
# `?layer=status&only=elderly_only,not_verified&grid=32041100300102&cat=absent_registered&show=grids,labels&b=12`
# Every key is optional; unknown or invalid values are dropped (a shared link never fails to open).

OVERLAY_GRIDS = "grids"
OVERLAY_LABELS = "labels"
OVERLAY_ISSUES = "issues"
OVERLAYS = (OVERLAY_GRIDS, OVERLAY_LABELS, OVERLAY_ISSUES)
DEFAULT_STATE: dict[str, Any] = {"layer": legend.THEME_STATUS, "category": None, "only": [], "grid": None,
                                 "show": list(OVERLAYS), "building": None}


def _csv(values: list[str]) -> list[str]:
    return [v for part in values for v in part.split(",") if v]


def parse_map_query(search: str | None) -> dict[str, Any]:
    """The map view a URL search string asks for: layer, category, only (filters), grid (code), show (overlays),
    building (id) — defaults for what is missing or invalid."""
    query = urllib.parse.parse_qs((search or "").lstrip("?"), keep_blank_values=True)
    state = {**DEFAULT_STATE, "only": [], "show": list(OVERLAYS)}
    layer = (query.get("layer") or [""])[-1]
    if layer in legend.THEMES:
        state["layer"] = layer
    category = (query.get("cat") or [""])[-1]
    if category in legend.FINDING_CATEGORIES:
        state["category"] = category
    only = set(_csv(query.get("only", [])))
    state["only"] = [f for f in legend.FILTERS if f in only]
    grid = (query.get("grid") or [""])[-1].strip()
    if re.fullmatch(r"[0-9A-Za-z_-]{1,20}", grid):
        state["grid"] = grid
    if "show" in query:
        show = set(_csv(query["show"]))
        state["show"] = [o for o in OVERLAYS if o in show]
    building = (query.get("b") or [""])[-1]
    if building.isdigit():
        state["building"] = int(building)
    return state


def map_query(state: dict[str, Any]) -> str:
    """The URL search string of a map view ('' for the default view); inverse of `parse_map_query`."""
    state = {**DEFAULT_STATE, **state}
    parts: list[tuple[str, str]] = []
    if state["layer"] in legend.THEMES and state["layer"] != legend.THEME_STATUS:
        parts.append(("layer", state["layer"]))
    if state["category"] in legend.FINDING_CATEGORIES:
        parts.append(("cat", state["category"]))
    only = [f for f in legend.FILTERS if f in set(state["only"] or [])]
    if only:
        parts.append(("only", ",".join(only)))
    if state["grid"]:
        parts.append(("grid", str(state["grid"])))
    show = [o for o in OVERLAYS if o in set(state["show"] or [])]
    if show != list(OVERLAYS):
        parts.append(("show", ",".join(show)))
    if state["building"] is not None:
        parts.append(("b", str(int(state["building"]))))
    return "?" + urllib.parse.urlencode(parts, safe=",") if parts else ""


def building_hideout(state: dict[str, Any], grid_index: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The part of the buildings layer's hideout that follows the map view (the committed JS style function reads
    it together with the constant `buildings.style_table()`)."""
    grid = grid_index.get(state["grid"]) if state.get("grid") else None
    return {"theme": state["layer"], "category": state["category"], "only": list(state["only"]),
            "grid": grid["id"] if grid else None, "selected": state["building"]}


# --- search --------------------------------------------------------------------------------------

MAX_HITS = 10
_PLAIN_NUMBER = re.compile(r"^(\d{1,3}[A-Za-z]?)(?:-(\d{1,2}))?$")


def _building_bounds(session: Session, building_ids: Iterable[int], offset: str | None) -> dict[int, Any]:
    ids = list(building_ids)
    if not ids:
        return {}
    rows = session.execute(select(models.Building.id, models.Building.geom_wkb)
                           .where(models.Building.id.in_(ids))).all()
    fc = geojson.feature_collection(geojson.geometries_from_wkb([r.geom_wkb for r in rows]), [r.id for r in rows],
                                    offset=offset)
    return {f["id"]: geojson.bounds({"features": [f]}) for f in fc["features"]}


def search(session: Session, scope: access.Scope | None, community_id: int, text: str, *,
           offset: str | None = None, limit: int = MAX_HITS) -> dict[str, Any] | None:
    """Buildings matching an address ('12幢', '12-4-202', '16幢丁单元202室', '12') or a resident's name, within the
    scope. Returns {"kind": "address" | "name" | "none", "hits": [{building_id, label, flat_id, text, bounds}]};
    None when the community is outside the scope.

    Names are searched only for person-level roles (street staff get address search only) and shown masked unless
    the role may reveal (community admins, grid leaders); a name is never matched outside the scope.
    """
    if not access.community_visible(session, scope, community_id):
        return None
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return {"kind": "none", "hits": []}
    from loaders.addresses import parse_address   # dashboard may use loaders; geodata and layers may not
    building_no, unit, room = None, None, None
    if m := _PLAIN_NUMBER.match(text):
        building_no, unit = m.group(1).upper(), int(m.group(2)) if m.group(2) else None
    else:
        parsed = parse_address(text)
        building_no, unit, room = parsed.building, parsed.unit, parsed.room
    in_scope = (models.Building.community_id == community_id) & access.building_clause(scope)
    hits: list[dict[str, Any]] = []
    kind = "none"
    if building_no is not None:
        kind = "address"
        building = session.execute(select(models.Building.id, models.Building.number, models.Building.label)
                                   .where(in_scope, models.Building.number == building_no)).first()
        if building is not None:
            flat_id, flat_text = None, ""
            if unit is not None and room is not None and access.person_level_allowed(scope):
                flat = session.execute(select(models.Flat.id).where(
                    models.Flat.building_id == building.id, models.Flat.unit == unit,
                    models.Flat.room == room)).first()
                if flat is not None:
                    flat_id, flat_text = flat.id, f" {unit}-{room}"
            hits.append({"building_id": building.id, "label": building.label or building.number,
                         "flat_id": flat_id, "text": (building.label or building.number) + flat_text})
    elif access.person_level_allowed(scope) and len(text) >= 2:
        kind = "name"
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = session.execute(
            select(models.Person.name, models.Flat.id, models.Flat.unit, models.Flat.room, models.Building.id,
                   models.Building.number, models.Building.label)
            .join(models.Household, models.Household.id == models.Person.household_id)
            .join(models.Flat, models.Flat.id == models.Household.flat_id)
            .join(models.Building, models.Building.id == models.Flat.building_id)
            .where(in_scope, access.person_clause(scope), models.Person.active.is_(True),
                   models.Household.active.is_(True), models.Person.name.like(pattern, escape="\\"))
            .order_by(models.Building.id, models.Flat.unit, models.Flat.room, models.Person.id)
            .limit(limit)).all()
        show = (lambda n: n) if scope.may_reveal else access.mask_name
        for r in rows:
            label = r[6] or r[5]
            hits.append({"building_id": r[4], "label": label, "flat_id": r[1],
                         "text": f"{show(r[0])} · {label} {r[2]}-{r[3]}"})
    bounds = _building_bounds(session, {h["building_id"] for h in hits}, offset)
    for h in hits:
        h["bounds"] = bounds.get(h["building_id"])
    return {"kind": kind, "hits": hits[:limit]}


# --- street --------------------------------------------------------------------------------------

def visible_streets(session: Session, scope: access.Scope | None) -> list[dict[str, Any]]:
    """Streets with at least one community the scope may see: id, name."""
    ids = access.visible_community_ids(session, scope)
    if not ids:
        return []
    rows = session.execute(select(models.Street.id, models.Street.name).distinct()
                           .join(models.Community, models.Community.street_id == models.Street.id)
                           .where(models.Community.id.in_(ids)).order_by(models.Street.name)).all()
    return [{"id": r[0], "name": r[1]} for r in rows]


def default_street_id(session: Session, scope: access.Scope | None) -> int | None:
    """The street page a user lands on: street staff their (first) street; others have none (None)."""
    if scope is None or scope.role != schema.ROLE_STREET:
        return None
    streets = visible_streets(session, scope)
    return streets[0]["id"] if streets else None


def street_data(session: Session, scope: access.Scope | None, street_id: int, *, offset: str | None = None,
                as_of: dt.date | None = None) -> dict[str, Any] | None:
    """The street page: communities as polygons coloured by coverage, with their aggregates (no persons).

    Only communities the scope may see; None when it sees none of the street.
    """
    street = session.get(models.Street, street_id)
    visible = access.visible_community_ids(session, scope)
    if street is None or not visible:
        return None
    coverage = indicators.community_coverage(session, street_id, as_of=as_of)
    coverage = coverage[coverage["community_id"].isin(visible)].reset_index(drop=True)
    if coverage.empty:
        return None
    fc = communities.communities_geojson(session, street_id, coverage, visible=set(coverage["community_id"]),
                                         offset=offset)
    rows = [{"community_id": int(r.community_id), "name": r.name, "buildings": int(r.buildings),
             "households": int(r.households), "verified": int(r.verified),
             "share": None if pd.isna(r.share) else round(float(r.share), 3),
             "open_mismatches": int(r.open_mismatches), "open_events": int(r.open_events),
             "color": colors.coverage_color(None if pd.isna(r.share) else float(r.share))}
            for r in coverage.itertuples()]
    households = sum(r["households"] for r in rows)
    verified = sum(r["verified"] for r in rows)
    return {"street": {"id": street.id, "name": street.name, "district": street.district,
                       "synthetic": bool(street.synthetic)},
            "communities": fc, "rows": rows, "bounds": geojson.bounds(fc),
            "totals": {"communities": len(rows), "households": households, "verified": verified,
                       "share": round(verified / households, 3) if households else None,
                       "open_mismatches": sum(r["open_mismatches"] for r in rows),
                       "open_events": sum(r["open_events"] for r in rows)}}


# --- issues (events) -----------------------------------------------------------------------------

def open_issues(session: Session, scope: access.Scope | None, *, community_id: int | None = None,
                as_of: dt.date | None = None) -> list[dict[str, Any]] | None:
    """Open events in the scope, oldest first: id, category, state, age_days, reported_at, community, building,
    and — for person-level roles — flat, address and description (street staff get the building only).
    None without a scope."""
    if scope is None:
        return None
    as_of = as_of or indicators.local_today()
    visible = access.visible_community_ids(session, scope)
    if community_id is not None:
        visible &= {community_id}
    if not visible:
        return []
    flat = models.Flat
    building = models.Building
    building_id = func.coalesce(models.Event.building_id, flat.building_id)
    query = (select(models.Event, flat, building, models.Community.name)
             .outerjoin(flat, flat.id == models.Event.flat_id)
             .outerjoin(building, building.id == building_id)
             .join(models.Community, models.Community.id == models.Event.community_id)
             .where(models.Event.community_id.in_(visible), models.Event.state.in_(schema.EVENT_OPEN_STATES))
             .order_by(models.Event.reported_at, models.Event.id))
    if scope.grid_ids is not None:
        query = query.where(building.grid_id.in_(scope.grid_ids))
    person_level = access.person_level_allowed(scope)
    out = []
    for event, f, b, community in session.execute(query).all():
        row = {"id": event.id, "category": event.category, "state": event.state,
               "age_days": markers.event_age(event.reported_at, as_of), "reported_at": _when(event.reported_at),
               "community_id": event.community_id, "community": community,
               "building_id": b.id if b else None, "building": (b.label or b.number) if b else None,
               "flat_id": None, "unit": None, "room": None, "description": None}
        if person_level:
            row.update(flat_id=f.id if f else None, unit=f.unit if f else None, room=f.room if f else None,
                       description=event.description)
        out.append(row)
    return out


def close_issue(session: Session, scope: access.Scope | None, event_id: int, *, comment: str) -> models.Event:
    """Close an open event (结案) with a comment: `advance_issue` to schema.E_CLOSED. The caller commits."""
    return advance_issue(session, scope, event_id, schema.E_CLOSED, comment=comment)


def _event_visible(session: Session, scope: access.Scope | None, event: models.Event) -> bool:
    """A person-level role sees an event at a flat or building of its area (community-wide ones: whole-community
    scopes only)."""
    if not access.person_level_allowed(scope):
        return False
    if event.flat_id is not None:
        return access.flat_visible(session, scope, event.flat_id)
    if event.building_id is not None:
        return access.building_visible(session, scope, event.building_id)
    return access.community_visible(session, scope, event.community_id) and scope.grid_ids is None


def _contact_rows(people: Iterable[contacts.Contact]) -> list[dict[str, Any]]:
    """Contacts for display (dashboard/components/contacts.py): phones masked, dates as ISO text."""
    return [{"source": c.source, "name": c.name, "head": c.is_head, "phone": access.mask_phone(c.phone),
             "since": c.since.isoformat() if c.since else "", "person_id": c.person_id,
             "checkpoint_id": c.checkpoint_id} for c in people]


def _flats_with_contacts(session: Session, scope: access.Scope, places: Iterable[contacts.FlatContacts]
                         ) -> list[dict[str, Any]]:
    """Flats with their contacts for display: names as the flat page shows them, phones masked; a flat outside the
    viewer's grids keeps its label but shows nobody."""
    out = []
    for fc in places:
        visible = access.flat_visible(session, scope, fc.flat_id)
        people = _contact_rows(fc.contacts) if visible else []
        out.append({"flat_id": fc.flat_id if visible else None, "label": fc.label, "changed": list(fc.changed),
                    "contacts": people})
    return out


def issue_detail(session: Session, scope: access.Scope | None, event_id: int) -> dict[str, Any] | None:
    """An event for its page: what, where, state, every transition (who, when, comment), the next states the
    procedure allows, and — for a repair (leak) at a flat — where it may come from (`geodata.contacts`).
    None when the event does not exist or is outside the scope (person-level roles only)."""
    event = session.get(models.Event, event_id)
    if event is None or scope is None or not _event_visible(session, scope, event):
        return None
    flat = session.get(models.Flat, event.flat_id) if event.flat_id is not None else None
    building = flat.building if flat is not None else (
        session.get(models.Building, event.building_id) if event.building_id is not None else None)
    log = session.scalars(select(models.EventTransition).where(models.EventTransition.event_id == event.id)
                          .order_by(models.EventTransition.at, models.EventTransition.id)).all()
    detail: dict[str, Any] = {
        "id": event.id, "category": event.category, "state": event.state, "description": event.description,
        "reporter": event.reporter or "", "reported_at": _when(event.reported_at),
        "community": session.get(models.Community, event.community_id).name,
        "building_id": building.id if building else None,
        "building": (building.label or f"{building.number}幢") if building else "",
        "flat_id": flat.id if flat else None, "place": f"{flat.unit}单元{flat.room}室" if flat else "",
        "transitions": [{"from": tr.from_state, "to": tr.to_state, "at": _when(tr.at), "by": tr.by or "",
                         "comment": tr.comment or ""} for tr in log],
        "next_states": list(schema.EVENT_TRANSITIONS.get(event.state, ())),
        "leak": None,
    }
    if flat is not None and event.category == schema.EC_REPAIR:
        leak = contacts.leak_sources(session, flat.id)
        detail["leak"] = {"above": _flats_with_contacts(session, scope, leak.above), "top_floor": leak.top_floor,
                          "changed": _flats_with_contacts(session, scope, leak.changed_in_unit)}
    return detail


def advance_issue(session: Session, scope: access.Scope | None, event_id: int, to_state: str, *,
                  comment: str | None) -> models.Event:
    """Move an event one step along the procedure (受理, 派遣, 处置, 反馈, 核查, 结案 …) as the signed-in user,
    after the scope check (person-level roles, within their area); `verification.transition_event` logs it. The
    caller commits."""
    event = session.get(models.Event, event_id)
    if event is None:
        raise NotFoundError(f"事件不存在 (event {event_id} does not exist)")
    if not _event_visible(session, scope, event):
        raise AccessDenied(f"无权办理：该事件不在您的管理范围内 (event {event_id}: outside your area)")
    return verification.transition_event(session, event_id, to_state, by=scope.username, comment=comment)


# --- exports -------------------------------------------------------------------------------------

EXPORT_FORMATS = ("html", "png")


def export_map(session: Session, scope: access.Scope | None, community_id: int, state: dict[str, Any], fmt: str, *,
               labels: dict[str, Any] | None = None, as_of: dt.date | None = None) -> tuple[str, bytes] | None:
    """The current map of a community as a standalone offline HTML (folium, Leaflet inlined) or a PNG; logged in
    the audit log as A_EXPORT (flushed; the caller commits). None outside the scope.

    Exports carry building aggregates only (no persons), in WGS84 (no tiles, so no display offset).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"fmt: expected one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    data = map_data(session, scope, community_id, as_of=as_of, details=True)
    if data is None:
        return None
    from layers import folium_export, png_export   # heavy (folium, matplotlib): loaded on first export only
    theme = state.get("layer") or legend.THEME_STATUS
    labels = labels or {}
    if fmt == "html":
        body = folium_export.map_html(data, theme=theme, category=state.get("category"), labels=labels).encode()
    else:
        body = png_export.map_png(data, theme=theme, category=state.get("category"), labels=labels)
    stamp = (as_of or indicators.local_today()).strftime("%Y%m%d")
    name = f"{data['community']['name']}-{theme}-{stamp}.{fmt}"
    access.log_audit(session, scope.username, schema.A_EXPORT, "community", str(community_id),
                     reason="map export", detail=f"{fmt} layer={theme} buildings={data['totals']['buildings']}")
    return name, body
