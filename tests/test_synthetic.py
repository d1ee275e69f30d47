"""Tests of geodata.synthetic: the raw files of the synthetic street, read back the way a user's files are."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from datetime import date
from decimal import Decimal
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyproj
import pytest
import shapely
from shapely.geometry import box, shape

from geodata import schema, synthetic

SMALL = "汇景社区"
AS_OF = synthetic.AS_OF
CN = {c: i for i, c in enumerate("零一二三四五六七八九")}


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("street")
    return out, synthetic.generate_street(out, only=["兰翔社区", SMALL])


def community(street: tuple[Path, dict], name: str) -> dict:
    return next(c for c in street[1]["communities"] if c["name"] == name)


def load_json(street: tuple[Path, dict], rel: str) -> dict:
    return json.loads((street[0] / rel).read_text(encoding="utf-8"))


def header_field(text: str, synonyms: dict[str, tuple[str, ...]]) -> str:
    return next(k for k, v in synonyms.items() if text in v)


def read_register(path: Path, header_row: int) -> tuple[list[dict], list[tuple[int, int]], int]:
    """Person rows (canonical fields; merged flat cells filled down), '合计' totals, merged-range count."""
    wb = openpyxl.load_workbook(path)
    rows, totals, merges = [], [], 0
    for ws in wb.worksheets:
        merges += len(ws.merged_cells.ranges)
        assert schema.SYNTHETIC_LABEL in ws.cell(1, 1).value
        header = [c.value for c in ws[header_row]]
        keys = [header_field(h, schema.REGISTER_HEADER_SYNONYMS) for h in header]
        last: dict = {}
        for values in ws.iter_rows(min_row=header_row + 1, values_only=True):
            if all(v is None for v in values):
                continue
            if values[0] == "合计":
                totals.append((int(values[1].rstrip("户")), int(values[2].rstrip("人"))))
                continue
            row = dict(zip(keys, values))
            for k in (schema.BUILDING, schema.UNIT, schema.ROOM, schema.HEAD_NAME):
                if k in row:
                    row[k] = last[k] if row[k] is None else row[k]
            last = row
            rows.append(row)
    return rows, totals, merges


def id_text(value: object) -> str:
    if isinstance(value, float):                  # Excel keeps 15 significant digits; read them, not the binary
        return str(int(Decimal(f"{value:.15g}")))
    if isinstance(value, int):
        return str(value)
    return unicodedata.normalize("NFKC", str(value)).replace(" ", "").lstrip("'").upper()


def birth_from_id(value: object) -> date:
    s = id_text(value)
    ymd = s[6:14] if len(s) == 18 else "19" + s[6:12]
    return date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:8]))


def age(birth: date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


@pytest.fixture(scope="module")
def lanxiang_register(street: tuple[Path, dict]) -> tuple[list[dict], list[tuple[int, int]], int]:
    c = community(street, "兰翔社区")
    return read_register(street[0] / c["register"]["path"], c["register"]["header_row"])


def households_of(rows: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault((r[schema.BUILDING], r[schema.UNIT], str(r[schema.ROOM])), []).append(r)
    return out


# --- Manifest and files ---------------------------------------------------------------------------
def test_manifest_shape_and_files_exist(street: tuple[Path, dict]) -> None:
    out, manifest = street
    assert manifest == json.loads((out / "street.json").read_text(encoding="utf-8"))
    assert manifest["synthetic"] is True and manifest["street"] == "河海街道" and manifest["as_of"] == "2020-03-25"
    assert [c["name"] for c in manifest["communities"]] == ["兰翔社区", SMALL]
    for c in manifest["communities"]:
        assert c["code"].startswith(manifest["street_code"]) and len(c["code"]) == 12
        for key in ("grids", "buildings", "register", "checkpoint", "boundary", "paths"):
            if c[key] is not None:
                assert (out / c[key]["path"]).is_file(), c[key]["path"]
        for key in ("history", "truth"):
            assert (out / c[key]).is_file()
    lx = community(street, "兰翔社区")
    assert lx["households"] == 2567 and lx["compound"] == "兰翔新村"
    assert lx["grids"] == {"path": "lanxiang/grids.geojson", "format": "geojson", "crs": None, "encoding": None,
                           "code_field": "网格编码", "name_field": "网格名称"}
    assert lx["buildings"]["crs"] is None and lx["buildings"]["encoding"] == "gbk"
    assert lx["buildings"]["number_field"] == "NAME"
    assert community(street, SMALL)["grids"]["crs"] == schema.GCJ02


def test_unknown_community_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only"):
        synthetic.generate_street(tmp_path, only=["不存在社区"])


def test_same_seed_same_bytes(street: tuple[Path, dict], tmp_path: Path) -> None:
    synthetic.generate_street(tmp_path, only=["兰翔社区", SMALL])
    first = sorted(p.relative_to(street[0]) for p in street[0].rglob("*") if p.is_file())
    second = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        a, b = (street[0] / rel).read_bytes(), (tmp_path / rel).read_bytes()
        assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest(), rel


# --- Register (家庭户情况平铺表) ------------------------------------------------------------------
def test_lanxiang_has_exactly_2567_households(street: tuple[Path, dict], lanxiang_register) -> None:
    plan = next(p for p in synthetic.plan_street() if p.name == "兰翔社区")
    model = synthetic.build_community(plan)
    assert model.households == 2567
    rows, totals, _ = lanxiang_register
    assert len(households_of(rows)) == 2567
    assert sum(t[0] for t in totals) == 2567 and sum(t[1] for t in totals) == len(rows) == model.persons


def test_lanxiang_register_layout(street: tuple[Path, dict], lanxiang_register) -> None:
    wb = openpyxl.load_workbook(street[0] / "lanxiang/register.xlsx", read_only=True)
    assert wb.sheetnames == [f"第{n}网格" for n in "一二三四五六七八"]
    ws = wb["第三网格"]
    top = list(ws.iter_rows(min_row=1, max_row=3, values_only=True))
    assert top[0][0] == "兰翔新村家庭户情况平铺表（第三网格）（演示数据）"
    assert top[1][0] == "制表单位：兰翔社区  更新日期：2019-12-31"
    assert list(top[2]) == ["序号", "楼栋", "单元", "室号", "户主姓名", "姓名", "与户主关系", "身份证号码", "性别",
                            "出生年月", "联系电话", "政治面貌", "户籍类型", "居住状态", "房东姓名", "备注"]
    rows, _, merges = lanxiang_register
    assert merges > 500
    assert {r[schema.UNIT] for r in rows} == set("甲乙丙丁")
    full = openpyxl.load_workbook(street[0] / "lanxiang/register.xlsx")["第一网格"]
    cols = {rng.min_col for rng in full.merged_cells.ranges if rng.max_row > rng.min_row}
    assert cols == {2, 3, 4, 5}                    # 楼栋, 单元, 室号, 户主姓名 merged down a household


def test_lanxiang_register_noise(street: tuple[Path, dict], lanxiang_register) -> None:
    rows, _, _ = lanxiang_register
    truth = load_json(street, "lanxiang/truth.json")
    ids = [r[schema.ID_NUMBER] for r in rows]
    numeric18 = [v for v in ids if isinstance(v, (int, float)) and v >= 1e17]
    corrupted = [f for f in truth["person_findings"] if f["category"] == schema.F_ID_CORRUPTED]
    assert len(numeric18) == len(corrupted)
    assert .015 < len(numeric18) / len(rows) < .045
    assert all(isinstance(v, float) and float(f"{v:.15g}") == v for v in numeric18)    # 15 digits kept
    for f in corrupted:
        assert f["id"][:14] == id_text(float(f["register_value"]))[:14]
    texts = [v for v in ids if isinstance(v, str)]
    assert any(v.endswith("x") for v in texts)
    assert any("３" in v for v in texts)
    assert any(len(id_text(v)) == 15 for v in ids)
    invalid = [f for f in truth["person_findings"] if f["category"] == schema.F_ID_INVALID]
    assert .01 < len(invalid) / len(rows) < .03
    for f in invalid:
        assert f["register_value"][-1] != synthetic._id_check_char(f["register_value"][:17])
        assert f["id"][-1] == synthetic._id_check_char(f["id"][:17])
    missing = sum(1 for r in rows if r[schema.PHONE] is None)
    assert .03 < missing / len(rows) < .07
    assert missing == sum(1 for f in truth["person_findings"] if f["category"] == schema.F_MISSING_PHONE)
    phones = [str(r[schema.PHONE]) for r in rows if r[schema.PHONE] is not None]
    assert any("/" in p for p in phones) and any(p.startswith("0519-8") for p in phones)
    births = [r[schema.BIRTH_DATE] for r in rows]
    kinds = {type(b).__name__ for b in births}
    assert {"datetime", "str", "int", "float"} <= kinds
    assert any(isinstance(b, str) and re.fullmatch(r"\d{4}\.\d{2}", b) for b in births)
    assert any(isinstance(b, str) and re.fullmatch(r"\d{4}年\d{1,2}月", b) for b in births)


def test_lanxiang_recipe_from_files(street: tuple[Path, dict], lanxiang_register) -> None:
    rows, _, _ = lanxiang_register
    hhs = households_of(rows)
    n_p, n_h = len(rows), len(hhs)
    ages = {id(r): age(birth_from_id(r[schema.ID_NUMBER])) for r in rows}
    old = sum(1 for a in ages.values() if a >= 60)
    assert 2.4 <= n_p / n_h <= 2.6
    assert .32 <= old / n_p <= .38
    assert .50 <= sum(1 for h in hhs.values() if any(ages[id(r)] >= 60 for r in h)) / n_h <= .60
    alone = sum(1 for h in hhs.values() if len(h) == 1 and ages[id(h[0])] >= 60)
    assert .10 <= alone / old <= .14
    party = {"中共党员", "中共预备党员"}
    assert .10 <= sum(1 for r in rows if r[schema.POLITICAL_STATUS] in party) / n_p <= .12
    assert .20 <= sum(1 for h in hhs.values() if any(r[schema.POLITICAL_STATUS] in party for r in h)) / n_h <= .25
    assert .15 <= sum(1 for h in hhs.values() if h[0][schema.RESIDENCE_STATUS] == "出租") / n_h <= .25
    buildings = gpd.read_file(street[0] / "lanxiang/buildings.shp", encoding="gbk")
    flats = int((buildings["层数"] * buildings["单元数"] * buildings["每层户数"]).sum())
    assert .05 <= (flats - n_h) / flats <= .10
    assert len(buildings) == 64 and set(buildings["层数"]) <= {5, 6} and set(buildings["单元数"]) <= {2, 3, 4}
    relations = {r[schema.RELATION] for r in rows}
    assert {"户主", "配偶", "子", "女", "父亲", "母亲"} <= relations
    for h in hhs.values():                           # relations consistent with ages
        head = ages[id(h[0])]
        for r in h:
            if r[schema.RELATION] in ("父亲", "母亲"):
                assert ages[id(r)] >= head + 15
            if r[schema.RELATION] in ("子", "女"):
                assert ages[id(r)] <= head - 15


def test_small_community_register_and_checkpoint(street: tuple[Path, dict]) -> None:
    c = community(street, SMALL)
    rows, totals, merges = read_register(street[0] / c["register"]["path"], c["register"]["header_row"])
    assert len(households_of(rows)) == c["households"] == sum(t[0] for t in totals)
    assert merges > 0 and all(isinstance(r[schema.UNIT], int) for r in rows)
    wb = openpyxl.load_workbook(street[0] / c["checkpoint"]["path"], read_only=True)
    ws = wb.worksheets[0]
    first = list(ws.iter_rows(min_row=1, max_row=3, values_only=True))
    assert schema.SYNTHETIC_LABEL in first[0][0]
    assert [header_field(h, schema.CHECKPOINT_HEADER_SYNONYMS) for h in first[1]] == [
        schema.SEQ, schema.NAME, schema.ID_NUMBER, schema.PHONE, schema.ADDRESS, schema.CP_ROLE, schema.PLATE,
        schema.PASS_NO, schema.REG_DATE]
    assert isinstance(first[2][8], date) and first[2][7].startswith("HJ")


# --- Checkpoint (人员排查和交通管控信息表) ---------------------------------------------------------
def parse_flat(text: str, compound: str) -> tuple[int, int, str] | None:
    """A test-local address parser for the variants the generator writes."""
    s = unicodedata.normalize("NFKC", text).removeprefix(compound)

    def num(t: str) -> int:
        if t.isdigit():
            return int(t)
        if t in "甲乙丙丁":
            return "甲乙丙丁".index(t) + 1
        if "十" in t:
            a, _, b = t.partition("十")
            return (CN[a] if a else 1) * 10 + (CN[b] if b else 0)
        return CN[t]
    m = (re.fullmatch(r"([\d一二三四五六七八九十]+)[幢栋号]楼?([\d甲乙丙丁一二三四])单元(\d+)室?", s)
         or re.fullmatch(r"(\d+)-(\d+)-(\d+)", s))
    return (num(m[1]), num(m[2]), m[3]) if m else None


def test_lanxiang_checkpoint_csv(street: tuple[Path, dict], lanxiang_register) -> None:
    raw = (street[0] / "lanxiang/checkpoint.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    table = list(csv.reader(io.StringIO(raw.decode("gbk"))))
    assert table[0] == ["序号", "姓名", "身份证号", "联系电话", "住址", "身份", "车牌号", "出入证号", "登记日期"]
    body = table[1:]
    assert {r[5] for r in body} == {"业主", "租户", "家属"}
    assert min(r[8] for r in body) >= "2020-02-05" and max(r[8] for r in body) <= "2020-03-01"
    parsed = [parse_flat(r[4], "兰翔新村") for r in body]
    outside = [r for r, p in zip(body, parsed) if p is None]
    truth = load_json(street, "lanxiang/truth.json")
    assert len(outside) == len(truth["checkpoint_outside"]) >= 2
    variants = sum(1 for r in body if re.search(r"-|－|[一二三四五六七八九十]幢|栋", r[4]))
    assert .05 < variants / len(body) < .2
    registered = households_of(lanxiang_register[0])
    seen = {p for p in parsed if p}
    flats = {(b, "甲乙丙丁".index(u) + 1, str(room)) for b, u, room in registered}
    assert .70 <= len(flats & seen) / len(flats) <= .85


# --- Truth -----------------------------------------------------------------------------------------
def test_truth_story_and_rates(street: tuple[Path, dict]) -> None:
    truth = load_json(street, "lanxiang/truth.json")
    story = [f for f in truth["flat_findings"] if f.get("story")]
    assert len(story) == 1
    s = story[0]
    assert (s["unit"], s["room"], s["category"], s["previous_owner"]) == (4, "202", schema.F_OWNER_CHANGED, "张民生")
    assert s["new_owner"].startswith("张") and s["grid"].endswith("02")
    buildings = gpd.read_file(street[0] / "lanxiang/buildings.shp", encoding="gbk")
    b = buildings[buildings["NAME"] == f"兰翔新村{s['building']}幢"].iloc[0]
    assert b["层数"] == 6 and b["单元数"] == 4             # 601 exists above 501
    st = truth["stats"]
    assert st["households"] == 2567
    assert .12 <= st["absent_registered_share"] <= .18
    assert .08 <= st["present_unregistered_share"] <= .12
    assert .30 <= st["tenant_changed_share_of_rented"] <= .40
    assert .02 <= st["owner_changed_share"] <= .04
    assert set(st["absent_registered_causes"]) == {synthetic.CAUSE_MOVED_AWAY, synthetic.CAUSE_DID_NOT_REGISTER}
    cats = {f["category"] for f in truth["flat_findings"]}
    assert cats == set(schema.FLAT_FINDINGS)
    pcats = {f["category"] for f in truth["person_findings"]}
    assert {schema.F_NEW_MEMBER, schema.F_ID_AT_TWO_FLATS, schema.F_ID_CORRUPTED, schema.F_ID_INVALID,
            schema.F_BIRTH_MISMATCH, schema.F_MISSING_PHONE} <= pcats


def test_checkpoint_links_are_the_true_pairs() -> None:
    model = synthetic.build_community(next(p for p in synthetic.plan_street() if p.name == SMALL))
    links = model.checkpoint_links()
    assert len(links) == len(model.checkpoint_rows)
    truth = model.truth
    outside = {o["seq"] for o in truth["checkpoint_outside"]}
    new_ids = {f["id"] for f in truth["person_findings"] if f["category"] == schema.F_NEW_MEMBER}
    at_two = {f["id"] for f in truth["person_findings"] if f["category"] == schema.F_ID_AT_TWO_FLATS}
    assert at_two and new_ids and outside
    register_ids = [id_text(r[schema.ID_NUMBER]) for r in model.register_rows]
    for row, link in zip(model.checkpoint_rows, links):
        true_id = row["_person"].id18
        if link is None:
            # from outside, a new member, or at a flat that was empty or changed hands
            assert row[schema.SEQ] in outside or true_id in new_ids or row["_flat"].reg is None \
                or row["_flat"].change not in (synthetic._SAME, synthetic._NEW_MEMBER, synthetic.CAUSE_DID_NOT_REGISTER)
        else:
            assert model.register_rows[link]["_person"] is row["_person"]
            assert register_ids[link] in (true_id, synthetic._id15(true_id)) or register_ids[link][:14] == true_id[:14]
            assert row[schema.SEQ] not in outside and true_id not in new_ids
    linked_ids = {model.register_rows[k]["_person"].id18 for k in links if k is not None}
    assert at_two <= linked_ids
    # Same seed, same data: asking for the links changes nothing.
    again = synthetic.build_community(model.plan)
    assert again.truth == truth and again.checkpoint_links() == links


# --- Geometry ---------------------------------------------------------------------------------------
def test_lanxiang_shapefile_is_gbk_4549_without_cpg(street: tuple[Path, dict]) -> None:
    shp = street[0] / "lanxiang/buildings.shp"
    assert not shp.with_suffix(".cpg").exists()
    assert pyproj.CRS.from_wkt(shp.with_suffix(".prj").read_text()).to_epsg() == 4549
    dbf = shp.with_suffix(".dbf").read_bytes()
    assert "兰翔新村12幢".encode("gbk") in dbf and "兰翔新村".encode("utf-8") not in dbf
    gdf = gpd.read_file(shp, encoding="gbk")
    assert gdf.crs.to_epsg() == 4549 and "兰翔新村12幢" in set(gdf["NAME"])
    x0, y0, x1, y1 = gdf.total_bounds
    assert 490_000 < x0 < x1 < 500_000 and 3_515_000 < y0 < y1 < 3_525_000          # metres, near CM 120E
    sizes = gdf.geometry.minimum_rotated_rectangle()
    assert ((gdf.area > 300) & (gdf.area < 1000)).all() and sizes.is_valid.all()


def test_geometry_in_bbox_and_grids_partition(street: tuple[Path, dict]) -> None:
    bbox = box(*synthetic.BBOX)
    lx = community(street, "兰翔社区")
    boundary = shape(load_json(street, lx["boundary"]["path"])["features"][0]["geometry"])
    grids = load_json(street, lx["grids"]["path"])["features"]
    assert bbox.contains(boundary)
    assert [g["properties"]["网格名称"] for g in grids] == [f"第{n}网格" for n in "一二三四五六七八"]
    assert [g["properties"]["网格编码"] for g in grids] == [f"{lx['code']}{i:02d}" for i in range(1, 9)]
    polys = [shape(g["geometry"]) for g in grids]
    assert abs(shapely.union_all(polys).area - boundary.area) < 1e-9
    assert sum(p.area for p in polys) == pytest.approx(boundary.area, rel=1e-6)
    centroids = [p.centroid for p in polys]             # left->right, top->bottom
    assert centroids[0].x < centroids[1].x and centroids[0].y > centroids[4].y
    buildings = gpd.read_file(street[0] / lx["buildings"]["path"], encoding="gbk").to_crs(schema.STORE_CRS)
    for geom in buildings.geometry:
        assert sum(1 for p in polys if p.buffer(1e-7).contains(geom)) == 1


def test_gcj02_file_is_offset(street: tuple[Path, dict]) -> None:
    c = community(street, SMALL)
    boundary = shape(load_json(street, c["boundary"]["path"])["features"][0]["geometry"])
    grids = shapely.union_all([shape(f["geometry"]) for f in load_json(street, c["grids"]["path"])["features"]])
    dx = (grids.centroid.x - boundary.centroid.x) * 94_600          # metres per degree of longitude at 31.8N
    dy = (grids.centroid.y - boundary.centroid.y) * 111_000
    assert 300 < (dx * dx + dy * dy) ** .5 < 700
    gpkg = gpd.read_file(street[0] / community(street, SMALL)["buildings"]["path"])
    assert gpkg.crs.to_epsg() == 4490 and boundary.buffer(1e-6).contains(shapely.union_all(gpkg.geometry))


def test_full_street_plan() -> None:
    plans = synthetic.plan_street()
    assert len(plans) >= 11
    assert 30_000 <= sum(p.households for p in plans) <= 45_000
    assert all(800 <= p.households <= 5000 for p in plans)
    assert len({p.layout for p in plans}) >= 3 and len({p.code for p in plans}) == len(plans)
    assert max(p.noise for p in plans) >= 2 * min(p.noise for p in plans)
    assert min(p.progress for p in plans) < .2 and max(p.progress for p in plans) > .8
    assert {p.grids_format for p in plans} | {p.buildings_format for p in plans} >= {
        "geojson", "geojson_gcj02", "gpkg", "shp_gbk"}
    to_ll = pyproj.Transformer.from_crs(schema.CGCS2000_GK_120E, schema.STORE_CRS, always_xy=True)
    bbox = box(*synthetic.BBOX)
    bounds = []
    for p in plans:
        g = synthetic.community_geometry(p)
        assert sum(b.flats for b in g.buildings) > p.households
        assert all(g.boundary.contains(b.footprint) for b in g.buildings)
        bounds.append(g.boundary)
        assert bbox.contains(shapely.transform(g.boundary, lambda xy: np.column_stack(to_ll.transform(*xy.T))))
    for i, a in enumerate(bounds):
        for b in bounds[i + 1:]:
            assert not a.intersects(b)


# --- History ----------------------------------------------------------------------------------------
def test_history(street: tuple[Path, dict]) -> None:
    h = load_json(street, "lanxiang/history.json")
    assert h["synthetic"] and h["from"] == "2019-12-01" and h["as_of"] == "2020-03-25"
    months: dict[str, int] = {}
    for e in h["events"]:
        state = schema.E_REPORTED
        for t in e["transitions"]:
            assert t["to"] in schema.EVENT_TRANSITIONS[state], (e["id"], state, t["to"])
            state = t["to"]
            assert t["at"] >= e["reported_at"] and t["at"][:10] <= "2020-03-25"
        assert e["state"] == state and e["category"] in schema.EVENT_CATEGORY_LABELS
        months[e["reported_at"][:7]] = months.get(e["reported_at"][:7], 0) + 1
    assert all(15 <= months[m] <= 31 for m in ("2019-12", "2020-01", "2020-02"))
    assert sum(1 for e in h["events"] if e["category"] == schema.EC_REPAIR) / len(h["events"]) > .2
    leak = [e for e in h["events"] if e.get("story")]
    assert len(leak) == 1 and leak[0]["room"] == "501" and leak[0]["unit"] == 4
    assert {f["room"] for f in leak[0]["related_flats"]} == {"601", "202"}
    assert "张民生" in " ".join(t["comment"] for t in leak[0]["transitions"])
    assert {v["method"] for v in h["visits"]} <= set(schema.METHOD_LABELS)
    assert {v["result"] for v in h["visits"]} <= set(schema.RESULT_LABELS)
    per_grid: dict[str, int] = {}
    for v in h["visits"]:
        per_grid[v["grid"]] = per_grid.get(v["grid"], 0) + 1
        assert "2020-03-02" <= v["date"] <= "2020-03-25"
    assert len(per_grid) == 8 and max(per_grid.values()) > 1.5 * min(per_grid.values())
    care = h["care_contacts"]
    assert care and {c["outcome"] for c in care} <= set(schema.CARE_OUTCOME_LABELS)
    assert all(c["method"] == schema.M_WINDOW for c in care if int(c["room"]) < 200)
    assert all(c["method"] != schema.M_WINDOW for c in care if int(c["room"]) >= 200)
