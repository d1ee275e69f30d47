"""The updated master register (家庭户情况平铺表) as a flat table, in the layout the register loader reads back.

One sheet per grid (buildings without a grid on a last sheet), a title row, then the header
序号/楼栋/单元/室号/户主姓名/姓名/与户主关系/身份证号码/性别/出生年月/联系电话/政治面貌/户籍类型/居住状态/房东姓名/备注 and one row
per active person (head of household first), plus one row per vacant flat (居住状态 空置, no name). Cells are what the
store holds, so importing the file into an empty store and exporting again gives the same cells:

* ID numbers are text cells (never numbers), as stored (`id_number`). An ID Excel had turned into a number is
  written the way Excel showed it (3.20411195203120E+17, its 15 kept digits), so that whoever reads the file again
  sees — and flags — the damage; it is never "repaired".
* Units are the numbers the store has (甲乙丙丁 read as 1..4); rooms and buildings are text.
* Birth dates are the cell texts as read (`birth_raw`, a read date cell as YYYY-MM-DD), else the stored date.
* Phones are the parsed numbers ('138…/0519-…'), else the unreadable text as it was read.
Writing the register is an export of personal information and is logged in the audit log.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import access, models, schema
from geodata.worklist import sheet_title
from geodata.errors import NotFoundError

#: Header texts, in the order of the columns (each one of schema.REGISTER_HEADER_SYNONYMS).
HEADERS: Final = ("序号", "楼栋", "单元", "室号", "户主姓名", "姓名", "与户主关系", "身份证号码", "性别", "出生年月",
                  "联系电话", "政治面貌", "户籍类型", "居住状态", "房东姓名", "备注")
WIDTHS: Final = (6, 6, 5, 6, 9, 9, 9, 21, 5, 12, 24, 12, 10, 8, 9, 16)
TEXT_COLUMNS: Final = ("楼栋", "室号", "身份证号码", "出生年月", "联系电话")
NO_GRID: Final = "未分网格"
_TIME_OF_DAY = re.compile(r"[ T]00:00(:00)?$")


def id_cell(id_number: str | None, id_raw: str | None, id_status: str) -> str | None:
    """The text written for an ID: the stored number; for an ID Excel turned into a number, Excel's display of it."""
    if id_status == schema.ID_EXCEL_FLOAT:
        raw = (id_raw or id_number or "").strip()
        digits = raw[:-2] if raw.endswith(".0") else raw
        if digits.isdigit() and len(digits) > 15:
            return f"{Decimal(digits):.14E}"           # 3.20411195203120E+17: the 15 digits Excel kept
        return raw or None
    return id_number or (id_raw if id_status != schema.ID_MISSING else None)


def birth_cell(birth_raw: str | None, birth_date: dt.date | None) -> str | None:
    if birth_raw:
        return _TIME_OF_DAY.sub("", birth_raw.strip())
    return birth_date.isoformat() if birth_date else None


def phone_cell(phone: str | None, phone2: str | None, phone_raw: str | None) -> str | None:
    numbers = [p for p in (phone, phone2) if p]
    return "/".join(numbers) if numbers else (phone_raw or None)


def _natural(text: Any) -> tuple:
    m = re.match(r"(\d+)(.*)", str(text or ""))
    return (int(m.group(1)), m.group(2)) if m else (10**9, str(text or ""))


