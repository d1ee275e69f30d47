"""layers: colour classes, legends, the GeoJSON step (rounding, ids, GCJ-02, reprojection) and the map layers."""
from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import prcoords
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy.orm import Session

from geodata import indicators, models, schema, store
from layers import basemap, buildings, colors, communities, folium_export, geojson, grids, legend, markers, png_export
from tests import factories


# --- colours -------------------------------------------------------------------------------------

@pytest.mark.parametrize("share, cls", [(0.0, 0), (0.2499, 0), (0.25, 1), (0.5, 2), (0.7499, 2), (0.75, 3),
                                        (0.9499, 3), (0.95, 4), (1.0, 4), (float("nan"), -1)])
def test_coverage_classes_are_fixed(share, cls):
    assert colors.classify([share], colors.COVERAGE_BREAKS)[0] == cls


def test_class_colors_vectorised_with_no_data():
    got = colors.coverage_colors([0.1, 0.3, 0.6, 0.8, 0.99, np.nan])
    assert got == [*colors.COVERAGE_COLORS, colors.NO_DATA_COLOR]
    assert colors.coverage_color(None) == colors.NO_DATA_COLOR
    assert colors.class_colors([0, 1, 2, 4, 5, 100], colors.EVENT_BREAKS, colors.EVENT_COLORS) == [
        colors.EVENT_COLORS[0], colors.EVENT_COLORS[1], colors.EVENT_COLORS[2], colors.EVENT_COLORS[3],
        colors.EVENT_COLORS[4], colors.EVENT_COLORS[4]]


def test_palette_must_fit_the_breaks():
    with pytest.raises(ValueError, match="expected 5 colours for 4 breaks, got 3"):
        colors.class_colors([0.5], colors.COVERAGE_BREAKS, ("#000000", "#111111", "#222222"))


def test_status_colours():
    assert set(colors.STATUS_COLORS) == set(schema.VERIFICATION_LABELS) == set(colors.STATUS_ORDER)
    assert len(set(colors.STATUS_COLORS.values())) == 4
    assert colors.status_colors([schema.V_VERIFIED, schema.V_OPEN_FINDINGS]) == ["#2e9d5b", "#d64541"]
    with pytest.raises(ValueError, match="status: expected one of"):
        colors.status_color("done")
    assert colors.flat_color(schema.V_NOT_STARTED, vacant=True) == colors.VACANT_COLOR
    assert colors.flat_color(schema.V_OPEN_FINDINGS, vacant=True) == colors.STATUS_COLORS[schema.V_OPEN_FINDINGS]


def test_shares_and_text_contrast():
    assert np.allclose(colors.shares([1, 2, 0], [4, 0, 5]), [0.25, np.nan, 0.0], equal_nan=True)
    assert colors.text_color("#08519c") == "#ffffff"
    assert colors.text_color("#eff3ff") == "#1f2933"


# --- legends -------------------------------------------------------------------------------------

def test_break_labels():
    assert legend.break_labels(colors.COVERAGE_BREAKS, "share") == ["<25%", "25–50%", "50–75%", "75–95%", "≥95%"]
    assert legend.break_labels(colors.EVENT_BREAKS, "count") == ["0", "1", "2", "3–4", "≥5"]
    assert legend.break_labels(colors.FINDING_BREAKS, "count") == ["0", "1–2", "3–5", "6–10", "≥11"]
    with pytest.raises(ValueError):
        legend.break_labels((1,), "ratio")


@pytest.mark.parametrize("theme", legend.THEMES)
def test_every_theme_has_a_legend(theme):
    items = legend.legend(theme)
    assert all(isinstance(c, str) and c.startswith("#") and label for c, label in items)
    if theme == legend.THEME_STATUS:
        # progress order, then "verification complete but mismatches remain"
        assert [c for c, _ in items] == [colors.STATUS_COLORS[s] for s in (
            schema.V_NOT_STARTED, schema.V_IN_PROGRESS, schema.V_VERIFIED, schema.V_OPEN_FINDINGS)]
        assert items[-1][1] == "已核实，仍有出入"
    else:
        assert [c for c, _ in items] == list(legend.THEME_CLASSES[theme][1])


