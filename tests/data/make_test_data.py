"""(Re)create the committed messy test files in this folder, byte for byte the same on every run.

    python tests/data/make_test_data.py

Files (all synthetic; names and IDs are invented, IDs are built with valid check characters unless a
file is meant to carry a broken one):
  register_multisheet.xlsx   two grid sheets: title and note rows above the header, merged address and
                             head-of-household cells, an ID stored as a number, a bad check character,
                             a lowercase x, a 15-digit ID, total and blank rows
  register_other_headers.csv GBK, synonym headers, a title row, Excel-mangled IDs, phone variants
  checkpoint_gbk.csv         GBK without BOM: address variants, one address outside the compound
  buildings_4549_gbk/        shapefile in EPSG:4549 with GBK attributes, no .cpg, no language-driver byte
  grids_gcj02.geojson        grids digitised on a GCJ-02 map (no crs member), one bow-tie polygon
  truncated.xlsx             the first part of a valid workbook (a cut-off download)
  register_legacy.xls        an old-format (BIFF8) sheet: title row, merged address/head cells, an ID
                             stored as a number, date cells, a total row

Deterministic: zip timestamps and document properties are fixed; the .dbf update date is fixed.
"""
from __future__ import annotations

import datetime
import io
import json
import re
import struct
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from loaders.ids import check_char, make_id  # noqa: E402

FIXED_TIME = datetime.datetime(2020, 3, 1, 9, 0, 0)
COMPOUND = "兰翔新村"


def _id_with_check(area: str, birth: datetime.date, *, male: bool, want_x: bool = False) -> str:
    """The first sequence number giving the wanted sex (and check character X if asked)."""
    for seq in range(1, 1000):
        if (seq % 2 == 1) != male:
            continue
        value = make_id(area, birth, seq)
        if not want_x or value.endswith("X"):
            return value
    raise AssertionError("no sequence fits")


def _bad_check(value: str) -> str:
    """The same ID with a wrong check character (never '0' so it cannot look Excel-mangled)."""
    good = value[17]
    return value[:17] + next(c for c in "123456789X" if c != good)


# IDs shared by the files and the tests (the tests recompute and compare).
ID_ZHANG_JIANGUO = _id_with_check("320411", datetime.date(1952, 3, 12), male=True)
ID_WANG_XIUYING = _id_with_check("320411", datetime.date(1954, 6, 1), male=False)
ID_ZHANG_WEI_X = _id_with_check("320411", datetime.date(1980, 5, 20), male=True, want_x=True)
ID15_LI_MING = "320405500101123"          # obsolete area code 戚墅堰区, born 1950-01-01, male
ID_ZHAO_LI_BAD = _bad_check(_id_with_check("320411", datetime.date(1956, 7, 15), male=False))


