"""Import speed of a large master register, measured against the floor of reading the same workbook.

Writes a synthetic 100k-person register (fixed seed) the way a big community sends it -- one sheet per grid, a
merged title row and a note row above the header, 楼栋/单元/室号/户主 merged over each household's rows, ~3% of IDs
stored as numbers (Excel-mangled 18-digit floats, 15-digit old IDs), birth dates as date cells and as text, a
stray blank row now and then, a 合计 row per sheet -- plus its grid and building footprints (GeoJSON), and times:

  floor            openpyxl alone: load_workbook(read_only=True), every cell of every sheet (values_only)
  read_tables      loaders.tables.read_tables (the same plus merged-range filling and trimming)
  parse            read_tables + loaders.register.parse_rows (every check, no store)
  import sqlite    loaders.register.import_register into a fresh SQLite store (grids + buildings imported
                   first, not timed)
  import postgres  the same into PostgreSQL (GRIDMAP_TEST_PG, else a private cluster from tests/pgcluster.py)

geodata.synthetic's writer cannot be driven to this size (a community must fit its slot of the demo street), so
the workbook is written here with openpyxl's write-only mode, then rewritten with a shared-string table and
<dimension> as Excel and WPS save it (openpyxl writes inline strings, several times slower to read). Buildings
are numbered 1幢 to ~1500幢 (four-digit numbers included).

Every step runs in a fresh process, so its peak RSS (VmHWM from /proc/self/status, the peak that ru_maxrss
reports but without the parent's peak that ru_maxrss carries across exec; the whole process, interpreter and
imported libraries included) is its own; "base" is that process's peak before the step started. The PostgreSQL
server's memory is not included. Besides wall-clock seconds the table shows each step's CPU seconds, steadier on
a shared machine (the PostgreSQL server's CPU is not in them). Goal: the full import within 2x the floor. Compare
ratios within one run: the machines are shared and noisy.

    python benchmarks/import_register.py                 # 100,000 persons
    python benchmarks/import_register.py --quick         # 20,000 persons
    python benchmarks/import_register.py --persons 50000 --keep /tmp/regbench   # reuse the generated files
    python benchmarks/import_register.py --quick --profile                      # + cProfile of the SQLite import
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import math
import multiprocessing
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geodata import schema  # noqa: E402
from loaders.ids import check_char, make_id  # noqa: E402

SEED = 20200325
COMMUNITY, STREET, COMPOUND = "大型社区", "基准街道", "锦江花园"
PERSONS_PER_BUILDING = 66.7       # 100k persons -> ~1,500 buildings, ~40k households
BUILDINGS_PER_GRID = 38
GRID_COLS = 8
AS_OF = dt.date(2020, 3, 25)

# --- the synthetic register ----------------------------------------------------------------------------------
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙朱马胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
_GIVEN = "国建华明平生荣福林宝兴德金海民忠新良春伟文志永祥英芳兰珍秀凤琴梅玉萍美云霞丽静敏燕娟杰涛斌婷怡宇浩轩涵睿欣"
_AREAS = ("320402", "320404", "320405", "320411", "320412", "320481", "340121", "411323", "510921", "321281")
_MOBILE = ("130", "133", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "180", "186", "189")
# household size -> weight: mean 2.5 persons
_SIZES = ((1, 2, 3, 4, 5, 6), (.22, .32, .28, .12, .04, .02))
_HEADERS = ("序号", "楼栋", "单元", "室号", "户主姓名", "姓名", "与户主关系", "身份证号码", "性别", "出生年月",
            "联系电话", "政治面貌", "户籍类型", "居住状态", "房东姓名", "备注")
_MERGED_COLS = (2, 3, 4, 5)          # 楼栋, 单元, 室号, 户主姓名 (1-based)


def _name(rng: random.Random, surname: str | None = None) -> str:
    return (surname or rng.choice(_SURNAMES)) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2, 2))))


def _members(rng: random.Random, size: int, rented: bool) -> list[tuple[str, int, str]]:
    """(relation text, age, sex) of a household, head first."""
    if rented and rng.random() < .4:
        return [("户主", rng.randint(20, 45), rng.choice("MF"))] + \
               [("租客", rng.randint(20, 45), rng.choice("MF")) for _ in range(size - 1)]
    head_age = rng.randint(28, 85)
    head_sex = "M" if rng.random() < .75 else "F"
    out = [("户主", head_age, head_sex)]
    if size > 1:
        out.append(("配偶", max(20, head_age + rng.randint(-5, 3)), "F" if head_sex == "M" else "M"))
    for _ in range(size - len(out)):
        if head_age > 60 and rng.random() < .3:
            sex = rng.choice("MF")
            out.append(("孙子" if sex == "M" else "孙女", rng.randint(1, 20), sex))
        elif head_age < 45 and rng.random() < .2:
            sex = rng.choice("MF")
            out.append(("父亲" if sex == "M" else "母亲", head_age + rng.randint(22, 30), sex))
        else:
            sex = rng.choice("MF")
            out.append(("子" if sex == "M" else "女", max(0, head_age - rng.randint(22, 35)), sex))
    return out


def _id_cell(rng: random.Random, age: int, sex: str) -> tuple[Any, dt.date]:
    """The ID cell as the register has it (~3% numbers) and the person's true birth date."""
    birth = AS_OF - dt.timedelta(days=age * 365 + rng.randrange(365))
    seq = rng.randrange(500) * 2 + (1 if sex == "M" else 0)
    area = rng.choice(_AREAS)
    id18 = make_id(area, birth, seq)
    r = rng.random()
    if r < .02:                                     # Excel turned it into a number: 15 significant digits kept
        return float(int(id18[:15]) * 1000), birth
    if r < .03 and birth.year < 1980:               # an old 15-digit ID, typed as a number
        return int(f"{area}{birth:%y%m%d}{seq:03d}"), birth
    if r < .04:                                     # a wrong check character
        return id18[:17] + rng.choice([c for c in schema.ID_CHECK_CHARS if c != check_char(id18[:17])]), birth
    if r < .05 and id18.endswith("X"):
        return id18[:17] + "x", birth
    return id18, birth