def test_legend_labels_can_be_translated_and_unknown_theme_fails():
    english = {schema.V_VERIFIED: "All verified", schema.V_IN_PROGRESS: "In progress",
               schema.V_NOT_STARTED: "Not started", schema.V_OPEN_FINDINGS: "Open findings"}
    assert [label for _, label in legend.legend(legend.THEME_STATUS, english)][-2] == "All verified"
    assert legend.flat_legend()[-1] == (colors.VACANT_COLOR, "空置")
    assert legend.coverage_legend()[0] == (colors.COVERAGE_COLORS[0], "<25%")
    with pytest.raises(ValueError, match="theme: expected one of"):
        legend.legend("traffic")


# --- GeoJSON -------------------------------------------------------------------------------------

def test_gcj02_forward_matches_prcoords_and_leaves_the_rest_alone():
    lon, lat = 119.9650, 31.8120      # 兰翔新村, 常州
    glon, glat = geojson.wgs84_to_gcj02(lon, lat)
    ref = prcoords.wgs_gcj((lat, lon))          # prcoords takes and returns (lat, lon)
    assert (float(glon), float(glat)) == pytest.approx((ref.lon, ref.lat), abs=1e-9)
    shift_m = math.hypot((glon - lon) * 111_320 * math.cos(math.radians(lat)), (glat - lat) * 110_540)
    assert 300 < shift_m < 800                  # "~500 m off WGS84 in Changzhou"
    outside = geojson.wgs84_to_gcj02([2.35, -70.0], [48.85, -33.0])
    assert np.allclose(outside, ([2.35, -70.0], [48.85, -33.0]))


def test_feature_collection_rounds_keeps_ids_and_skips_missing_geometry():
    geoms = [shapely.Point(119.123456789, 31.987654321), None, shapely.Polygon()]
    fc = geojson.feature_collection(geoms, [7, 8, 9], [{"n": np.int64(3), "share": np.nan, "flags": ("a",)},
                                                      {}, {}])
    assert [f["id"] for f in fc["features"]] == [7]
    feature = fc["features"][0]
    assert feature["geometry"]["coordinates"] == [119.123457, 31.987654]
    assert feature["properties"] == {"n": 3, "share": None, "flags": ["a"], "id": 7}
    json.dumps(fc)   # plain JSON
    with pytest.raises(ValueError, match="expected equal lengths"):
        geojson.feature_collection(geoms, [1], None)
    with pytest.raises(ValueError, match="offset"):
        geojson.display_geometries([shapely.Point(0, 0)], offset="bd09")


def test_feature_collection_gcj02_offset():
    box = shapely.box(119.965, 31.812, 119.966, 31.813)
    plain = geojson.feature_collection([box], [1])
    shifted = geojson.feature_collection([box], [1], offset=schema.GCJ02)
    (s0, w0), _ = geojson.bounds(plain)
    (s1, w1), _ = geojson.bounds(shifted)
    expected = geojson.wgs84_to_gcj02(119.965, 31.812)
    assert (w1, s1) == pytest.approx((float(expected[0]), float(expected[1])), abs=2e-6)
    assert w1 - w0 > 0.004       # shifted east by ~450 m


