"""Tests of loaders.geo: formats, GBK shapefiles, CRS handling incl. GCJ-02/BD-09, geometry repair."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import geopandas
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings, strategies as st
from shapely.geometry import Point, Polygon, box

from geodata.errors import InputError
from loaders.geo import (SOURCE_FILE_ATTR, bd09_to_gcj02, bd09_to_wgs84, detect_dbf_encoding, gcj02_to_bd09,
                         gcj02_to_wgs84, read_vector, repair_geometries, to_wgs84, wgs84_to_bd09, wgs84_to_gcj02)

DATA = Path(__file__).parent / "data"
SHP_DIR = DATA / "buildings_4549_gbk"
GEOD = pyproj.Geod(ellps="WGS84")
# WGS84 of the lower-left corners of the buildings in buildings_4549_gbk (EPSG:4549 metres
# (500000, 3520000), (500040, 3520000), (499900, 3520120)). The first lies on the central meridian:
# its longitude is exactly 120 and its latitude the one whose meridian arc is 3,520,000 m.
KNOWN_WGS84 = {
    "兰翔新村7幢": (120.0, 31.8029272),
    "兰翔新村8幢": (120.0004224, 31.8029272),
    "兰翔新村12幢": (119.9989440, 31.8040094),
}


def _distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --- reading --------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["folder", "shp", "zip", "zip_nested"])
def test_gbk_shapefile_without_cpg_is_decoded(tmp_path: Path, source: str) -> None:
    assert not list(SHP_DIR.glob("*.cpg"))
    if source == "folder":
        path = SHP_DIR
    elif source == "shp":
        path = SHP_DIR / "buildings.shp"
    else:
        path = tmp_path / "buildings.zip"
        prefix = "export/2020/" if source == "zip_nested" else ""
        with zipfile.ZipFile(path, "w") as zf:
            for f in sorted(SHP_DIR.iterdir()):
                zf.write(f, prefix + f.name)
    gdf = read_vector(path)
    assert list(gdf["名称"]) == list(KNOWN_WGS84)
    assert list(gdf["层数"]) == [6, 6, 5]
    assert gdf.crs.to_epsg() == 4549
    assert gdf.attrs[SOURCE_FILE_ATTR] == path.name


def test_detect_dbf_encoding(tmp_path: Path) -> None:
    assert detect_dbf_encoding(SHP_DIR) == "gb18030"
    assert detect_dbf_encoding(SHP_DIR / "buildings.shp") == "gb18030"
    assert detect_dbf_encoding(SHP_DIR / "buildings.dbf") == "gb18030"
    gdf = geopandas.GeoDataFrame({"名称": ["兰翔新村7幢"], "n": [1]}, geometry=[Point(0, 0)], crs=4326)
    gdf.to_file(tmp_path / "utf8.shp", engine="pyogrio", encoding="UTF-8")
    assert detect_dbf_encoding(tmp_path / "utf8.shp") == "utf-8"
    ascii_gdf = geopandas.GeoDataFrame({"name": ["b7"]}, geometry=[Point(0, 0)], crs=4326)
    ascii_gdf.to_file(tmp_path / "ascii.shp", engine="pyogrio")
    assert detect_dbf_encoding(tmp_path / "ascii.dbf") == "utf-8"


def test_utf8_text_cut_at_the_field_width_is_still_utf8(tmp_path: Path) -> None:
    dbf = bytearray((SHP_DIR / "buildings.dbf").read_bytes())
    header_len = int.from_bytes(dbf[8:10], "little")
    # Replace the first field name by ASCII and the first value by UTF-8 cut in the middle of a character.
    dbf[32:43] = b"NAME".ljust(11, b"\x00")
    dbf[64:75] = b"FLOORS".ljust(11, b"\x00")
    dbf[96:107] = b"UNITS".ljust(11, b"\x00")
    value = "兰翔新村".encode("utf-8")[:-1]
    dbf[header_len + 1:header_len + 81] = value.ljust(80, b" ")
    for rec in (1, 2):
        start = header_len + rec * int.from_bytes(dbf[10:12], "little") + 1
        dbf[start:start + 80] = b"b".ljust(80, b" ")
    path = tmp_path / "cut.dbf"
    path.write_bytes(bytes(dbf))
    assert detect_dbf_encoding(path) == "utf-8"


def test_encoding_override() -> None:
    assert list(read_vector(SHP_DIR, encoding="gbk")["名称"])[0] == "兰翔新村7幢"
    gdf = read_vector(SHP_DIR, encoding="latin-1")
    assert list(gdf.iloc[:, 0])[0] == "兰翔新村7幢".encode("gbk").decode("latin-1")
    with pytest.raises(InputError, match="utf-8"):
        read_vector(SHP_DIR, encoding="utf-8")
    with pytest.raises(InputError, match="未知的编码"):
        read_vector(SHP_DIR, encoding="no-such-codec")


def test_geojson_keeps_its_crs_and_properties() -> None:
    gdf = read_vector(DATA / "grids_gcj02.geojson")
    assert gdf.crs.to_epsg() == 4326   # RFC 7946: GeoJSON says WGS84 even when digitised on GCJ-02
    assert list(gdf["name"])[:2] == ["第一网格", "第二网格"]
    assert len(gdf) == 3


def test_geojson_with_legacy_crs_member(tmp_path: Path) -> None:
    doc = {"type": "FeatureCollection",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4549"}},
           "features": [{"type": "Feature", "properties": {"name": "a"},
                         "geometry": {"type": "Point", "coordinates": [500000.0, 3520000.0]}}]}
    path = tmp_path / "legacy.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")
    gdf = read_vector(path)
    assert gdf.crs.to_epsg() == 4549
    out = to_wgs84(gdf)
    assert _distance_m(out.geometry.x[0], out.geometry.y[0], 120.0, 31.8029272) < 1.0


@pytest.mark.parametrize("ext,driver", [(".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".kml", "KML"),
                                        (".shp", "ESRI Shapefile")])
def test_round_trip_over_formats(tmp_path: Path, ext: str, driver: str) -> None:
    src = geopandas.GeoDataFrame({"name": ["第一网格", "第二网格"]},
                                 geometry=[box(119.97, 31.80, 119.98, 31.81), box(119.98, 31.80, 119.99, 31.81)],
                                 crs=4326)
    path = tmp_path / f"grids{ext}"
    src.to_file(path, driver=driver, engine="pyogrio")
    gdf = to_wgs84(read_vector(path))
    name_col = "name" if "name" in gdf.columns else "Name"
    assert list(gdf[name_col]) == ["第一网格", "第二网格"]
    assert gdf.crs.to_epsg() == 4326
    # Shapefiles reorient rings: compare normalised geometries.
    assert shapely.equals_exact(shapely.normalize(gdf.geometry.values), shapely.normalize(src.geometry.values),
                                tolerance=1e-9).all()


def test_several_layers_need_a_layer_name(tmp_path: Path) -> None:
    path = tmp_path / "two.gpkg"
    a = geopandas.GeoDataFrame({"n": [1]}, geometry=[Point(120, 31.8)], crs=4326)
    a.to_file(path, layer="grids", engine="pyogrio")
    a.to_file(path, layer="buildings", engine="pyogrio")
    with pytest.raises(InputError, match="--layer"):
        read_vector(path)
    assert len(read_vector(path, layer="buildings")) == 1
    with pytest.raises(InputError, match="没有图层"):
        read_vector(path, layer="roads")


def test_folder_with_two_shapefiles(tmp_path: Path) -> None:
    for name in ("a", "b"):
        for f in SHP_DIR.iterdir():
            shutil.copy(f, tmp_path / f"{name}{f.suffix}")
    with pytest.raises(InputError, match="一个 .shp"):
        read_vector(tmp_path)
    assert len(read_vector(tmp_path, layer="b")) == 3


@pytest.mark.parametrize("name,content", [("bad.geojson", b'{"type": "FeatureCollection", "features": [{'),
                                          ("bad.gpkg", b"SQLite format 3\x00 truncated"),
                                          ("bad.zip", b"PK\x03\x04 nonsense"),
                                          ("empty.zip", None)])
def test_unreadable_vector_files(tmp_path: Path, name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "nothing here")
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        read_vector(path)
    assert exc.value.file == name


def test_shapefile_without_dbf(tmp_path: Path) -> None:
    for f in SHP_DIR.iterdir():
        if f.suffix != ".dbf":
            shutil.copy(f, tmp_path / f.name)
    with pytest.raises(InputError, match=".dbf"):
        read_vector(tmp_path / "buildings.shp")


def test_unsupported_and_missing(tmp_path: Path) -> None:
    (tmp_path / "grids.dwg").write_bytes(b"AC1015")
    with pytest.raises(InputError, match="不支持的矢量格式"):
        read_vector(tmp_path / "grids.dwg")
    with pytest.raises(InputError, match="不存在"):
        read_vector(tmp_path / "grids.zip")
    with pytest.raises(InputError, match="不存在"):
        read_vector(tmp_path / "grids.geojson")


# --- CRS ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("declared", [None, "4549", "EPSG:4549", "epsg:4549"])
def test_epsg_4549_lands_within_a_metre_of_known_wgs84(declared: str | None) -> None:
    gdf = to_wgs84(read_vector(SHP_DIR), declared)
    assert gdf.crs.to_epsg() == 4326
    for name, geom in zip(gdf["名称"], gdf.geometry):
        lon, lat = KNOWN_WGS84[name]
        minx, miny, _, _ = geom.bounds
        assert _distance_m(minx, miny, lon, lat) < 1.0, name
    # Independent of pyproj's projection code: on the central meridian northing = meridian arc length.
    assert abs(GEOD.inv(120.0, 0.0, *KNOWN_WGS84["兰翔新村7幢"])[2] - 3_520_000) < 1.0


def test_missing_crs_names_the_file_and_says_use_crs(tmp_path: Path) -> None:
    for f in SHP_DIR.iterdir():
        if f.suffix != ".prj":
            shutil.copy(f, tmp_path / f.name)
    gdf = read_vector(tmp_path / "buildings.shp")
    assert gdf.crs is None
    with pytest.raises(InputError, match="--crs") as exc:
        to_wgs84(gdf)
    assert exc.value.file == "buildings.shp"
    assert to_wgs84(gdf, "4549").crs.to_epsg() == 4326


def test_bad_crs_declarations() -> None:
    gdf = read_vector(SHP_DIR)
    with pytest.raises(InputError, match="无法识别坐标系"):
        to_wgs84(gdf, "mars")
    # Metres declared as degrees: the result cannot be longitude/latitude.
    with pytest.raises(InputError, match="坐标系很可能不对"):
        to_wgs84(gdf, "4326")


def test_gcj02_grids_are_moved_by_hundreds_of_metres() -> None:
    gcj = read_vector(DATA / "grids_gcj02.geojson")
    wgs = to_wgs84(gcj, "gcj02")
    assert wgs.crs.to_epsg() == 4326
    a = shapely.get_coordinates(gcj.geometry.values)
    b = shapely.get_coordinates(wgs.geometry.values)
    d = _distance_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert (300 < d).all() and (d < 800).all()
    assert (b[:, 0] < a[:, 0]).all()   # GCJ-02 is east of WGS84 around Changzhou
    back = np.column_stack(wgs84_to_gcj02(b[:, 0], b[:, 1]))
    assert np.abs(back - a).max() < 1e-9
    assert list(wgs["name"]) == list(gcj["name"])


def test_bd09_declared() -> None:
    pts = geopandas.GeoDataFrame(geometry=[Point(*wgs84_to_bd09(119.97, 31.81))], crs=4326)
    out = to_wgs84(pts, "bd09")
    assert _distance_m(out.geometry.x[0], out.geometry.y[0], 119.97, 31.81) < 0.01


def test_gcj02_matches_prcoords_reference() -> None:
    prcoords = pytest.importorskip("prcoords")
    lon, lat = 119.97, 31.81
    ref = prcoords.wgs_gcj((lat, lon))     # prcoords takes and returns (lat, lon)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert abs(glon - ref.lon) < 1e-12 and abs(glat - ref.lat) < 1e-12
    ref_bd = prcoords.gcj_bd((glat, glon))
    blon, blat = gcj02_to_bd09(glon, glat)
    assert abs(blon - ref_bd.lon) < 1e-12 and abs(blat - ref_bd.lat) < 1e-12


def test_offsets_around_changzhou() -> None:
    lon, lat = np.meshgrid(np.linspace(119.9, 120.1, 21), np.linspace(31.7, 31.9, 21))
    glon, glat = wgs84_to_gcj02(lon.ravel(), lat.ravel())
    d = _distance_m(lon.ravel(), lat.ravel(), glon, glat)
    assert (400 < d).all() and (d < 650).all()
    blon, blat = wgs84_to_bd09(lon.ravel(), lat.ravel())
    d_bd = _distance_m(lon.ravel(), lat.ravel(), blon, blat)
    assert (900 < d_bd).all() and (d_bd < 1400).all()


def test_outside_china_gcj02_is_wgs84() -> None:
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)


def test_inverse_beats_the_one_step_inverse() -> None:
    lon, lat = 119.97, 31.81
    glon, glat = wgs84_to_gcj02(lon, lat)
    one_step = (2 * glon - wgs84_to_gcj02(glon, glat)[0], 2 * glat - wgs84_to_gcj02(glon, glat)[1])
    assert _distance_m(*one_step, lon, lat) > 0.1
    assert _distance_m(*gcj02_to_wgs84(glon, glat), lon, lat) < 1e-4


@settings(max_examples=50)
@given(st.lists(st.tuples(st.floats(119.9, 120.1), st.floats(31.7, 31.9)), min_size=1, max_size=50))
def test_round_trips_are_sub_centimetre(points: list[tuple[float, float]]) -> None:
    lon, lat = np.array(points).T
    w = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert _distance_m(lon, lat, *w).max() < 0.01
    g = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert _distance_m(lon, lat, *g).max() < 0.01
    b = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert _distance_m(lon, lat, *b).max() < 0.01
    bw = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert _distance_m(lon, lat, *bw).max() < 0.01


def test_vectorised_shapes() -> None:
    lon = np.full((3, 4), 119.97)
    lat = np.full((3, 4), 31.81)
    glon, glat = gcj02_to_wgs84(lon, lat)
    assert glon.shape == glat.shape == (3, 4)


# --- repair ---------------------------------------------------------------------------------------

def test_bow_tie_is_repaired_and_reported() -> None:
    gdf = to_wgs84(read_vector(DATA / "grids_gcj02.geojson"), "gcj02")
    assert not gdf.geometry.iloc[2].is_valid
    fixed, report = repair_geometries(gdf)
    assert report == [(2, "自相交，已用make_valid修复")]
    assert len(fixed) == len(gdf)
    assert fixed.geometry.is_valid.all()
    assert fixed.geometry.iloc[2].geom_type == "MultiPolygon"
    assert fixed.geometry.iloc[0].equals(gdf.geometry.iloc[0])
    assert fixed.crs == gdf.crs and fixed.attrs == gdf.attrs
    assert gdf.geometry.iloc[2].is_valid is False   # the input is not modified


def test_repair_reports_empty_and_missing_and_keeps_rows() -> None:
    ring_outside = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(20, 20), (21, 20), (21, 21), (20, 21)]])
    gdf = geopandas.GeoDataFrame(
        {"name": list("abcde")},
        geometry=[box(0, 0, 1, 1), None, Polygon(), ring_outside, Polygon([(0, 0), (1, 1), (0, 0)])],
        index=[10, 11, 12, 13, 14])
    fixed, report = repair_geometries(gdf)
    reasons = dict(report)
    assert list(reasons) == [11, 12, 13, 14]
    assert reasons[11] == reasons[12] == "几何为空"
    assert reasons[13] == "洞在外环之外，已用make_valid修复"
    assert reasons[14].startswith(("点数不足", "几何无效"))
    assert list(fixed.index) == list(gdf.index) and list(fixed["name"]) == list("abcde")
    assert fixed.geometry.iloc[3].is_valid


def test_repair_of_valid_layer_reports_nothing() -> None:
    gdf = read_vector(SHP_DIR)
    fixed, report = repair_geometries(gdf)
    assert report == []
    assert fixed.geometry.equals(gdf.geometry)
