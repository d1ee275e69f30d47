"""Tests of loaders.tables on the committed messy files and on small files built in code."""
from __future__ import annotations

import codecs
import datetime
from pathlib import Path

import openpyxl
import pytest

from geodata import schema
from geodata.errors import InputError
from loaders.addresses import parse_address
from loaders.ids import check_char, check_id
from loaders.phones import parse_phones
from loaders.tables import (ROW_DATA, HeaderMatch, SheetTable, classify_row, detect_encoding, find_header,
                            normalise_header, read_tables)

DATA = Path(__file__).parent / "data"
REG = schema.REGISTER_HEADER_SYNONYMS
CP = schema.CHECKPOINT_HEADER_SYNONYMS


@pytest.fixture(scope="module")
def register() -> list[SheetTable]:
    return read_tables(DATA / "register_multisheet.xlsx")


# --- xlsx -----------------------------------------------------------------------------------------

def test_xlsx_sheets_in_order(register: list[SheetTable]) -> None:
    assert [(t.file, t.sheet) for t in register] == [("register_multisheet.xlsx", "第一网格"),
                                                     ("register_multisheet.xlsx", "第二网格")]


def test_header_found_below_title_and_note_rows(register: list[SheetTable]) -> None:
    h = find_header(register[0], REG, schema.REGISTER_REQUIRED)
    assert h is not None and h.row == 2
    assert h.missing == ()
    assert h.unknown == ()
    assert h.columns[1] == schema.ADDRESS
    assert h.columns[5] == schema.ID_NUMBER        # "*身份证号码"
    assert h.columns[2] == schema.HEAD_NAME
    assert set(h.columns.values()) >= {schema.NAME, schema.PHONE, schema.BIRTH_DATE, schema.RESIDENCE_STATUS}


def test_merged_cells_are_filled(register: list[SheetTable]) -> None:
    rows = register[0].rows
    # Address (B4:B6), head of household (C4:C6) and residence status (L4:L6) over household rows.
    assert [r[1] for r in rows[3:6]] == ["兰翔新村12幢丁单元202室"] * 3
    assert [r[2] for r in rows[3:6]] == ["张建国"] * 3
    assert [r[11] for r in rows[3:6]] == ["自住"] * 3
    assert [r[1] for r in rows[6:8]] == ["12-4-302"] * 2
    # The title (A1:M1) is filled across as well; rows[0] is spreadsheet row 1.
    assert rows[0][0] == rows[0][12] == "兰翔社区家庭户情况平铺表（第一网格）"


def test_merged_ranges_match_openpyxl_full_mode(register: list[SheetTable]) -> None:
    wb = openpyxl.load_workbook(DATA / "register_multisheet.xlsx")
    for table, ws in zip(register, wb.worksheets):
        for rng in ws.merged_cells.ranges:
            top_left = ws.cell(rng.min_row, rng.min_col).value
            for r in range(rng.min_row, rng.max_row + 1):
                for c in range(rng.min_col, rng.max_col + 1):
                    assert table.rows[r - 1][c - 1] == top_left


def test_id_cells_keep_their_type(register: list[SheetTable]) -> None:
    ids = [r[5] for r in register[0].rows[3:8]]
    assert isinstance(ids[1], float)                           # stored as a number by "Excel"
    statuses = [check_id(v).status for v in ids]
    assert statuses == [schema.ID_OK, schema.ID_EXCEL_FLOAT, schema.ID_OK, schema.ID_UPGRADED_15,
                        schema.ID_BAD_CHECKSUM]
    lower = check_id(ids[2])
    assert lower.raw.endswith("x") and lower.value.endswith("X")
    assert check_id(ids[3]).value == "32040519500101123" + check_char("32040519500101123")


def test_other_cell_types(register: list[SheetTable]) -> None:
    rows = register[0].rows
    assert rows[4][7] == datetime.datetime(1954, 6, 1)
    assert rows[4][8] == 13912345678 and parse_phones(rows[4][8]).numbers == ("13912345678",)
    assert rows[3][0] == 1