def test_frame_to_geojson_reprojects_once_and_reads_wkb():
    to_gk = Transformer.from_crs(schema.STORE_CRS, schema.CGCS2000_GK_120E, always_xy=True)
    x, y = to_gk.transform(119.965, 31.812)
    gdf = gpd.GeoDataFrame({"building_id": [5], "name": ["12幢"]}, geometry=[shapely.Point(x, y)],
                           crs=schema.CGCS2000_GK_120E)
    fc = geojson.frame_to_geojson(gdf, id_column="building_id")
    assert fc["features"][0]["geometry"]["coordinates"] == pytest.approx([119.965, 31.812], abs=2e-6)
    assert fc["features"][0]["properties"] == {"building_id": 5, "name": "12幢", "id": 5}
    frame = pd.DataFrame({"id": [1], "geom_wkb": [store.to_wkb(shapely.Point(120.0, 31.5))]})
    fc = geojson.frame_to_geojson(frame, id_column="id", geometry="geom_wkb")
    assert fc["features"][0]["geometry"] == {"type": "Point", "coordinates": [120.0, 31.5]}


def test_geobuf_round_trip_keeps_ids_properties_and_coordinates():
    import geobuf
    geoms = [shapely.box(119.965, 31.812, 119.9656, 31.8121), shapely.Point(119.123456, 31.654321)]
    fc = geojson.feature_collection(geoms, [7, 8], [{"n": "12A", "c": "0123450", "f": 5}, {"n": "3", "c": "1"}])
    decoded = geobuf.decode(base64.b64decode(geojson.to_geobuf(fc)))
    assert [f["properties"] for f in decoded["features"]] == [f["properties"] for f in fc["features"]]
    assert all("id" not in f for f in decoded["features"])          # the id travels once, in properties.id
    for got, sent in zip(decoded["features"], fc["features"]):
        assert shapely.geometry.shape(got["geometry"]).equals_exact(shapely.geometry.shape(sent["geometry"]), 1e-9)
    with pytest.raises(ValueError, match="at least one feature"):
        geojson.to_geobuf({"type": "FeatureCollection", "features": []})


def test_bounds():
    fc = geojson.feature_collection([shapely.box(1, 2, 3, 4), shapely.Point(5, 0)], ["a", "b"])
    assert geojson.bounds(fc) == [[0.0, 1.0], [4.0, 5.0]]
    assert geojson.bounds({"features": []}) is None
    assert geojson.merge_bounds(None, [[0, 1], [2, 3]], [[-1, 2], [1, 5]]) == [[-1, 1], [2, 5]]


# --- layers of a community -------------------------------------------------------------------------

@pytest.fixture
def built(tmp_path):
    engine, built = factories.make_store(tmp_path / "store.db")
    with Session(engine) as session:
        yield session, built
    engine.dispose()


def _flags(properties):
    return [f for i, f in enumerate(legend.FILTERS) if properties.get(buildings.P_FLAGS, 0) >> i & 1]


