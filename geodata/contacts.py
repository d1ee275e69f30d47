"""Who to call about a flat, and where a leak in it may come from.

The seed's story: a leak in 501, nobody answering at 601; the grid leader rang 601's owner (not the source), went
up to the roof with the property staff, found a solar heater of 202 leaking — and 202 had just been sold, its new
owner unknown to the register. The register's former owner, and the checkpoint registrations made at 202, gave the
way to the new owner. So a flat's contacts are every source the store has, each labelled with where it comes from:

- the register's current household(s) (户主 first);
- households no longer listed there (moved away or sold), with the date they left the register;
- people registered at the flat at the checkpoint who are not in its register household.

`leak_sources` lists the flats above in the same stack (same building, unit and flat position), nearest first,
each with its contacts, and the flats of the same unit whose occupants changed recently (their register contact
may be stale): the roof's solar heaters may belong to any of them.

Values are returned unmasked: the caller masks them for the viewer's role (geodata.access) and limits flats to the
viewer's area. Pure functions over a Session; no Dash.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from geodata import models, schema
from geodata.errors import NotFoundError

#: Where a contact comes from.
SRC_REGISTER = "register"
SRC_FORMER = "former"
SRC_CHECKPOINT = "checkpoint"
SOURCE_LABELS = {SRC_REGISTER: "登记住户", SRC_FORMER: "原住户（已不在登记表）", SRC_CHECKPOINT: "卡口登记"}
#: Findings that say the occupants of a flat changed, so that its register contact may be stale.
CHANGE_FINDINGS = (schema.F_OWNER_CHANGED, schema.F_TENANT_CHANGED, schema.F_PRESENT_UNREGISTERED,
                   schema.F_ABSENT_REGISTERED)


@dataclasses.dataclass(frozen=True)
class Contact:
    flat_id: int
    source: str                 # SRC_*
    name: str
    phone: str | None
    relation: str | None        # schema.RELATION_LABELS key for register persons
    household_id: int | None
    person_id: int | None
    checkpoint_id: int | None
    since: dt.date | None       # former: when it left the register; checkpoint: registration date

    @property
    def is_head(self) -> bool:
        return self.relation == schema.HEAD_RELATION


@dataclasses.dataclass(frozen=True)
class FlatContacts:
    flat_id: int
    building: str
    unit: int
    floor: int | None
    room: str
    changed: tuple[str, ...]    # categories of change findings, open or of the latest cross-check
    contacts: tuple[Contact, ...]

    @property
    def label(self) -> str:
        return f"{self.building}幢{self.unit}单元{self.room}室"


@dataclasses.dataclass(frozen=True)
class LeakSources:
    flat: FlatContacts
    above: tuple[FlatContacts, ...]          # same stack, nearest first
    top_floor: int | None                    # the building's floors (roof above it)
    changed_in_unit: tuple[FlatContacts, ...]  # other flats of the unit with changed occupants


def _position(room: str) -> int | None:
    return int(room) % 100 if room.isdigit() else None


def _left_register(session: Session, household_ids: Iterable[int]) -> dict[int, dt.date]:
    """When each household was marked no longer listed (its last `active` change to false)."""
    ids = list(household_ids)
    if not ids:
        return {}
    rows = session.execute(select(models.ChangeLog.entity_id, models.ChangeLog.at)
                           .where(models.ChangeLog.entity == schema.ENTITY_HOUSEHOLD,
                                  models.ChangeLog.field == "active", models.ChangeLog.entity_id.in_(ids))
                           .order_by(models.ChangeLog.at))
    return {hid: at.date() for hid, at in rows}


def _contacts(session: Session, flats: list[models.Flat]) -> dict[int, tuple[Contact, ...]]:
    flat_ids = [f.id for f in flats]
    out: dict[int, list[Contact]] = {fid: [] for fid in flat_ids}
    if not flat_ids:
        return {}
    households = session.scalars(select(models.Household).where(models.Household.flat_id.in_(flat_ids))
                                 .order_by(models.Household.active.desc(), models.Household.id)).all()
    left = _left_register(session, [h.id for h in households if not h.active])
    persons = session.scalars(select(models.Person).where(models.Person.household_id.in_([h.id for h in households]))
                              .order_by(models.Person.id)).all()
    by_household: dict[int, list[models.Person]] = {}
    for p in persons:
        by_household.setdefault(p.household_id, []).append(p)
    listed: dict[int, set[tuple[str, str | None]]] = {fid: set() for fid in flat_ids}
    for h in households:
        members = sorted(by_household.get(h.id, []), key=lambda p: (p.relation != schema.HEAD_RELATION, p.id))
        for p in members:
            if not h.active or not p.active:
                if p.phone is None and p.relation != schema.HEAD_RELATION:
                    continue
                source, since = SRC_FORMER, left.get(h.id)
            else:
                source, since = SRC_REGISTER, None
            out[h.flat_id].append(Contact(h.flat_id, source, p.name, p.phone or p.phone2, p.relation, h.id, p.id,
                                          None, since))
            if h.active and p.active:
                listed[h.flat_id].add((p.name, p.phone))
    regs = session.scalars(select(models.CheckpointRegistration)
                           .where(models.CheckpointRegistration.flat_id.in_(flat_ids))
                           .order_by(models.CheckpointRegistration.reg_date.desc().nulls_last(),
                                     models.CheckpointRegistration.id)).all()
    for r in regs:
        names = {n for n, _ in listed[r.flat_id]}
        if (r.name, r.phone) in listed[r.flat_id] or (r.name in names and r.phone is None):
            continue
        listed[r.flat_id].add((r.name, r.phone))
        out[r.flat_id].append(Contact(r.flat_id, SRC_CHECKPOINT, r.name, r.phone, None, None, None, r.id, r.reg_date))
    return {fid: tuple(c) for fid, c in out.items()}


def _changed(session: Session, flat_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Per flat, the categories of change findings that are open or came from the community's latest cross-check
    (settled or not: a confirmed 户主变更 still means a new owner the neighbours may not know yet)."""
    if not flat_ids:
        return {}
    communities = (select(models.Building.community_id).join(models.Flat, models.Flat.building_id == models.Building.id)
                   .where(models.Flat.id.in_(flat_ids)))
    last_run = session.scalar(select(func.max(models.Finding.run_as_of))
                              .where(models.Finding.community_id.in_(communities)))
    recent = models.Finding.status == schema.FINDING_OPEN
    if last_run is not None:
        recent = or_(recent, models.Finding.run_as_of == last_run)
    rows = session.execute(select(models.Finding.flat_id, models.Finding.category)
                           .where(models.Finding.flat_id.in_(flat_ids), models.Finding.category.in_(CHANGE_FINDINGS),
                                  recent)
                           .order_by(models.Finding.id))
    out: dict[int, list[str]] = {}
    for fid, cat in rows:
        if cat not in out.setdefault(fid, []):
            out[fid].append(cat)
    return {fid: tuple(c) for fid, c in out.items()}