def test_blank_and_total_rows(register: list[SheetTable]) -> None:
    rows = register[0].rows
    assert [classify_row(r) for r in rows[3:]] == [ROW_DATA] * 5 + [schema.SKIP_BLANK, schema.SKIP_TOTAL]
    rows2 = register[1].rows
    assert classify_row(rows2[4]) == schema.SKIP_BLANK
    assert classify_row(rows2[6]) == schema.SKIP_TOTAL


def test_trailing_empty_cells_and_rows_are_trimmed(register: list[SheetTable]) -> None:
    # The workbook has a formatted empty cell at T15 and an empty last row on sheet 2.
    assert len(register[0].rows) == 10
    assert max(len(r) for r in register[0].rows) == 13
    assert register[1].rows[-1][0] == "小计"
    assert all(r and r[-1] is not None for r in register[1].rows if r)


def test_second_sheet_header_with_newline_and_spaces(register: list[SheetTable]) -> None:
    h = find_header(register[1], REG, schema.REGISTER_REQUIRED)
    assert h is not None and h.row == 1 and h.missing == ()
    assert h.columns == {0: schema.SEQ, 1: schema.BUILDING, 2: schema.UNIT, 3: schema.ROOM, 4: schema.HEAD_NAME,
                         5: schema.NAME, 6: schema.RELATION, 7: schema.ID_NUMBER, 8: schema.BIRTH_DATE,
                         9: schema.PHONE}
    rows = register[1].rows
    assert [r[1:5] for r in rows[2:4]] == [["7幢", "甲", "101", "陈国强"]] * 2


def test_truncated_xlsx_raises_input_error() -> None:
    with pytest.raises(InputError) as exc:
        read_tables(DATA / "truncated.xlsx")
    assert exc.value.file == "truncated.xlsx"
    assert "无法读取文件" in str(exc.value)


def test_xlsx_with_wrong_dimension_and_sparse_rows(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C3"] = "姓名"
    ws["E5"] = "x"
    ws.merge_cells("C7:D8")
    ws["C7"] = "合并"
    path = tmp_path / "sparse.xlsx"
    wb.save(path)
    (table,) = read_tables(path)
    assert table.rows[:2] == [[], []]
    assert table.rows[2] == [None, None, "姓名"]
    assert table.rows[4] == [None, None, None, None, "x"]
    assert table.rows[6][2:4] == ["合并", "合并"] and table.rows[7][2:4] == ["合并", "合并"]


def test_xlsx_renamed_to_xls_is_read_by_content(tmp_path: Path) -> None:
    path = tmp_path / "renamed.xls"
    path.write_bytes((DATA / "register_multisheet.xlsx").read_bytes())
    assert [t.sheet for t in read_tables(path)] == ["第一网格", "第二网格"]


def test_html_saved_as_xls_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "export.xls"
    path.write_text("<html><table><tr><td>姓名</td></tr></table></html>", encoding="utf-8")
    with pytest.raises(InputError, match="HTML"):
        read_tables(path)


@pytest.mark.parametrize("name,content", [("data.xlsx", b"not a zip at all"), ("data.xls", b"garbage garbage"),
                                          ("data.xlsx", b"")])
def test_damaged_workbooks(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match="无法读取文件"):
        read_tables(path)


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "fake.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(InputError, match="无法读取文件"):
        read_tables(path)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="不支持的文件类型"):
        read_tables(tmp_path / "register.docx")
    with pytest.raises(InputError, match="无法读取文件") as exc:
        read_tables(tmp_path / "nope.xlsx")
    assert exc.value.file == "nope.xlsx"


# --- xls ------------------------------------------------------------------------------------------

def test_legacy_xls() -> None:
    (table,) = read_tables(DATA / "register_legacy.xls")
    assert (table.file, table.sheet) == ("register_legacy.xls", "第四网格")
    rows = table.rows
    assert rows[0][0] == rows[0][7] == "兰翔社区家庭户情况平铺表（第四网格）"
    h = find_header(table, REG, schema.REGISTER_REQUIRED)
    assert h is not None and h.row == 1 and h.missing == ()
    assert [r[1] for r in rows[2:4]] == ["兰翔新村3幢乙单元501室"] * 2
    assert [r[2] for r in rows[2:4]] == ["顾志华"] * 2
    assert rows[2][0] == 1 and isinstance(rows[2][0], int)
    assert rows[2][6] == datetime.datetime(1946, 8, 8)
    assert parse_phones(rows[2][7]).numbers == ("13611112222",)
    assert check_id(rows[2][5]).status == schema.ID_OK
    assert isinstance(rows[3][5], float) and check_id(rows[3][5]).status == schema.ID_EXCEL_FLOAT
    assert [classify_row(r) for r in rows[2:]] == [ROW_DATA, ROW_DATA, schema.SKIP_BLANK, schema.SKIP_TOTAL]