def test_buildings_layer_carries_codes_and_the_palettes_turn_them_into_colours(built):
    session, b = built
    fc = buildings.buildings_geojson(session, b.community_id, as_of=factories.AS_OF)
    assert sorted(f["id"] for f in fc["features"]) == sorted(b.building_ids.values())
    assert all(f["properties"]["id"] == f["id"] for f in fc["features"])     # what clickData exposes
    by_number = {f["properties"][buildings.P_NUMBER]: f["properties"] for f in fc["features"]}
    three = by_number["3"]
    fill = buildings.fill_color
    # nobody verified yet: the fill says "not started"; the open mismatch is the second channel (outline, flag)
    assert fill(three, legend.THEME_STATUS) == colors.STATUS_COLORS[schema.V_NOT_STARTED]
    assert three[buildings.P_MISMATCHES] == 1
    assert fill(three, legend.THEME_FINDINGS) == colors.FINDING_COLORS[1]
    # one category's codes come apart from the features (the hideout of the chosen category)
    per_category = buildings.category_classes(indicators.findings_by_category(session, b.community_id))
    absent = per_category[schema.F_ABSENT_REGISTERED]
    assert absent == {str(b.building_ids["3"]): 1} and schema.F_OWNER_CHANGED not in per_category
    assert fill(three, legend.THEME_FINDINGS, schema.F_ABSENT_REGISTERED, absent) == colors.FINDING_COLORS[1]
    assert fill(three, legend.THEME_FINDINGS, schema.F_OWNER_CHANGED, {}) == colors.FINDING_COLORS[0]
    assert fill(by_number["1"], legend.THEME_FINDINGS, schema.F_ABSENT_REGISTERED, absent) == colors.FINDING_COLORS[0]
    assert legend.FLAG_MISMATCHES in _flags(three) and legend.FLAG_NOT_VERIFIED in _flags(three)
    assert legend.FLAG_MISMATCHES not in _flags(by_number["1"])
    assert legend.FLAG_NOT_VERIFIED not in _flags(by_number["1"])        # every household verified
    assert legend.FLAG_OPEN_ISSUES in _flags(by_number["4"]) and by_number["4"][buildings.P_EVENTS] == 1
    assert fill(by_number["1"], legend.THEME_STATUS) == colors.STATUS_COLORS[schema.V_VERIFIED]
    assert fill(by_number["4"], legend.THEME_EVENTS) == colors.EVENT_COLORS[1]
    assert three[buildings.P_GRID] == b.grid_ids[1]
    # codes, not colours: no colour string, no counts, no label travels with the page
    assert all("#" not in json.dumps(f["properties"]) for f in fc["features"])
    assert set().union(*(f["properties"] for f in fc["features"])) <= {
        "id", buildings.P_NUMBER, buildings.P_GRID, buildings.P_CLASSES, buildings.P_FLAGS, buildings.P_MISMATCHES,
        buildings.P_EVENTS}
    # the exports ask for the label and the counts under their names
    detailed = buildings.buildings_geojson(session, b.community_id, as_of=factories.AS_OF, details=True)
    three = next(f["properties"] for f in detailed["features"] if f["id"] == b.building_ids["3"])
    assert three["label"] == "兰翔新村3幢" and three["status"] == schema.V_NOT_STARTED
    assert three["open_findings"] == three["open_mismatches"] == 1
    share = three["elderly_60"] / three["households"]
    assert fill(three, legend.THEME_ELDERLY) == colors.class_colors([share], colors.ELDERLY_BREAKS,
                                                                    colors.ELDERLY_COLORS)[0]
    # stored geometry, rounded, not shifted
    geom = shapely.geometry.shape(next(f for f in fc["features"] if f["id"] == b.building_ids["1"])["geometry"])
    assert geom.bounds == pytest.approx(factories._building_box(0, 0).bounds, abs=1e-6)


def test_theme_codes_decode_to_the_colour_of_each_value(built):
    """Every theme's code, through the palette, is the colour `layers.colors` gives the building's value."""
    session, b = built
    session.add(models.Finding(community_id=b.community_id, category=schema.F_CONFIRM_PARTY,
                               household_id=b.household_ids[("4", 1, "202")]))
    session.flush()
    status = indicators.building_status(session, b.community_id, as_of=factories.AS_OF)
    empty = status.iloc[[0]].assign(building_id=0, households=0, verified=0, elderly_60=0, party_families=0)
    status = pd.concat([status, empty], ignore_index=True)      # a building without households: no-data colour
    codes = buildings.theme_classes(status)
    assert list(codes.columns) == list(legend.THEMES)
    for row, code_row in zip(status.to_dict("records"), codes.to_dict("records")):
        properties = {buildings.P_CLASSES: "".join(str(code_row[t]) for t in legend.THEMES)}
        assert buildings.fill_color(properties, legend.THEME_STATUS) == colors.status_color(row["status"])
        for theme, column in ((legend.THEME_ELDERLY, "elderly_60"), (legend.THEME_PARTY, "party_families")):
            breaks, palette, _ = legend.THEME_CLASSES[theme]
            expected = colors.class_colors(colors.shares([row[column]], [row["households"]]), breaks, palette)[0]
            assert buildings.fill_color(properties, theme) == expected
        for theme, column in ((legend.THEME_ELDERLY_ONLY, "elderly_only"), (legend.THEME_LIVING_ALONE,
                                                                            "living_alone"),
                              (legend.THEME_EVENTS, "open_events"), (legend.THEME_FINDINGS, "open_findings")):
            breaks, palette, _ = legend.THEME_CLASSES[theme]
            assert buildings.fill_color(properties, theme) == colors.class_colors([row[column]], breaks, palette)[0]
    assert buildings.fill_color({"id": 1, buildings.P_CLASSES: "0000000"},
                                legend.THEME_ELDERLY) == colors.ELDERLY_COLORS[0]
    assert codes.iloc[-1][legend.THEME_ELDERLY] == len(colors.ELDERLY_COLORS)      # no households
    assert buildings.flag_bits(status).tolist() == [
        sum(1 << legend.FILTERS.index(f) for f in flags) for flags in buildings.building_flags(status)]
    assert [buildings.flags_of(r) for r in status.to_dict("records")] == buildings.building_flags(status)
    with pytest.raises(ValueError, match="status: expected one of"):
        buildings.theme_classes(status.assign(status="done"))
    with pytest.raises(ValueError, match="theme: expected one of"):
        buildings.fill_color(properties, "weather")