def _normalise_zip(path: Path) -> None:
    """Rewrite a zip (xlsx) with fixed timestamps, in a fixed order, so reruns are byte-identical."""
    with zipfile.ZipFile(path) as zf:
        entries = [(info.filename, zf.read(info.filename)) for info in zf.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            if name == "docProps/core.xml":
                stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    path.write_bytes(buf.getvalue())


def make_register_xlsx(path: Path) -> None:
    import openpyxl
    from openpyxl.styles import PatternFill

    wb = openpyxl.Workbook()
    wb.properties.creator = "grid-map tests"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME

    # --- sheet 1: one address column; address and head merged over each household --------------
    ws = wb.active
    ws.title = "第一网格"
    ws.append(["兰翔社区家庭户情况平铺表（第一网格）"])
    ws.merge_cells("A1:M1")
    ws.append(["填表说明：带*为必填项，身份证号码请以文本格式录入"])
    ws.merge_cells("A2:M2")
    ws.append(["序号", "地址", "户主姓名", "姓名", "与户主关系", "*身份证号码", "性别", "出生年月", "联系电话",
               "政治面貌", "户籍类型", "居住状态", "备注"])
    addr1 = f"{COMPOUND}12幢丁单元202室"
    ws.append([1, addr1, "张建国", "张建国", "户主", ID_ZHANG_JIANGUO, "男", "1952.03",
               "13812345678/0519-88123456", "中共党员", "本地户籍", "自住", None])
    # Stored as a number, exactly as Excel does when the column was not formatted as text.
    ws.append([2, None, None, "王秀英", "配偶", float(int(ID_WANG_XIUYING)), "女", datetime.datetime(1954, 6, 1),
               13912345678, "群众", "本地户籍", None, None])
    ws.append([3, None, None, "张伟", "子", ID_ZHANG_WEI_X.lower(), "男", "1980年5月", "139 1234 5679",
               "共青团员", "本地户籍", None, "身份证尾号小写x"])
    ws.merge_cells("B4:B6")
    ws.merge_cells("C4:C6")
    ws.merge_cells("L4:L6")
    ws.append([4, "12-4-302", "李明", "李明", "户主", ID15_LI_MING, "男", "1950-01-01", "0519-88765432",
               "群众", "本地户籍", "出租", "老身份证15位"])
    ws.append([5, None, None, "赵丽", "配偶", ID_ZHAO_LI_BAD, "女", "1956.07", 88123456, "群众", "本地户籍", None,
               "校验位错误"])
    ws.merge_cells("B7:B8")
    ws.merge_cells("C7:C8")
    ws.merge_cells("L7:L8")
    ws.append([])
    ws.append(["合计", None, None, "5人"])
    ws.merge_cells("A10:C10")
    # A formatted but empty cell far away: the reader must trim it.
    ws["T15"].fill = PatternFill("solid", fgColor="FFFF00")

    # --- sheet 2: building/unit/room columns merged, header with a newline and spaces -------------
    ws = wb.create_sheet("第二网格")
    ws.append(["第二网格 家庭户情况平铺表"])
    ws.merge_cells("A1:J1")
    ws.append(["序号", "楼栋", "单元", "室号", "户主", "姓名", "关系", "身份证\n号码", "出生日期", "联系 电话"])
    ws.append([1, "7幢", "甲", "101", "陈国强", "陈国强", "户主",
               _id_with_check("320411", datetime.date(1948, 11, 2), male=True), "1948-11-02", "13700001111"])
    ws.append([2, None, None, None, None, "刘桂兰", "配偶",
               _id_with_check("320411", datetime.date(1950, 2, 14), male=False), "1950-02-14", None])
    ws.merge_cells("B3:B4")
    ws.merge_cells("C3:C4")
    ws.merge_cells("D3:D4")
    ws.merge_cells("E3:E4")
    ws.append([])
    ws.append([3, "七幢", "乙单元", "502室", "周敏", "周敏", "户主",
               _id_with_check("320402", datetime.date(1975, 9, 9), male=False), "19750909", "+86 158 0000 2222"])
    ws.append(["小计", None, None, None, None, "3人"])
    ws.append([])

    wb.save(path)
    _normalise_zip(path)


def _write_gbk_csv(path: Path, rows: list[list[str]]) -> None:
    import csv

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode("gbk"))


def make_register_csv(path: Path) -> None:
    header = ["序号", "楼号", "单元", "门牌号", "户主", "姓名", "家庭关系", "公民身份号码", "性别", "出生日期",
              "手机号码", "政治面貌", "户籍性质", "居住情况", "房东姓名", "工作单位", "备注"]
    id_ok = _id_with_check("320411", datetime.date(1960, 10, 1), male=True)
    mangled_000 = _id_with_check("320411", datetime.date(1962, 4, 8), male=False)[:15] + "000"
    assert check_char(mangled_000[:17]) != mangled_000[17]
    rows = [
        ["兰翔社区第三网格花名册"] + [""] * (len(header) - 1),
        header,
        ["1", "7号楼", "丁", "502室", "孙立", "孙立", "户主", id_ok, "男", "19601001", "+86 139 1234 5678",
         "党员", "本地", "自住", "", "常州某厂", ""],
        ["2", "7号楼", "丁", "502室", "孙立", "吴芳", "妻子", mangled_000, "女", "1962.04", "",
         "群众", "本地", "", "", "", "CSV从Excel导出"],
        ["3", "7号楼", "丁", "502室", "孙立", "孙小军", "儿子", "3.20411E+17", "男", "1988年12月",
         "13800001111、13800002222", "群众", "本地", "", "", "", ""],
        ["4", "8", "1", "301", "钱进", "钱进", "户主", "'" + _id_with_check("320411", datetime.date(1990, 1, 31),
                                                                     male=True),
         "男", "1990/1/31", "0519 86543210", "群众", "外地", "出租", "赵大海", "", "租户"],
        ["", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],
        ["合计", "", "", "", "", "4人", "", "", "", "", "", "", "", "", "", "", ""],
    ]
    _write_gbk_csv(path, rows)


