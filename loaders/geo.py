"""Vector files (grids, buildings) and their coordinate systems, including China's map offsets.

Owns reading GeoJSON, Shapefile (folder, .shp or .zip), GeoPackage and KML with pyogrio; detecting
the text encoding of .dbf files (Chinese desktop GIS writes GBK without a .cpg); converting to the
store CRS (WGS84) from any EPSG code or from GCJ-02 (Gaode/Tencent) and BD-09 (Baidu), which pyproj
cannot express; and repairing invalid geometries without dropping any. No store access here.

The GCJ-02/BD-09 formulas are the published ones (as in prcoords and eviltransform), written
again here in numpy because those packages convert one point at a time.
"""
from __future__ import annotations

import codecs
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from geodata import schema
from geodata.errors import InputError

__all__ = ["read_vector", "to_wgs84", "repair_geometries", "detect_dbf_encoding", "gcj02_to_wgs84",
           "wgs84_to_gcj02", "bd09_to_gcj02", "gcj02_to_bd09", "bd09_to_wgs84", "wgs84_to_bd09",
           "VECTOR_EXTENSIONS", "SOURCE_FILE_ATTR"]

#: Extensions read_vector accepts (a folder holding one shapefile is accepted too).
VECTOR_EXTENSIONS = (".geojson", ".json", ".shp", ".zip", ".gpkg", ".kml")
#: GeoDataFrame.attrs key holding the file name, so later errors can say which file.
SOURCE_FILE_ATTR = "source_file"

# Krasovsky 1940 ellipsoid used by the GCJ-02 obfuscation.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_BD_DLON = 0.0065
_BD_DLAT = 0.0060
_X_PI = np.pi * 3000.0 / 180.0
# Iteration of the inverses stops when the forward image is this close (degrees; 1e-10 deg ~ 0.01 mm).
_INVERSE_TOL = 1e-10
_INVERSE_MAX_ITER = 30

_REPAIR_REASONS = {
    "Self-intersection": "自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points": "点数不足",
    "Hole lies outside shell": "洞在外环之外",
    "Holes are nested": "洞互相嵌套",
    "Interior is disconnected": "内部不连通",
    "Nested shells": "外环互相嵌套",
    "Duplicate Rings": "环重复",
    "Invalid Coordinate": "坐标无效",
    "Ring is not closed": "环未闭合",
}


# --- GCJ-02 / BD-09 ----------------------------------------------------------------------------

def _out_of_china(lon: NDArray, lat: NDArray) -> NDArray:
    # The offsets are only applied inside this box; outside, GCJ-02 equals WGS84.
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_delta(lon: NDArray, lat: NDArray) -> tuple[NDArray, NDArray]:
    """GCJ-02 minus WGS84 (degrees) at a WGS84 point."""
    x, y = lon - 105.0, lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _GCJ_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_GCJ_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """WGS84 -> GCJ-02 (Gaode/Tencent), vectorised."""
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


_Transform = Callable[[NDArray, NDArray], tuple[NDArray, NDArray]]


