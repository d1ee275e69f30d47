"""Import grid polygons and building footprints into the store, from any vector file `loaders.geo` reads.

Geometries are converted to WGS84 once (`geo.to_wgs84`), repaired with make_valid and reported (never dropped),
and buildings are assigned to grids by their overlap, in a metric CRS. Re-importing updates by grid code or
building number.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from geodata import models, schema, store
from geodata.errors import InputError, NotFoundError
from loaders import geo
from loaders.addresses import parse_building_no
from loaders.report import WARNING, ImportResult, Problem, file_hash, save

GRID_CODE_FIELDS = ("网格编号", "网格代码", "网格编码", "grid_code", "GRID_CODE", "code", "CODE", "编号", "WGBM")
GRID_NAME_FIELDS = ("网格名称", "网格名", "name", "NAME", "名称", "WGMC")
BUILDING_NUMBER_FIELDS = ("幢号", "楼号", "楼栋", "楼栋号", "栋号", "幢", "BLDG_NO", "bldg_no", "building",
                          "number", "NUMBER", "名称", "NAME", "name", "标注", "LABEL", "label")
FLOOR_FIELDS = ("层数", "楼层数", "floors", "FLOORS", "CS")
UNIT_FIELDS = ("单元数", "units", "UNITS", "DYS")
LIFT_FIELDS = ("电梯", "有无电梯", "lift", "LIFT")
#: A building whose largest overlap with one grid is below this share is reported as ambiguous.
AMBIGUOUS_SHARE = 0.8


def _pick_field(gdf: gpd.GeoDataFrame, candidates: Sequence[str], given: str | None, what: str,
                file: str) -> str | None:
    if given:
        if given not in gdf.columns:
            raise InputError(f"字段 {given!r} 不存在（{what}）；文件中的字段：{', '.join(map(str, gdf.columns[:-1]))}",
                             file=file)
        return given
    return next((c for c in candidates if c in gdf.columns), None)


def _read(path: str | Path, crs: str | None, encoding: str | None, result: ImportResult) -> gpd.GeoDataFrame:
    gdf = geo.read_vector(path, encoding=encoding)
    result.rows_read = len(gdf)
    gdf = geo.to_wgs84(gdf, crs)
    gdf, repairs = geo.repair_geometries(gdf)
    for idx, reason in repairs:
        result.add(Problem(result.file, None, int(idx) + 1, "geometry", None, reason, WARNING))
    return gdf


def _batch(session: Session, kind: str, community: models.Community, path: Path, options: dict,
           by: str | None) -> models.ImportBatch:
    batch = models.ImportBatch(community_id=community.id, kind=kind, file_name=path.name, file_hash=file_hash(path),
                               created_by=by, options=json.dumps(options, ensure_ascii=False))
    session.add(batch)
    session.flush()
    return batch


def find_community(session: Session, name: str) -> models.Community:
    found = session.scalars(select(models.Community).where(models.Community.name == name)).all()
    if not found:
        known = session.scalars(select(models.Community.name)).all()
        raise NotFoundError(f"社区 {name!r} 不存在；请先导入网格（python -m loaders grids --community {name} …）。"
                            f"已有社区：{'、'.join(known) or '无'}")
    if len(found) > 1:
        raise InputError(f"有多个名为 {name!r} 的社区（不同街道），请改名后再导入")
    return found[0]


def compounds_of(community: models.Community) -> tuple[str, ...]:
    """The compound names (小区名) of a community, as configured ('兰翔新村' or '兰翔新村、兰翔二村')."""
    return tuple(filter(None, (c.strip() for c in re.split(r"[、,，;；]", community.compound or ""))))


def ensure_community(session: Session, name: str, street: str | None, *, synthetic: bool = False,
                     code: str | None = None, compound: str | None = None,
                     district: str | None = None, street_code: str | None = None) -> models.Community:
    found = session.scalars(select(models.Community).where(models.Community.name == name)).first()
    if found:
        return found
    if not street:
        raise InputError(f"社区 {name!r} 尚不存在：第一次导入网格时请用 --street 给出所属街道")
    st = session.scalars(select(models.Street).where(models.Street.name == street)).first()
    if st is None:
        st = models.Street(name=street, code=street_code, district=district, synthetic=synthetic)
        session.add(st)
    community = models.Community(street=st, name=name, code=code, compound=compound, synthetic=synthetic)
    session.add(community)
    session.flush()
    return community


def import_grids(engine: Engine, community: str, path: str | Path, *, street: str | None = None,
                 crs: str | None = None, encoding: str | None = None, code_field: str | None = None,
                 name_field: str | None = None, synthetic: bool = False, community_code: str | None = None,
                 compound: str | None = None, by: str | None = None) -> ImportResult:
    """Grid polygons of `community` (created, with its street, on first import)."""
    path = Path(path)
    result = ImportResult(schema.K_GRIDS, path.name)
    gdf = _read(path, crs, encoding, result)
    code_col = _pick_field(gdf, GRID_CODE_FIELDS, code_field, "网格编号", path.name)
    name_col = _pick_field(gdf, GRID_NAME_FIELDS, name_field, "网格名称", path.name)
    if code_col is None and name_col is None:
        raise InputError(f"找不到网格编号或名称字段（应为 {'/'.join(GRID_CODE_FIELDS[:3])} 或 "
                         f"{'/'.join(GRID_NAME_FIELDS[:2])}）；文件中的字段：{', '.join(map(str, gdf.columns[:-1]))}",
                         file=path.name)
    with store.session_scope(engine) as s:
        comm = ensure_community(s, community, street, synthetic=synthetic, code=community_code, compound=compound)
        if compound and comm.compound != compound:
            comm.compound = compound
        batch = _batch(s, schema.K_GRIDS, comm, path, {"crs": crs, "encoding": encoding}, by)
        existing = {g.code: g for g in s.scalars(select(models.Grid).where(models.Grid.community_id == comm.id))}
        seen: set[str] = set()
        for i, row in enumerate(gdf.itertuples(index=False)):
            rec = row._asdict()
            code = str(rec[code_col]).strip() if code_col and pd.notna(rec[code_col]) else None
            name = str(rec[name_col]).strip() if name_col and pd.notna(rec[name_col]) else None
            code = code or name
            geom = rec["geometry"]
            if not code:
                result.add(Problem(path.name, None, i + 1, code_col or name_col, None, "缺少网格编号和名称",
                                   raw=_raw(rec)))
                continue
            if code in seen:
                result.add(Problem(path.name, None, i + 1, code_col or name_col, code, "网格编号重复", raw=_raw(rec)))
                continue
            if geom is None or geom.is_empty:
                result.add(Problem(path.name, None, i + 1, "geometry", code, "几何为空", raw=_raw(rec)))
                continue
            seen.add(code)
            grid = existing.get(code) or models.Grid(community_id=comm.id, code=code)
            grid.name, grid.geom_wkb, grid.batch_id, grid.source_row = name or code, store.to_wkb(geom), batch.id, i + 1
            s.add(grid)
            result.imported += 1
        s.flush()
        _number_grids(s, comm.id)
        if comm.geom_wkb is None:  # a boundary file, when there is one, replaces this outline
            comm.geom_wkb = store.to_wkb(gdf.geometry.union_all())
        save(s, batch, result)
    return result


def _number_grids(session: Session, community_id: int) -> None:
    """Sequence grids left→right, top→bottom (CJ/T 349) for display order; codes stay as the data gave them."""
    grids = session.scalars(select(models.Grid).where(models.Grid.community_id == community_id)).all()
    keyed = []
    for g in grids:
        c = store.from_wkb(g.geom_wkb).representative_point()
        keyed.append((round(-c.y, 3), c.x, g))
    for seq, (_, _, g) in enumerate(sorted(keyed, key=lambda t: (t[0], t[1])), start=1):
        g.seq = seq


def _raw(rec: dict) -> dict:
    return {k: (v.wkt[:200] if k == "geometry" and v is not None else v) for k, v in rec.items()}


def _number_column(gdf: gpd.GeoDataFrame, given: str | None, file: str) -> str:
    col = _pick_field(gdf, (), given, "楼栋号", file) if given else None
    if col:
        return col
    best, best_share = None, 0.0
    for c in BUILDING_NUMBER_FIELDS:
        if c in gdf.columns:
            share = gdf[c].map(parse_building_no).notna().mean()
            if share > best_share:
                best, best_share = c, share
    if best is None or best_share < 0.5:
        raise InputError(f"找不到楼栋号字段（如 {'、'.join(BUILDING_NUMBER_FIELDS[:6])}）；"
                         f"文件中的字段：{', '.join(map(str, gdf.columns[:-1]))}", file=file)
    return best


def _int_or_none(value: object) -> int | None:
    try:
        return None if value is None or pd.isna(value) else int(float(value))
    except (TypeError, ValueError):
        return None


def import_buildings(engine: Engine, community: str, path: str | Path, *, crs: str | None = None,
                     encoding: str | None = None, number_field: str | None = None,
                     by: str | None = None) -> ImportResult:
    """Building footprints of an existing community, each assigned to the grid it overlaps most."""
    path = Path(path)
    result = ImportResult(schema.K_BUILDINGS, path.name)
    gdf = _read(path, crs, encoding, result)
    col = _number_column(gdf, number_field, path.name)
    with store.session_scope(engine) as s:
        comm = find_community(s, community)
        batch = _batch(s, schema.K_BUILDINGS, comm, path, {"crs": crs, "encoding": encoding, "number_field": col}, by)
        grids = s.scalars(select(models.Grid).where(models.Grid.community_id == comm.id)).all()
        assignment = assign_to_grids(gdf, grids)
        existing = {b.number: b for b in s.scalars(select(models.Building)
                                                   .where(models.Building.community_id == comm.id))}
        seen: set[str] = set()
        floors_col = next((c for c in FLOOR_FIELDS if c in gdf.columns), None)
        units_col = next((c for c in UNIT_FIELDS if c in gdf.columns), None)
        lift_col = next((c for c in LIFT_FIELDS if c in gdf.columns), None)
        for i, row in enumerate(gdf.itertuples(index=False)):
            rec = row._asdict()
            label = rec[col]
            number = parse_building_no(label)
            if number is None:
                result.add(Problem(path.name, None, i + 1, col, None if pd.isna(label) else str(label),
                                   "无法识别楼栋号", raw=_raw(rec)))
                continue
            if number in seen:
                result.add(Problem(path.name, None, i + 1, col, str(label), f"楼栋号 {number} 重复", raw=_raw(rec)))
                continue
            geom = rec["geometry"]
            if geom is None or geom.is_empty:
                result.add(Problem(path.name, None, i + 1, "geometry", str(label), "几何为空", raw=_raw(rec)))
                continue
            seen.add(number)
            grid_id, note = assignment[i]
            if note:
                result.add(Problem(path.name, None, i + 1, "geometry", str(label), note, WARNING))
            b = existing.get(number) or models.Building(community_id=comm.id, number=number)
            b.label, b.geom_wkb, b.grid_id = str(label), store.to_wkb(geom), grid_id
            b.floors = _int_or_none(rec[floors_col]) if floors_col else b.floors
            b.units = _int_or_none(rec[units_col]) if units_col else b.units
            if lift_col:
                b.has_lift = str(rec[lift_col]).strip() in {"1", "有", "是", "True", "true", "Y"}
            b.batch_id, b.source_row = batch.id, i + 1
            s.add(b)
            result.imported += 1
        save(s, batch, result)
    return result


def assign_to_grids(gdf: gpd.GeoDataFrame, grids: Sequence[models.Grid]) -> list[tuple[int | None, str]]:
    """For each building: (grid id it overlaps most, '' or a note when ambiguous / outside every grid)."""
    if not grids:
        return [(None, "社区尚无网格，楼栋未分配网格")] * len(gdf)
    g = gpd.GeoDataFrame({"grid_id": [x.id for x in grids], "code": [x.code for x in grids]},
                         geometry=[store.from_wkb(x.geom_wkb) for x in grids], crs=schema.STORE_CRS)
    b = gdf[["geometry"]].copy()
    b["bi"] = range(len(b))
    b = b.to_crs(schema.METRIC_CRS)
    g = g.to_crs(schema.METRIC_CRS)
    inter = gpd.overlay(b, g, how="intersection", keep_geom_type=True)
    inter["a"] = inter.area
    areas = b.set_index("bi").area
    out: list[tuple[int | None, str]] = [(None, "楼栋不在任何网格内，未分配网格")] * len(b)
    for bi, part in inter.groupby("bi"):
        part = part.sort_values("a", ascending=False)
        top = part.iloc[0]
        share = top["a"] / areas[bi] if areas[bi] > 0 else 1.0
        note = ""
        if share < AMBIGUOUS_SHARE:
            others = "、".join(f"{c}（{a / areas[bi]:.0%}）" for c, a in zip(part["code"], part["a"]))
            note = f"楼栋跨越多个网格：{others}；已归入 {top['code']}，请核实"
        out[int(bi)] = (int(top["grid_id"]), note)
    return out