#: (address as written, expected (compound, building, unit, room)) - the tests use the same list.
CHECKPOINT_ADDRESSES = [
    (f"{COMPOUND}12幢丁单元202室", (COMPOUND, "12", 4, "202")),
    ("12-4-202", (None, "12", 4, "202")),
    ("12栋4单元202", (None, "12", 4, "202")),
    ("十二幢四单元202室", (None, "12", 4, "202")),
    ("１２－４－２０２", (None, "12", 4, "202")),
    (f"常州市新北区河海街道{COMPOUND}12幢丁单元202室", (COMPOUND, "12", 4, "202")),
    ("12号楼2单元502", (None, "12", 2, "502")),
    (f"{COMPOUND}12-4-202室", (COMPOUND, "12", 4, "202")),
    ("青枫新村7幢1单元101室", ("青枫新村", "7", 1, "101")),
]


def make_checkpoint_csv(path: Path) -> None:
    header = ["序号", "姓名", "身份证号码", "联系电话", "住址", "身份", "车牌号", "登记日期"]
    names = ["张建国", "王秀英", "张伟", "李娜", "王强", "刘洋", "陈静", "杨帆", "黄磊"]
    rows = [header]
    for i, ((address, _), name) in enumerate(zip(CHECKPOINT_ADDRESSES, names), start=1):
        pid = _id_with_check("320411", datetime.date(1950 + 4 * i, i, 10 + i), male=i % 2 == 1)
        rows.append([str(i), name, pid, f"1381234{5670 + i}", address, ["业主", "租户", "家属"][i % 3],
                     f"苏D{10000 + i * 137}", f"2020-02-{i + 9:02d}"])
    _write_gbk_csv(path, rows)


#: EPSG:4549 vertices of the buildings (metres, easting/northing) - the tests check them in WGS84.
BUILDINGS_4549 = [
    ("兰翔新村7幢", 6, 4, (500000.0, 3520000.0)),
    ("兰翔新村8幢", 6, 3, (500040.0, 3520000.0)),
    ("兰翔新村12幢", 5, 4, (499900.0, 3520120.0)),
]
BUILDING_SIZE_M = (30.0, 12.0)


def make_buildings_shapefile(folder: Path) -> None:
    import geopandas
    import pyogrio
    from shapely.geometry import box

    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    w, h = BUILDING_SIZE_M
    gdf = geopandas.GeoDataFrame(
        {"名称": [b[0] for b in BUILDINGS_4549], "层数": [b[1] for b in BUILDINGS_4549],
         "单元数": [b[2] for b in BUILDINGS_4549]},
        geometry=[box(x, y, x + w, y + h) for _, _, _, (x, y) in BUILDINGS_4549], crs="EPSG:4549")
    shp = folder / "buildings.shp"
    pyogrio.write_dataframe(gdf, shp, encoding="GBK")
    # Like many Chinese desktop GIS exports: no .cpg and no language-driver id in the .dbf header.
    (folder / "buildings.cpg").unlink(missing_ok=True)
    dbf = folder / "buildings.dbf"
    data = bytearray(dbf.read_bytes())
    data[1:4] = bytes([FIXED_TIME.year - 1900, FIXED_TIME.month, FIXED_TIME.day])
    data[29] = 0
    dbf.write_bytes(bytes(data))