def _birth_cell(rng: random.Random, birth: dt.date) -> Any:
    r = rng.random()
    if r < .6:
        return dt.datetime(birth.year, birth.month, birth.day)   # a date cell
    if r < .8:
        return f"{birth.year}.{birth.month:02d}"
    if r < .9:
        return f"{birth:%Y%m%d}"
    return f"{birth.year}年{birth.month}月"


def _phone_cell(rng: random.Random) -> Any:
    r = rng.random()
    mobile = rng.choice(_MOBILE) + f"{rng.randrange(10**8):08d}"
    if r < .05:
        return None
    if r < .3:
        return int(mobile)                           # typed into a number cell
    if r < .31:
        return f"{mobile}、0519-8{rng.randrange(10**6):06d}"
    if r < .315:
        return mobile[:7]                            # too short
    return mobile


def _political(rng: random.Random, age: int) -> str:
    r = rng.random()
    if age >= 18 and r < .08:
        return "中共党员"
    if 14 <= age <= 28 and r < .35:
        return "共青团员"
    return "群众"


def write_register(folder: Path, persons: int, seed: int = SEED) -> dict[str, Any]:
    """register.xlsx, grids.geojson and buildings.geojson of a community of `persons` persons, in `folder`."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.cell_range import CellRange

    rng = random.Random(f"{seed}:register:{persons}")
    folder.mkdir(parents=True, exist_ok=True)
    n_buildings = max(1, round(persons / PERSONS_PER_BUILDING))
    n_grids = max(1, math.ceil(n_buildings / BUILDINGS_PER_GRID))
    per_building = persons / n_buildings
    # grid -> buildings -> households -> rows
    sheets: list[tuple[str, list[list[Any]], list[tuple[int, int]]]] = []   # (name, rows, [(first row, size)])
    households = written = 0
    building = 0
    for g in range(n_grids):
        rows: list[list[Any]] = []
        spans: list[tuple[int, int]] = []
        seq = 0
        for _ in range(BUILDINGS_PER_GRID):
            if building == n_buildings:
                break
            building += 1
            target = round(per_building * building) - written
            units = rng.choice((2, 3, 4))
            floors = 6
            while units * floors * 2 * 2.5 * .8 < target:     # enough flats for its households at ~80% occupancy
                floors += 1
            flats = [(u, f * 100 + k) for u in range(1, units + 1) for f in range(1, floors + 1) for k in (1, 2)]
            rng.shuffle(flats)
            in_building = 0
            occupied: list[tuple[int, int, list[tuple[str, int, str]], bool]] = []
            for unit, room in flats:
                if in_building >= target:
                    break
                size = min(rng.choices(*_SIZES)[0], target - in_building)
                rented = rng.random() < .25
                occupied.append((unit, room, _members(rng, size, rented), rented))
                in_building += size
            occupied.sort(key=lambda t: (t[0], t[1]))
            written += in_building
            for unit, room, members, rented in occupied:
                households += 1
                if rows and rng.random() < .004:
                    rows.append([])                                    # a stray blank row
                surname = rng.choice(_SURNAMES)
                head = _name(rng, surname)
                landlord = _name(rng) if rented else None
                spans.append((len(rows), len(members)))
                for i, (relation, age, sex) in enumerate(members):
                    seq += 1
                    id_value, birth = _id_cell(rng, age, sex)
                    name = head if i == 0 else _name(rng, surname if relation in ("子", "女", "孙子", "孙女")
                                                      else None)
                    first = i == 0
                    rows.append([
                        seq,
                        f"{building}幢" if first else None,
                        (unit if rng.random() < .8 else f"{unit}单元") if first else None,
                        (room if rng.random() < .85 else str(room)) if first else None,
                        head if first else None,
                        name, relation, id_value, "男" if sex == "M" else "女", _birth_cell(rng, birth),
                        _phone_cell(rng), _political(rng, age),
                        "本地户籍" if rng.random() < .8 else "外地户籍", "出租" if rented else "自住", landlord,
                        "独居老人" if len(members) == 1 and age >= 70 and rng.random() < .5 else None,
                    ])
        sheets.append((f"第{g + 1}网格", rows, spans))

    wb = Workbook(write_only=True)
    last = get_column_letter(len(_HEADERS))
    total_rows = 0
    for title, rows, spans in sheets:
        ws = wb.create_sheet(title)
        title_cell = WriteOnlyCell(ws, value=f"{COMPOUND}家庭户情况平铺表（{title}）（演示数据）")
        title_cell.font, title_cell.alignment = Font(bold=True, size=14), Alignment(horizontal="center")
        ws.append([title_cell])
        ws.append([f"制表单位：{COMMUNITY}  更新日期：2019-12-31"])
        ws.append(list(_HEADERS))
        offset = 4                                   # 1-based row of rows[0]
        merges = [CellRange(f"A1:{last}1")]
        for start, size in spans:
            if size > 1:
                merges += [CellRange(min_col=c, max_col=c, min_row=offset + start, max_row=offset + start + size - 1)
                           for c in _MERGED_COLS]
        for row in rows:
            ws.append(row)
        n_persons = sum(1 for r in rows if r)
        ws.append(["合计", f"{len(spans)}户", f"{n_persons}人"])
        ws.merged_cells.ranges = merges              # a list: write-only sheets write it as it is
        total_rows += 3 + len(rows) + 1
    path = folder / "register.xlsx"
    wb.save(path)
    _as_excel_saves_it(path, [3 + len(rows) + 1 for _, rows, _ in sheets], len(_HEADERS))
    _write_areas(folder, n_grids, n_buildings)
    return {"path": str(path), "persons": persons, "households": households, "buildings": n_buildings,
            "grids": n_grids, "rows": total_rows, "bytes": path.stat().st_size}


_RE_INLINE = re.compile(rb'<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is><t((?: xml:space="preserve")?)>'
                        rb'(.*?)</t></is></c>', re.DOTALL)


def _as_excel_saves_it(path: Path, sheet_rows: list[int], columns: int) -> None:
    """Rewrite openpyxl's inline strings as a shared-string table and add each sheet's <dimension>, as Excel and
    WPS save a workbook: reading inline strings costs openpyxl several times more per cell, which would make the
    floor slower than it is for the files communities really send."""
    from openpyxl.utils import get_column_letter
    sst: dict[bytes, int] = {}
    refs = 0

    def shared(m: re.Match) -> bytes:
        nonlocal refs
        refs += 1
        key = m.group(3) + b">" + m.group(4)
        idx = sst.setdefault(key, len(sst))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (m.group(1), m.group(2), idx)

    with zipfile.ZipFile(path) as src:
        parts = {info.filename: src.read(info.filename) for info in src.infolist()}
    for i, n_rows in enumerate(sheet_rows, start=1):
        name = f"xl/worksheets/sheet{i}.xml"
        xml = _RE_INLINE.sub(shared, parts[name])
        dim = b'<dimension ref="A1:%s%d" />' % (get_column_letter(columns).encode(), n_rows)
        parts[name] = xml.replace(b"</sheetPr>", b"</sheetPr>" + dim, 1)
    items = b"".join(b"<si><t%s</t></si>" % key for key in sst)
    parts["xl/sharedStrings.xml"] = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main" count="%d" uniqueCount="%d">%s</sst>' % (refs, len(sst), items))
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rIdSharedStrings" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in parts.items():
            out.writestr(name, data)


def _write_areas(folder: Path, n_grids: int, n_buildings: int) -> None:
    """Grid squares and building rectangles (WGS84 GeoJSON): building k lies inside grid (k-1) // 38."""
    x0, y0 = 119.95, 31.84
    bw, bh, sx, sy = .0004, .00012, .0006, .0003         # building size and spacing, degrees
    per_row = 6
    gw = per_row * sx + 2 * sx
    gh = math.ceil(BUILDINGS_PER_GRID / per_row) * sy + 2 * sy

    def rect(x: float, y: float, w: float, h: float) -> list[list[list[float]]]:
        return [[[round(x, 7), round(y, 7)], [round(x + w, 7), round(y, 7)], [round(x + w, 7), round(y - h, 7)],
                 [round(x, 7), round(y - h, 7)], [round(x, 7), round(y, 7)]]]

    grids, buildings = [], []
    for g in range(n_grids):
        r, c = divmod(g, GRID_COLS)
        gx, gy = x0 + c * gw, y0 - r * gh
        grids.append({"type": "Feature", "properties": {"网格编码": f"G{g + 1:03d}", "网格名称": f"第{g + 1}网格"},
                      "geometry": {"type": "Polygon", "coordinates": rect(gx, gy, gw, gh)}})
        for k in range(BUILDINGS_PER_GRID):
            number = g * BUILDINGS_PER_GRID + k + 1
            if number > n_buildings:
                break
            br, bc = divmod(k, per_row)
            buildings.append({"type": "Feature", "properties": {"幢号": f"{number}幢", "层数": 6},
                              "geometry": {"type": "Polygon", "coordinates": rect(
                                  gx + sx + bc * sx, gy - sy - br * sy, bw, bh)}})
    for name, feats in (("grids", grids), ("buildings", buildings)):
        (folder / f"{name}.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats},
                                                           ensure_ascii=False), encoding="utf-8")


