"""Spreadsheets and CSV files as communities really send them: sheets, merged cells, header rows.

Owns reading .xlsx/.xlsm (openpyxl), .xls (xlrd) and .csv/.tsv/.txt into `SheetTable`s with merged
ranges filled, finding the header row among title and note rows, and telling data rows from blank
and total rows. Cell values are kept as they come (an ID stored as a number stays a number so that
`ids.check_id` can flag it; CSV cells stay text). Empty cells are None in every format.
A file that cannot be read as a whole raises `InputError`; nothing here touches the store.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import io
import posixpath
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from geodata import schema
from geodata.errors import InputError

__all__ = ["SheetTable", "HeaderMatch", "read_tables", "find_header", "classify_row", "detect_encoding",
           "normalise_header", "gc_paused", "cell_text", "ROW_DATA", "TOTAL_WORDS"]

ROW_DATA = "data"
#: Words that mark a total/subtotal row when found in its first non-empty cells.
TOTAL_WORDS = ("合计", "小计", "总计", "共计", "总数", "累计", "汇总")

_XLSX_EXT = {".xlsx", ".xlsm"}
_XLS_EXT = {".xls"}
_CSV_EXT = {".csv", ".tsv", ".txt"}
_ZIP_MAGIC = b"PK\x03\x04"
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Excel 2-4 .xls files are a bare BIFF stream starting with a BOF record, not an OLE2 container.
_EXACT_INT = 10**15
_BIFF_BOF = {b"\x09\x00", b"\x09\x02", b"\x09\x04", b"\x09\x08"}

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_RE_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s[^>]*?ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
_RE_HEADER_NOISE = re.compile(r"[\s*※]+")
_RE_BRACKETED = re.compile(r"[(\[【].*?[)\]】]")


@dataclass
class SheetTable:
    file: str
    sheet: str
    rows: list[list[object]] = field(default_factory=list)


@dataclass(frozen=True)
class HeaderMatch:
    row: int
    columns: dict[int, str]
    unknown: tuple[str, ...]
    missing: tuple[str, ...]


# --- reading -----------------------------------------------------------------------------------

@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Cyclic garbage collection off while a table is turned into many small Python objects.

    Every row kept is a new list; the collector would traverse them again and again as they pile up (a fifth of
    the CPU time of reading a 100k-row register). Reference counting still frees everything; cycles made
    meanwhile are collected once it is back on. Restores the collector only if it was on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_tables(path: str | Path, *, encoding: str | None = None) -> list[SheetTable]:
    """Every sheet of a workbook (or the one table of a CSV) with merged ranges filled.

    `encoding` applies to CSV files only (default: detected).
    """
    path = Path(path)
    name = path.name
    ext = path.suffix.lower()
    if ext not in _XLSX_EXT | _XLS_EXT | _CSV_EXT:
        raise InputError(f"无法读取文件：不支持的文件类型“{path.suffix or '无扩展名'}”，"
                         "请提供 .xlsx、.xls 或 .csv 文件", file=name)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise InputError(f"无法读取文件：{exc.strerror or exc}", file=name) from None
    if ext in _CSV_EXT:
        with gc_paused():
            return [_read_csv(path, name, encoding)]
    # The content decides, not the extension: a renamed .xls may really be an .xlsx and back.
    if head.startswith(_ZIP_MAGIC):
        with gc_paused():
            return _read_xlsx(path, name)
    if head.startswith(_CFB_MAGIC) or (ext in _XLS_EXT and head[:2] in _BIFF_BOF):
        with gc_paused():
            return _read_xls(path, name)
    if ext in _XLS_EXT and head.lstrip()[:1] == b"<":
        raise InputError("无法读取文件：这是网页格式（HTML）伪装的 .xls，请用 Excel 打开后另存为 .xlsx",
                         file=name)
    raise InputError("无法读取文件：内容不是 Excel 工作簿（文件可能已损坏或不完整）", file=name)


def _trim(rows: list[list[object]]) -> list[list[object]]:
    """Drop empty trailing cells of each row and empty trailing rows (interior blanks stay)."""
    out = []
    for row in rows:
        n = len(row)
        while n and _is_empty(row[n - 1]):
            n -= 1
        out.append(list(row[:n]))
    while out and not out[-1]:
        out.pop()
    return out


def _fill_merged(rows: list[list[object]], ranges: Sequence[tuple[int, int, int, int]]) -> None:
    """Copy each range's top-left value into its other cells (0-based, inclusive bounds)."""
    if not rows:
        return
    width = max(len(r) for r in rows)
    for r0, c0, r1, c1 in ranges:
        if r0 >= len(rows) or c0 >= len(rows[r0]):
            continue
        value = rows[r0][c0]
        if value is None:
            continue
        # Ranges may reach far beyond the data (a whole column merged): clip to the data.
        r1, c1 = min(r1, len(rows) - 1), min(c1, width - 1)
        for r in range(r0, r1 + 1):
            row = rows[r]
            if len(row) <= c1:
                row.extend([None] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                if r != r0 or c != c0:
                    row[c] = value


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n - 1


def _xlsx_sheet_paths(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> part name inside the zip, from workbook.xml and its relationships."""
    wb_path = "xl/workbook.xml"
    for rel in ElementTree.fromstring(zf.read("_rels/.rels")).iter(f"{{{_NS_PKG_REL}}}Relationship"):
        if rel.get("Type", "").endswith("/officeDocument"):
            wb_path = rel.get("Target", wb_path).lstrip("/")
    base = posixpath.dirname(wb_path)
    rels_path = posixpath.join(base, "_rels", posixpath.basename(wb_path) + ".rels")
    targets = {}
    for rel in ElementTree.fromstring(zf.read(rels_path)).iter(f"{{{_NS_PKG_REL}}}Relationship"):
        target = rel.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
            posixpath.join(base, target))
        targets[rel.get("Id")] = target
    paths = {}
    for sheet in ElementTree.fromstring(zf.read(wb_path)).iter(f"{{{_NS_MAIN}}}sheet"):
        rid = sheet.get(f"{{{_NS_REL}}}id")
        if rid in targets:
            paths[sheet.get("name", "")] = targets[rid]
    return paths


def _xlsx_merged_ranges(zf: zipfile.ZipFile, part: str) -> list[tuple[int, int, int, int]]:
    # read_only mode has no merged_cells: take <mergeCell ref=...> from the XML (after sheetData).
    data = zf.read(part)
    start = data.rfind(b"</sheetData>")
    out = []
    for m in _RE_MERGE.finditer(data, max(start, 0)):
        c0, r0 = _col_index(m.group(1)), int(m.group(2)) - 1
        c1, r1 = (_col_index(m.group(3)), int(m.group(4)) - 1) if m.group(3) else (c0, r0)
        out.append((r0, c0, r1, c1))
    return out


def _read_xlsx(path: Path, name: str) -> list[SheetTable]:
    import openpyxl  # imported here: CSV-only callers should not pay for it

    # openpyxl raises many exception types for damaged files (BadZipFile, KeyError, XML errors,
    # InvalidFileException, TypeError...): any of them means this file cannot be used as a whole.
    try:
        zf = zipfile.ZipFile(path)
        # A file object, because openpyxl refuses names not ending in .xlsx (a renamed .xls).
        fh = open(path, "rb")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"无法读取文件：Excel 文件已损坏或不完整（{type(exc).__name__}）", file=name) from None
    tables = []
    with zf, fh:
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
            paths = _xlsx_sheet_paths(zf)
        except Exception as exc:  # noqa: BLE001 - see above
            raise InputError(f"无法读取文件：Excel 文件已损坏或不完整（{type(exc).__name__}）",
                             file=name) from None
        try:
            for ws in wb.worksheets:
                if not hasattr(ws, "iter_rows"):
                    continue  # chart sheets
                try:
                    # Producers often write a wrong <dimension>; reading without it loses nothing.
                    ws.reset_dimensions()
                    rows = [list(r) for r in ws.iter_rows(values_only=True)]
                    part = paths.get(ws.title)
                    if part:
                        _fill_merged(rows, _xlsx_merged_ranges(zf, part))
                except Exception as exc:  # noqa: BLE001 - see above
                    raise InputError(f"无法读取工作表：文件已损坏或不完整（{type(exc).__name__}）",
                                     file=name, sheet=ws.title) from None
                tables.append(SheetTable(name, ws.title, _trim(rows)))
        finally:
            wb.close()
    return tables


def _read_xls(path: Path, name: str) -> list[SheetTable]:
    import xlrd

    try:
        try:
            book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
        except NotImplementedError:
            # formatting_info (needed for merged cells) is not implemented for every BIFF version.
            book = xlrd.open_workbook(str(path), on_demand=True)
    except Exception as exc:  # noqa: BLE001 - xlrd raises many types for damaged files
        raise InputError(f"无法读取文件：.xls 文件已损坏或不完整（{type(exc).__name__}）", file=name) from None
    tables = []
    try:
        for idx in range(book.nsheets):
            sh = book.sheet_by_index(idx)
            rows: list[list[object]] = []
            for r in range(sh.nrows):
                row: list[object] = []
                for ctype, value in zip(sh.row_types(r), sh.row_values(r)):
                    if ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                        row.append(None)
                    elif ctype == xlrd.XL_CELL_DATE:
                        try:
                            row.append(xlrd.xldate_as_datetime(value, book.datemode))
                        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
                            row.append(value)
                    elif ctype == xlrd.XL_CELL_ERROR:
                        row.append(xlrd.error_text_from_code.get(value, "#ERR"))
                    elif ctype == xlrd.XL_CELL_BOOLEAN:
                        row.append(bool(value))
                    elif ctype == xlrd.XL_CELL_NUMBER and value.is_integer() and abs(value) < _EXACT_INT:
                        # BIFF keeps every number as a double; give whole numbers back as int like
                        # openpyxl does for .xlsx. Longer numbers (a damaged ID) stay float.
                        row.append(int(value))
                    else:
                        row.append(value)
                rows.append(row)
            # xlrd's merged_cells are (rlo, rhi, clo, chi) with exclusive upper bounds.
            _fill_merged(rows, [(rlo, clo, rhi - 1, chi - 1) for rlo, rhi, clo, chi in sh.merged_cells])
            tables.append(SheetTable(name, sh.name, _trim(rows)))
            book.unload_sheet(idx)
    finally:
        book.release_resources()
    return tables


def detect_encoding(data: bytes) -> str:
    """'utf-8-sig' (BOM), 'utf-16' (BOM), 'utf-8' (decodes strictly, incl. plain ASCII), else 'gb18030'.

    GB18030 is a superset of GBK and GB2312, the encodings of Chinese Excel's "CSV" export.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _read_csv(path: Path, name: str, encoding: str | None) -> SheetTable:
    data = path.read_bytes()
    enc = encoding or detect_encoding(data)
    try:
        text = data.decode(enc)
    except LookupError:
        raise InputError(f"无法读取文件：未知的编码“{enc}”", file=name) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"无法读取文件：不是 {enc} 编码的文本（第 {exc.start} 字节），请指定编码",
                         file=name) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    sample = text[:20000].splitlines()[:20]
    # Excel's "Unicode text" and some systems write tab-separated files under any extension.
    delimiter = "\t" if sum(s.count("\t") for s in sample) > sum(s.count(",") for s in sample) else ","
    try:
        rows = [[v if v != "" else None for v in row]
                for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise InputError(f"无法读取文件：CSV 格式错误（{exc}）", file=name) from None
    return SheetTable(name, "", _trim(rows))


# --- header and rows -----------------------------------------------------------------------------

def normalise_header(text: object) -> str:
    """Header text as matched: NFKC, no whitespace/newlines/asterisks (required-field marks)."""
    return _RE_HEADER_NOISE.sub("", unicodedata.normalize("NFKC", str(text))).rstrip(":：")


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def find_header(table: SheetTable, synonyms: Mapping[str, Sequence[str]], required: Sequence[str], *,
                overrides: Mapping[str, str] = {}, scan_rows: int = 20) -> HeaderMatch | None:
    """The header row among the first `scan_rows` rows, mapped to canonical field names.

    The first row that maps every required field wins; otherwise the row mapping the most fields
    (its `missing` says what is absent). None when no row maps any field. `overrides` maps a header
    text (as written) to a canonical name and takes precedence over the synonyms.
    """
    lookup: dict[str, str] = {}
    for canonical, texts in synonyms.items():
        lookup.setdefault(normalise_header(canonical), canonical)
        for t in texts:
            lookup[normalise_header(t)] = canonical
    for t, canonical in overrides.items():
        lookup[normalise_header(t)] = canonical

    def map_cell(value: object) -> str | None:
        key = normalise_header(value)
        if key in lookup:
            return lookup[key]
        # "出生日期(年月日)", "联系电话【手机】": the note in brackets is not part of the name.
        stripped = _RE_BRACKETED.sub("", key)
        return lookup.get(stripped) if stripped else None

    best: HeaderMatch | None = None
    best_count = 0
    for i, row in enumerate(table.rows[:scan_rows]):
        columns: dict[int, str] = {}
        unknown: list[str] = []
        for c, value in enumerate(row):
            if _is_empty(value):
                continue
            canonical = map_cell(value)
            if canonical is None:
                unknown.append(str(value).strip())
            else:
                columns[c] = canonical
        found = set(columns.values())
        if not found:
            continue
        match = HeaderMatch(i, columns, tuple(unknown), tuple(f for f in required if f not in found))
        if not match.missing:
            return match
        if len(found) > best_count:
            best, best_count = match, len(found)
    return best


def classify_row(values: Sequence[object]) -> str:
    """schema.SKIP_BLANK, schema.SKIP_TOTAL ('合计', '小计', … in the first non-empty cells) or 'data'."""
    firsts = []
    for v in values:  # a loop that stops at the second value: rows are wide and this runs for every row
        if not _is_empty(v):
            firsts.append(v)
            if len(firsts) == 2:
                break
    if not firsts:
        return schema.SKIP_BLANK
    for v in firsts:
        if isinstance(v, str):
            text = normalise_header(v)
            # Short cells only: a total label, not an address or a note that mentions a total.
            if len(text) <= 12 and any(w in text for w in TOTAL_WORDS):
                return schema.SKIP_TOTAL
    return ROW_DATA


def cell_text(value: object) -> str | None:
    """A cell as trimmed NFKC text (None when empty); an integral float (Excel's 12.0) reads as '12'."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None