def test_truncated_xls(tmp_path: Path) -> None:
    data = (DATA / "register_legacy.xls").read_bytes()
    path = tmp_path / "cut.xls"
    path.write_bytes(data[:1500])
    with pytest.raises(InputError, match="无法读取文件") as exc:
        read_tables(path)
    assert exc.value.file == "cut.xls"


# --- CSV ------------------------------------------------------------------------------------------

def test_gbk_register_with_synonym_headers() -> None:
    (table,) = read_tables(DATA / "register_other_headers.csv")
    assert (table.file, table.sheet) == ("register_other_headers.csv", "")
    h = find_header(table, REG, schema.REGISTER_REQUIRED)
    assert h is not None and h.row == 1 and h.missing == ()
    by_name = {v: k for k, v in h.columns.items()}
    assert [by_name[f] for f in (schema.BUILDING, schema.ROOM, schema.ID_NUMBER, schema.PHONE)] == [1, 3, 7, 10]
    assert h.unknown == ("工作单位",)
    rows = table.rows
    assert rows[2][1:6] == ["7号楼", "丁", "502室", "孙立", "孙立"]
    # CSV cells stay text: nothing goes through float.
    assert all(isinstance(v, str) for r in rows for v in r if v is not None)
    statuses = [check_id(r[7]).status for r in rows[2:6]]
    assert statuses == [schema.ID_OK, schema.ID_EXCEL_FLOAT, schema.ID_EXCEL_FLOAT, schema.ID_OK]
    assert rows[4][7] == "3.20411E+17"
    assert [classify_row(r) for r in rows[2:]] == [ROW_DATA] * 4 + [schema.SKIP_BLANK, schema.SKIP_TOTAL]


def test_gbk_checkpoint_addresses() -> None:
    from tests.data.make_test_data import CHECKPOINT_ADDRESSES

    (table,) = read_tables(DATA / "checkpoint_gbk.csv")
    h = find_header(table, CP, schema.CHECKPOINT_REQUIRED)
    assert h is not None and h.row == 0 and h.missing == () and h.unknown == ()
    col = {v: k for k, v in h.columns.items()}[schema.ADDRESS]
    parsed = [parse_address(r[col], ["兰翔新村"]) for r in table.rows[1:]]
    assert [p.raw for p in parsed] == [a for a, _ in CHECKPOINT_ADDRESSES]
    assert [(p.compound, p.building, p.unit, p.room) for p in parsed] == [e for _, e in CHECKPOINT_ADDRESSES]
    outside = [p for p in parsed if p.compound not in (None, "兰翔新村")]
    assert [p.compound for p in outside] == ["青枫新村"]


def test_encoding_override(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="utf-8"):
        read_tables(DATA / "checkpoint_gbk.csv", encoding="utf-8")
    (table,) = read_tables(DATA / "checkpoint_gbk.csv", encoding="gbk")
    assert table.rows[0][1] == "姓名"
    with pytest.raises(InputError, match="未知的编码"):
        read_tables(DATA / "checkpoint_gbk.csv", encoding="no-such-codec")


