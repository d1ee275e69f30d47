"""The one to-EPSG:4326 step: geometries (GeoDataFrame, shapely or stored WKB) → GeoJSON FeatureCollections.

Coordinates are rounded to 6 decimals (~0.1 m, plenty for buildings and halves the payload), every feature carries
a stable `id` (also in `properties.id`, which is what dash-leaflet's clickData exposes), and an optional display
offset shifts WGS84 to GCJ-02 for Gaode tiles. The forward WGS84 → GCJ-02 transform is written here because pyproj
cannot express it and layers must not depend on loaders (which own the inverse used when importing).
"""
from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geobuf
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from geodata import schema

PRECISION = 6

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 obfuscation.
_A = 6378245.0
_EE = 0.00669342162296594323


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Forward WGS84 → GCJ-02 (vectorised; arguments in degrees, longitude first). Outside China: unchanged."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def _shift_gcj02(coords: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def display_geometries(geoms: Any, *, offset: str | None = None, precision: int = PRECISION) -> np.ndarray:
    """Stored EPSG:4326 geometries → display coordinates (optional GCJ-02 shift), rounded to `precision`."""
    arr = np.asarray(geoms, dtype=object)
    if offset is not None:
        if offset != schema.GCJ02:
            raise ValueError(f"offset: expected None or {schema.GCJ02!r}, got {offset!r}")
        arr = shapely.transform(arr, _shift_gcj02)
    return shapely.transform(arr, lambda c: np.round(c, precision))


def geometries_from_wkb(values: Iterable[bytes | None]) -> np.ndarray:
    """Stored WKB (EPSG:4326) → array of shapely geometries (None stays None)."""
    return np.asarray([None if v is None else shapely.from_wkb(bytes(v)) for v in values], dtype=object)


def jsonable(value: Any) -> Any:
    """A property value as plain JSON: numpy scalars → Python, NaN/NA → None, tuples → lists."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def feature_collection(geoms: Sequence[Any], ids: Sequence[Any], properties: Sequence[Mapping[str, Any]] | None = None,
                       *, offset: str | None = None, precision: int = PRECISION) -> dict[str, Any]:
    """A GeoJSON FeatureCollection; features without geometry are left out (Leaflet cannot draw them)."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) != len(ids) or (properties is not None and len(properties) != len(ids)):
        raise ValueError(f"geoms, ids and properties: expected equal lengths, got {len(geoms)}, {len(ids)}, "
                         f"{None if properties is None else len(properties)}")
    present = np.asarray([g is not None and not shapely.is_empty(g) for g in geoms], dtype=bool)
    shown = display_geometries(geoms[present], offset=offset, precision=precision)
    texts = shapely.to_geojson(shown) if len(shown) else []
    features = []
    for text, i in zip(texts, np.flatnonzero(present)):
        fid = jsonable(ids[i])
        props = {k: jsonable(v) for k, v in (properties[i] if properties is not None else {}).items()}
        props["id"] = fid
        features.append({"type": "Feature", "id": fid, "geometry": json.loads(text), "properties": props})
    return {"type": "FeatureCollection", "features": features}


def to_geobuf(collection: Mapping[str, Any], *, precision: int = PRECISION) -> str:
    """A FeatureCollection as base64 geobuf, the `data` of a dash-leaflet GeoJSON with `format="geobuf"`.

    Geobuf stores coordinates as integer deltas and drops the closing vertex of a ring: a building footprint costs
    about half the gzipped bytes of GeoJSON text, and 6 decimals hardly more than 5. Each feature keeps its id in
    properties.id (what dash-leaflet's click events and the style functions read); the top-level id, the same
    number again, is left out. An empty collection has no geobuf form (it decodes as nothing): send the GeoJSON.
    """
    if not collection.get("features"):
        raise ValueError("collection: expected at least one feature for geobuf, got none (send it as GeoJSON)")
    slim = {"type": "FeatureCollection",
            "features": [{k: v for k, v in f.items() if k != "id"} for f in collection["features"]]}
    return base64.b64encode(geobuf.encode(slim, precision)).decode("ascii")


def frame_to_geojson(frame: pd.DataFrame, *, id_column: str, geometry: str = "geometry",
                     columns: Sequence[str] | None = None, offset: str | None = None,
                     precision: int = PRECISION) -> dict[str, Any]:
    """A (Geo)DataFrame → FeatureCollection. A GeoDataFrame in another CRS is reprojected to EPSG:4326 first;
    a column of bytes is read as stored WKB."""
    crs = getattr(frame, "crs", None)
    if crs is not None and geometry == getattr(frame, "_geometry_column_name", None):
        if crs.to_epsg() != schema.STORE_SRID:
            frame = frame.to_crs(schema.STORE_CRS)
    values = frame[geometry].to_numpy(dtype=object)
    if any(isinstance(v, (bytes, bytearray, memoryview)) for v in values):
        values = geometries_from_wkb(values)
    columns = [c for c in (columns if columns is not None else frame.columns) if c != geometry]
    records = frame[columns].to_dict("records")
    return feature_collection(values, frame[id_column].tolist(), records, offset=offset, precision=precision)


def bounds(collection: Mapping[str, Any]) -> list[list[float]] | None:
    """[[south, west], [north, east]] of a FeatureCollection (Leaflet order), or None when it is empty."""
    geoms = [shape(f["geometry"]) for f in collection.get("features", []) if f.get("geometry")]
    if not geoms:
        return None
    west, south, east, north = shapely.total_bounds(np.asarray(geoms, dtype=object))
    return [[float(south), float(west)], [float(north), float(east)]]


def merge_bounds(*boxes: list[list[float]] | None) -> list[list[float]] | None:
    boxes = [b for b in boxes if b]
    if not boxes:
        return None
    return [[min(b[0][0] for b in boxes), min(b[0][1] for b in boxes)],
            [max(b[1][0] for b in boxes), max(b[1][1] for b in boxes)]]
