"""A small community built directly with the models, for tests of indicators, layers, views and the browser.

`build_community` writes 兰翔社区 (synthetic) with two grids, four walk-up buildings and deterministic households,
plus a second small community (白云社区) for scope tests. It returns a `Built` handle with the ids and the spec the
data came from, so tests can compute expected figures with plain Python loops (an oracle independent of the SQL).

Buildings of 兰翔社区 (numbers; floors x units, 2 flats per floor):
  1: 5 x 2, every household verified                    -> verified
  2: 5 x 2, the first four households verified          -> in progress
  3: 6 x 3, nobody verified, an open finding at 3-1-101 -> open findings
  4: 5 x 2, nobody verified, one open event at 4-2-502  -> not started
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import shapely
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geodata import models, schema, store

AS_OF = dt.date(2024, 3, 1)
ORIGIN = (119.9650, 31.8120)          # lon, lat of the compound's south-west corner (兰翔新村, 常州新北区)
BUILDING_W, BUILDING_H = 0.00060, 0.00012   # ~57 m x 13 m
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗"
GIVEN = "民生建国秀英桂兰志强海燕丽华文明春梅国平玉珍永红"


@dataclasses.dataclass(frozen=True)
class MemberSpec:
    name: str
    birth: dt.date
    political: str = "13"
    relation: str = schema.HEAD_RELATION
    phone: str | None = None
    id_number: str | None = None


@dataclasses.dataclass(frozen=True)
class HouseholdSpec:
    building: str
    unit: int
    room: str
    members: tuple[MemberSpec, ...]
    verified: bool = False


@dataclasses.dataclass
class Built:
    community_id: int
    other_community_id: int
    street_id: int
    grid_ids: list[int]
    building_ids: dict[str, int]          # number -> id
    flat_ids: dict[tuple[str, int, str], int] = dataclasses.field(repr=False)  # (building, unit, room) -> id
    household_ids: dict[tuple[str, int, str], int] = dataclasses.field(repr=False)
    households: list[HouseholdSpec] = dataclasses.field(repr=False)
    finding_flat: tuple[str, int, str] = ("3", 1, "101")
    event_flat: tuple[str, int, str] = ("4", 2, "502")


def id_number(birth: dt.date, seq: int, area: str = "320411") -> str:
    """A valid 18-character ID number (GB 11643-1999) for a birth date and a sequence."""
    body = f"{area}{birth:%Y%m%d}{seq % 1000:03d}"
    s = sum(int(d) * w for d, w in zip(body, schema.ID_WEIGHTS))
    return body + schema.ID_CHECK_CHARS[s % 11]


BUILDINGS = {"1": (5, 2, 0, 1), "2": (5, 2, 1, 1), "3": (6, 3, 0, 2), "4": (5, 2, 1, 2)}   # floors, units, col, grid


def _members(k: int) -> tuple[MemberSpec, ...]:
    """Deterministic household composition number k (k % 6 picks the kind)."""
    name = SURNAMES[k % len(SURNAMES)] + GIVEN[(2 * k) % len(GIVEN)] + GIVEN[(2 * k + 1) % len(GIVEN)]
    phone = f"138{k:08d}"
    kind = k % 6
    if kind == 0:       # elderly living alone
        return (MemberSpec(name, dt.date(1944, 5, 1 + k % 27), phone=phone),)
    if kind == 1:       # elderly couple, one a party member
        return (MemberSpec(name, dt.date(1950, 2, 3), "01", phone=phone),
                MemberSpec(name[0] + "秀英", dt.date(1952, 7, 9), relation="10"))
    if kind == 2:       # family of three
        return (MemberSpec(name, dt.date(1980, 1, 15), phone=phone),
                MemberSpec(name[0] + "丽华", dt.date(1982, 6, 1), relation="10"),
                MemberSpec(name[0] + "小明", dt.date(2010, 9, 1), relation="20"))
    if kind == 3:       # three generations, party family through the son
        return (MemberSpec(name, dt.date(1955, 3, 12), phone=phone),
                MemberSpec(name[0] + "建军", dt.date(1979, 4, 4), "02", relation="20"),
                MemberSpec(name[0] + "小雨", dt.date(2012, 12, 12), relation="40"))
    if kind == 4:       # young couple
        return (MemberSpec(name, dt.date(1990, 8, 8), phone=phone),
                MemberSpec(name[0] + "海燕", dt.date(1991, 10, 10), relation="10"))
    return (MemberSpec(name, dt.date(1985, 11, 11), "03", phone=None),)   # single, no phone


def household_specs() -> list[HouseholdSpec]:
    """Every household of 兰翔社区; every 7th flat is empty."""
    specs, k = [], 0
    for number, (floors, units, _col, _grid) in BUILDINGS.items():
        for unit in range(1, units + 1):
            for floor in range(1, floors + 1):
                for n in (1, 2):
                    k += 1
                    if k % 7 == 0:
                        continue
                    specs.append(HouseholdSpec(number, unit, f"{floor * 100 + n}", _members(k)))
    verified_in_2 = 0
    out = []
    for spec in specs:
        verified = spec.building == "1"
        if spec.building == "2" and verified_in_2 < 4:
            verified, verified_in_2 = True, verified_in_2 + 1
        out.append(dataclasses.replace(spec, verified=verified))
    return out


def _building_box(col: int, row: int) -> shapely.Polygon:
    x0 = ORIGIN[0] + 0.0002 + col * (BUILDING_W + 0.00030)
    y0 = ORIGIN[1] + 0.0002 + row * (BUILDING_H + 0.00025)
    return shapely.box(x0, y0, x0 + BUILDING_W, y0 + BUILDING_H)


def build_community(session: Session) -> Built:
    """Write the test communities into `session` (flushed, not committed) and return their ids."""
    street = models.Street(name="河海街道", code="320411003", district="新北区", synthetic=True)
    width = 2 * (BUILDING_W + 0.00030) + 0.0002
    height = 2 * (BUILDING_H + 0.00025) + 0.0002
    outline = shapely.box(ORIGIN[0], ORIGIN[1], ORIGIN[0] + width, ORIGIN[1] + height)
    community = models.Community(street=street, name="兰翔社区", code="320411003007", compound="兰翔新村",
                                 synthetic=True, geom_wkb=store.to_wkb(outline))
    other = models.Community(street=street, name="白云社区", code="320411003008", compound="白云新村",
                             synthetic=True,
                             geom_wkb=store.to_wkb(shapely.box(ORIGIN[0] + 0.01, ORIGIN[1],
                                                               ORIGIN[0] + 0.011, ORIGIN[1] + 0.001)))
    session.add_all([street, community, other])
    session.flush()
    half = ORIGIN[1] + height / 2
    grids = [models.Grid(community_id=community.id, code=f"32041100300701", name="第一网格", seq=1,
                         geom_wkb=store.to_wkb(shapely.box(ORIGIN[0], ORIGIN[1], ORIGIN[0] + width, half))),
             models.Grid(community_id=community.id, code=f"32041100300702", name="第二网格", seq=2,
                         geom_wkb=store.to_wkb(shapely.box(ORIGIN[0], half, ORIGIN[0] + width,
                                                           ORIGIN[1] + height)))]
    session.add_all(grids)
    session.flush()
    session.add(models.Path(community_id=community.id, kind="footway", name="兰翔路",
                            geom_wkb=store.to_wkb(shapely.LineString(
                                [(ORIGIN[0], half), (ORIGIN[0] + width, half)]))))

    building_ids, flat_ids = {}, {}
    for number, (floors, units, col, grid) in BUILDINGS.items():
        b = models.Building(community_id=community.id, grid_id=grids[grid - 1].id, number=number,
                            label=f"兰翔新村{number}幢", floors=floors, units=units, has_lift=False,
                            geom_wkb=store.to_wkb(_building_box(col, grid - 1)))
        session.add(b)
        session.flush()
        building_ids[number] = b.id
        for unit in range(1, units + 1):
            for floor in range(1, floors + 1):
                for n in (1, 2):
                    room = f"{floor * 100 + n}"
                    flat = models.Flat(building_id=b.id, unit=unit, floor=floor, room=room)
                    session.add(flat)
                    session.flush()
                    flat_ids[(number, unit, room)] = flat.id

    specs = household_specs()
    household_ids = {}
    seq = 0
    for spec in specs:
        key = (spec.building, spec.unit, spec.room)
        hh = models.Household(flat_id=flat_ids[key], head_name=spec.members[0].name,
                              residence_status=schema.RES_OWNER,
                              verified_at=AS_OF - dt.timedelta(days=3) if spec.verified else None,
                              verified_by="wang" if spec.verified else None)
        session.add(hh)
        session.flush()
        household_ids[key] = hh.id
        for m in spec.members:
            seq += 1
            session.add(models.Person(household_id=hh.id, name=m.name, relation=m.relation, birth_date=m.birth,
                                      id_number=m.id_number or id_number(m.birth, seq), id_status=schema.ID_OK,
                                      sex=schema.SEX_MALE if seq % 2 else schema.SEX_FEMALE, phone=m.phone,
                                      political_status=m.political, hukou_type=schema.HUKOU_LOCAL))
    # The other community: one building, one household, so scopes have something to hide.
    ob = models.Building(community_id=other.id, number="1", label="白云新村1幢", floors=5, units=1,
                         geom_wkb=store.to_wkb(_building_box(12, 0)))
    session.add(ob)
    session.flush()
    of = models.Flat(building_id=ob.id, unit=1, floor=1, room="101")
    session.add(of)
    session.flush()
    oh = models.Household(flat_id=of.id, head_name="钱多多", residence_status=schema.RES_OWNER)
    session.add(oh)
    session.flush()
    session.add(models.Person(household_id=oh.id, name="钱多多", relation=schema.HEAD_RELATION,
                              birth_date=dt.date(1970, 1, 1), id_number=id_number(dt.date(1970, 1, 1), 999),
                              id_status=schema.ID_OK, political_status="13"))

    finding_flat, event_flat = ("3", 1, "101"), ("4", 2, "502")
    session.add(models.Finding(community_id=community.id, category=schema.F_ABSENT_REGISTERED,
                               flat_id=flat_ids[finding_flat], household_id=household_ids[finding_flat],
                               evidence="卡口无登记", status=schema.FINDING_OPEN, run_as_of=AS_OF))
    session.add(models.Finding(community_id=community.id, category=schema.F_TENANT_CHANGED,
                               flat_id=flat_ids[("1", 1, "101")], status=schema.FINDING_CLOSED, run_as_of=AS_OF,
                               closed_at=dt.datetime(2024, 2, 20)))
    event = models.Event(community_id=community.id, building_id=building_ids["4"], flat_id=flat_ids[event_flat],
                         category=schema.EC_REPAIR, description="卫生间漏水，楼上602", reporter="居民",
                         state=schema.E_REPORTED)
    closed_event = models.Event(community_id=community.id, building_id=building_ids["1"],
                                category=schema.EC_SANITATION, description="垃圾清运", state=schema.E_CLOSED)
    session.add_all([event, closed_event])
    session.flush()
    return Built(community_id=community.id, other_community_id=other.id, street_id=street.id,
                 grid_ids=[g.id for g in grids], building_ids=building_ids, flat_ids=flat_ids,
                 household_ids=household_ids, households=specs, finding_flat=finding_flat, event_flat=event_flat)


def make_store(path: Path) -> tuple[Engine, Built]:
    """An SQLite store at `path`, migrated and filled with `build_community`."""
    engine = store.open_store(f"sqlite:///{path}")
    with store.session_scope(engine) as session:
        built = build_community(session)
    return engine, built