# --- steps (each in a fresh process) ---------------------------------------------------------------------------
def _maxrss_mb() -> float:
    """Peak RSS of this process's own address space: VmHWM. ru_maxrss would carry over the parent's peak
    across the exec that starts a spawned process; it is the fallback where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # Linux: kilobytes


def _timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    base = _maxrss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    info = fn()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu": cpu, "base_mb": base, "peak_mb": _maxrss_mb(), **(info or {})}


def step_floor(path: str) -> dict[str, Any]:
    import openpyxl

    def run() -> dict[str, Any]:
        cells = 0
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                for _ in row:
                    cells += 1
        wb.close()
        return {"note": f"{cells:,} cells"}
    return _timed(run)


def step_read_tables(path: str) -> dict[str, Any]:
    from loaders import tables

    def run() -> dict[str, Any]:
        sheets = tables.read_tables(path)
        return {"note": f"{len(sheets)} sheets, {sum(len(t.rows) for t in sheets):,} rows"}
    return _timed(run)


def step_parse(path: str) -> dict[str, Any]:
    from loaders import register, tables
    from loaders.report import ImportResult

    def run() -> dict[str, Any]:
        result = ImportResult(schema.K_REGISTER, Path(path).name)
        persons, vacant = register.parse_rows(tables.read_tables(path), result, compounds=(COMPOUND,), today=AS_OF)
        return {"note": f"{len(persons):,} person rows, {len(result.problems):,} problems"}
    return _timed(run)


def step_setup(url: str, folder: str) -> dict[str, Any]:
    """A fresh store with the community's grids and buildings (not timed in the table)."""
    from geodata import store
    from loaders import areas
    engine = store.open_store(url)
    t0 = time.perf_counter()
    areas.import_grids(engine, COMMUNITY, Path(folder) / "grids.geojson", street=STREET, compound=COMPOUND)
    r = areas.import_buildings(engine, COMMUNITY, Path(folder) / "buildings.geojson")
    if url.startswith("sqlite"):
        with engine.connect() as conn:                # the template is copied as one file
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return {"seconds": time.perf_counter() - t0, "buildings": r.imported}


