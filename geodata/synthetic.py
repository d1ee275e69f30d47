"""Synthetic street 河海街道: the raw files its communities really have, with their flaws, plus the truth.

Owns the synthetic demo street: the community plans (`plan_street`), their geometry
(`community_geometry`), the in-memory model of flats, households and people -- the stale master
register against the true current state seen at the checkpoint (`build_community`) -- and
`generate_street`, which writes each community's raw files in the formats and CRSs communities really
have (GBK shapefiles without .cpg, GeoJSON digitised on Gaode maps in GCJ-02, GeoPackages in
EPSG:4490, Excel registers with title rows, merged cells and Excel-mangled IDs, GBK CSVs), the truth a
cross-check should find, a few months of history and a manifest (street.json). Everything is marked
演示数据. Same seed, same bytes: workbook dates, zip entry dates and dBase header dates are fixed.

geodata must not import loaders, so the GB 11643 ID builder and the WGS84 -> GCJ-02 forward transform
here are small private copies.
"""
from __future__ import annotations

import csv
import io
import json
import math
import random
import sqlite3
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import shapely
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.writer.excel import ExcelWriter
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, Polygon, box

from geodata import schema

__all__ = ["DEFAULT_SEED", "AS_OF", "STREET", "STREET_CODE", "BBOX", "CommunityPlan", "BuildingPlan",
           "CommunityGeometry", "CommunityModel", "plan_street", "community_geometry", "build_community",
           "generate_street"]

DEFAULT_SEED = 20200325
AS_OF = date(2020, 3, 25)
STREET = "河海街道"
STREET_CODE = "320411003"          # county 320411 (新北区) + street 003; synthetic
DISTRICT = "新北区"
CITY = "常州市"
#: lon/lat box the street's true (WGS84) geometry stays inside.
BBOX = (119.95, 31.80, 119.99, 31.84)
REGISTER_DATE = date(2019, 12, 31)             # the register is stale: last updated here
CHECKPOINT_FIRST, CHECKPOINT_LAST = date(2020, 2, 5), date(2020, 3, 1)
HISTORY_START = date(2019, 12, 1)
VISITS_START = date(2020, 3, 2)
CARE_WEEKLY_FROM = date(2020, 2, 1)
_FIXED_STAMP = datetime(2019, 12, 31, 9, 0, 0)
_ZIP_STAMP = (2019, 12, 31, 9, 0, 0)
_DBF_STAMP = bytes((119, 12, 31))               # dBase header date YY-1900, MM, DD

# Layout kinds, file formats and register styles of a community plan.
WALKUP_STEMS, WALKUP_NUMBERED, HIGHRISE, MIXED = "walkup_stems", "walkup_numbered", "highrise", "mixed"
_GEOJSON, _GEOJSON_GCJ, _GPKG, _SHP_GBK, _SHP_UTF8 = "geojson", "geojson_gcj02", "gpkg", "shp_gbk", "shp_utf8"
_REG_MERGED, _REG_SINGLE, _REG_ADDRESS, _REG_CSV = "per_grid_merged", "single_sheet", "address_text", "csv_gbk"
_CP_CSV_GBK, _CP_CSV_BOM, _CP_XLSX = "csv_gbk", "csv_utf8_bom", "xlsx"

# Real-world causes recorded next to the truth categories (for information).
CAUSE_MOVED_AWAY, CAUSE_DID_NOT_REGISTER = "moved_away", "did_not_register"
CAUSE_MOVED_IN, CAUSE_NEW_TENANT, CAUSE_SOLD, CAUSE_INHERITED = "moved_in", "new_tenant", "sold", "inherited"
_SAME, _NEW_MEMBER = "same", "new_member"

STORY_PREVIOUS_OWNER = "张民生"

MANIFEST_NOTES = (
    "All people, IDs, phones and addresses are synthetic (演示数据); ID area codes are real county codes.",
    "Households = occupied flats in the register. Vacant flats have NO rows in the register: a building's "
    "flats are 层数 x 单元数 x 每层户数 (flats per floor per unit), room = floor*100 + flat.",
    "crs null = the file states its CRS (.prj, GeoPackage, WGS84 GeoJSON); 'gcj02' = digitised on Gaode maps "
    "and must be declared; encoding 'gbk' = shapefile without .cpg (or a GBK CSV).",
    "truth.json: flat categories follow DOMAIN.md applied to the true identities of the register (stale, "
    "2019-12-31) and the checkpoint registrations (2020-02-05..03-01), before input noise; 'cause' is the "
    "real-world reason (a household that lives there but did not register looks like one that moved away).",
)


# --- Plans ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommunityPlan:
    """What one synthetic community looks like: size, layout, people, data quality and file formats."""

    name: str
    code: str
    compound: str
    dir: str
    abbr: str                       # prefix of the checkpoint pass numbers
    households: int
    layout: str
    profile: str
    n_grids: int
    grid_cols: int
    floors: tuple[int, int]         # floor range of its high-rise buildings
    n_buildings: int | None         # None: as many as the households need
    vacancy: float                  # share of flats the register has vacant (target)
    noise: float                    # multiplier of the input-noise rates
    progress: float                 # share of findings verified by as_of
    slot: tuple[int, int]           # (column, row) of its place in the street
    grids_format: str
    grid_fields: tuple[str, str]    # (code field, name field)
    buildings_format: str
    number_field: str
    register_style: str
    text_style: int                 # 0..2: which header / code texts its tables use
    birth_mix: str
    checkpoint_format: str
    with_paths: bool
    seed: int
    story: bool = False

    @property
    def unit_stems(self) -> bool:
        return self.layout == WALKUP_STEMS


_SPECS: tuple[dict[str, Any], ...] = (
    dict(name="兰翔社区", compound="兰翔新村", dir="lanxiang", abbr="LX", households=2567, layout=WALKUP_STEMS,
         profile="old_factory", n_grids=8, grid_cols=4, floors=(5, 6), n_buildings=64, vacancy=.095, noise=1.0,
         progress=.55, slot=(0, 1), grids_format=_GEOJSON, grid_fields=("网格编码", "网格名称"),
         buildings_format=_SHP_GBK, number_field="NAME", register_style=_REG_MERGED, text_style=0,
         birth_mix="ym", checkpoint_format=_CP_CSV_GBK, with_paths=True, story=True),
    dict(name="河海社区", compound="河海新村", dir="hehai", abbr="HH", households=3100, layout=WALKUP_NUMBERED,
         profile="older", n_grids=9, grid_cols=3, floors=(5, 7), n_buildings=None, vacancy=.08, noise=1.5,
         progress=.92, slot=(0, 0), grids_format=_GEOJSON_GCJ, grid_fields=("grid_code", "grid_name"),
         buildings_format=_GEOJSON_GCJ, number_field="幢号", register_style=_REG_SINGLE, text_style=1,
         birth_mix="full", checkpoint_format=_CP_XLSX, with_paths=False),
    dict(name="新桥社区", compound="新桥花园", dir="xinqiao", abbr="XQ", households=4200, layout=HIGHRISE,
         profile="young", n_grids=12, grid_cols=4, floors=(18, 26), n_buildings=None, vacancy=.07, noise=.7,
         progress=.08, slot=(1, 0), grids_format=_GPKG, grid_fields=("WGBM", "WGMC"), buildings_format=_GPKG,
         number_field="楼号", register_style=_REG_ADDRESS, text_style=2, birth_mix="full",
         checkpoint_format=_CP_CSV_BOM, with_paths=False),
    dict(name="百馨苑社区", compound="百馨苑", dir="baixinyuan", abbr="BXY", households=1800, layout=MIXED,
         profile="mixed", n_grids=5, grid_cols=3, floors=(11, 18), n_buildings=None, vacancy=.08, noise=2.0,
         progress=.35, slot=(1, 1), grids_format=_GEOJSON, grid_fields=("CODE", "NAME"),
         buildings_format=_GEOJSON, number_field="BLDG_NO", register_style=_REG_CSV, text_style=0,
         birth_mix="text", checkpoint_format=_CP_XLSX, with_paths=True),
    dict(name="锦绣社区", compound="锦绣华庭", dir="jinxiu", abbr="JX", households=4800, layout=HIGHRISE,
         profile="young", n_grids=14, grid_cols=4, floors=(28, 33), n_buildings=None, vacancy=.07, noise=.8,
         progress=.65, slot=(2, 0), grids_format=_GEOJSON_GCJ, grid_fields=("网格编号", "网格名称"),
         buildings_format=_GEOJSON_GCJ, number_field="名称", register_style=_REG_MERGED, text_style=1,
         birth_mix="full", checkpoint_format=_CP_CSV_BOM, with_paths=False),
    dict(name="紫薇社区", compound="紫薇花园", dir="ziwei", abbr="ZW", households=2300, layout=WALKUP_NUMBERED,
         profile="mixed", n_grids=7, grid_cols=4, floors=(5, 7), n_buildings=None, vacancy=.07, noise=1.2,
         progress=.45, slot=(0, 2), grids_format=_SHP_UTF8, grid_fields=("GRID_CODE", "GRID_NAME"),
         buildings_format=_SHP_GBK, number_field="幢号", register_style=_REG_SINGLE, text_style=0,
         birth_mix="full", checkpoint_format=_CP_XLSX, with_paths=False),
    dict(name="丽园社区", compound="丽园新村", dir="liyuan", abbr="LY", households=1200, layout=WALKUP_STEMS,
         profile="older", n_grids=4, grid_cols=2, floors=(5, 6), n_buildings=None, vacancy=.09, noise=1.8,
         progress=.2, slot=(1, 2), grids_format=_GEOJSON, grid_fields=("网格编码", "网格名称"),
         buildings_format=_GPKG, number_field="幢号", register_style=_REG_MERGED, text_style=0,
         birth_mix="ym", checkpoint_format=_CP_CSV_GBK, with_paths=True),
    dict(name="安居社区", compound="安居家园", dir="anju", abbr="AJ", households=3600, layout=MIXED,
         profile="resettlement", n_grids=10, grid_cols=4, floors=(11, 18), n_buildings=None, vacancy=.06,
         noise=1.6, progress=.15, slot=(0, 3), grids_format=_GPKG, grid_fields=("WGBM", "WGMC"),
         buildings_format=_GPKG, number_field="BLDG_NO", register_style=_REG_ADDRESS, text_style=1,
         birth_mix="full", checkpoint_format=_CP_XLSX, with_paths=False),
    dict(name="枫林社区", compound="枫林雅苑", dir="fenglin", abbr="FL", households=2700, layout=HIGHRISE,
         profile="young", n_grids=8, grid_cols=4, floors=(18, 33), n_buildings=None, vacancy=.06, noise=.6,
         progress=.85, slot=(2, 1), grids_format=_GEOJSON_GCJ, grid_fields=("grid_code", "grid_name"),
         buildings_format=_GEOJSON_GCJ, number_field="楼号", register_style=_REG_SINGLE, text_style=2,
         birth_mix="full", checkpoint_format=_CP_CSV_BOM, with_paths=False),
    dict(name="汇景社区", compound="汇景苑", dir="huijing", abbr="HJ", households=950, layout=MIXED,
         profile="mixed", n_grids=3, grid_cols=3, floors=(11, 16), n_buildings=None, vacancy=.08, noise=1.0,
         progress=.5, slot=(1, 3), grids_format=_GEOJSON_GCJ, grid_fields=("CODE", "NAME"),
         buildings_format=_GPKG, number_field="名称", register_style=_REG_MERGED, text_style=2,
         birth_mix="full", checkpoint_format=_CP_XLSX, with_paths=True),
    dict(name="泰和社区", compound="泰和家园", dir="taihe", abbr="TH", households=3300, layout=MIXED,
         profile="mixed", n_grids=9, grid_cols=3, floors=(11, 18), n_buildings=None, vacancy=.07, noise=1.3,
         progress=.7, slot=(2, 3), grids_format=_SHP_GBK, grid_fields=("WGBM", "WGMC"),
         buildings_format=_SHP_GBK, number_field="幢号", register_style=_REG_CSV, text_style=1,
         birth_mix="text", checkpoint_format=_CP_XLSX, with_paths=False),
    dict(name="银河社区", compound="银河湾花园", dir="yinhe", abbr="YH", households=2400, layout=HIGHRISE,
         profile="young", n_grids=7, grid_cols=4, floors=(24, 32), n_buildings=None, vacancy=.06, noise=.9,
         progress=.3, slot=(2, 2), grids_format=_GPKG, grid_fields=("网格编码", "网格名称"),
         buildings_format=_GEOJSON_GCJ, number_field="BLDG_NO", register_style=_REG_ADDRESS, text_style=0,
         birth_mix="full", checkpoint_format=_CP_CSV_BOM, with_paths=False),
)