def _describe(session: Session, flats: list[models.Flat], number: str) -> list[FlatContacts]:
    contacts = _contacts(session, flats)
    changed = _changed(session, [f.id for f in flats])
    return [FlatContacts(f.id, number, f.unit, f.floor, f.room, changed.get(f.id, ()), contacts.get(f.id, ()))
            for f in flats]


def _flat(session: Session, flat_id: int) -> models.Flat:
    flat = session.get(models.Flat, flat_id)
    if flat is None:
        raise NotFoundError(f"户室不存在 (flat {flat_id})")
    return flat


def flat_contacts(session: Session, flat_id: int) -> FlatContacts:
    """Everyone the store knows at one flat, register first, then former occupants, then checkpoint people."""
    flat = _flat(session, flat_id)
    return _describe(session, [flat], flat.building.number)[0]


def leak_sources(session: Session, flat_id: int) -> LeakSources:
    """Where a leak at `flat_id` may come from: the stack above it, then the roof (the unit's flats whose occupants
    changed — open change findings or those of the latest cross-check — are listed: their register contact may be
    stale, and the roof's solar heaters may be theirs)."""
    flat = _flat(session, flat_id)
    building = flat.building
    unit_flats = session.scalars(select(models.Flat).where(models.Flat.building_id == building.id,
                                                           models.Flat.unit == flat.unit)).all()
    pos = _position(flat.room)
    above = sorted((f for f in unit_flats if f.floor is not None and flat.floor is not None and f.floor > flat.floor
                    and pos is not None and _position(f.room) == pos), key=lambda f: f.floor)
    described = {fc.flat_id: fc for fc in _describe(session, unit_flats, building.number)}
    above_ids = {f.id for f in above}
    changed = sorted((fc for fid, fc in described.items() if fc.changed and fid != flat.id and fid not in above_ids),
                     key=lambda fc: (min(CHANGE_FINDINGS.index(c) for c in fc.changed), -(fc.floor or 0), fc.room))
    return LeakSources(described[flat.id], tuple(described[f.id] for f in above), building.floors, tuple(changed))