def test_csv_variants(tmp_path: Path) -> None:
    rows = [["姓名", "身份证号"], ["张三", "320411195203120011"], ["", ""], ["李四", ""]]
    text = "\r\n".join(",".join(r) for r in rows) + "\r\n,,\r\n"
    p = tmp_path / "bom.csv"
    p.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    (t,) = read_tables(p)
    assert t.rows == [["姓名", "身份证号"], ["张三", "320411195203120011"], [], ["李四"]]
    # Excel's "Unicode text": UTF-16 with BOM, tab-separated.
    p = tmp_path / "unicode.txt"
    p.write_bytes(text.replace(",", "\t").encode("utf-16"))
    assert read_tables(p)[0].rows == t.rows
    p = tmp_path / "quoted.csv"
    p.write_text('姓名,住址\n张三,"兰翔新村12幢,丁单元202室"\n', encoding="utf-8")
    assert read_tables(p)[0].rows[1] == ["张三", "兰翔新村12幢,丁单元202室"]


@pytest.mark.parametrize("data,expected", [
    (codecs.BOM_UTF8 + "姓名".encode(), "utf-8-sig"),
    ("姓名".encode("utf-16"), "utf-16"),
    ("姓名,身份证".encode("utf-8"), "utf-8"),
    (b"name,id", "utf-8"),
    (b"", "utf-8"),
    ("姓名,身份证".encode("gbk"), "gb18030"),
    ("兰翔新村12幢".encode("gb18030"), "gb18030"),
])
def test_detect_encoding(data: bytes, expected: str) -> None:
    assert detect_encoding(data) == expected


# --- header and rows ------------------------------------------------------------------------------

def _table(*rows: list[object]) -> SheetTable:
    return SheetTable("t.xlsx", "S", [list(r) for r in rows])


def test_find_header_overrides_and_partial_match() -> None:
    t = _table(["名单"], ["户名", "证件", "手机"], ["张三", "3204", "138"])
    h = find_header(t, REG, schema.REGISTER_REQUIRED)
    assert h == HeaderMatch(1, {2: schema.PHONE}, ("户名", "证件"), (schema.NAME, schema.ID_NUMBER))
    h = find_header(t, REG, schema.REGISTER_REQUIRED, overrides={"户名": schema.NAME, " 证件 ": schema.ID_NUMBER})
    assert h is not None and h.missing == () and h.columns == {0: schema.NAME, 1: schema.ID_NUMBER, 2: schema.PHONE}


def test_find_header_prefers_the_first_complete_row_and_respects_scan_rows() -> None:
    t = _table(["姓名"], ["姓名", "身份证号"], ["姓名", "身份证号", "电话"])
    assert find_header(t, REG, schema.REGISTER_REQUIRED).row == 1
    t = _table(*([["说明"]] * 5), ["姓名", "身份证号"])
    assert find_header(t, REG, schema.REGISTER_REQUIRED, scan_rows=5) is None
    assert find_header(t, REG, schema.REGISTER_REQUIRED).row == 5


def test_find_header_without_any_match() -> None:
    assert find_header(_table(["a", "b"], [1, 2]), REG, schema.REGISTER_REQUIRED) is None
    assert find_header(_table(), REG, schema.REGISTER_REQUIRED) is None


def test_find_header_normalisation() -> None:
    t = _table(["＊姓 名", "身份证号码\n（18位）", "联系电话:", "出生日期(年月日)", "canonical"])
    h = find_header(t, REG, schema.REGISTER_REQUIRED, overrides={"canonical": schema.NOTE})
    assert h.columns == {0: schema.NAME, 1: schema.ID_NUMBER, 2: schema.PHONE, 3: schema.BIRTH_DATE, 4: schema.NOTE}
    assert normalise_header(" *身份证\n号码 ") == "身份证号码"


@pytest.mark.parametrize("values,expected", [
    ([], schema.SKIP_BLANK),
    ([None, "", "  "], schema.SKIP_BLANK),
    (["合计", None, "25"], schema.SKIP_TOTAL),
    ([None, "小计：", 3], schema.SKIP_TOTAL),
    (["总 计", "合计"], schema.SKIP_TOTAL),
    ([1, "本页共计", "5人"], schema.SKIP_TOTAL),
    ([1, "张三", "合计"], ROW_DATA),     # only the first non-empty cells count
    ([1, "张三", "320411"], ROW_DATA),
    (["说明：合计行请勿删除，本表由社区统一汇总后报街道"], ROW_DATA),
    ([0], ROW_DATA),
])
def test_classify_row(values: list[object], expected: str) -> None:
    assert classify_row(values) == expected