def _invert(forward: _Transform, lon: NDArray, lat: NDArray, lon0: NDArray, lat0: NDArray) -> tuple[NDArray, NDArray]:
    """Fixed-point iteration: find p with forward(p) == (lon, lat), starting at (lon0, lat0)."""
    x, y = lon0.copy(), lat0.copy()
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        if np.all(np.abs(ex) < _INVERSE_TOL) and np.all(np.abs(ey) < _INVERSE_TOL):
            break
    return x, y


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """GCJ-02 -> WGS84 by iteration (sub-millimetre; the one-step inverse is ~2 m off)."""
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _gcj_delta(lon, lat)
    return _invert(wgs84_to_gcj02, lon, lat, lon - dlon, lat - dlat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """GCJ-02 -> BD-09 (Baidu), vectorised."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """BD-09 -> GCJ-02: the usual closed-form inverse refined by iteration."""
    lon, lat = _arrays(lon, lat)
    x, y = lon - _BD_DLON, lat - _BD_DLAT
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, lon, lat, z * np.cos(theta), z * np.sin(theta))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """BD-09 -> WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray, NDArray]:
    """WGS84 -> BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


# --- encodings -----------------------------------------------------------------------------------

def _dbf_bytes(path: Path) -> tuple[bytes, str]:
    """The .dbf content (at most a few MB) of a .dbf/.shp path, a folder or a zip, and its name."""
    limit = 4 * 1024 * 1024
    if path.is_dir():
        dbfs = sorted(path.rglob("*.dbf"), key=lambda p: p.name.lower()) + sorted(path.rglob("*.DBF"))
        if not dbfs:
            raise InputError("文件夹中没有 .dbf 属性表", file=path.name)
        path = dbfs[0]
    elif path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(".dbf"))
            if not names:
                raise InputError("压缩包中没有 .dbf 属性表", file=path.name)
            with zf.open(names[0]) as f:
                return f.read(limit), names[0]
    elif path.suffix.lower() != ".dbf":
        candidates = [path.with_suffix(s) for s in (".dbf", ".DBF")]
        path = next((p for p in candidates if p.exists()), candidates[0])
    try:
        with open(path, "rb") as f:
            return f.read(limit), path.name
    except OSError:
        raise InputError("找不到 .dbf 属性表（Shapefile 不完整）", file=path.name) from None


def detect_dbf_encoding(path: str | Path) -> str:
    """'utf-8' when every text in the .dbf (field names and values) decodes as UTF-8, else 'gb18030'.

    `path` is a .dbf, a .shp (its .dbf beside it), a folder or a .zip holding a shapefile. The .cpg and
    the header's language-driver byte are ignored: Chinese desktop GIS often leaves them out or wrong.
    """
    data, _ = _dbf_bytes(Path(path))
    if len(data) < 32:
        return "utf-8"
    header_len = int.from_bytes(data[8:10], "little")
    record_len = int.from_bytes(data[10:12], "little")
    fields = []
    pos = 32
    while pos + 32 <= min(header_len, len(data)) and data[pos] != 0x0D:
        fields.append((data[pos:pos + 11].split(b"\x00")[0], data[pos + 16]))
        pos += 32
    pieces = [name for name, _ in fields]
    if record_len > 1:
        body = data[header_len:]
        for start in range(0, len(body) - record_len + 1, record_len):
            offset = start + 1  # deletion flag
            for _, width in fields:
                pieces.append(body[offset:offset + width])
                offset += width
    for piece in pieces:
        # Fields are cut at a byte width: a UTF-8 character split at the end is not an error.
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            decoder.decode(piece.rstrip(b" \x00"), final=False)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


# --- reading -------------------------------------------------------------------------------------

def _vector_source(path: Path, layer: str | None) -> tuple[str, bool]:
    """(GDAL path, is shapefile) for a file, a folder holding one shapefile, or a zip."""
    name = path.name
    if not path.exists():
        raise InputError("无法读取文件：文件不存在", file=name)
    if path.is_dir():
        shps = sorted(path.glob("*.shp")) + sorted(path.glob("*.SHP"))
        if layer:
            shps = [p for p in shps if p.stem == layer] or shps
        if len(shps) != 1:
            found = "、".join(p.name for p in shps) or "无"
            raise InputError(f"无法读取文件夹：应恰好包含一个 .shp 文件（找到：{found}）", file=name)
        return str(shps[0]), True
    ext = path.suffix.lower()
    if ext == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"无法读取文件：压缩包已损坏（{type(exc).__name__}）", file=name) from None
        vectors = [n for n in members if Path(n).suffix.lower() in (".shp", ".geojson", ".json", ".gpkg",
                                                                     ".kml")]
        if layer:
            vectors = [n for n in vectors if Path(n).stem == layer] or vectors
        if len(vectors) != 1:
            found = "、".join(vectors) or "无"
            raise InputError(f"无法读取压缩包：应恰好包含一个矢量文件（找到：{found}）", file=name)
        return f"/vsizip/{path.resolve()}/{vectors[0]}", vectors[0].lower().endswith(".shp")
    if ext not in VECTOR_EXTENSIONS:
        raise InputError(f"无法读取文件：不支持的矢量格式“{path.suffix or '无扩展名'}”，"
                         "请提供 GeoJSON、Shapefile（文件夹/.shp/.zip）、GeoPackage 或 KML", file=name)
    return str(path), ext == ".shp"


def read_vector(path: str | Path, *, encoding: str | None = None,
                layer: str | None = None) -> geopandas.GeoDataFrame:
    """Read one layer of a vector file, keeping the file's CRS (see `to_wgs84`).

    Shapefile text is decoded with `encoding`, else the encoding detected from the .dbf bytes.
    A file with several layers needs `layer`. The file name is kept in `gdf.attrs['source_file']`.
    """
    import pyogrio

    path = Path(path)
    name = path.name
    source, is_shapefile = _vector_source(path, layer)
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(source)]
    except Exception as exc:  # noqa: BLE001 - GDAL errors come in many types; all mean unreadable
        raise InputError(f"无法读取文件：{_gdal_message(exc)}", file=name) from None
    if is_shapefile:
        layer = None
        if encoding is None:
            encoding = detect_dbf_encoding(path if path.is_dir() or path.suffix.lower() == ".zip"
                                           else Path(source))
    elif layer is None and len(layers) > 1:
        raise InputError(f"文件包含多个图层（{'、'.join(layers)}），请用 --layer 指定其中一个", file=name)
    elif layer is not None and layer not in layers:
        raise InputError(f"文件中没有图层“{layer}”（有：{'、'.join(layers)}）", file=name)
    if encoding is not None:
        try:
            # GDAL silently ignores names its iconv does not know ("latin-1"): pass Python's canonical one.
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise InputError(f"未知的编码“{encoding}”", file=name) from None
    try:
        gdf = pyogrio.read_dataframe(source, layer=layer, encoding=encoding)
    except UnicodeDecodeError:
        raise InputError(f"无法读取文件：属性表不是 {encoding} 编码，请指定正确的编码", file=name) from None
    except Exception as exc:  # noqa: BLE001 - see above
        raise InputError(f"无法读取文件：{_gdal_message(exc)}", file=name) from None
    gdf.attrs[SOURCE_FILE_ATTR] = name
    return gdf


def _gdal_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"文件已损坏或格式不支持（{text[:200]}）"


# --- CRS -----------------------------------------------------------------------------------------

def _declared_crs(crs: str, file: str | None) -> str | pyproj.CRS:
    """schema.GCJ02, schema.BD09 or a pyproj CRS from 'gcj02', 'bd09', 'EPSG:4549', '4549', WKT..."""
    key = crs.strip().lower().replace("-", "").replace("_", "")
    if key in ("gcj02", "gcj", "gaode", "amap", "tencent"):
        return schema.GCJ02
    if key in ("bd09", "bd09ll", "baidu"):
        return schema.BD09
    text = crs.strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError:
        raise InputError(f"无法识别坐标系“{crs}”：请用 EPSG 编号（如 4549、4326、4490）或 gcj02 / bd09",
                         file=file) from None


def _transform_coords(gdf: geopandas.GeoDataFrame, func: _Transform) -> geopandas.GeoDataFrame:
    def apply(coords: NDArray) -> NDArray:
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out = gdf.copy()
    out[out.geometry.name] = shapely.transform(gdf.geometry.values, apply)
    return out.set_crs(schema.STORE_CRS, allow_override=True)


def to_wgs84(gdf: geopandas.GeoDataFrame, crs: str | None = None) -> geopandas.GeoDataFrame:
    """The layer in WGS84 (schema.STORE_CRS). A declared `crs` overrides the file's CRS.

    `crs`: 'gcj02', 'bd09', 'EPSG:n', 'n' or anything pyproj reads. With no CRS in the file nor declared,
    raises InputError: guessing would put the map in the wrong place.
    """
    file = gdf.attrs.get(SOURCE_FILE_ATTR)
    if crs is not None:
        source: str | pyproj.CRS = _declared_crs(str(crs), file)
    elif gdf.crs is not None:
        source = gdf.crs
    else:
        raise InputError("文件没有坐标系信息（缺少 .prj 或 crs），请用 --crs 指定，"
                         "如 --crs 4549、--crs 4326 或 --crs gcj02", file=file)
    if source == schema.GCJ02:
        out = _transform_coords(gdf, gcj02_to_wgs84)
    elif source == schema.BD09:
        out = _transform_coords(gdf, bd09_to_wgs84)
    else:
        out = gdf.set_crs(source, allow_override=True).to_crs(schema.STORE_CRS)
    out.attrs.update(gdf.attrs)
    _check_lonlat(out, source, file)
    return out


def _check_lonlat(gdf: geopandas.GeoDataFrame, source: object, file: str | None) -> None:
    """Coordinates outside longitude/latitude ranges mean the CRS was wrong (metres read as degrees)."""
    geoms = gdf.geometry.values
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        return
    coords = shapely.get_coordinates(geoms[present])
    if not np.isfinite(coords).all() or (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        label = source.to_string() if isinstance(source, pyproj.CRS) else str(source)
        raise InputError(f"按坐标系 {label} 转换后坐标超出经纬度范围：坐标系很可能不对，请用 --crs 指定",
                         file=file)


# --- geometry repair -----------------------------------------------------------------------------

def _reason_zh(reason: str) -> str:
    kind = reason.split("[")[0].strip()
    return _REPAIR_REASONS.get(kind, f"几何无效（{kind}）")


def repair_geometries(gdf: geopandas.GeoDataFrame) -> tuple[geopandas.GeoDataFrame, list[tuple[object, str]]]:
    """make_valid every invalid geometry and report (row index label, reason); never drop a row.

    Polygon layers stay polygonal (method='structure'); missing or empty geometries are reported
    and left as they are.
    """
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    valid = missing | empty | shapely.is_valid(geoms)
    report: list[tuple[object, str]] = []
    out = gdf.copy()
    new = np.array(geoms, dtype=object)
    for pos in np.flatnonzero(~valid | missing | empty):
        label = gdf.index[pos]
        if missing[pos] or empty[pos]:
            report.append((label, "几何为空"))
            continue
        geom = geoms[pos]
        reason = _reason_zh(shapely.is_valid_reason(geom))
        polygonal = geom.geom_type in ("Polygon", "MultiPolygon")
        fixed = shapely.make_valid(geom, method="structure", keep_collapsed=not polygonal) if polygonal \
            else shapely.make_valid(geom)
        if fixed.is_empty:
            report.append((label, f"{reason}，修复后为空几何"))
        else:
            report.append((label, f"{reason}，已用make_valid修复"))
        new[pos] = fixed
    out[out.geometry.name] = geopandas.GeoSeries(new, index=gdf.index, crs=gdf.crs)
    out.attrs.update(gdf.attrs)
    return out, report