def make_grids_geojson(path: Path) -> None:
    # Rectangles in GCJ-02 degrees (as digitised on a Gaode map); the third is a bow-tie.
    def ring(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]

    x0, y0 = 119.9740, 31.8080
    features = [
        {"type": "Feature", "properties": {"grid_code": "320411001001001", "name": "第一网格"},
         "geometry": {"type": "Polygon", "coordinates": [ring(x0, y0, x0 + 0.004, y0 + 0.003)]}},
        {"type": "Feature", "properties": {"grid_code": "320411001001002", "name": "第二网格"},
         "geometry": {"type": "Polygon", "coordinates": [ring(x0 + 0.004, y0, x0 + 0.008, y0 + 0.003)]}},
        {"type": "Feature", "properties": {"grid_code": "320411001001003", "name": "第三网格（自相交）"},
         "geometry": {"type": "Polygon", "coordinates": [[
             [x0, y0 + 0.003], [x0 + 0.004, y0 + 0.006], [x0 + 0.004, y0 + 0.003], [x0, y0 + 0.006],
             [x0, y0 + 0.003]]]}},
    ]
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# --- a real .xls without xlwt ---------------------------------------------------------------------
# xlwt (the only writer of .xls for Python) is unmaintained and not installed; the few BIFF8 records
# xlrd needs and a one-stream OLE2 container are written here by hand (see [MS-XLS], [MS-CFB]).

def _rec(op: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", op, len(data)) + data


def _xl_string(s: str, len_bytes: int = 1) -> bytes:
    try:
        body, flag = s.encode("latin-1"), 0
    except UnicodeEncodeError:
        body, flag = s.encode("utf-16-le"), 1
    return struct.pack("<B" if len_bytes == 1 else "<H", len(s)) + bytes([flag]) + body


def _biff8_workbook(sheets: list[tuple[str, dict[tuple[int, int], object], list[tuple[int, int, int, int]]]]) -> bytes:
    """A BIFF8 workbook stream: sheets of (name, {(row, col): value}, merges (r0, r1, c0, c1) inclusive)."""
    def bof(kind: int) -> bytes:
        return _rec(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 1996, 0, 0x06))

    def xf(fmt: int, style: bool) -> bytes:
        return _rec(0x00E0, struct.pack("<HHHBBBBIIH", 0, fmt, 0xFFF5 if style else 0x0001, 0x20, 0, 0, 0, 0, 0,
                                        0x20C0))

    font = _rec(0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + _xl_string("Arial"))
    # CODEPAGE 1200 (UTF-16), DATEMODE 1900, 5 fonts, 16 style XFs, XF 16 general, XF 17 date (format 14).
    head = (bof(0x0005) + _rec(0x0042, struct.pack("<H", 1200)) + _rec(0x0022, struct.pack("<H", 0))
            + font * 5 + b"".join(xf(0, True) for _ in range(16)) + xf(0, False) + xf(14, False))
    bodies = []
    for name, cells, merges in sheets:
        nrows = max(r for r, _ in cells) + 1
        ncols = max(c for _, c in cells) + 1
        body = bof(0x0010) + _rec(0x0200, struct.pack("<IIHHH", 0, nrows, 0, ncols, 0))
        for (r, c), v in sorted(cells.items()):
            if isinstance(v, str):
                body += _rec(0x0204, struct.pack("<HHH", r, c, 16) + _xl_string(v, 2))
            elif isinstance(v, datetime.date):
                serial = float((v - datetime.date(1899, 12, 30)).days)
                body += _rec(0x0203, struct.pack("<HHHd", r, c, 17, serial))
            else:
                body += _rec(0x0203, struct.pack("<HHHd", r, c, 16, float(v)))
        if merges:
            body += _rec(0x00E5, struct.pack("<H", len(merges))
                         + b"".join(struct.pack("<HHHH", *m) for m in merges))
        bodies.append((name, body + _rec(0x000A)))
    sheet_recs = [_rec(0x0085, struct.pack("<IBB", 0, 0, 0) + _xl_string(n)) for n, _ in bodies]
    offset = len(head) + sum(len(b) for b in sheet_recs) + len(_rec(0x000A))
    boundsheets = b""
    for name, body in bodies:
        boundsheets += _rec(0x0085, struct.pack("<IBB", offset, 0, 0) + _xl_string(name))
        offset += len(body)
    return head + boundsheets + _rec(0x000A) + b"".join(b for _, b in bodies)