def test_style_table_is_what_the_js_reads():
    table = buildings.style_table()
    assert table["themes"] == list(legend.THEMES) and table["flags"] == list(legend.FILTERS)
    assert set(table["palettes"]) == set(legend.THEMES)
    assert all(1 < len(p) <= 10 for p in table["palettes"].values())          # one digit per class
    assert table["palettes"][legend.THEME_STATUS] == [colors.STATUS_COLORS[s] for s in colors.STATUS_ORDER]
    assert table["palettes"][legend.THEME_EVENTS] == [*colors.EVENT_COLORS, colors.NO_DATA_COLOR]
    json.dumps(table)
    js = (Path(buildings.__file__).resolve().parents[1] / "dashboard" / "assets" / "gridmap.js").read_text()
    for key in ("p.c", "p.f", "p.m", "p.e", "p.g", "p.n", "p.id", "h.palettes", "h.themes", "h.categoryClasses",
                "h.flags"):
        assert key in js, key


def test_buildings_layer_visible_subset_and_given_status(built):
    session, b = built
    status = indicators.building_status(session, b.community_id, as_of=factories.AS_OF)
    keep = {b.building_ids["3"], b.building_ids["4"]}
    fc = buildings.buildings_geojson(session, b.community_id, status=status, visible=keep)
    assert {f["id"] for f in fc["features"]} == keep


def test_grids_layer_is_coloured_by_coverage(built):
    session, b = built
    fc = grids.grids_geojson(session, b.community_id, as_of=factories.AS_OF)
    props = {f["properties"]["name"]: f["properties"] for f in fc["features"]}
    first = props["第一网格"]
    assert first["percent"] == round(100 * first["verified"] / first["households"])
    assert first["color"] == colors.coverage_color(first["share"])
    assert props["第二网格"]["color"] == colors.COVERAGE_COLORS[0] and props["第二网格"]["percent"] == 0


def test_basemap_outline_and_paths(built):
    session, b = built
    outline = basemap.outline_geojson(session, b.community_id)
    assert [f["id"] for f in outline["features"]] == [b.community_id]
    assert outline["features"][0]["properties"]["name"] == "兰翔社区"
    paths = basemap.paths_geojson(session, b.community_id, offset=schema.GCJ02)
    assert paths["features"][0]["geometry"]["type"] == "LineString"
    assert basemap.outline_geojson(session, 999)["features"] == []


# --- flags, categories, markers, street, exports ------------------------------------------------