def plan_street(seed: int = DEFAULT_SEED) -> list[CommunityPlan]:
    """The communities of 河海街道 (sizes, layouts, profiles, formats) without building anything."""
    return [CommunityPlan(code=f"{STREET_CODE}{i:03d}", seed=seed, **spec) for i, spec in enumerate(_SPECS, 1)]


def _rng(plan: CommunityPlan, stream: str) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`: independent of PYTHONHASHSEED and of other communities.
    return random.Random(f"{plan.seed}:{plan.code}:{stream}")


def _pick(rng: random.Random, values: Sequence[Any], weights: Sequence[float]) -> Any:
    return rng.choices(values, weights)[0]


# --- Geometry ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildingPlan:
    """One building: its number, grid, size and true footprint (EPSG:4549 metres)."""

    number: int
    grid: int                       # 0-based grid index
    kind: str                       # "walkup" | "highrise"
    units: int
    floors: int
    flats_per_floor: int            # per unit
    footprint: Polygon

    @property
    def flats(self) -> int:
        return self.units * self.floors * self.flats_per_floor


@dataclass(frozen=True)
class CommunityGeometry:
    """A community's true geometry in EPSG:4549 metres; grids partition the boundary."""

    boundary: Polygon
    grids: tuple[Polygon, ...]
    buildings: tuple[BuildingPlan, ...]
    paths: tuple[tuple[str, LineString], ...]
    story_building: int | None


_SLOT_COLS, _SLOT_ROWS, _STREET_MARGIN, _ROAD = 3, 4, 60.0, 40.0
_GRID_MARGIN, _CHAMFER = 14.0, 18.0


def _street_box() -> tuple[float, float, float, float]:
    """The largest EPSG:4549 rectangle inside BBOX."""
    to_m = Transformer.from_crs(schema.STORE_CRS, schema.CGCS2000_GK_120E, always_xy=True)
    xs, ys = to_m.transform([BBOX[0], BBOX[0], BBOX[2], BBOX[2]], [BBOX[1], BBOX[3], BBOX[1], BBOX[3]])
    return max(xs[0], xs[1]), max(ys[0], ys[2]), min(xs[2], xs[3]), min(ys[1], ys[3])


def _sample_config(plan: CommunityPlan, rng: random.Random) -> list:
    if plan.layout == WALKUP_STEMS:
        return ["walkup", _pick(rng, (2, 3, 4), (.1, .25, .65)), _pick(rng, (5, 6), (.35, .65)), 2]
    if plan.layout == WALKUP_NUMBERED:
        return ["walkup", _pick(rng, (2, 3, 4, 5), (.1, .3, .5, .1)), _pick(rng, (5, 6, 7), (.2, .6, .2)), 2]
    if plan.layout == HIGHRISE or rng.random() < .3:
        return ["highrise", _pick(rng, (1, 2), (.3, .7)), rng.randint(*plan.floors), 4]
    return ["walkup", _pick(rng, (2, 3, 4), (.2, .4, .4)), _pick(rng, (5, 6), (.4, .6)), 2]


def _config_limits(plan: CommunityPlan, kind: str) -> tuple[int, int, int, int]:
    """(min units, max units, min floors, max floors)."""
    if kind == "highrise":
        return 1, 2, plan.floors[0], plan.floors[1]
    if plan.layout == WALKUP_NUMBERED:
        return 2, 5, 5, 7
    return 2, 4, 5, 6


def _building_configs(plan: CommunityPlan, rng: random.Random) -> tuple[list[list], int | None]:
    """Building configs whose flats give the register-vacancy target; the story building is fixed."""
    h = plan.households
    lo = math.ceil(h / (1 - plan.vacancy + .01))
    hi = math.floor(h / (1 - plan.vacancy - .005))
    target = round(h / (1 - plan.vacancy))
    if plan.n_buildings:
        cfgs = [_sample_config(plan, rng) for _ in range(plan.n_buildings)]
    else:
        cfgs, total = [], 0
        while total < target:
            cfgs.append(_sample_config(plan, rng))
            total += cfgs[-1][1] * cfgs[-1][2] * cfgs[-1][3]
    cfgs.sort(key=lambda c: c[0] == "highrise")      # the old walk-up part first, then the towers
    story = None
    if plan.story:                                   # a 6-floor, 4-unit building in 第二网格
        sizes = _chunk_sizes(len(cfgs), plan.n_grids)
        story = sizes[0] + rng.randrange(sizes[1])
        cfgs[story] = ["walkup", 4, 6, 2]
    total = sum(c[1] * c[2] * c[3] for c in cfgs)
    for _ in range(200_000):
        if lo <= total <= hi:
            break
        i = rng.randrange(len(cfgs))
        if i == story:
            continue
        c = cfgs[i]
        umin, umax, fmin, fmax = _config_limits(plan, c[0])
        before = c[1] * c[2] * c[3]
        if total > hi:
            if c[2] > fmin and (rng.random() < .5 or c[1] <= umin):
                c[2] -= 1
            elif c[1] > umin:
                c[1] -= 1
        else:
            if c[2] < fmax and (rng.random() < .5 or c[1] >= umax):
                c[2] += 1
            elif c[1] < umax:
                c[1] += 1
        total += c[1] * c[2] * c[3] - before
    else:
        raise RuntimeError(f"{plan.name}: cannot reach {lo}..{hi} flats with {len(cfgs)} buildings")
    return cfgs, story


def _chunk_sizes(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _footprint_size(kind: str, units: int) -> tuple[float, float]:
    if kind == "walkup":
        return 15.0 * units, 12.0
    return 22.0 + 16.0 * (units - 1), 18.0


def community_geometry(plan: CommunityPlan) -> CommunityGeometry:
    """Boundary, grids (left->right, top->bottom), building footprints and paths, in EPSG:4549 metres."""
    rng = _rng(plan, "geometry")
    cfgs, story = _building_configs(plan, rng)
    sizes = _chunk_sizes(len(cfgs), plan.n_grids)
    if min(sizes) < 1:
        raise ValueError(f"{plan.name}: {plan.n_grids} grids for {len(cfgs)} buildings")
    dims = [_footprint_size(c[0], c[1]) for c in cfgs]
    has_high = any(c[0] == "highrise" for c in cfgs)
    px = max(d[0] for d in dims) + (25.0 if has_high else 18.0)
    py = max(d[1] for d in dims) + (45.0 if has_high else 22.0)
    bc = 3 if max(sizes) > 10 else 2
    br = math.ceil(max(sizes) / bc)
    gw, gh = bc * px + 2 * _GRID_MARGIN, br * py + 2 * _GRID_MARGIN
    gc = plan.grid_cols
    gr = math.ceil(plan.n_grids / gc)
    width, height = gc * gw, gr * gh

    sx0, sy0, sx1, sy1 = _street_box()
    slot_w = (sx1 - sx0 - 2 * _STREET_MARGIN) / _SLOT_COLS
    slot_h = (sy1 - sy0 - 2 * _STREET_MARGIN) / _SLOT_ROWS
    free_x, free_y = slot_w - 2 * _ROAD - width, slot_h - 2 * _ROAD - height
    if free_x < 0 or free_y < 0:
        raise ValueError(f"{plan.name}: expected to fit its {slot_w:.0f} x {slot_h:.0f} m slot, "
                         f"got {width:.0f} x {height:.0f} m")
    x0 = sx0 + _STREET_MARGIN + plan.slot[0] * slot_w + _ROAD + rng.uniform(0, free_x)
    ytop = sy1 - _STREET_MARGIN - plan.slot[1] * slot_h - _ROAD - rng.uniform(0, free_y)
    xs = [x0 + k * gw for k in range(gc + 1)]
    ys = [ytop - k * gh for k in range(gr + 1)]

    # Rings carry every grid corner on their edges: after the (non-linear) reprojection, shared edges stay
    # shared and the grids still partition the boundary exactly.
    outer = _cell(xs, ys[-1], ys[0], ys)
    corner = rng.randrange(4)
    cx, cy = (xs[0], xs[-1])[corner % 2], (ys[0], ys[-1])[corner // 2]
    dx, dy = (_CHAMFER if corner % 2 == 0 else -_CHAMFER), (-_CHAMFER if corner // 2 == 0 else _CHAMFER)
    boundary = outer.difference(Polygon([(cx, cy), (cx + dx, cy), (cx, cy + dy)]))
    boundary = shapely.normalize(boundary) if isinstance(boundary, Polygon) else boundary

    grids, buildings, number = [], [], 0
    for g in range(plan.n_grids):
        row, col = divmod(g, gc)
        right = gc if g == plan.n_grids - 1 else col + 1         # the last grid takes the rest of its row
        cell = _cell(xs[col:right + 1], ys[row + 1], ys[row], ys)
        grids.append(cell.intersection(boundary))
        for k in range(sizes[g]):
            kind, units, floors, fpf = cfgs[number]
            r, c = divmod(k, bc)
            length, depth = dims[number]
            cxb = xs[col] + _GRID_MARGIN + (c + .5) * px + rng.uniform(-2, 2)
            cyb = ys[row] - _GRID_MARGIN - (r + .5) * py + rng.uniform(-2, 2)
            rect = box(cxb - length / 2, cyb - depth / 2, cxb + length / 2, cyb + depth / 2)
            rect = affinity.rotate(rect, rng.uniform(-4, 4), origin="center")
            number += 1
            buildings.append(BuildingPlan(number, g, kind, units, floors, fpf, rect))
    paths: list[tuple[str, LineString]] = []
    for k in range(1, gc):
        paths.append(("主干道", LineString([(xs[k], ys[-1] + 3), (xs[k], ys[0] - 3)])))
    for k in range(1, gr):
        paths.append(("主干道", LineString([(xs[0] + 3, ys[k]), (xs[-1] - 3, ys[k])])))
    for k in range(gr):
        for r in range(1, br):
            y = ys[k] - _GRID_MARGIN - r * py
            paths.append(("宅间路", LineString([(xs[0] + 3, y), (xs[-1] - 3, y)])))
    story_number = story + 1 if story is not None else None
    return CommunityGeometry(boundary, tuple(grids), tuple(buildings), tuple(paths), story_number)


def _cell(xs: Sequence[float], ybot: float, ytop: float, ys: Sequence[float]) -> Polygon:
    """A rectangle from xs[0] to xs[-1] with a vertex at every x in xs and every y of `ys` inside it."""
    inner = sorted((y for y in ys if ybot < y < ytop), reverse=True)
    ring = ([(x, ytop) for x in xs] + [(xs[-1], y) for y in inner] + [(x, ybot) for x in reversed(xs)]
            + [(xs[0], y) for y in reversed(inner)])
    return Polygon(ring)


def _to_wgs84(geoms: Sequence[Any]) -> list[Any]:
    tr = Transformer.from_crs(schema.CGCS2000_GK_120E, schema.STORE_CRS, always_xy=True)

    def f(xy: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])
    return list(shapely.transform(np.asarray(geoms, dtype=object), f))


def _wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The standard (public) WGS84 -> GCJ-02 forward transform; pyproj cannot express it."""
    a, ee, pi = 6378245.0, 0.00669342162296594323, math.pi
    x, y = lon - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1 - ee * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (a / sqrtmagic * np.cos(radlat) * pi)
    return lon + dlon, lat + dlat


def _to_gcj02(geoms: Sequence[Any]) -> list[Any]:
    def f(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(_wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
    return list(shapely.transform(np.asarray(geoms, dtype=object), f))


# --- People --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Profile:
    owner_kinds: tuple[tuple[str, ...], tuple[float, ...]]
    rented: float
    nonlocal_owner: float
    party: tuple[float, float, float, float]      # P(party member) at 18-39, 40-59, 60-74, 75+
    league: float                                 # P(共青团员) at 14-28
    moved_away: float
    new_tenant: float
    sold: float
    new_member: float
    moved_in: float
    register_rate: float
    car: float


_OWNER_KINDS = ("elder_single", "elder_couple", "elder_couple_child", "three_gen", "three_gen_elder_head",
                "family", "couple", "single")
_TENANT_KINDS = (("tenant_single", "tenant_couple", "tenant_family", "tenant_shared", "tenant_elder"),
                 (.3, .3, .28, .07, .05))
_PROFILES = {
    "old_factory": _Profile((_OWNER_KINDS, (.13, .27, .07, .12, .07, .20, .09, .05)), .20, .03,
                            (.05, .09, .20, .23), .3, .05, .36, .04, .03, .96, .87, .22),
    "older": _Profile((_OWNER_KINDS, (.11, .17, .07, .13, .07, .28, .11, .06)), .22, .05,
                      (.04, .08, .17, .19), .3, .05, .35, .03, .03, .8, .88, .28),
    "mixed": _Profile((_OWNER_KINDS, (.07, .11, .05, .12, .05, .37, .15, .08)), .25, .12,
                      (.04, .07, .12, .14), .35, .06, .38, .035, .035, .8, .86, .38),
    "young": _Profile((_OWNER_KINDS, (.02, .04, .02, .14, .02, .46, .20, .10)), .33, .28,
                      (.05, .07, .09, .09), .4, .06, .4, .04, .04, .75, .84, .55),
    "resettlement": _Profile((_OWNER_KINDS, (.09, .15, .08, .17, .11, .25, .09, .06)), .38, .04,
                             (.02, .04, .06, .06), .25, .05, .42, .03, .03, .85, .82, .35),
}

_SURNAMES = ("王李张刘陈杨赵黄周吴徐孙朱马胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
             "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴"
             "莫孔汤恽庄承")
_SURNAME_WEIGHTS = tuple(6 if i < 10 else 3 if i < 25 else 1 for i in range(len(_SURNAMES)))
_GIVEN = {
    ("old", "M"): "国建华明平生荣福根林宝兴德和金海民忠新良春洪伟文志永祥发富才昌荣", 
    ("old", "F"): "英芳兰珍秀凤琴娣妹梅玉华萍美花菊云霞桂素翠月莲芬娟",
    ("mid", "M"): "军伟强勇斌磊涛鹏峰杰波刚健俊亮东彬超明辉华平锋宏飞",
    ("mid", "F"): "丽静敏燕艳红娟霞玲婷慧萍洁琳芳颖莉雯倩蕾",
    ("young", "M"): "浩宇轩子睿博涵辰晨昊一天泽俊铭航皓然文逸嘉毅",
    ("young", "F"): "欣怡婷雨涵梓萱诗佳思可馨悦琪妍晗钰彤语若",
}
#: Homophones a registrar might type instead (checkpoint name noise).
_TYPOS = dict(zip("明华军伟英芳红建平玲丽静杰敏峰涛斌霞琴兰珍凤梅燕娟勇刚亮东国生荣林海婷怡宇浩",
                  "铭桦君玮瑛方宏健萍琳莉婧洁闵锋韬彬侠芹岚贞风媚艳鹃永钢靓冬帼声蓉琳梅亭宜羽皓"))
_LOCAL_OLD = (("320402", "320404", "320405", "320411", "320412", "320421", "320483"), (25, 25, 12, 23, 5, 5, 5))
_LOCAL_YOUNG = (("320411", "320402", "320404", "320412"), (50, 15, 15, 20))
_NONLOCAL = ("340121", "341222", "411323", "510921", "320923", "342422", "430523", "522422", "321281", "341221",
             "412723", "513022")
_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                    "155", "157", "158", "159", "177", "180", "181", "182", "183", "185", "186", "187", "188",
                    "189", "198", "199")
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_FULLWIDTH = str.maketrans("0123456789X-", "０１２３４５６７８９Ｘ－")
_CN_DIGITS = "零一二三四五六七八九"
_REL_ORDER = {"head": 0, "spouse": 1, "son": 2, "daughter": 2, "daughter_in_law": 3, "son_in_law": 3,
              "grandson": 4, "granddaughter": 4, "father": 5, "mother": 5, "other": 6}


def _cn_num(n: int) -> str:
    """1..99 in Chinese numerals (十二, 二十一)."""
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _CN_DIGITS[ones]
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def _grid_name(i: int) -> str:
    return f"第{_cn_num(i + 1)}网格"


def _id_check_char(body17: str) -> str:
    return schema.ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(body17, schema.ID_WEIGHTS)) % 11]


@dataclass(slots=True, eq=False)
class Person:
    """One true person: identity, attributes and the phone they give."""

    pid: int
    name: str
    sex: str
    birth: date
    age: int
    id18: str
    old15: bool                 # the register still holds the pre-1999 15-digit number
    phone: str
    mobile: str | None
    political: str              # GB/T 4762 code, "" for children
    hukou: str
    rel: str


@dataclass(slots=True, eq=False)
class Household:
    hid: int
    kind: str
    status: str                 # schema.RES_OWNER | schema.RES_RENTED
    persons: list[Person]
    landlord: str | None = None
    car: str | None = None

    @property
    def head(self) -> Person:
        return self.persons[0]


@dataclass(slots=True, eq=False)
class Flat:
    """A flat: the register's (stale) household, the true current one, and who registered at the checkpoint."""

    building: int
    unit: int
    floor: int
    flat: int
    room: str
    grid: int
    reg: Household | None = None
    now: Household | None = None
    change: str = ""
    registrants: list[tuple[Person, str]] = field(default_factory=list)   # (person, schema.CP_* role)

    @property
    def key(self) -> tuple[int, int, str]:
        return self.building, self.unit, self.room


class _People:
    """Makes unique people for one community (IDs unique street-wide: the sequence space is partitioned)."""

    def __init__(self, plan: CommunityPlan, index: int, rng: random.Random, as_of: date) -> None:
        self.plan, self.index, self.rng, self.as_of = plan, index, rng, as_of
        self.profile = _PROFILES[plan.profile]
        self.ids: set[str] = set()
        self.reserved = {STORY_PREVIOUS_OWNER}
        self.next_pid = 0
        self.next_hid = 0

    def surname(self) -> str:
        return self.rng.choices(_SURNAMES, _SURNAME_WEIGHTS)[0]

    def name(self, surname: str, year: int, sex: str) -> str:
        era = "old" if year < 1960 else "mid" if year < 1990 else "young"
        pool = _GIVEN[(era, sex)]
        one = {"old": .35, "mid": .25, "young": .15}[era]
        while True:
            n = 1 if self.rng.random() < one else 2
            name = surname + "".join(self.rng.choice(pool) for _ in range(n))
            if name not in self.reserved:
                return name

    def new_id(self, area: str, birth: date, male: bool) -> str:
        ymd = f"{birth:%Y%m%d}"
        for _ in range(200):
            seq = 2 * (16 * self.rng.randrange(31) + self.index) + (1 if male else 0)
            body = f"{area}{ymd}{seq:03d}"
            id18 = body + _id_check_char(body)
            if id18 not in self.ids:
                self.ids.add(id18)
                return id18
        raise RuntimeError(f"no free ID sequence for {area}{ymd}")

    def mobile(self) -> str:
        return self.rng.choice(_MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def landline(self) -> str:
        return f"0519-8{self.rng.randrange(10**7):07d}"

    def person(self, rel: str, age: int, sex: str, surname: str, hometown: str | None) -> Person:
        rng = self.rng
        birth = self.as_of - timedelta(days=int((age + rng.random()) * 365.2425))
        age = self.as_of.year - birth.year - ((self.as_of.month, self.as_of.day) < (birth.month, birth.day))
        if hometown:
            area = hometown if rng.random() < .85 else rng.choice(_NONLOCAL)
        else:
            area = _pick(rng, *(_LOCAL_OLD if birth.year < 1982 else _LOCAL_YOUNG))
        male = sex == schema.SEX_MALE
        self.next_pid += 1
        p = Person(self.next_pid, self.name(surname, birth.year, sex), sex, birth, age,
                   self.new_id(area, birth, male), False, "", None, self.political(age),
                   schema.HUKOU_NONLOCAL if hometown else schema.HUKOU_LOCAL, rel)
        p.old15 = birth.year < 1975 and rng.random() < .012 * self.plan.noise
        return p

    def political(self, age: int) -> str:
        rng, prof = self.rng, self.profile
        if age < 14:
            return ""
        if age < 18:
            return "03" if rng.random() < .3 else "13"
        band = 0 if age < 40 else 1 if age < 60 else 2 if age < 75 else 3
        if rng.random() < prof.party[band]:
            return "02" if age < 40 and rng.random() < .12 else "01"
        if age <= 28 and rng.random() < prof.league:
            return "03"
        return "13"

    def household(self, kind: str, status: str, *, male_surname: str | None = None) -> Household:
        rng = self.rng
        specs = _member_specs(kind, rng)
        sm = male_surname or self.surname()
        sf = self.surname()
        head_sex = specs[0][2]
        hometown = None
        if status == schema.RES_RENTED:
            if rng.random() < .75:
                hometown = rng.choice(_NONLOCAL)
        elif rng.random() < self.profile.nonlocal_owner and not any(a >= 60 for _, a, _ in specs):
            hometown = rng.choice(_NONLOCAL)
        persons = []
        for rel, age, sex in specs:
            if rel == "head":
                sn = sm if sex == schema.SEX_MALE else sf
            elif rel == "spouse":
                sn = sm if sex == schema.SEX_MALE else sf
            elif rel in ("son", "daughter", "grandson", "granddaughter"):
                sn = sm
            elif rel == "father":
                sn = sm if head_sex == schema.SEX_MALE else sf
            elif rel in ("other", "mother", "daughter_in_law", "son_in_law"):
                sn = self.surname()
            else:
                sn = sm
            persons.append(self.person(rel, age, sex, sn, hometown))
        persons.sort(key=lambda p: _REL_ORDER[p.rel])
        self.phones(persons)
        self.next_hid += 1
        hh = Household(self.next_hid, kind, status, persons)
        if status == schema.RES_RENTED:
            hh.landlord = self.name(self.surname(), rng.randint(1950, 1985), _pick(rng, "MF", (.6, .4)))
        if rng.random() < self.profile.car and any(18 <= p.age < 70 for p in persons):
            hh.car = _plate(rng)
        return hh

    def phones(self, persons: list[Person]) -> None:
        rng = self.rng
        landline = self.landline()
        for p in persons:
            if 14 <= p.age < 65 or (p.age >= 65 and rng.random() < .6):
                p.mobile = self.mobile()
        child_mobile = next((p.mobile for p in persons if p.mobile and 18 <= p.age < 60), None)
        family = next((p.mobile for p in persons if p.mobile and p.age >= 18), None) or landline
        for p in persons:
            if p.age < 14:
                p.phone = family
            elif p.age < 65:
                p.phone = p.mobile if rng.random() < .95 else f"{p.mobile}/{landline}"
            else:
                r = rng.random()
                if r < .4 and p.mobile:
                    p.phone = p.mobile
                elif r < .62:
                    p.phone = landline if rng.random() < .8 else landline[5:]
                elif r < .86:
                    p.phone = child_mobile or self.mobile()       # a child's number
                else:
                    p.phone = f"{p.mobile or self.mobile()}/{landline}"


def _plate(rng: random.Random) -> str:
    if rng.random() < .15:
        return "苏D" + rng.choice("DF") + f"{rng.randrange(10**5):05d}"        # new-energy plate
    return "苏D" + rng.choice(_PLATE_LETTERS) + f"{rng.randrange(10**4):04d}"


def _member_specs(kind: str, rng: random.Random) -> list[tuple[str, int, str]]:
    """(relation, age, sex) of a household's members, head first; ages consistent with relations."""
    M, F = schema.SEX_MALE, schema.SEX_FEMALE
    r = rng.randint

    def couple(a: int) -> list[tuple[str, int, str]]:
        hs = M if rng.random() < .85 else F
        return [("head", a, hs), ("spouse", max(20, a - r(-2, 5)), F if hs == M else M)]

    def kids(parent_age: int, n: int, max_age: int) -> list[tuple[str, int, str]]:
        out = []
        for _ in range(n):
            sex = M if rng.random() < .52 else F
            out.append(("son" if sex == M else "daughter", r(0, max(0, min(max_age, parent_age - 23))), sex))
        return out

    if kind == "elder_single":
        return [("head", r(62, 92), F if rng.random() < .68 else M)]
    if kind == "elder_couple":
        return couple(r(61, 88))
    if kind == "elder_couple_child":
        a = r(62, 80)
        sex = M if rng.random() < .55 else F
        return couple(a) + [("son" if sex == M else "daughter", r(max(24, a - 40), a - 25), sex)]
    if kind == "three_gen":
        a = r(38, 55)
        out = couple(a) + kids(a, 1 if rng.random() < .8 else 2, 26)
        both = rng.random() < .35
        if both or rng.random() < .4:
            out.append(("father", min(95, max(61, a + r(24, 34))), M))
        if both or not any(x[0] == "father" for x in out):
            out.append(("mother", min(95, max(60, a + r(22, 32))), F))
        return out
    if kind == "three_gen_elder_head":
        a = r(60, 76)
        c = r(max(26, a - 36), a - 25)
        out = [("head", a, M), ("spouse", max(58, a - r(0, 4)), F), ("son", c, M), ("daughter_in_law", c - r(-2, 3), F)]
        if rng.random() < .8:
            g = M if rng.random() < .5 else F
            out.append(("grandson" if g == M else "granddaughter", r(0, max(0, min(14, c - 23))), g))
        return out
    if kind == "family":
        a = r(28, 56)
        return couple(a) + kids(a, 1 if rng.random() < .72 else 2, 25)
    if kind == "couple":
        return couple(r(24, 59))
    if kind == "single":
        return [("head", r(22, 59), M if rng.random() < .55 else F)]
    if kind == "tenant_single":
        return [("head", r(19, 45), M if rng.random() < .6 else F)]
    if kind == "tenant_couple":
        return couple(r(22, 45))
    if kind == "tenant_family":
        a = r(26, 45)
        return couple(a) + kids(a, 1, 14)
    if kind == "tenant_shared":
        return [("head", r(19, 40), M)] + [("other", r(19, 40), M if rng.random() < .7 else F)
                                           for _ in range(r(1, 2))]
    if kind == "tenant_elder":
        return couple(r(60, 75))
    raise ValueError(f"household kind: expected one of the known kinds, got {kind!r}")


# --- Texts of the tables -------------------------------------------------------------------------
_REL_TEXTS = (
    {"head": "户主", "spouse": "配偶", "son": "子", "daughter": "女", "father": "父亲", "mother": "母亲",
     "grandson": "孙子", "granddaughter": "孙女", "daughter_in_law": "儿媳", "son_in_law": "女婿", "other": "非亲属"},
    {"head": "本人", "spouse": "", "son": "儿子", "daughter": "女儿", "father": "父", "mother": "母",
     "grandson": "孙子", "granddaughter": "孙女", "daughter_in_law": "儿媳", "son_in_law": "女婿", "other": "租客"},
    {"head": "户主", "spouse": "配偶", "son": "长子", "daughter": "长女", "father": "父亲", "mother": "母亲",
     "grandson": "孙子", "granddaughter": "孙女", "daughter_in_law": "儿媳", "son_in_law": "女婿", "other": "其他"},
)
_POLITICAL_TEXTS = ({"01": "中共党员", "02": "中共预备党员", "03": "共青团员", "13": "群众", "": None},
                    {"01": "党员", "02": "预备党员", "03": "团员", "13": "群众", "": None},
                    {"01": "中共党员", "02": "预备党员", "03": "共青团员", "13": "群众", "": "群众"})
_HUKOU_TEXTS = ({schema.HUKOU_LOCAL: "本地户籍", schema.HUKOU_NONLOCAL: "外地户籍"},
                {schema.HUKOU_LOCAL: "本地", schema.HUKOU_NONLOCAL: "外地"},
                {schema.HUKOU_LOCAL: "常住", schema.HUKOU_NONLOCAL: "流动人口"})
_RESIDENCE_TEXTS = ({schema.RES_OWNER: "自住", schema.RES_RENTED: "出租"},
                    {schema.RES_OWNER: "自有", schema.RES_RENTED: "租赁"},
                    {schema.RES_OWNER: "自住", schema.RES_RENTED: "租住"})
_REGISTER_HEADERS = {   # canonical field -> header text in text styles 0, 1, 2 (all in REGISTER_HEADER_SYNONYMS)
    schema.SEQ: ("序号", "序号", "编号"), schema.GRID: ("网格", "所属网格", "网格名称"),
    schema.ADDRESS: ("地址", "房屋地址", "家庭住址"), schema.BUILDING: ("楼栋", "楼号", "幢"),
    schema.UNIT: ("单元", "单元号", "单元"), schema.ROOM: ("室号", "房号", "门牌号"),
    schema.HEAD_NAME: ("户主姓名", "户主", "户主姓名"), schema.NAME: ("姓名", "姓名", "成员姓名"),
    schema.RELATION: ("与户主关系", "关系", "家庭关系"), schema.ID_NUMBER: ("身份证号码", "公民身份号码", "证件号码"),
    schema.SEX: ("性别", "性别", "性别"), schema.BIRTH_DATE: ("出生年月", "出生日期", "出生年月日"),
    schema.PHONE: ("联系电话", "手机号码", "电话"), schema.POLITICAL_STATUS: ("政治面貌",) * 3,
    schema.HUKOU_TYPE: ("户籍类型", "户籍性质", "户口类型"), schema.RESIDENCE_STATUS: ("居住状态", "居住情况", "房屋状态"),
    schema.LANDLORD: ("房东姓名", "房东", "房主"), schema.NOTE: ("备注",) * 3,
}
_PERSON_FIELDS = (schema.NAME, schema.RELATION, schema.ID_NUMBER, schema.SEX, schema.BIRTH_DATE, schema.PHONE,
                  schema.POLITICAL_STATUS, schema.HUKOU_TYPE, schema.RESIDENCE_STATUS, schema.LANDLORD, schema.NOTE)
_REGISTER_COLUMNS = {
    _REG_MERGED: (schema.SEQ, schema.BUILDING, schema.UNIT, schema.ROOM, schema.HEAD_NAME) + _PERSON_FIELDS,
    _REG_SINGLE: (schema.SEQ, schema.GRID, schema.BUILDING, schema.UNIT, schema.ROOM, schema.HEAD_NAME)
    + _PERSON_FIELDS,
    _REG_ADDRESS: (schema.SEQ, schema.ADDRESS, schema.HEAD_NAME) + _PERSON_FIELDS,
    _REG_CSV: (schema.SEQ, schema.GRID, schema.BUILDING, schema.UNIT, schema.ROOM, schema.HEAD_NAME)
    + _PERSON_FIELDS,
}
_MERGED_FIELDS = (schema.BUILDING, schema.UNIT, schema.ROOM, schema.HEAD_NAME)
_CHECKPOINT_COLUMNS = (schema.SEQ, schema.NAME, schema.ID_NUMBER, schema.PHONE, schema.ADDRESS, schema.CP_ROLE,
                       schema.PLATE, schema.PASS_NO, schema.REG_DATE)
_CHECKPOINT_HEADERS = (("序号", "姓名", "身份证号", "联系电话", "住址", "身份", "车牌号", "出入证号", "登记日期"),
                       ("序号", "姓名", "公民身份号码", "手机号码", "居住地址", "人员类型", "车牌号码", "通行证号",
                        "登记时间"),
                       ("编号", "姓名", "证件号码", "电话", "小区住址", "业主/租户", "车牌", "出入证编号", "办证日期"))
_ROLE_TEXTS = ({schema.CP_OWNER: "业主", schema.CP_TENANT: "租户", schema.CP_FAMILY: "家属"},
               {schema.CP_OWNER: "房主", schema.CP_TENANT: "租客", schema.CP_FAMILY: "家庭成员"},
               {schema.CP_OWNER: "产权人", schema.CP_TENANT: "承租人", schema.CP_FAMILY: "同住人"})
_BIRTH_MIXES = {
    "ym": (("dot_ym", "date_cell", "cn_ym", "compact", "serial", "iso"), (.5, .2, .12, .08, .05, .05)),
    "full": (("date_cell", "iso", "compact", "serial", "slash", "cn_ymd"), (.55, .15, .12, .08, .05, .05)),
    "text": (("iso", "compact", "slash", "cn_ymd", "dot_ym"), (.5, .2, .15, .1, .05)),
}
_EXCEL_EPOCH = date(1899, 12, 30)


def _relation_text(style: int, p: Person, nth: int) -> str:
    text = _REL_TEXTS[style][p.rel]
    if not text:                                   # style 1 names the spouse by sex
        text = "妻子" if p.sex == schema.SEX_FEMALE else "丈夫"
    if nth > 1 and text in ("长子", "长女"):
        text = "次" + text[1]
    return text


def _unit_text(plan: CommunityPlan, unit: int) -> str | int:
    return schema.UNIT_HEAVENLY_STEMS[unit - 1] if plan.unit_stems else unit


def _address_text(plan: CommunityPlan, b: int, u: int, room: str) -> str:
    """The register's address cell / the checkpoint's canonical address, without the compound name."""
    if plan.unit_stems:
        return f"{b}幢{schema.UNIT_HEAVENLY_STEMS[u - 1]}单元{room}室"
    return (f"{b}幢{u}单元{room}室", f"{b}栋{u}单元{room}", f"{b}号楼{u}单元{room}室")[plan.text_style]


def _address_variant(plan: CommunityPlan, b: int, u: int, room: str, rng: random.Random) -> tuple[str, str]:
    kind = _pick(rng, ("dash", "dong", "cn", "fullwidth", "other"), (.3, .25, .2, .15, .1))
    if kind == "dash":
        return f"{b}-{u}-{room}", kind
    if kind == "dong":
        return f"{b}栋{u}单元{room}", kind
    if kind == "cn":
        return f"{_cn_num(b)}幢{_cn_num(u)}单元{room}室", kind
    if kind == "fullwidth":
        return f"{b}-{u}-{room}".translate(_FULLWIDTH), kind
    if plan.unit_stems:
        return f"{b}幢{u}单元{room}", kind
    return f"{b}号{u}单元{room}室", kind


def _fullwidth(s: str) -> str:
    return s.translate(_FULLWIDTH)


def _render_birth(kind: str, d: date, rng: random.Random) -> Any:
    if kind == "date_cell":
        return d
    if kind == "dot_ym":
        s = f"{d.year}.{d.month:02d}"
        return float(s) if d.month != 10 and rng.random() < .3 else s     # Excel turned '1952.03' into a number
    if kind == "cn_ym":
        return f"{d.year}年{d.month}月"
    if kind == "cn_ymd":
        return f"{d.year}年{d.month}月{d.day}日"
    if kind == "compact":
        return int(f"{d:%Y%m%d}") if rng.random() < .5 else f"{d:%Y%m%d}"
    if kind == "serial":
        return (d - _EXCEL_EPOCH).days
    if kind == "iso":
        return d.isoformat()
    return f"{d.year}/{d.month}/{d.day}"


def _shift_birth(d: date, rng: random.Random) -> date:
    """A birth date that disagrees with the ID at month level (a typo in the register)."""
    if rng.random() < .4:
        return date(d.year + rng.choice((-1, 1)), d.month, min(d.day, 28))
    month = d.month + rng.choice((-3, -2, -1, 1, 2, 3))
    month = month + 12 if month < 1 else month - 12 if month > 12 else month
    return date(d.year, month, min(d.day, 28))


def _id15(id18: str) -> str:
    return id18[:6] + id18[8:17]


# --- The community model --------------------------------------------------------------------------
@dataclass
class CommunityModel:
    """A community built in memory: geometry, flats with register / current state, rendered tables."""

    plan: CommunityPlan
    geometry: CommunityGeometry
    grid_codes: list[str]
    grid_names: list[str]
    flats: list[Flat]
    register_rows: list[dict[str, Any]]
    checkpoint_rows: list[dict[str, Any]]
    truth: dict[str, Any]
    history: dict[str, Any]

    @property
    def households(self) -> int:
        return sum(1 for f in self.flats if f.reg is not None)

    @property
    def persons(self) -> int:
        return sum(len(f.reg.persons) for f in self.flats if f.reg is not None)

    def checkpoint_links(self) -> list[int | None]:
        """The true record links: for each checkpoint row, the index in `register_rows` of the same true person,
        or None when that person is not on the register (newcomers, people from outside the community).

        Read from the true identities the rows carry, so it draws nothing from the random streams."""
        row_of = {id(r["_person"]): i for i, r in enumerate(self.register_rows)}
        return [row_of.get(id(r["_person"])) for r in self.checkpoint_rows]


def build_community(plan: CommunityPlan, *, as_of: date = AS_OF) -> CommunityModel:
    """Build one community in memory (no files): flats, register, checkpoint, truth and history."""
    index = int(plan.code[-3:])
    geometry = community_geometry(plan)
    grid_codes = [f"{plan.code}{i + 1:02d}" for i in range(plan.n_grids)]
    grid_names = [_grid_name(i) for i in range(plan.n_grids)]
    people = _People(plan, index, _rng(plan, "people"), as_of)
    flats = _flats(plan, geometry)
    story = _populate(plan, geometry, flats, people)
    _evolve(plan, flats, people, story)
    _register_at_checkpoint(plan, flats, people, story)
    register_rows, person_findings = _render_register(plan, flats, _rng(plan, "register-noise"))
    checkpoint_rows, outside, cp_noise = _render_checkpoint(plan, flats, people, _rng(plan, "checkpoint"))
    flat_findings, cp_findings = _classify(plan, flats, grid_codes, story)
    person_findings = person_findings + cp_findings
    person_findings.sort(key=lambda f: (int(f["building"]), f["unit"], int(f["room"]), f["category"], f["name"]))
    truth = {
        "community": plan.name, "code": plan.code, "synthetic": True,
        "definitions": {
            schema.F_ABSENT_REGISTERED: "register has a household; none of its members registered at the checkpoint",
            schema.F_PRESENT_UNREGISTERED: "people registered at the checkpoint for a flat without register rows",
            schema.F_OWNER_CHANGED: "a checkpoint owner (or the whole household) differs from the register's",
            schema.F_TENANT_CHANGED: "register says rented; the checkpoint shows only other tenants",
            schema.F_NEW_MEMBER: "checkpoint person at a registered household's flat who is not on the register",
            schema.F_ID_AT_TWO_FLATS: "checkpoint person whose ID the register has at another flat",
        },
        "flat_findings": flat_findings,
        "person_findings": person_findings,
        "checkpoint_outside": outside,
        "checkpoint_noise": cp_noise,
        "stats": _stats(plan, flats, register_rows, checkpoint_rows, flat_findings, person_findings, as_of),
    }
    model = CommunityModel(plan, geometry, grid_codes, grid_names, flats, register_rows, checkpoint_rows, truth, {})
    model.history = _history(model, _rng(plan, "history"), as_of, story)
    return model


def _flats(plan: CommunityPlan, geometry: CommunityGeometry) -> list[Flat]:
    flats = []
    for b in geometry.buildings:
        for u in range(1, b.units + 1):
            for fl in range(1, b.floors + 1):
                for k in range(1, b.flats_per_floor + 1):
                    flats.append(Flat(b.number, u, fl, k, str(fl * 100 + k), b.grid))
    return flats


def _story_keys(geometry: CommunityGeometry) -> dict[str, tuple[int, int, str]]:
    b = geometry.story_building
    return {"sold": (b, 4, "202"), "leak": (b, 4, "501"), "above": (b, 4, "601")} if b else {}


def _populate(plan: CommunityPlan, geometry: CommunityGeometry, flats: list[Flat],
              people: _People) -> dict[str, Flat]:
    """Fill the register: exactly plan.households occupied flats; the rest have no rows (vacant)."""
    rng = people.rng
    prof = people.profile
    keys = _story_keys(geometry)
    story = {name: next(f for f in flats if f.key == key) for name, key in keys.items()}
    forced = set(id(f) for f in story.values())
    others = [f for f in flats if id(f) not in forced]
    n_vacant = len(flats) - plan.households
    vacant = set(id(f) for f in rng.sample(others, n_vacant))
    for f in flats:
        if id(f) in vacant:
            continue
        if f is story.get("sold"):
            hh = _male_headed(people, "elder_couple")
            hh.head.name = STORY_PREVIOUS_OWNER
        elif id(f) in forced:
            hh = people.household(_pick(rng, *prof.owner_kinds), schema.RES_OWNER)
        elif rng.random() < prof.rented:
            hh = people.household(_pick(rng, *_TENANT_KINDS), schema.RES_RENTED)
        else:
            hh = people.household(_pick(rng, *prof.owner_kinds), schema.RES_OWNER)
        f.reg = hh
    return story


def _evolve(plan: CommunityPlan, flats: list[Flat], people: _People, story: dict[str, Flat]) -> None:
    """The true current state (early 2020) of each flat, from the stale register."""
    rng, prof = people.rng, people.profile
    for f in flats:
        reg = f.reg
        if f is story.get("sold"):             # the new owner is another 张 (the seed's story)
            f.now, f.change = _male_headed(people, "family"), CAUSE_SOLD
            continue
        if reg is None:
            if rng.random() < prof.moved_in:
                status = schema.RES_RENTED if rng.random() < .45 else schema.RES_OWNER
                kinds = _TENANT_KINDS if status == schema.RES_RENTED else prof.owner_kinds
                f.now, f.change = people.household(_pick(rng, *kinds), status), CAUSE_MOVED_IN
            continue
        if id(f) in (id(story.get("leak")), id(story.get("above"))):
            f.now, f.change = reg, _SAME
            continue
        r = rng.random()
        if r < prof.moved_away:
            f.now, f.change = None, CAUSE_MOVED_AWAY
        elif reg.status == schema.RES_RENTED and rng.random() < prof.new_tenant:
            f.now, f.change = people.household(_pick(rng, *_TENANT_KINDS), schema.RES_RENTED), CAUSE_NEW_TENANT
            f.now.landlord = reg.landlord
        elif reg.status == schema.RES_OWNER and rng.random() < prof.sold:
            if reg.kind == "elder_single" and rng.random() < .4:      # heir moves in
                f.now = people.household("family", schema.RES_OWNER, male_surname=reg.head.name[0])
                f.change = CAUSE_INHERITED
            else:
                f.now, f.change = people.household(_pick(rng, *prof.owner_kinds), schema.RES_OWNER), CAUSE_SOLD
        elif rng.random() < prof.new_member and reg.status == schema.RES_OWNER:
            newcomer = _new_member(reg, people)
            f.now = Household(reg.hid, reg.kind, reg.status, reg.persons + [newcomer], reg.landlord, reg.car)
            f.change = _NEW_MEMBER
        else:
            f.now, f.change = reg, _SAME


def _male_headed(people: _People, kind: str) -> Household:
    while True:
        hh = people.household(kind, schema.RES_OWNER, male_surname="张")
        if hh.head.sex == schema.SEX_MALE:
            return hh


def _new_member(hh: Household, people: _People) -> Person:
    """Someone who joined a registered household since the register was made (a spouse, a parent, a child)."""
    rng = people.rng
    head = hh.head
    adult_son = next((p for p in hh.persons if p.rel == "son" and p.age >= 24), None)
    if adult_son and not any(p.rel == "daughter_in_law" for p in hh.persons):
        p = people.person("daughter_in_law", max(22, adult_son.age - rng.randint(-2, 3)), schema.SEX_FEMALE,
                          people.surname(), None)
    elif head.age < 60 and rng.random() < .6:
        sex = _pick(rng, (schema.SEX_MALE, schema.SEX_FEMALE), (.4, .6))
        p = people.person("mother" if sex == schema.SEX_FEMALE else "father", min(92, head.age + rng.randint(24, 32)),
                          sex, people.surname() if sex == schema.SEX_FEMALE else head.name[0], None)
    else:
        sex = _pick(rng, (schema.SEX_MALE, schema.SEX_FEMALE), (.5, .5))
        p = people.person("son_in_law" if sex == schema.SEX_MALE else "daughter_in_law", rng.randint(24, 38), sex,
                          people.surname(), None)
    people.phones([p])
    return p


def _register_at_checkpoint(plan: CommunityPlan, flats: list[Flat], people: _People,
                            story: dict[str, Flat]) -> None:
    """Who of the true current households applied for a pass (not everybody does)."""
    rng, prof = people.rng, people.profile
    forced = set(id(f) for f in story.values())
    present = [f for f in flats if f.now is not None]
    for f in present:
        hh = f.now
        newcomer = f.change in (CAUSE_MOVED_IN, CAUSE_NEW_TENANT, CAUSE_SOLD, CAUSE_INHERITED)
        rate = min(.97, prof.register_rate + .09) if newcomer else prof.register_rate   # they need a pass
        if id(f) not in forced and rng.random() >= rate:
            if f.change == _SAME:
                f.change = CAUSE_DID_NOT_REGISTER
            continue
        owner = hh.status == schema.RES_OWNER
        chosen = []
        for i, p in enumerate(hh.persons):
            if not 16 <= p.age <= 88:
                continue
            if i == 0 and (newcomer and owner or rng.random() < .8):
                chosen.append(p)
            elif f.change == _NEW_MEMBER and p is hh.persons[-1]:
                if rng.random() < .8:
                    chosen.append(p)
            elif rng.random() < .45:
                chosen.append(p)
        if not chosen or (f.change == _NEW_MEMBER and chosen == [hh.persons[-1]]):
            adults = [p for p in hh.persons if 16 <= p.age <= 88] or hh.persons[:1]
            chosen.insert(0, adults[0] if adults[0] is not hh.persons[-1] else hh.persons[0])
        for p in chosen:
            if not owner:
                role = schema.CP_TENANT if p is hh.head or rng.random() < .8 else schema.CP_FAMILY
            elif p is hh.head or (p.rel == "spouse" and rng.random() < .15):
                role = schema.CP_OWNER
            else:
                role = schema.CP_FAMILY
            f.registrants.append((p, role))
    # A few grown-up children on the register at their own flat also registered at their parents' flat.
    donors = [f for f in present if f.registrants and f.change == _SAME and f.reg.status == schema.RES_OWNER]
    hosts = [f for f in present if f.registrants and f.change == _SAME and any(p.age >= 60 for p in f.now.persons)]
    n = max(1, round(len(flats) * .002))
    for _ in range(n):
        if not donors or not hosts:
            break
        d, h = rng.choice(donors), rng.choice(hosts)
        cand = [p for p in d.reg.persons if 25 <= p.age < 60]
        if d is h or not cand:
            continue
        p = rng.choice(cand)
        if any(q is p for q, _ in h.registrants):
            continue
        h.registrants.append((p, schema.CP_FAMILY))


def _render_register(plan: CommunityPlan, flats: list[Flat],
                     rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Register rows (canonical fields -> cell values, with input noise) and the person findings they cause."""
    f_noise = plan.noise
    style = plan.text_style
    mix = _BIRTH_MIXES[plan.birth_mix]
    csv_like = plan.register_style == _REG_CSV
    rows: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    occupied = sorted((f for f in flats if f.reg is not None),
                      key=lambda f: (f.grid, f.building, f.unit, f.floor, f.flat))
    for f in occupied:
        hh = f.reg
        n = len(hh.persons)
        seen: dict[str, int] = {}
        for i, p in enumerate(hh.persons):
            seen[p.rel] = seen.get(p.rel, 0) + 1
            base = {"building": str(f.building), "unit": f.unit, "room": f.room, "name": p.name, "id": p.id18}
            # ID cell
            value: Any = p.id18
            r = rng.random()
            if p.old15:
                value = _id15(p.id18)
                if not csv_like and rng.random() < .4:
                    value = int(value)                  # 15 digits survive as a number
            elif r < .03 * f_noise and p.id18[-1] != "X":
                mangled = int(p.id18[:15]) * 1000       # Excel keeps 15 significant digits
                if csv_like:                            # what Excel's CSV export shows
                    value = f"{mangled:.5E}" if rng.random() < .6 else str(mangled)
                else:                                   # openpyxl, like Excel, stores '3.20411195203120e+17'
                    value = float(mangled)
                findings.append(dict(base, category=schema.F_ID_CORRUPTED, register_value=str(value)))
            elif r < .05 * f_noise:
                wrong = rng.choice([c for c in schema.ID_CHECK_CHARS if c != p.id18[-1]])
                value = p.id18[:17] + wrong
                findings.append(dict(base, category=schema.F_ID_INVALID, register_value=value))
            elif p.id18[-1] == "X" and r < .3 * f_noise:
                value = p.id18[:17] + "x"
            elif r < .056 * f_noise:
                value = _fullwidth(p.id18)
            elif r < .062 * f_noise:
                value = ("'" + p.id18) if rng.random() < .5 else f"{p.id18[:6]} {p.id18[6:14]} {p.id18[14:]}"
            # birth date cell
            kind = _pick(rng, *mix)
            if csv_like and kind == "date_cell":
                kind = "iso"
            shown = p.birth
            if rng.random() < .01 * f_noise:
                shown = _shift_birth(p.birth, rng)
                findings.append(dict(base, category=schema.F_BIRTH_MISMATCH, register_value=shown.isoformat()))
            birth = _render_birth(kind, shown, rng)
            if csv_like and isinstance(birth, float):
                birth = f"{birth:.2f}"
            # phone cell
            phone: Any = p.phone
            if rng.random() < .05 * f_noise:
                phone = None
                findings.append(dict(base, category=schema.F_MISSING_PHONE))
            elif not csv_like and len(phone) == 11 and phone.isdigit() and rng.random() < .3:
                phone = int(phone)
            note = None
            if i == 0:
                if hh.kind == "elder_single" and rng.random() < .5:
                    note = "独居老人"
                elif hh.kind == "elder_couple" and rng.random() < .2:
                    note = "空巢老人"
                elif rng.random() < .01:
                    note = rng.choice(("低保户", "残疾人家庭", "退役军人"))
            rows.append({
                "_flat": f, "_first": i == 0, "_size": n, "_person": p,
                schema.GRID: f.grid, schema.BUILDING: f.building, schema.UNIT: _unit_text(plan, f.unit),
                schema.ROOM: int(f.room) if not csv_like and rng.random() < .85 else f.room,
                schema.ADDRESS: _address_text(plan, f.building, f.unit, f.room),
                schema.HEAD_NAME: hh.head.name, schema.NAME: p.name,
                schema.RELATION: _relation_text(style, p, seen[p.rel]),
                schema.ID_NUMBER: value, schema.SEX: schema.SEX_LABELS[p.sex], schema.BIRTH_DATE: birth,
                schema.PHONE: phone, schema.POLITICAL_STATUS: _POLITICAL_TEXTS[style][p.political],
                schema.HUKOU_TYPE: _HUKOU_TEXTS[style][p.hukou],
                schema.RESIDENCE_STATUS: _RESIDENCE_TEXTS[style][hh.status],
                schema.LANDLORD: hh.landlord, schema.NOTE: note,
            })
    return rows, findings


def _render_checkpoint(plan: CommunityPlan, flats: list[Flat], people: _People, rng: random.Random
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Checkpoint rows in registration order (one pass per household), with noise and a few outside rows."""
    style = _checkpoint_style(plan)
    span = (CHECKPOINT_LAST - CHECKPOINT_FIRST).days
    groups = []
    for f in flats:
        if f.registrants:
            day = CHECKPOINT_FIRST + timedelta(days=min(span, int(rng.triangular(0, span + 1, 1))))
            groups.append((day, rng.random(), f))
    groups.sort(key=lambda g: (g[0], g[1]))
    plans_elsewhere = [p for p in plan_street(plan.seed) if p.code != plan.code]
    outside_at = set(rng.sample(range(len(groups)), max(2, len(groups) // 250))) if groups else set()
    rows, outside, noise = [], [], []
    variant_rate = min(.3, .1 * plan.noise)
    pass_no = 0

    def address(f_or_text: Flat | str) -> tuple[str, str | None]:
        if isinstance(f_or_text, str):
            return f_or_text, None
        f = f_or_text
        if rng.random() < variant_rate:
            text, kind = _address_variant(plan, f.building, f.unit, f.room, rng)
        else:
            text, kind = _address_text(plan, f.building, f.unit, f.room), None
        if rng.random() < (.5 if plan.unit_stems else .7):
            text = plan.compound + text
        return text, kind

    for gi, (day, _, f) in enumerate(groups):
        pass_no += 1
        car_given = False
        for p, role in f.registrants:
            seq = len(rows) + 1
            name, idv, phone = p.name, p.id18, (p.mobile or p.phone.split("/")[0])
            if rng.random() < .012 * plan.noise:
                chars = list(name)
                j = next((k for k in range(len(chars) - 1, 0, -1) if chars[k] in _TYPOS), len(chars) - 1)
                chars[j] = _TYPOS.get(chars[j], "明" if chars[j] != "明" else "敏")
                name = "".join(chars)
                noise.append({"seq": seq, "kind": "name_typo", "true": p.name, "shown": name})
            r = rng.random()
            if idv[-1] == "X" and r < .3:
                idv = idv[:17] + "x"
            elif r < .006 * plan.noise:
                idv = _fullwidth(idv)
            elif r < .01 * plan.noise:
                k = rng.randrange(6, 17)
                idv = idv[:k] + str((int(idv[k]) + rng.randint(1, 9)) % 10) + idv[k + 1:]
                noise.append({"seq": seq, "kind": "id_typo", "true": p.id18, "shown": idv})
            if rng.random() < .07:
                phone = people.mobile()
                noise.append({"seq": seq, "kind": "phone_changed", "true": p.phone, "shown": phone})
            elif rng.random() < .02:
                phone = ""
            text, kind = address(f)
            if kind:
                noise.append({"seq": seq, "kind": "address_variant", "variant": kind, "shown": text})
            plate = None
            if f.now.car and not car_given and 18 <= p.age < 70:
                plate, car_given = f.now.car, True
            rows.append({"_flat": f, "_person": p, schema.SEQ: seq, schema.NAME: name, schema.ID_NUMBER: idv,
                         schema.PHONE: phone, schema.ADDRESS: text, schema.CP_ROLE: _ROLE_TEXTS[style][role],
                         schema.PLATE: plate, schema.PASS_NO: f"{plan.abbr}{pass_no:04d}", schema.REG_DATE: day})
        if gi in outside_at and plans_elsewhere:
            other = rng.choice(plans_elsewhere)
            b, u = rng.randint(1, 30), rng.randint(1, 2)
            room = str(rng.randint(1, 6) * 100 + rng.randint(1, 2))
            hh = people.household(_pick(rng, *_TENANT_KINDS), schema.RES_RENTED)
            p = hh.head
            text = f"{other.compound}{b}幢{u}单元{room}室"
            pass_no += 1
            seq = len(rows) + 1
            rows.append({"_flat": None, "_person": p, schema.SEQ: seq, schema.NAME: p.name,
                         schema.ID_NUMBER: p.id18, schema.PHONE: p.mobile or p.phone, schema.ADDRESS: text,
                         schema.CP_ROLE: _ROLE_TEXTS[style][schema.CP_TENANT], schema.PLATE: None,
                         schema.PASS_NO: f"{plan.abbr}{pass_no:04d}", schema.REG_DATE: day})
            outside.append({"seq": seq, "name": p.name, "address": text, "compound": other.compound})
    return rows, outside, noise


def _checkpoint_style(plan: CommunityPlan) -> int:
    return 0 if plan.story else plan.text_style


def _classify(plan: CommunityPlan, flats: list[Flat], grid_codes: list[str], story: dict[str, Flat]
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Truth: DOMAIN.md's definitions applied to true identities (register vs checkpoint)."""
    reg_flat_of: dict[int, Flat] = {}
    for f in flats:
        if f.reg:
            for p in f.reg.persons:
                reg_flat_of[p.pid] = f
    out, persons = [], []
    for f in flats:
        base = {"grid": grid_codes[f.grid], "building": str(f.building), "unit": f.unit, "room": f.room}
        cp = f.registrants
        if f.reg is None:
            if cp:
                out.append(dict(base, category=schema.F_PRESENT_UNREGISTERED, cause=f.change))
            continue
        if not cp:
            cause = CAUSE_DID_NOT_REGISTER if f.now is f.reg or f.change == _NEW_MEMBER else CAUSE_MOVED_AWAY
            out.append(dict(base, category=schema.F_ABSENT_REGISTERED, cause=cause))
            continue
        reg_ids = {p.pid for p in f.reg.persons}
        overlap = any(p.pid in reg_ids for p, _ in cp)
        foreign_owner = any(role == schema.CP_OWNER and p.pid not in reg_ids for p, role in cp)
        # A new owner at the checkpoint; or (rare) nobody of an owner-occupied household, no owner stated.
        if foreign_owner or (not overlap and f.reg.status == schema.RES_OWNER):
            item = dict(base, category=schema.F_OWNER_CHANGED, cause=f.change)
            if f is story.get("sold"):
                item.update(story=True, previous_owner=STORY_PREVIOUS_OWNER, new_owner=f.now.head.name)
            out.append(item)
            continue
        if not overlap:
            out.append(dict(base, category=schema.F_TENANT_CHANGED, cause=f.change))
            continue
        for p, _ in cp:
            if p.pid in reg_ids:
                continue
            home = reg_flat_of.get(p.pid)
            cat = schema.F_ID_AT_TWO_FLATS if home is not None and home is not f else schema.F_NEW_MEMBER
            item = {"building": str(f.building), "unit": f.unit, "room": f.room, "name": p.name, "id": p.id18,
                    "category": cat}
            if home is not None:
                item["register_flat"] = {"building": str(home.building), "unit": home.unit, "room": home.room}
            persons.append(item)
    return out, persons


def _age_at(birth: date, as_of: date) -> int:
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


def _stats(plan: CommunityPlan, flats: list[Flat], rows: list[dict[str, Any]], cp_rows: list[dict[str, Any]],
           flat_findings: list[dict[str, Any]], person_findings: list[dict[str, Any]], as_of: date) -> dict[str, Any]:
    regs = [f.reg for f in flats if f.reg is not None]
    persons = [p for h in regs for p in h.persons]
    n_h, n_p = len(regs), len(persons)
    elderly = [p for p in persons if p.age >= schema.ELDERLY_AGE]
    alone = [h for h in regs if len(h.persons) == 1 and h.head.age >= schema.ELDERLY_AGE]
    party = [p for p in persons if p.political in schema.PARTY_CODES]
    rented = [h for h in regs if h.status == schema.RES_RENTED]
    cats: dict[str, int] = {}
    for item in flat_findings + person_findings:
        cats[item["category"]] = cats.get(item["category"], 0) + 1
    causes: dict[str, int] = {}
    for item in flat_findings:
        if item["category"] == schema.F_ABSENT_REGISTERED:
            causes[item["cause"]] = causes.get(item["cause"], 0) + 1
    registered_flats = sum(1 for f in flats if f.reg is not None and f.registrants)
    r4 = lambda x: round(x, 4)                                   # noqa: E731
    return {
        "flats": len(flats), "households": n_h, "persons": n_p, "register_rows": len(rows),
        "vacant_flats": len(flats) - n_h, "vacant_share": r4((len(flats) - n_h) / len(flats)),
        "mean_household_size": r4(n_p / n_h), "share_60plus": r4(len(elderly) / n_p),
        "households_with_60plus_share": r4(sum(1 for h in regs if any(p.age >= 60 for p in h.persons)) / n_h),
        "elderly_alone": len(alone), "elderly_alone_share_of_60plus": r4(len(alone) / max(1, len(elderly))),
        "party_share": r4(len(party) / n_p),
        "party_households_share": r4(sum(1 for h in regs if any(p.political in schema.PARTY_CODES
                                                                for p in h.persons)) / n_h),
        "rented_share": r4(len(rented) / n_h),
        "nonlocal_share": r4(sum(1 for p in persons if p.hukou == schema.HUKOU_NONLOCAL) / n_p),
        "checkpoint_rows": len(cp_rows),
        "registered_households_with_registrant_share": r4(registered_flats / n_h),
        "findings": dict(sorted(cats.items())),
        "absent_registered_causes": dict(sorted(causes.items())),
        "absent_registered_share": r4(cats.get(schema.F_ABSENT_REGISTERED, 0) / n_h),
        "present_unregistered_share": r4(cats.get(schema.F_PRESENT_UNREGISTERED, 0) / n_h),
        "tenant_changed_share_of_rented": r4(cats.get(schema.F_TENANT_CHANGED, 0) / max(1, len(rented))),
        "owner_changed_share": r4(cats.get(schema.F_OWNER_CHANGED, 0) / n_h),
    }


# --- History (the demo store's few months) ------------------------------------------------------
_EVENT_TEXTS = {
    schema.EC_REPAIR: ("阳台外漏水，楼上无人开门", "卫生间顶部渗水，怀疑楼上{above}室管道漏水", "厨房下水道堵塞",
                       "楼道灯不亮", "单元防盗门闭门器损坏", "屋顶太阳能热水器漏水", "外墙空调支架锈蚀",
                       "楼道扶手松动", "雨水管破裂，墙面渗水"),
    schema.EC_SANITATION: ("楼道堆放杂物", "垃圾桶满溢未及时清运", "绿化带内有建筑垃圾", "楼道小广告",
                           "宠物粪便未清理"),
    schema.EC_DISPUTE: ("楼上装修噪音扰民", "邻里因晾晒衣物发生纠纷", "车位被占用", "楼上漏水赔偿纠纷", "犬只扰民"),
    schema.EC_ELDERLY_CARE: ("独居老人多日未出门，请网格员上门看看", "老人需要代购药品", "老人申请助餐服务",
                             "老人家中燃气灶打不着火"),
    schema.EC_SAFETY: ("楼道内电动车充电", "太阳能热水器支架松动", "闻到燃气味", "消防通道被占用", "楼道电线老化"),
    schema.EC_OTHER: ("咨询出入证办理", "快递堆放在楼道", "咨询居住证办理", "反映路灯不亮"),
}
_EVENT_WEIGHTS = ((schema.EC_REPAIR, schema.EC_SANITATION, schema.EC_DISPUTE, schema.EC_ELDERLY_CARE,
                   schema.EC_SAFETY, schema.EC_OTHER), (.32, .2, .14, .1, .12, .12))
_COMMENTS = {
    schema.E_ACCEPTED: "已受理", schema.E_DISPATCHED: "派遣至网格长", schema.E_IN_PROGRESS: "已到现场查看",
    schema.E_HANDLED: "已处置，等待核查", schema.E_VERIFYING: "回访居民核查", schema.E_CLOSED: "居民确认已解决，结案",
    schema.E_REJECTED: "不属于社区受理范围，已告知居民拨打12345", schema.E_ON_HOLD: "需物业/产权单位配合，挂账",
}


def _history(model: CommunityModel, rng: random.Random, as_of: date, story: dict[str, Flat]) -> dict[str, Any]:
    plan = model.plan
    people = _People(plan, int(plan.code[-3:]), random.Random(f"{plan.seed}:{plan.code}:workers"), as_of)
    workers = []
    for g, code in enumerate(model.grid_codes):
        for role, n in ((schema.ROLE_GRID_LEADER, 1), (schema.ROLE_GRID_WORKER, rng.randint(1, 2))):
            for _ in range(n):
                sex = _pick(rng, (schema.SEX_MALE, schema.SEX_FEMALE), (.45, .55))
                workers.append({"grid": code, "name": people.name(people.surname(), rng.randint(1955, 1990), sex),
                                "role": role})
    by_grid = {code: [w["name"] for w in workers if w["grid"] == code] for code in model.grid_codes}
    visits = _visits(model, rng, as_of, by_grid, story)
    events = _events(model, rng, as_of, by_grid, story)
    care = _care(model, rng, as_of, by_grid)
    return {"community": plan.name, "code": plan.code, "synthetic": True, "from": HISTORY_START.isoformat(),
            "as_of": as_of.isoformat(), "workers": workers, "visits": visits, "events": events,
            "care_contacts": care}


def _flat_ref(model: CommunityModel, f: Flat) -> dict[str, Any]:
    return {"grid": model.grid_codes[f.grid], "building": str(f.building), "unit": f.unit, "room": f.room}


def _visits(model: CommunityModel, rng: random.Random, as_of: date, by_grid: dict[str, list[str]],
            story: dict[str, Flat]) -> list[dict[str, Any]]:
    """Verification visits: each grid works through its findings building by building, at its own pace."""
    plan = model.plan
    todo: dict[tuple[int, int, str], list[str]] = {}
    for item in model.truth["flat_findings"] + model.truth["person_findings"]:
        todo.setdefault((int(item["building"]), item["unit"], item["room"]), []).append(item["category"])
    flat_of = {f.key: f for f in model.flats}
    days = (as_of - VISITS_START).days
    visits: list[dict[str, Any]] = []
    if days < 0:
        return visits
    story_key = story["sold"].key if "sold" in story else None
    for g, code in enumerate(model.grid_codes):
        items = sorted(k for k in todo if flat_of[k].grid == g and k != story_key)
        pace = min(1.0, max(0.0, plan.progress + rng.uniform(-.25, .25) if plan.progress < .9
                            else plan.progress + rng.uniform(-.05, .08)))
        done = round(pace * len(items))
        for i, key in enumerate(items[:done]):
            f = flat_of[key]
            day = VISITS_START + timedelta(days=min(days, int(days * (i + rng.random()) / max(1, done))))
            method = (schema.M_WINDOW if f.floor == 1 and rng.random() < .3 else
                      _pick(rng, (schema.M_PHONE, schema.M_DOOR, schema.M_NEIGHBOUR, schema.M_RECORDS),
                            (.58, .34, .05, .03)))
            result = _pick(rng, (schema.R_CONFIRMED, schema.R_CORRECTED, schema.R_UNREACHABLE, schema.R_REVISIT),
                           (.5, .32, .12, .06))
            worker = rng.choice(by_grid[code])
            visits.append(dict(_flat_ref(model, f), date=day.isoformat(), method=method, result=result,
                               worker=worker, findings=sorted(set(todo[key]))))
            if result in (schema.R_UNREACHABLE, schema.R_REVISIT):
                again = day + timedelta(days=rng.randint(1, 5))
                if again <= as_of and rng.random() < .7:
                    visits.append(dict(_flat_ref(model, f), date=again.isoformat(), method=schema.M_DOOR,
                                       result=_pick(rng, (schema.R_CONFIRMED, schema.R_CORRECTED), (.6, .4)),
                                       worker=worker, findings=sorted(set(todo[key]))))
    if story_key and as_of >= date(2020, 3, 19):
        f = story["sold"]
        code = model.grid_codes[f.grid]
        leader = by_grid[code][0]
        ref = _flat_ref(model, f)
        cats = sorted(set(todo.get(story_key, [schema.F_OWNER_CHANGED])))
        visits += [
            dict(ref, date="2020-03-10", method=schema.M_PHONE, result=schema.R_UNREACHABLE, worker=leader,
                 findings=cats, comment="登记的户主电话无人接听"),
            dict(ref, date="2020-03-18", method=schema.M_NEIGHBOUR, result=schema.R_REVISIT, worker=leader,
                 findings=cats, comment=f"邻居称房子已转手，原户主{STORY_PREVIOUS_OWNER}，新户主不认识"),
            dict(ref, date="2020-03-19", method=schema.M_RECORDS, result=schema.R_CORRECTED, worker=leader,
                 findings=cats, comment=f"经户籍信息比对及原户主{STORY_PREVIOUS_OWNER}提供，联系上新户主{f.now.head.name}"),
        ]
    visits.sort(key=lambda v: (v["date"], v["grid"], int(v["building"]), v["unit"], int(v["room"])))
    return visits


def _flow(rng: random.Random, start: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """A plausible transition path through EVENT_TRANSITIONS, cut at `now`."""
    r = rng.random()
    if r < .03:
        path = [schema.E_REJECTED]
    elif r < .12:
        path = [schema.E_CLOSED]                        # answered on the spot
    elif r < .15:
        path = [schema.E_ACCEPTED, schema.E_ON_HOLD]
    else:
        path = [schema.E_ACCEPTED, schema.E_DISPATCHED, schema.E_IN_PROGRESS, schema.E_HANDLED, schema.E_VERIFYING]
        if rng.random() < .06:
            path += [schema.E_DISPATCHED, schema.E_IN_PROGRESS, schema.E_HANDLED, schema.E_VERIFYING]
        path.append(schema.E_CLOSED)
    out, t = [], start
    for state in path:
        t = t + timedelta(minutes=rng.randint(20, 60 * 30 if state == schema.E_HANDLED else 60 * 8))
        if not 8 <= t.hour < 20:                   # offices work days: move to the next morning
            t = datetime(t.year, t.month, t.day, 8, rng.randint(0, 59)) + timedelta(days=1 if t.hour >= 20 else 0)
        if t > now:
            break
        out.append((state, t))
    return out


def _events(model: CommunityModel, rng: random.Random, as_of: date, by_grid: dict[str, list[str]],
            story: dict[str, Flat]) -> list[dict[str, Any]]:
    plan = model.plan
    occupied = [f for f in model.flats if f.now is not None]
    units_floors = {(f.building, f.unit, f.floor, f.flat): f for f in model.flats}
    now = datetime(as_of.year, as_of.month, as_of.day, 18, 0)
    scale = min(1.5, max(.6, plan.households / 2567))
    events: list[dict[str, Any]] = []
    month = HISTORY_START
    while month <= as_of:
        nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        last = min(as_of, nxt - timedelta(days=1))
        covered = ((last - month).days + 1) / ((nxt - month).days)
        for _ in range(round(rng.randint(15, 30) * scale * covered)):
            f = rng.choice(occupied)
            cat = _pick(rng, *_EVENT_WEIGHTS)
            above = units_floors.get((f.building, f.unit, f.floor + 1, f.flat))
            text = rng.choice(_EVENT_TEXTS[cat]).format(above=above.room if above else "楼上")
            day = month + timedelta(days=rng.randrange((last - month).days + 1))
            start = datetime(day.year, day.month, day.day, rng.randint(7, 20), rng.choice((0, 10, 20, 30, 40, 50)))
            if start > now:
                continue
            reporter = f.now.head.name
            worker = by_grid[model.grid_codes[f.grid]][0]
            trans = [{"to": s, "at": t.isoformat(timespec="minutes"), "by": worker,
                      "comment": _COMMENTS[s] + (f"（{worker}）" if s == schema.E_DISPATCHED else "")}
                     for s, t in _flow(rng, start, now)]
            events.append(dict(_flat_ref(model, f), category=cat, description=text, reporter=reporter,
                               reported_at=start.isoformat(timespec="minutes"),
                               state=trans[-1]["to"] if trans else schema.E_REPORTED, transitions=trans))
        month = nxt
    if "leak" in story and as_of >= date(2020, 3, 19):
        f, sold, above = story["leak"], story["sold"], story["above"]
        worker = by_grid[model.grid_codes[f.grid]][0]
        steps = [(schema.E_ACCEPTED, "2020-03-18T07:55", "居民来电：阳台外漏水，漏了一夜，敲楼上601的门无人开门"),
                 (schema.E_DISPATCHED, "2020-03-18T08:00", f"派遣至网格长（{worker}）"),
                 (schema.E_IN_PROGRESS, "2020-03-18T09:30", f"联系601业主{above.now.head.name}，现场查看排除601漏水；"
                                                            "与物业上楼顶查看太阳能热水器"),
                 (schema.E_HANDLED, "2020-03-18T16:00", "确定为丁单元202业主家太阳能热水器管道漏水；202室近期转手，"
                                                        f"经原房东{STORY_PREVIOUS_OWNER}取得新房东{sold.now.head.name}"
                                                        "联系方式，已协商维修"),
                 (schema.E_VERIFYING, "2020-03-19T10:00", "回访501住户，不再漏水"),
                 (schema.E_CLOSED, "2020-03-19T10:30", "居民确认已解决，结案")]
        events.append(dict(_flat_ref(model, f), category=schema.EC_REPAIR, description="阳台外漏水，楼上无人开门",
                           reporter=f.now.head.name, reported_at="2020-03-18T07:40", state=schema.E_CLOSED,
                           story=True, related_flats=[_flat_ref(model, above), _flat_ref(model, sold)],
                           transitions=[{"to": s, "at": t, "by": worker, "comment": c} for s, t, c in steps]))
    events.sort(key=lambda e: e["reported_at"])
    for i, e in enumerate(events, 1):
        e["id"] = f"{plan.code}-E{i:04d}"
    return events


def _care(model: CommunityModel, rng: random.Random, as_of: date,
          by_grid: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Contacts with elderly living alone: monthly, weekly from February; window on the ground floor."""
    out = []
    for f in model.flats:
        hh = f.reg
        if hh is None or f.now is not hh or len(hh.persons) != 1 or hh.head.age < schema.ELDERLY_AGE:
            continue
        code = model.grid_codes[f.grid]
        dates = [HISTORY_START + timedelta(days=rng.randrange(28)),
                 date(2020, 1, 2) + timedelta(days=rng.randrange(20))]
        d = CARE_WEEKLY_FROM + timedelta(days=rng.randrange(7))
        while d <= as_of:
            dates.append(d)
            d += timedelta(days=7)
        worker = rng.choice(by_grid[code])
        for d in dates:
            if d > as_of:
                continue
            method = schema.M_WINDOW if f.floor == 1 else (schema.M_PHONE if rng.random() < .9 else schema.M_DOOR)
            outcome = _pick(rng, (schema.CARE_OK, schema.CARE_CONCERN, schema.CARE_NO_ANSWER), (.9, .06, .04))
            out.append(dict(_flat_ref(model, f), name=hh.head.name, date=d.isoformat(), method=method,
                            outcome=outcome, worker=worker))
    out.sort(key=lambda c: (c["date"], c["grid"], int(c["building"]), c["unit"], int(c["room"])))
    return out


# --- Writers -------------------------------------------------------------------------------------
def _round_coords(geom: Any, nd: int) -> Any:
    if geom.geom_type == "Polygon":
        return [[[round(x, nd), round(y, nd)] for x, y in ring.coords] for ring in [geom.exterior, *geom.interiors]]
    if geom.geom_type == "LineString":
        return [[round(x, nd), round(y, nd)] for x, y in geom.coords]
    if geom.geom_type == "MultiPolygon":
        return [_round_coords(g, nd) for g in geom.geoms]
    raise ValueError(f"geometry type: expected Polygon, MultiPolygon or LineString, got {geom.geom_type}")


def _write_geojson(path: Path, name: str, props: list[dict[str, Any]], geoms: Sequence[Any], *, nd: int,
                   crs: str | None = None) -> None:
    features = [{"type": "Feature", "properties": p,
                 "geometry": {"type": g.geom_type, "coordinates": _round_coords(g, nd)}}
                for p, g in zip(props, geoms)]
    fc: dict[str, Any] = {"type": "FeatureCollection", "name": name}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    fc["features"] = features
    path.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def _write_gpkg(path: Path, layer: str, props: list[dict[str, Any]], geoms: Sequence[Any], crs: str) -> None:
    if path.exists():
        path.unlink()
    gdf = gpd.GeoDataFrame(props, geometry=list(geoms), crs=crs)
    gdf.to_file(path, driver="GPKG", layer=layer, engine="pyogrio")
    con = sqlite3.connect(path)
    try:
        stamp = _FIXED_STAMP.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        con.execute("UPDATE gpkg_contents SET last_change = ?", (stamp,))
        con.commit()
    finally:
        con.close()
    # The SQLite header's change counter depends on how GDAL batched its transactions; pin it (and the
    # matching version-valid-for number) so the bytes do not change between runs.
    raw = bytearray(path.read_bytes())
    raw[24:28] = raw[92:96] = (1).to_bytes(4, "big")
    path.write_bytes(bytes(raw))


def _write_shapefile(path: Path, props: list[dict[str, Any]], geoms: Sequence[Any], crs: str,
                     encoding: str) -> None:
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        path.with_suffix(ext).unlink(missing_ok=True)
    gdf = gpd.GeoDataFrame(props, geometry=list(geoms), crs=crs)
    gdf.to_file(path, driver="ESRI Shapefile", engine="pyogrio", encoding=encoding)
    dbf = path.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    raw[1:4] = _DBF_STAMP                    # GDAL writes today's date into the dBase header
    raw[29] = 0                              # no language driver id: nothing tells the encoding
    dbf.write_bytes(bytes(raw))
    if encoding.lower() == "gbk":
        path.with_suffix(".cpg").unlink(missing_ok=True)      # like files from Chinese desktop GIS


def _write_layer(path: Path, fmt: str, name: str, props: list[dict[str, Any]], metric: Sequence[Any],
                 wgs84: Sequence[Any]) -> dict[str, Any]:
    """Write one layer in `fmt`; return the manifest's {path, format, crs, encoding}."""
    if fmt == _GEOJSON:
        _write_geojson(path, name, props, wgs84, nd=7)
        return {"format": "geojson", "crs": None, "encoding": None}
    if fmt == _GEOJSON_GCJ:
        _write_geojson(path, name, props, _to_gcj02(wgs84), nd=6)
        return {"format": "geojson", "crs": schema.GCJ02, "encoding": None}
    if fmt == _GPKG:
        _write_gpkg(path, name, props, wgs84, schema.CGCS2000)
        return {"format": "gpkg", "crs": None, "encoding": None, "layer": name}
    if fmt in (_SHP_GBK, _SHP_UTF8):
        enc = "GBK" if fmt == _SHP_GBK else "UTF-8"
        _write_shapefile(path, props, metric, schema.CGCS2000_GK_120E, enc)
        return {"format": "shapefile", "crs": None, "encoding": "gbk" if fmt == _SHP_GBK else None}
    raise ValueError(f"layer format: expected one of geojson, geojson_gcj02, gpkg, shp_*, got {fmt!r}")


_EXT = {_GEOJSON: ".geojson", _GEOJSON_GCJ: ".geojson", _GPKG: ".gpkg", _SHP_GBK: ".shp", _SHP_UTF8: ".shp"}


def _building_number(plan: CommunityPlan, n: int) -> Any:
    field_ = plan.number_field
    if field_ == "NAME":
        return f"{plan.compound}{n}幢"
    if field_ == "幢号":
        return f"{n}幢"
    if field_ == "楼号":
        return f"{_cn_num(n)}幢"
    if field_ == "BLDG_NO":
        return n
    return f"{n}号楼"


def _new_workbook() -> Workbook:
    wb = Workbook(write_only=True)
    wb.properties.creator = "网格地图（演示数据）"
    wb.properties.title = "演示数据"
    wb.properties.created = _FIXED_STAMP
    wb.properties.modified = _FIXED_STAMP
    return wb


def _save_workbook(wb: Workbook, path: Path) -> None:
    """Save with fixed document dates and fixed zip entry dates (openpyxl stamps both with 'now')."""
    buf = io.BytesIO()
    archive = zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(wb, archive).save()
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=_ZIP_STAMP)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            out.writestr(zi, src.read(info.filename))


def _title_cell(ws: Any, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=text)
    cell.font = Font(bold=True, size=14)
    cell.alignment = Alignment(horizontal="center")
    return cell


def _register_value(model: CommunityModel, row: dict[str, Any], key: str, seq: int | None) -> Any:
    if key == schema.SEQ:
        return seq
    if key == schema.GRID:
        g = row[schema.GRID]
        return model.grid_codes[g] if model.plan.text_style == 2 else model.grid_names[g]
    return row[key]


def _write_register(model: CommunityModel, path: Path) -> dict[str, Any]:
    plan = model.plan
    style = plan.register_style
    cols = _REGISTER_COLUMNS[style]
    headers = [_REGISTER_HEADERS[c][plan.text_style] for c in cols]
    rng = _rng(plan, "register-layout")
    note = f"制表单位：{plan.name}  更新日期：{REGISTER_DATE.isoformat()}"
    if style == _REG_CSV:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow([f"{plan.compound}家庭户情况平铺表（演示数据）"] + [""] * (len(cols) - 1))
        w.writerow(headers)
        for i, row in enumerate(model.register_rows, 1):
            w.writerow(["" if v is None else v for v in (_register_value(model, row, c, i) for c in cols)])
        w.writerow(["合计", f"{model.households}户", f"{model.persons}人"] + [""] * (len(cols) - 3))
        path.write_bytes(buf.getvalue().encode("gbk"))
        return {"format": "csv", "encoding": "gbk", "sheets": None, "header_row": 2}

    wb = _new_workbook()
    last = get_column_letter(len(cols))
    if style == _REG_SINGLE:
        sheets = [("花名册", None, model.register_rows)]
    else:
        sheets = [(model.grid_names[g], g, [r for r in model.register_rows if r[schema.GRID] == g])
                  for g in range(plan.n_grids)]
    merge_cols = [cols.index(c) + 1 for c in _MERGED_FIELDS] if style == _REG_MERGED else []
    for title, g, rows in sheets:
        ws = wb.create_sheet(title)
        for i, c in enumerate(cols, 1):
            ws.column_dimensions[get_column_letter(i)].width = 20 if c in (schema.ID_NUMBER, schema.ADDRESS) else 11
        merges: list[CellRange] = [CellRange(f"A1:{last}1")]
        heading = f"{plan.compound}家庭户情况平铺表" + (f"（{title}）" if g is not None else "") + "（演示数据）"
        ws.append([_title_cell(ws, heading)])
        r = 1
        if style != _REG_SINGLE:
            ws.append([note])
            r += 1
        ws.append(list(headers))
        r += 1
        seq, hh_seq, households = 0, 0, 0
        for k, row in enumerate(rows):
            if row["_first"]:
                households += 1
                hh_seq += 1
                if k and rng.random() < .004:
                    ws.append([])                    # a stray blank row
                    r += 1
                if style == _REG_MERGED and row["_size"] > 1:
                    merges += [CellRange(min_col=c, max_col=c, min_row=r + 1, max_row=r + row["_size"])
                               for c in merge_cols]
            seq += 1
            values = []
            for c in cols:
                if style == _REG_MERGED and c in _MERGED_FIELDS and not row["_first"]:
                    values.append(None)
                elif c == schema.SEQ and style == _REG_SINGLE:
                    values.append(hh_seq if row["_first"] else None)
                else:
                    values.append(_register_value(model, row, c, seq))
            ws.append(values)
            r += 1
        ws.append(["合计", f"{households}户", f"{len(rows)}人"])
        # Write-only sheets keep a MultiCellRange; a list keeps insertion order and avoids its O(n) checks.
        ws.merged_cells.ranges = merges
    _save_workbook(wb, path)
    header_row = 2 if style == _REG_SINGLE else 3
    return {"format": "xlsx", "encoding": None, "sheets": "single" if style == _REG_SINGLE else "per_grid",
            "header_row": header_row}


def _checkpoint_value(row: dict[str, Any], key: str, xlsx: bool, style: int) -> Any:
    v = row[key]
    if key == schema.REG_DATE and not xlsx:
        return v.isoformat() if style == 0 else f"{v.year}/{v.month}/{v.day}"
    return v


def _write_checkpoint(model: CommunityModel, path: Path) -> dict[str, Any]:
    plan = model.plan
    style = _checkpoint_style(plan)
    headers = _CHECKPOINT_HEADERS[style]
    fmt = plan.checkpoint_format
    if fmt in (_CP_CSV_GBK, _CP_CSV_BOM):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(headers)
        for row in model.checkpoint_rows:
            w.writerow(["" if v is None else v for v in (_checkpoint_value(row, c, False, style)
                                                         for c in _CHECKPOINT_COLUMNS)])
        enc = "gbk" if fmt == _CP_CSV_GBK else "utf-8-sig"
        path.write_bytes(buf.getvalue().encode(enc))
        return {"format": "csv", "encoding": enc, "header_row": 1}
    wb = _new_workbook()
    ws = wb.create_sheet("登记表")
    for i in range(1, len(headers) + 1):
        ws.column_dimensions[get_column_letter(i)].width = 20 if i in (3, 5) else 11
    ws.append([_title_cell(ws, f"{plan.name}人员排查和交通管控信息表（演示数据）")])
    ws.append(list(headers))
    for row in model.checkpoint_rows:
        ws.append([_checkpoint_value(row, c, True, style) for c in _CHECKPOINT_COLUMNS])
    ws.merged_cells.ranges = [CellRange(f"A1:{get_column_letter(len(headers))}1")]
    _save_workbook(wb, path)
    return {"format": "xlsx", "encoding": None, "header_row": 2}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _write_community(model: CommunityModel, out: Path) -> dict[str, Any]:
    plan = model.plan
    d = out / plan.dir
    d.mkdir(parents=True, exist_ok=True)
    geo = model.geometry
    rel = lambda name: f"{plan.dir}/{name}"                    # noqa: E731
    metric = [geo.boundary, *geo.grids, *(b.footprint for b in geo.buildings), *(p for _, p in geo.paths)]
    wgs = _to_wgs84(metric)
    ng, nb = len(geo.grids), len(geo.buildings)
    w_boundary, w_grids, w_buildings, w_paths = wgs[0], wgs[1:1 + ng], wgs[1 + ng:1 + ng + nb], wgs[1 + ng + nb:]

    _write_geojson(d / "boundary.geojson", "boundary", [{"社区名称": plan.name, "社区编码": plan.code,
                                                         "备注": schema.SYNTHETIC_LABEL}], [w_boundary], nd=7)
    code_f, name_f = plan.grid_fields
    gprops = [{code_f: code, name_f: name} for code, name in zip(model.grid_codes, model.grid_names)]
    gpath = d / f"grids{_EXT[plan.grids_format]}"
    grids = dict(path=rel(gpath.name), **_write_layer(gpath, plan.grids_format, "grids", gprops, geo.grids,
                                                       w_grids), code_field=code_f, name_field=name_f)
    bprops = [{plan.number_field: _building_number(plan, b.number), "层数": b.floors, "单元数": b.units,
               "每层户数": b.flats_per_floor} for b in geo.buildings]
    bpath = d / f"buildings{_EXT[plan.buildings_format]}"
    buildings = dict(path=rel(bpath.name), **_write_layer(bpath, plan.buildings_format, "buildings", bprops,
                                                           [b.footprint for b in geo.buildings], w_buildings),
                     number_field=plan.number_field, floors_field="层数", units_field="单元数",
                     flats_per_floor_field="每层户数")
    paths = None
    if plan.with_paths:
        _write_geojson(d / "paths.geojson", "paths", [{"名称": n} for n, _ in geo.paths], w_paths, nd=7)
        paths = {"path": rel("paths.geojson"), "format": "geojson", "crs": None, "encoding": None}
    reg_ext = ".csv" if plan.register_style == _REG_CSV else ".xlsx"
    register = dict(path=rel(f"register{reg_ext}"), **_write_register(model, d / f"register{reg_ext}"),
                    style=plan.register_style, units="stems" if plan.unit_stems else "numbers")
    cp_ext = ".xlsx" if plan.checkpoint_format == _CP_XLSX else ".csv"
    checkpoint = dict(path=rel(f"checkpoint{cp_ext}"), **_write_checkpoint(model, d / f"checkpoint{cp_ext}"))
    _write_json(d / "truth.json", model.truth)
    _write_json(d / "history.json", model.history)
    st = model.truth["stats"]
    return {
        "name": plan.name, "code": plan.code, "compound": plan.compound, "households": model.households,
        "persons": model.persons, "dir": plan.dir,
        "layout": {"kind": plan.layout, "buildings": nb, "flats": st["flats"], "grids": ng,
                   "units": "stems" if plan.unit_stems else "numbers"},
        "profile": plan.profile, "noise": plan.noise, "progress": plan.progress,
        "grids": grids, "buildings": buildings, "register": register, "checkpoint": checkpoint,
        "history": rel("history.json"), "truth": rel("truth.json"), "paths": paths,
        "boundary": {"path": rel("boundary.geojson"), "format": "geojson", "crs": None, "encoding": None},
    }


def generate_street(out_dir: str | Path, *, seed: int = DEFAULT_SEED, only: Sequence[str] | None = None,
                    as_of: date = AS_OF) -> dict:
    """Write the raw files of 河海街道 (or of the communities named in `only`) and return the manifest.

    The manifest is also written to out_dir/street.json. Same seed, same bytes.
    """
    plans = plan_street(seed)
    if only is not None:
        known = [p.name for p in plans]
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ValueError(f"only: expected community names from {known}, got {unknown}")
        plans = [p for p in plans if p.name in set(only)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    communities = [_write_community(build_community(p, as_of=as_of), out) for p in plans]
    manifest = {"street": STREET, "street_code": STREET_CODE, "district": DISTRICT, "city": CITY,
                "synthetic": True, "label": schema.SYNTHETIC_LABEL, "seed": seed, "as_of": as_of.isoformat(),
                "bbox": list(BBOX), "notes": list(MANIFEST_NOTES), "communities": communities}
    _write_json(out / "street.json", manifest)
    return manifest