def _ole2(stream: bytes) -> bytes:
    """An OLE2 compound file (v3, 512-byte sectors) holding one stream named Workbook."""
    sect, end, free, fatsect, nostream = 512, 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    # At least 4096 bytes, so the stream lives in normal sectors, not the mini stream.
    stream = stream.ljust(max(4096, -(-len(stream) // sect) * sect), b"\x00")
    n = len(stream) // sect
    assert n + 2 <= 128, "one FAT sector only"
    fat = [fatsect, end] + list(range(3, n + 2)) + [end]
    fat += [free] * (128 - len(fat))
    header = (bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16) + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + bytes(6) + struct.pack("<9I", 0, 1, 1, 0, 4096, end, 0, end, 0)
              + struct.pack("<109I", 0, *([free] * 108)))

    def entry(name: str, kind: int, child: int, start: int, length: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\x00\x00" if name else b""
        return (raw.ljust(64, b"\x00") + struct.pack("<HBBIII", len(raw), kind, 1, nostream, nostream, child)
                + bytes(16) + bytes(4) + bytes(16) + struct.pack("<IQ", start, length))

    directory = (entry("Root Entry", 5, 1, end, 0) + entry("Workbook", 2, nostream, 2, len(stream))
                 + entry("", 0, nostream, 0, 0) * 2)
    return header + struct.pack("<128I", *fat) + directory + stream


def make_register_xls(path: Path) -> None:
    header = ["序号", "地址", "户主姓名", "姓名", "与户主关系", "身份证号码", "出生日期", "联系电话"]
    cells: dict[tuple[int, int], object] = {(0, 0): "兰翔社区家庭户情况平铺表（第四网格）"}
    cells.update({(1, c): h for c, h in enumerate(header)})
    people = [
        (1, f"{COMPOUND}3幢乙单元501室", "顾志华", "顾志华", "户主",
         _id_with_check("320411", datetime.date(1946, 8, 8), male=True), datetime.date(1946, 8, 8), 13611112222),
        (2, None, None, "沈美娟", "配偶", float(int(_id_with_check("320411", datetime.date(1949, 4, 4), male=False))),
         datetime.date(1949, 4, 4), None),
    ]
    for r, person in enumerate(people, start=2):
        cells.update({(r, c): v for c, v in enumerate(person) if v is not None})
    cells[(5, 0)] = "合计"
    cells[(5, 3)] = "2人"
    merges = [(0, 0, 0, 7), (2, 3, 1, 1), (2, 3, 2, 2)]
    path.write_bytes(_ole2(_biff8_workbook([("第四网格", cells, merges)])))


def make_truncated_xlsx(path: Path, source: Path) -> None:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 5])


def main() -> None:
    make_register_xlsx(HERE / "register_multisheet.xlsx")
    make_register_csv(HERE / "register_other_headers.csv")
    make_checkpoint_csv(HERE / "checkpoint_gbk.csv")
    make_buildings_shapefile(HERE / "buildings_4549_gbk")
    make_grids_geojson(HERE / "grids_gcj02.geojson")
    make_truncated_xlsx(HERE / "truncated.xlsx", HERE / "register_multisheet.xlsx")
    make_register_xls(HERE / "register_legacy.xls")
    for p in sorted(HERE.rglob("*")):
        if p.is_file() and p.suffix != ".py":
            assert p.stat().st_size < 200_000, p
            print(f"{p.relative_to(HERE)}  {p.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
