"""What an uploaded file looks like before it is imported: detected header rows, the column → field mapping, the
kind of table it probably is, and the fields of a vector file. Pure functions over `loaders.tables` and
`loaders.geo` results; nothing touches the store.

A column mapping is the same JSON object the CLI's `--mapping` takes: {"header text as written": "field"}, where
field is a schema field name (schema.NAME, schema.ID_NUMBER, …) or IGNORE ("") for a column that must not be
imported even though its header looks like a known one.
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd

from geodata import access, schema
from geodata.errors import InputError
from loaders import areas, tables

TABLE_KINDS = (schema.K_REGISTER, schema.K_CHECKPOINT)
GEO_KINDS = (schema.K_GRIDS, schema.K_BUILDINGS)
KIND_LABELS = {schema.K_REGISTER: "家庭户情况平铺表（户籍底册）", schema.K_CHECKPOINT: "人员排查和交通管控信息表（卡口登记）",
               schema.K_GRIDS: "网格面（地理数据）", schema.K_BUILDINGS: "楼栋面（地理数据）"}
#: Mapping value meaning "do not import this column".
IGNORE = ""
#: CRS choices for vector files; "" = as the file declares.
CRS_CHOICES = (("", "按文件声明"), (schema.STORE_CRS, "WGS84 (EPSG:4326, GPS)"),
               (schema.CGCS2000, "CGCS2000 (EPSG:4490, 天地图)"),
               (schema.CGCS2000_GK_120E, "CGCS2000 3度带 120°E (EPSG:4549, 测绘/规划局，米)"),
               (schema.GCJ02, "GCJ-02（高德/腾讯地图）"), (schema.BD09, "BD-09（百度地图）"))
ENCODING_CHOICES = (("", "自动识别"), ("gbk", "GBK（中文 Windows/Excel 导出）"), ("utf-8", "UTF-8"))
SAMPLES = 3

_SYNONYMS = {schema.K_REGISTER: schema.REGISTER_HEADER_SYNONYMS, schema.K_CHECKPOINT: schema.CHECKPOINT_HEADER_SYNONYMS}
_REQUIRED = {schema.K_REGISTER: schema.REGISTER_REQUIRED, schema.K_CHECKPOINT: schema.CHECKPOINT_REQUIRED}
#: Labels where the first synonym would be ambiguous in a drop-down.
_LABEL_OVERRIDES = {schema.GRID: "所属网格", schema.CP_ROLE: "身份（业主/租户/家属）", schema.ADDRESS: "地址（住址）",
                    schema.HEAD_NAME: "户主姓名"}
_MASKERS = {schema.ID_NUMBER: access.mask_id, schema.PHONE: access.mask_phone}
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")


def field_labels(kind: str) -> dict[str, str]:
    """schema field → Chinese label, for the fields of a table kind (in the schema's order)."""
    if kind not in _SYNONYMS:
        raise InputError(f"数据类型无效：应为 {'、'.join(TABLE_KINDS)}，收到 {kind!r}")
    return {f: _LABEL_OVERRIDES.get(f, syn[0] if syn else f) for f, syn in _SYNONYMS[kind].items()}


def required_fields(kind: str) -> tuple[str, ...]:
    return tuple(_REQUIRED[kind])


# --- masking of personal values shown in previews and reports -----------------------------------------

def mask_text(value: object) -> str:
    """Free text (a whole row, a note) with every ID number and phone number in it masked."""
    if value is None:
        return ""
    text = str(value)
    text = _ID_IN_TEXT.sub(lambda m: access.mask_id(m.group(1)), text)
    return _PHONE_IN_TEXT.sub(lambda m: access.mask_phone(m.group(0)), text)


def mask_value(field: str | None, value: object) -> str:
    """A cell for display: IDs and phones masked by their field, any other text pattern-masked."""
    if value is None:
        return ""
    if field in _MASKERS:
        return _MASKERS[field](str(value))
    return mask_text(value)


# --- tables ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ColumnPreview:
    index: int              # 0-based column in the sheet
    header: str             # as written
    field: str | None       # schema field, None when unknown (or ignored)
    samples: tuple[str, ...]  # first values below the header, masked


@dataclasses.dataclass(frozen=True)
class SheetPreview:
    sheet: str
    header_row: int | None  # 1-based, as the spreadsheet shows it; None when no header was found
    columns: tuple[ColumnPreview, ...]
    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    rows: int               # rows in the sheet
    data_rows: int          # rows below the header that are data (not blank, not totals)


@dataclasses.dataclass(frozen=True)
class TablePreview:
    kind: str
    sheets: tuple[SheetPreview, ...]
    headers: tuple[str, ...]            # distinct header texts over every sheet, in order
    fields: dict[str, str | None]       # header text → field as detected (with the given mapping)
    problems: tuple[str, ...]           # mapping problems (missing required fields, duplicates)


def _cell_text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _matched_fields(sheets: Sequence[tables.SheetTable], kind: str) -> set[str]:
    found: set[str] = set()
    for t in sheets:
        h = tables.find_header(t, _SYNONYMS[kind], _REQUIRED[kind])
        if h is not None:
            found |= set(h.columns.values())
    return found


def guess_table_kind(sheets: Sequence[tables.SheetTable]) -> str:
    """K_REGISTER or K_CHECKPOINT: the kind whose own header words (not shared by both) the file has more of."""
    reg_only = set(schema.REGISTER_HEADER_SYNONYMS) - set(schema.CHECKPOINT_HEADER_SYNONYMS)
    cp_only = set(schema.CHECKPOINT_HEADER_SYNONYMS) - set(schema.REGISTER_HEADER_SYNONYMS)
    reg = len(_matched_fields(sheets, schema.K_REGISTER) & reg_only)
    cp = len(_matched_fields(sheets, schema.K_CHECKPOINT) & cp_only)
    return schema.K_CHECKPOINT if cp > reg else schema.K_REGISTER


def preview_tables(sheets: Sequence[tables.SheetTable], kind: str, mapping: Mapping[str, str] | None = None,
                   *, samples: int = SAMPLES) -> TablePreview:
    """Header row, columns with their detected field and a few (masked) sample values, per sheet."""
    labels = field_labels(kind)
    out: list[SheetPreview] = []
    headers: dict[str, str | None] = {}
    for t in sheets:
        h = tables.find_header(t, _SYNONYMS[kind], _REQUIRED[kind], overrides=mapping or {})
        if h is None:
            out.append(SheetPreview(t.sheet, None, (), tuple(labels[f] for f in _REQUIRED[kind]), (), len(t.rows), 0))
            continue
        header_cells = t.rows[h.row]
        body = [r for r in t.rows[h.row + 1:] if tables.classify_row(r) == tables.ROW_DATA]
        columns = []
        for c, value in enumerate(header_cells):
            text = _cell_text(value)
            if not text:
                continue
            field = h.columns.get(c) or None
            shown = tuple(mask_value(field, r[c]) for r in body[:samples] if c < len(r) and r[c] not in (None, ""))
            columns.append(ColumnPreview(c, text, field, shown))
            headers.setdefault(text, field)
        missing = tuple(labels.get(f, f) for f in h.missing)
        out.append(SheetPreview(t.sheet, h.row + 1, tuple(columns), missing, h.unknown, len(t.rows), len(body)))
    fields = dict(headers)
    return TablePreview(kind, tuple(out), tuple(headers), fields, tuple(mapping_problems(kind, fields)))


def mapping_problems(kind: str, assigned: Mapping[str, str | None]) -> list[str]:
    """What is wrong with a mapping (header → field or None): missing required fields, a field given twice."""
    labels = field_labels(kind)
    problems = []
    chosen = [f for f in assigned.values() if f]
    unknown = sorted({f for f in chosen if f not in labels})
    if unknown:
        problems.append(f"未知字段：{'、'.join(unknown)}")
    missing = [labels[f] for f in _REQUIRED[kind] if f not in chosen]
    if missing:
        problems.append(f"缺少必需的列：{'、'.join(missing)}（请在下拉框中为对应的列选择字段）")
    if kind == schema.K_REGISTER and schema.ADDRESS not in chosen and not {schema.BUILDING, schema.ROOM} <= set(chosen):
        problems.append(f"缺少住址：需要“{labels[schema.ADDRESS]}”列，或“{labels[schema.BUILDING]}”和"
                        f"“{labels[schema.ROOM]}”列")
    for f in labels:
        cols = [h for h, g in assigned.items() if g == f]
        if len(cols) > 1:
            problems.append(f"字段“{labels[f]}”对应了多个列：{'、'.join(cols)}（只能选一列）")
    return problems


def detected_fields(kind: str, headers: Sequence[str]) -> dict[str, str | None]:
    """header text → field by the synonyms alone (no mapping)."""
    table = tables.SheetTable("", "", [list(headers)])
    h = tables.find_header(table, _SYNONYMS[kind], _REQUIRED[kind], scan_rows=1)
    found = h.columns if h is not None else {}
    return {text: found.get(i) for i, text in enumerate(headers)}


def effective_mapping(kind: str, headers: Sequence[str], choices: Mapping[str, str | None]) -> dict[str, str]:
    """The mapping to import with (CLI format): every chosen field, and IGNORE for a column the synonyms would
    have picked up but the user left empty."""
    labels = field_labels(kind)
    auto = detected_fields(kind, headers)
    mapping: dict[str, str] = {}
    for text in headers:
        choice = choices.get(text)
        if choice:
            if choice not in labels:
                raise InputError(f"列“{text}”：字段 {choice!r} 不是{KIND_LABELS[kind]}的字段")
            mapping[text] = choice
        elif auto.get(text):
            mapping[text] = IGNORE
    return mapping


def load_mapping(data: bytes | str, kind: str | None = None) -> dict[str, str]:
    """A saved mapping (JSON object {"header": "field"}), checked; InputError with the reason otherwise."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        obj = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"列名映射文件不是有效的 JSON（{type(exc).__name__}）") from None
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()):
        raise InputError("列名映射文件应为 JSON 对象 {\"表头文字\": \"字段名\"}")
    if len(obj) > 500:
        raise InputError(f"列名映射文件过大（{len(obj)} 项）")
    if kind is not None:
        labels = field_labels(kind)
        bad = sorted({v for v in obj.values() if v != IGNORE and v not in labels})
        if bad:
            raise InputError(f"列名映射中有{KIND_LABELS[kind]}没有的字段：{'、'.join(bad)}"
                             f"（可用：{'、'.join(labels)}）")
    return {k.strip(): v for k, v in obj.items() if k.strip()}


def dump_mapping(mapping: Mapping[str, str]) -> str:
    return json.dumps(dict(mapping), ensure_ascii=False, indent=2)


# --- vector files ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GeoPreview:
    kind: str                   # guessed: K_GRIDS or K_BUILDINGS
    features: int
    fields: tuple[str, ...]
    crs: str | None             # as declared by the file, None when it declares none
    samples: dict[str, tuple[str, ...]]
    geometry_types: tuple[str, ...]


def guess_geo_kind(columns: Sequence[str]) -> str:
    cols = set(map(str, columns))
    grid_words = set(areas.GRID_CODE_FIELDS[:5]) | set(areas.GRID_NAME_FIELDS[:2]) | {"WGBM", "WGMC"}
    building_words = set(areas.BUILDING_NUMBER_FIELDS[:7]) | set(areas.FLOOR_FIELDS) | set(areas.UNIT_FIELDS)
    if cols & grid_words and not cols & building_words:
        return schema.K_GRIDS
    if cols & building_words:
        return schema.K_BUILDINGS
    return schema.K_GRIDS


def preview_geo(gdf: gpd.GeoDataFrame, *, samples: int = SAMPLES) -> GeoPreview:
    fields = tuple(str(c) for c in gdf.columns if c != gdf.geometry.name)
    shown = {f: tuple(mask_text(v) for v in gdf[f].head(samples).tolist() if v is not None) for f in fields}
    crs = gdf.crs.to_string() if gdf.crs is not None else None
    types = tuple(sorted({str(t) for t in gdf.geom_type.dropna().unique()}))
    return GeoPreview(guess_geo_kind(fields), len(gdf), fields, crs, shown, types)


def as_json(preview: Any) -> dict[str, Any]:
    """A preview as plain JSON data, exactly as the browser gets it (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(preview), ensure_ascii=False, default=str))
