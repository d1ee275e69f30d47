"""Worklists (入户情况汇总表), the reconcile / worklist / export-register CLI, and the register export round trip."""
from __future__ import annotations

import csv
import re

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import __main__ as cli
from geodata import models, reconcile, register_export, schema, store, worklist
from geodata.errors import NotFoundError
from tests.test_reconcile import AS_OF, build_town


@pytest.fixture
def town(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.session_scope(engine) as s:
        t = build_town(s)
        reconcile.reconcile(s, t.community_id, as_of=AS_OF)
    return engine, t


def _natural(text: str) -> tuple:
    m = re.match(r"(\d+)(.*)", str(text))
    return (int(m.group(1)), m.group(2))


# --- worklists -----------------------------------------------------------------------------------------------
def test_worklist_rows_are_ordered_and_masked(town):
    engine, t = town
    with Session(engine) as s:
        rows = worklist.worklist_rows(s, t.community_id)
        n_open = len(s.scalars(select(models.Finding).where(models.Finding.status == schema.FINDING_OPEN)).all())
    assert len(rows) == n_open
    keys = [(r["grid_code"], _natural(r["building"]), r["unit"], r["floor"], _natural(r["room"])) for r in rows]
    assert keys == sorted(keys)
    assert all(set(worklist.ROW_KEYS) <= set(r) for r in rows)
    for r in rows:
        assert not re.search(r"\d{11}", r["phone"]), r["phone"]
    zheng = next(r for r in rows if r["category"] == schema.F_NEW_MEMBER)
    assert (zheng["building"], zheng["unit"], zheng["room"], zheng["head_name"]) == ("1", 2, "101", "郑明")
    assert re.fullmatch(r"1\d\d\*{4}\d{4}", zheng["phone"])
    # a flat the register never listed is placed (and gridded) through its registration
    unlisted = next(r for r in rows if r["room"] == "301" and r["category"] == schema.F_PRESENT_UNREGISTERED)
    assert unlisted["grid_code"] == "T01" and unlisted["head_name"] == "赵六（卡口登记）"


def test_worklist_rows_of_one_grid(town):
    engine, t = town
    with Session(engine) as s:
        rows = worklist.worklist_rows(s, t.community_id, t.grids["T02"])
    assert rows and {r["grid_code"] for r in rows} == {"T02"} and {r["building"] for r in rows} == {"2"}


def test_worklist_xlsx_one_printable_sheet_per_grid(town, tmp_path):
    engine, t = town
    path = tmp_path / "worklist.xlsx"
    with store.session_scope(engine) as s:
        counts = worklist.write_worklist_xlsx(s, t.community_id, path, as_of=AS_OF, by="cao")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["第一网格", "第二网格"] == list(counts)
    for ws in wb.worksheets:
        title = ws["A1"].value
        assert "测试社区" in title and ws.title in title and "2020-03-25" in title
        assert [c.value for c in ws[2]] == [h for h, _ in worklist.COLUMNS]
        assert ws.freeze_panes == "A3"
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.print_title_rows == "$1:$2"
        assert ws.column_dimensions["G"].width > ws.column_dimensions["A"].width
        data = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
        assert len(data) == counts[ws.title]
        assert [r[0] for r in data] == list(range(1, len(data) + 1))
        places = [(_natural(r[1]), r[2], _natural(r[3])) for r in data]
        assert places == sorted(places)
        assert all(r[8] is None and r[9] is None and r[10] is None for r in data)   # boxes for the worker
        assert not any(re.search(r"\d{11}|\d{15,}", str(v)) for r in data for v in r if v)
    first = [[c.value for c in row] for row in wb["第一网格"].iter_rows(min_row=3)]
    labels = {r[5] for r in first}
    assert {"户在人不在", "人在户不在", "租户变更", "户主变更"} <= labels
    with Session(engine) as s:
        audit = s.scalars(select(models.AuditLog).where(models.AuditLog.action == schema.A_EXPORT)).all()
    assert [(a.username, a.target_id) for a in audit] == [("cao", str(t.community_id))]


def test_worklist_xlsx_of_one_grid_and_unknown_grid(town, tmp_path):
    engine, t = town
    with store.session_scope(engine) as s:
        counts = worklist.write_worklist_xlsx(s, t.community_id, tmp_path / "g2.xlsx", "T02", as_of=AS_OF)
        assert list(counts) == ["第二网格"]
        with pytest.raises(NotFoundError, match="T09"):
            worklist.write_worklist_xlsx(s, t.community_id, tmp_path / "x.xlsx", "T09")


# --- CLI -----------------------------------------------------------------------------------------------------
@pytest.fixture
def cli_store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = store.open_store(url)
    with store.session_scope(engine) as s:
        t = build_town(s)
    monkeypatch.setenv("GRIDMAP_DB", url)
    return engine, t


def test_cli_reconcile_writes_the_two_csv_files(cli_store, tmp_path, capsys):
    out = tmp_path / "out" / "findings.csv"
    assert cli.main(["reconcile", "--community", "测试社区", "--as-of", "2020-03-25", "--out", str(out)]) == 0
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")                          # plain UTF-8 for scripts
    assert raw.decode("utf-8").splitlines()[0] == "building,unit,room,category,evidence"
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {(r["building"], r["unit"], r["room"], r["category"]) for r in rows} == {
        ("1", "1", "102", "absent_registered"), ("1", "1", "201", "present_unregistered"),
        ("1", "1", "301", "present_unregistered"), ("1", "1", "202", "tenant_changed"),
        ("1", "4", "202", "owner_changed"), ("2", "1", "102", "absent_registered")}
    assert all(r["evidence"] for r in rows)
    persons = out.with_name("findings.persons.csv")
    with open(persons, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["building", "unit", "room", "name", "category", "evidence"]
        prow = list(reader)
    assert ("1", "2", "101", "郑小红", "new_member") in {(r["building"], r["unit"], r["room"], r["name"],
                                                          r["category"]) for r in prow}
    assert {r["category"] for r in prow} <= set(schema.PERSON_FINDINGS + schema.HOUSEHOLD_FINDINGS)
    printed = capsys.readouterr().out
    assert "absent_registered" in printed and "户在人不在" in printed


def test_cli_errors_are_one_sentence_and_exit_2(cli_store, tmp_path, capsys):
    assert cli.main(["reconcile", "--community", "无此社区", "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "无此社区" in err and "Traceback" not in err
    assert cli.main(["worklist", "--community", "测试社区", "--grid", "T09", "--out", str(tmp_path / "w.xlsx")]) == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["reconcile", "--community", "测试社区", "--as-of", "2020-02-30", "--out", "x.csv"])
    assert exc.value.code == 2


def test_cli_worklist_and_export_register(cli_store, tmp_path):
    assert cli.main(["reconcile", "--community", "测试社区", "--as-of", "2020-03-25",
                     "--out", str(tmp_path / "f.csv")]) == 0
    assert cli.main(["worklist", "--community", "测试社区", "--grid", "T01", "--out", str(tmp_path / "w.xlsx")]) == 0
    assert openpyxl.load_workbook(tmp_path / "w.xlsx").sheetnames == ["第一网格"]
    assert cli.main(["export-register", "--community", "测试社区", "--out", str(tmp_path / "r.xlsx")]) == 0
    assert openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames == ["第一网格", "第二网格"]


# --- register export -----------------------------------------------------------------------------------------
def _values(path) -> dict[str, list[list]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def _fresh_store_like(src: Session, community_id: int, url: str):
    """An empty store with the same street, community, grids and buildings (what importing them would give)."""
    engine = store.open_store(url)
    c = src.get(models.Community, community_id)
    with store.session_scope(engine) as d:
        street = models.Street(name=src.get(models.Street, c.street_id).name)
        d.add(street)
        d.flush()
        comm = models.Community(street_id=street.id, name=c.name, compound=c.compound, synthetic=c.synthetic)
        d.add(comm)
        d.flush()
        grid_ids = {}
        for g in src.scalars(select(models.Grid).where(models.Grid.community_id == community_id)):
            ng = models.Grid(community_id=comm.id, code=g.code, name=g.name, seq=g.seq)
            d.add(ng)
            d.flush()
            grid_ids[g.id] = ng.id
        for b in src.scalars(select(models.Building).where(models.Building.community_id == community_id)):
            d.add(models.Building(community_id=comm.id, grid_id=grid_ids.get(b.grid_id), number=b.number,
                                  floors=b.floors, units=b.units))
    return engine


def test_register_export_layout(town, tmp_path):
    engine, t = town
    path = tmp_path / "register.xlsx"
    with store.session_scope(engine) as s:
        counts = register_export.write_register_xlsx(s, t.community_id, path, as_of=AS_OF, by="cao")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["第一网格", "第二网格"]
    ws = wb["第一网格"]
    assert "家庭户情况平铺表" in ws["A1"].value and "第一网格" in ws["A1"].value
    assert [c.value for c in ws[2]] == list(register_export.HEADERS)
    rows = [[c for c in row] for row in ws.iter_rows(min_row=3)]
    assert len(rows) == counts["第一网格"]
    id_col = register_export.HEADERS.index("身份证号码")
    ids = {row[5].value: row[id_col] for row in rows if row[5].value}
    assert all(cell.data_type == "s" for cell in ids.values() if cell.value is not None)
    assert ids["黄国平"].value.startswith("320411197005") and len(ids["黄国平"].value) == 18
    assert ids["马建华"].value == "3.20411196002030E+17"           # Excel-damaged: shown as Excel shows it
    vacant = [r for r in rows if r[4].value is None and r[5].value is None]
    assert [(r[1].value, r[2].value, r[3].value, r[13].value) for r in vacant] == [("1", 1, "201", "空置")]
    # head of household first within a flat
    flat = [r for r in rows if (r[1].value, r[2].value, r[3].value) == ("1", 1, "101")]
    assert [r[6].value for r in flat] == ["户主", "配偶"]


def test_register_export_round_trip(town, tmp_path):
    from loaders.register import import_register

    engine, t = town
    first = tmp_path / "first.xlsx"
    with store.session_scope(engine) as s:
        register_export.write_register_xlsx(s, t.community_id, first, as_of=AS_OF)
        fresh = _fresh_store_like(s, t.community_id, f"sqlite:///{tmp_path / 'fresh.db'}")
    result = import_register(fresh, "测试社区", first, today=AS_OF)
    assert result.quarantined == 0
    with store.session_scope(fresh) as s:
        comm = s.scalars(select(models.Community)).one()
        second = tmp_path / "second.xlsx"
        register_export.write_register_xlsx(s, comm.id, second, as_of=AS_OF)
        statuses = {p.name: p.id_status for p in s.scalars(select(models.Person))}
    a, b = _values(first), _values(second)
    assert list(a) == list(b)
    for sheet in a:
        assert a[sheet] == b[sheet], sheet
    # the flags survive the trip
    assert statuses["马建华"] == schema.ID_EXCEL_FLOAT and statuses["罗文"] == schema.ID_BAD_CHECKSUM