def test_building_flags_follow_the_counts():
    status = pd.DataFrame({"households": [4, 4, 0], "verified": [4, 1, 0], "open_mismatches": [0, 2, 0],
                           "open_events": [1, 0, 0], "elderly_60": [2, 0, 0], "elderly_only": [1, 0, 0],
                           "living_alone": [1, 0, 0], "party_families": [0, 3, 0]})
    assert buildings.building_flags(status) == [
        [legend.FLAG_OPEN_ISSUES, legend.FLAG_ELDERLY_60, legend.FLAG_ELDERLY_ONLY, legend.FLAG_LIVING_ALONE],
        [legend.FLAG_NOT_VERIFIED, legend.FLAG_MISMATCHES, legend.FLAG_PARTY],
        []]
    assert set(legend.GLYPH_FLAGS) <= set(legend.FILTERS)


def test_category_classes_only_for_present_categories():
    counts = pd.DataFrame({"building_id": [1, 1, 2], "category": ["absent_registered", "confirm_elderly",
                                                                   "absent_registered"], "n": [1, 12, 4]})
    got = buildings.category_classes(counts)
    assert got == {"absent_registered": {"1": 1, "2": 2}, "confirm_elderly": {"1": 4}}
    assert buildings.category_classes(counts.iloc[0:0]) == {}
    json.dumps(got)
    props = {"id": 1, buildings.P_CLASSES: "0000000"}
    assert buildings.fill_color(props, legend.THEME_FINDINGS, "confirm_elderly",
                                got["confirm_elderly"]) == colors.FINDING_COLORS[4]
    assert buildings.fill_color(props, legend.THEME_FINDINGS, "new_member", None) == colors.FINDING_COLORS[0]


def test_issue_colours_sizes_and_legends():
    assert colors.issue_sizes([0, 6, 7, 29, 30, 400, float("nan")]) == [18, 18, 24, 24, 30, 30, 18]
    assert colors.event_color(schema.EC_REPAIR) != colors.event_color(schema.EC_SAFETY)
    assert colors.event_color("unknown") == colors.EVENT_CATEGORY_COLORS[schema.EC_OTHER]
    assert len(set(colors.EVENT_CATEGORY_COLORS.values())) == len(schema.EVENT_CATEGORY_LABELS)
    assert [label for _, label in legend.event_category_legend()][0] == "设施维修"
    assert legend.issue_age_legend() == [(18, "<7天"), (24, "7–29天"), (30, "≥30天")]
    assert legend.mismatch_legend()[0][0] == colors.MISMATCH_COLOR
    for theme in (legend.THEME_ELDERLY_ONLY, legend.THEME_LIVING_ALONE):
        assert legend.legend(theme)[0][1] == "0"


def test_ring_offsets_spread_several_markers():
    assert markers.ring_offsets(1).tolist() == [[0.0, 0.0]]
    ring = markers.ring_offsets(4)
    assert np.allclose(np.hypot(ring[:, 0], ring[:, 1]), markers.RING)
    assert ring[0] == pytest.approx([0, markers.RING])          # the first one north
    assert len({tuple(np.round(r, 9)) for r in ring}) == 4


def test_issues_layer_places_open_events_at_their_building(built):
    session, b = built
    fc = markers.issues_geojson(session, b.community_id, as_of=factories.AS_OF)
    assert len(fc["features"]) == 1                                   # the closed event is left out
    f = fc["features"][0]
    p = f["properties"]
    assert p["category"] == schema.EC_REPAIR and p["building_id"] == b.building_ids["4"]
    assert p["flat_id"] == b.flat_ids[b.event_flat] and p["color"] == colors.EVENT_CATEGORY_COLORS[schema.EC_REPAIR]
    assert "description" not in p                                     # no resident text on the map
    assert shapely.geometry.shape(f["geometry"]).within(factories._building_box(1, 1))
    assert markers.issues_geojson(session, b.community_id, visible={b.building_ids["1"]})["features"] == []
    shifted = markers.issues_geojson(session, b.community_id, offset=schema.GCJ02)["features"][0]
    assert shifted["geometry"]["coordinates"][0] > f["geometry"]["coordinates"][0]   # GCJ-02 is east of WGS84 here


