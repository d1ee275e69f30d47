"""Grids and buildings of a community as GeoDataFrames (EPSG:4326), for exports and spatial work."""
from __future__ import annotations

import geopandas as gpd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import models, schema, store
from geodata.errors import GridMapError, NotFoundError


def community_by_name(session: Session, name: str) -> models.Community:
    found = session.scalars(select(models.Community).where(models.Community.name == name)).first()
    if found is None:
        known = "、".join(session.scalars(select(models.Community.name)).all()) or "无"
        raise NotFoundError(f"社区 {name!r} 不存在；已有社区：{known}")
    return found


def grids_frame(session: Session, community_id: int) -> gpd.GeoDataFrame:
    rows = session.execute(select(models.Grid.id, models.Grid.code, models.Grid.name, models.Grid.seq,
                                  models.Grid.geom_wkb).where(models.Grid.community_id == community_id)
                           .order_by(models.Grid.seq, models.Grid.code)).all()
    return gpd.GeoDataFrame({"grid_id": [r.id for r in rows], "code": [r.code for r in rows],
                             "name": [r.name for r in rows], "seq": [r.seq for r in rows]},
                            geometry=[store.from_wkb(r.geom_wkb) for r in rows], crs=schema.STORE_CRS)


def buildings_frame(session: Session, community_id: int) -> gpd.GeoDataFrame:
    rows = session.execute(select(models.Building.id, models.Building.number, models.Building.label,
                                  models.Building.floors, models.Building.units, models.Grid.code,
                                  models.Building.geom_wkb)
                           .outerjoin(models.Grid, models.Grid.id == models.Building.grid_id)
                           .where(models.Building.community_id == community_id)
                           .order_by(models.Building.id)).all()
    return gpd.GeoDataFrame({"building_id": [r.id for r in rows], "number": [r.number for r in rows],
                             "label": [r.label for r in rows], "floors": [r.floors for r in rows],
                             "units": [r.units for r in rows], "grid_code": [r.code for r in rows]},
                            geometry=[store.from_wkb(r.geom_wkb) for r in rows], crs=schema.STORE_CRS)


def export_layer(session: Session, community: str, layer: str, out: str, crs: str | None = None) -> int:
    """Write a community's grids or buildings to .geojson or .gpkg (WGS84 unless an EPSG `crs` is given)."""
    comm = community_by_name(session, community)
    if layer not in ("grids", "buildings"):
        raise GridMapError(f"--layer: expected grids or buildings, got {layer!r}")
    gdf = grids_frame(session, comm.id) if layer == "grids" else buildings_frame(session, comm.id)
    if crs and crs.lower() in schema.OFFSET_CRS:
        raise GridMapError(f"--crs {crs}: exports are in EPSG coordinate systems only (GCJ-02/BD-09 are map offsets)")
    if crs:
        gdf = gdf.to_crs(crs if ":" in crs else f"EPSG:{crs}")
    driver = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}.get(out[out.rfind("."):].lower())
    if driver is None:
        raise GridMapError(f"--out: expected a .geojson or .gpkg path, got {out!r}")
    gdf.to_file(out, driver=driver, layer=layer if driver == "GPKG" else None)
    return len(gdf)