def register_rows(session: Session, community_id: int) -> list[tuple[int | None, list[Any]]]:
    """(grid id, row cells without 序号) of every active person and vacant flat, in sheet order."""
    B, F, H, P = models.Building, models.Flat, models.Household, models.Person
    persons = session.execute(
        select(B.grid_id, B.number, F.unit, F.floor, F.room, H.id.label("hid"), H.head_name, H.residence_status,
               H.landlord, P.id, P.name, P.relation, P.relation_text, P.id_number, P.id_raw, P.id_status, P.sex,
               P.birth_raw, P.birth_date, P.phone, P.phone2, P.phone_raw, P.political_status, P.hukou_type, P.note)
        .join(H, H.id == P.household_id).join(F, F.id == H.flat_id).join(B, B.id == F.building_id)
        .where(B.community_id == community_id, H.active.is_(True), P.active.is_(True))).all()
    occupied = {(r.number, r.unit, r.room) for r in persons}
    vacant = [v for v in session.execute(
        select(B.grid_id, B.number, F.unit, F.floor, F.room)
        .join(B, B.id == F.building_id)
        .where(B.community_id == community_id, F.residence_status == schema.RES_VACANT)).all()
        if (v.number, v.unit, v.room) not in occupied]

    def place(r: Any) -> tuple:
        return (_natural(r.number), r.unit, r.floor if r.floor is not None else 0, _natural(r.room))

    out: list[tuple[tuple, int | None, list[Any]]] = []
    for r in persons:
        relation = r.relation_text or (schema.RELATION_LABELS.get(r.relation) if r.relation else None)
        cells = [r.number, r.unit, r.room, r.head_name, r.name, relation, id_cell(r.id_number, r.id_raw, r.id_status),
                 schema.SEX_LABELS.get(r.sex) if r.sex else None, birth_cell(r.birth_raw, r.birth_date),
                 phone_cell(r.phone, r.phone2, r.phone_raw),
                 schema.POLITICAL_STATUS_LABELS.get(r.political_status) if r.political_status else None,
                 schema.HUKOU_LABELS.get(r.hukou_type) if r.hukou_type else None,
                 schema.RESIDENCE_LABELS.get(r.residence_status) if r.residence_status else None, r.landlord, r.note]
        key = (*place(r), r.hid, r.relation != schema.HEAD_RELATION, r.id)
        out.append((key, r.grid_id, cells))
    for v in vacant:
        cells = [v.number, v.unit, v.room, None, None, None, None, None, None, None, None, None,
                 schema.RESIDENCE_LABELS[schema.RES_VACANT], None, None]
        out.append(((*place(v), 0, False, 0), v.grid_id, cells))
    out.sort(key=lambda t: t[0])
    return [(gid, cells) for _, gid, cells in out]


def watermark(by: str | None, at: dt.datetime) -> str:
    """Who exported personal data, and when: printed in every sheet's header and footer and in the file's
    properties (an unmasked export is personal information wherever it travels)."""
    return f"导出人：{by or '系统'}  导出时间：{at:%Y-%m-%d %H:%M}  含个人信息，仅限工作使用，不得外传"


def write_register_xlsx(session: Session, community_id: int, path: str | Path, *, as_of: dt.date | None = None,
                        by: str | None = None, reason: str | None = None,
                        at: dt.datetime | None = None) -> dict[str, int]:
    """Write the community's register to an .xlsx file, one sheet per grid. Returns the rows written per sheet.

    The file holds full ID numbers and phones: it carries a watermark (who, when) and is logged with its reason.
    """
    community = session.get(models.Community, community_id)
    if community is None:
        raise NotFoundError(f"community {community_id} does not exist")
    as_of = as_of or dt.date.today()
    grids = session.execute(select(models.Grid.id, models.Grid.name).where(models.Grid.community_id == community_id)
                            .order_by(models.Grid.seq, models.Grid.code)).all()
    rows = register_rows(session, community_id)
    sheets = [(g.name, [cells for gid, cells in rows if gid == g.id]) for g in grids]
    known = {g.id for g in grids}
    loose = [cells for gid, cells in rows if gid not in known]
    if loose or not sheets:
        sheets.append((NO_GRID, loose))
    at = at or models.utcnow()
    mark = watermark(by, at)
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = by or "gridmap"
    wb.properties.description = mark
    wb.properties.keywords = "个人信息"
    used: set[str] = set()
    counts: dict[str, int] = {}
    title_of = community.compound or community.name
    label = f"（{schema.SYNTHETIC_LABEL}）" if community.synthetic else ""
    for name, sheet_rows in sheets:
        title = sheet_title(name, used)
        ws = wb.create_sheet(title)
        ws.append([f"{title_of}家庭户情况平铺表（{name}）{label}  导出日期：{as_of.isoformat()}"])
        ws.merge_cells(f"A1:{get_column_letter(len(HEADERS))}1")
        ws["A1"].font = Font(bold=True, size=13)
        ws["A1"].alignment = Alignment(horizontal="center")
        ws.append(list(HEADERS))
        for i, width in enumerate(WIDTHS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
            ws.cell(row=2, column=i).font = Font(bold=True)
        text_cols = [HEADERS.index(h) + 1 for h in TEXT_COLUMNS]
        for n, cells in enumerate(sheet_rows, start=1):
            ws.append([n, *cells])
            for c in text_cols:
                ws.cell(row=n + 2, column=c).number_format = "@"
        ws.freeze_panes = "A3"
        ws.oddHeader.center.text = ws.evenHeader.center.text = mark
        ws.oddFooter.center.text = ws.evenFooter.center.text = mark
        ws.print_title_rows = "2:2"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        counts[title] = len(sheet_rows)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    access.log_audit(session, by, schema.A_EXPORT, "community", community_id,
                     reason=(reason or "").strip()[:500] or "家庭户情况平铺表",
                     detail=f"register (unmasked) rows={len(rows)}")
    session.flush()
    return counts