def step_import(url: str, path: str, profile: int = 0) -> dict[str, Any]:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from geodata import models, store
    from loaders import register
    engine = store.make_engine(url)
    with engine.connect():
        pass                                         # connect (and set pragmas) before the clock starts
    stats_text = ""

    def run() -> dict[str, Any]:
        nonlocal stats_text
        if profile:
            import cProfile
            import io
            import pstats
            prof = cProfile.Profile()
            result = prof.runcall(register.import_register, engine, COMMUNITY, path, by="benchmark", today=AS_OF)
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(profile)
            out.write("\n")
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(profile)
            stats_text = out.getvalue()
        else:
            result = register.import_register(engine, COMMUNITY, path, by="benchmark", today=AS_OF)
        return {"note": result.accounting_line().split(" | ")[-1], "balanced": result.balanced}
    info = _timed(run)
    with Session(engine) as s:
        info["persons"] = s.scalar(select(func.count()).select_from(models.Person))
        info["households"] = s.scalar(select(func.count()).select_from(models.Household))
    if url.startswith("sqlite"):
        db = Path(url.split("///", 1)[1])
        info["db_mb"] = sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists()) / 2**20
    engine.dispose()
    info["profile"] = stats_text
    return info


def _in_fresh_process(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def _postgres() -> tuple[str | None, Callable[[], None], str]:
    """(server base URL or None, stop function, where it came from or why there is none)."""
    from tests import pgcluster
    if os.environ.get("GRIDMAP_TEST_PG"):
        return os.environ["GRIDMAP_TEST_PG"].rstrip("/"), lambda: None, "GRIDMAP_TEST_PG"
    try:
        cluster = pgcluster.Cluster()
    except Exception as exc:  # noqa: BLE001 - any failure to start means no PostgreSQL here
        return None, lambda: None, f"no PostgreSQL server ({exc})"
    return cluster.base, cluster.stop, "private cluster (fsync=off, synchronous_commit=off)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--persons", type=int, default=100_000, help="persons in the register (default 100000)")
    ap.add_argument("--quick", action="store_true", help="20,000 persons")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every step; the fastest round of each counts")
    ap.add_argument("--keep", help="folder for the generated files, reused when present (default: a temp dir)")
    ap.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL import")
    ap.add_argument("--profile", type=int, nargs="?", const=30, default=0,
                    help="also print the N (default 30) heaviest functions of one more SQLite import (cProfile)")
    args = ap.parse_args(argv)
    persons = 20_000 if args.quick else args.persons

    tmp = tempfile.TemporaryDirectory(prefix="gridmap-bench-")
    work = Path(args.keep) if args.keep else Path(tmp.name)
    folder = work / f"register_{persons}_{args.seed}"
    meta_path = folder / "meta.json"
    t0 = time.perf_counter()
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        print(f"reusing {folder}")
    else:
        meta = write_register(folder, persons, args.seed)
        meta_path.write_text(json.dumps(meta))
        print(f"wrote the register in {time.perf_counter() - t0:.1f} s")
    path = meta["path"]
    print(f"register: {meta['persons']:,} persons, {meta['households']:,} households, {meta['buildings']:,} "
          f"buildings, {meta['grids']} grid sheets, {meta['rows']:,} rows, {meta['bytes'] / 2**20:.1f} MB xlsx")

    # A store with the grids and buildings, copied for every round (its preparation is not timed).
    template = work / f"areas_{persons}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{template}{suffix}").unlink(missing_ok=True)
    setup = _in_fresh_process(step_setup, f"sqlite:///{template}", str(folder))
    print(f"SQLite store prepared: {setup['buildings']:,} buildings in {setup['seconds']:.1f} s (not timed)")
    pg_base, pg_stop, pg_note = (None, lambda: None, "skipped (--no-postgres)") if args.no_postgres else _postgres()

    labels = {"floor": "floor: openpyxl reads every cell", "read": "loaders.tables.read_tables",
              "parse": "read_tables + register.parse_rows", "sqlite": "import_register -> SQLite",
              "postgres": "import_register -> PostgreSQL"}
    best: dict[str, dict[str, Any]] = {}

    def keep(key: str, r: dict[str, Any]) -> None:
        if key not in best or r["seconds"] < best[key]["seconds"]:
            best[key] = r

    try:
        for rnd in range(args.repeat):
            keep("floor", _in_fresh_process(step_floor, path))
            keep("read", _in_fresh_process(step_read_tables, path))
            keep("parse", _in_fresh_process(step_parse, path))
            db = work / f"store_{persons}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(template, db)
            keep("sqlite", _in_fresh_process(step_import, f"sqlite:///{db}", path, 0))
            if pg_base:
                from tests import pgcluster
                url = pgcluster.create_database(pg_base, f"gridmap_bench_{os.getpid()}")
                _in_fresh_process(step_setup, url, str(folder))
                keep("postgres", _in_fresh_process(step_import, url, path, 0))
            print(f"round {rnd + 1}/{args.repeat} done")
        profile = ""
        if args.profile:
            shutil.copyfile(template, work / "profile.db")
            profile = _in_fresh_process(step_import, f"sqlite:///{work / 'profile.db'}", path, args.profile)["profile"]
    finally:
        pg_stop()

    floor, floor_cpu = best["floor"]["seconds"], best["floor"]["cpu"]
    print()
    print(f"{'step':<36} {'seconds':>8} {'x floor':>8} {'cpu s':>7} {'cpu x':>6} {'peak RSS MB':>12} {'base MB':>8}"
          "  notes")
    print("-" * 120)
    for key, label in labels.items():
        if key not in best:
            print(f"{label:<36} {'-':>8}  {pg_note}")
            continue
        r = best[key]
        note = r.get("note", "")
        if "persons" in r:
            note += f"; store: {r['persons']:,} persons, {r['households']:,} households"
        if "db_mb" in r:
            note += f", db+wal {r['db_mb']:.0f} MB"
        print(f"{label:<36} {r['seconds']:8.1f} {r['seconds'] / floor:8.2f} {r['cpu']:7.1f} "
              f"{r['cpu'] / floor_cpu:6.2f} {r['peak_mb']:12.0f} {r['base_mb']:8.0f}  {note}")
    print(f"seconds: wall clock, fastest of {args.repeat} round(s); cpu: this process only (the PostgreSQL server's "
          "work is not in it).")
    print("peak RSS: VmHWM (the kernel's ru_maxrss counter for the address space) of the step's own fresh "
          "process (interpreter + libraries + the step); base: the same just before the step.")
    goal = best["sqlite"]["seconds"] / floor
    print(f"goal: full import <= 2.00 x floor -> SQLite {goal:.2f} x ({'met' if goal <= 2 else 'NOT met'})"
          + (f", PostgreSQL {best['postgres']['seconds'] / floor:.2f} x" if "postgres" in best else ""))
    if profile:
        print("\ncProfile of one more SQLite import (profiler overhead included):")
        print(profile)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