def test_event_age_in_local_days():
    import datetime as dt
    # 2024-02-28 20:00 UTC is already 29 Feb in China
    assert markers.event_age(dt.datetime(2024, 2, 28, 20, 0), dt.date(2024, 3, 1)) == 1
    assert markers.event_age(dt.datetime(2024, 3, 5), dt.date(2024, 3, 1)) == 0
    assert markers.event_age(None, dt.date(2024, 3, 1)) is None


def test_communities_layer_is_coloured_by_coverage(built):
    session, b = built
    coverage = indicators.community_coverage(session, b.street_id, as_of=factories.AS_OF)
    fc = communities.communities_geojson(session, b.street_id, coverage)
    props = {f["properties"]["name"]: f["properties"] for f in fc["features"]}
    lanxiang = props["兰翔社区"]
    assert lanxiang["color"] == colors.coverage_color(lanxiang["share"])
    assert lanxiang["open_mismatches"] == 1 and lanxiang["open_events"] == 1
    assert props["白云社区"]["percent"] == 0
    only = communities.communities_geojson(session, b.street_id, coverage, visible={b.community_id})
    assert [f["id"] for f in only["features"]] == [b.community_id]


def _map_data(session, b):
    from dashboard import views
    from geodata import access
    scope = access.Scope("t", schema.ROLE_COMMUNITY_ADMIN, frozenset({b.street_id}), frozenset({b.community_id}),
                         None, True, True)
    return views.map_data(session, scope, b.community_id, as_of=factories.AS_OF, details=True)   # as export_map


def test_folium_export_is_standalone_and_offline(built):
    session, b = built
    data = _map_data(session, b)
    page = folium_export.map_html(data, theme=legend.THEME_STATUS)
    assert folium_export.remote_references(page) == []
    assert not re.search(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?https?://", page)
    assert "L.map(" in page and "Leaflet" in page and "leaflet-container" in page     # JS and CSS inlined
    assert "data:image/png;base64," in page                                           # CSS images too
    assert colors.MISMATCH_COLOR in page and '"number": "3"' in page                   # building 3's outline
    elderly = folium_export.map_html(data, theme=legend.THEME_LIVING_ALONE)
    assert colors.LIVING_ALONE_COLORS[0] in elderly
    with pytest.raises(ValueError, match="theme"):
        folium_export.map_html(data, theme="weather")
    assert folium_export.remote_references('<script src="https://cdn.example/x.js"></script>') != []
    assert folium_export.remote_references('<link rel="stylesheet" href="//cdn.example/x.css">') != []


def test_building_style_matches_the_js_rules():
    props = {"id": 7, buildings.P_CLASSES: "1000004", buildings.P_MISMATCHES: 2}
    owner_changed = {"7": 3}
    assert folium_export.building_style(props, "status")["color"] == colors.MISMATCH_COLOR
    assert folium_export.building_style(props, "status")["fillColor"] == colors.STATUS_COLORS[colors.STATUS_ORDER[1]]
    assert folium_export.building_style(props, "findings")["fillColor"] == colors.FINDING_COLORS[4]
    assert folium_export.building_style(props, "findings", "owner_changed",
                                        owner_changed)["fillColor"] == colors.FINDING_COLORS[3]
    assert folium_export.building_style(props, "findings", "new_member", {})["fillColor"] == colors.FINDING_COLORS[0]
    no_mismatch = {k: v for k, v in props.items() if k != buildings.P_MISMATCHES}
    assert folium_export.building_style(no_mismatch, "status")["color"] == "#ffffff"


@pytest.mark.parametrize("font", [True, None])
def test_png_export_draws_with_or_without_a_cjk_font(built, font):
    pytest.importorskip("matplotlib")
    session, b = built
    data = _map_data(session, b)
    png = png_export.map_png(data, theme=legend.THEME_STATUS, font=font)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert png_export._text("兰翔社区", "320411003007", None) == "320411003007"
    assert png_export._text("兰翔社区", "x", "Noto Sans CJK SC") == "兰翔社区"
