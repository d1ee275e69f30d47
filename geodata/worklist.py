"""Worklists (入户情况汇总表): the open findings of a community, per grid, in walking order, ready to print.

`worklist_rows` gives the rows (ordered by grid, building, unit, floor, room) with masked phone numbers;
`write_worklist_xlsx` writes them as a printable workbook, one sheet per grid: a title row (community, grid, date),
a header row repeated on every printed page, landscape, fitted to the page width, and three empty columns the
worker fills in by hand (核实方式, 核实结果, 备注). Writing a worklist is an export and is logged in the audit log.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import access, models, schema
from geodata.errors import NotFoundError

#: (header, width in characters) of the printed worklist.
COLUMNS: Final = (("序号", 5), ("楼栋", 6), ("单元", 5), ("室号", 6), ("户主", 9), ("问题类别", 13), ("依据", 52),
                  ("联系电话", 14), ("核实方式", 9), ("核实结果", 11), ("备注", 14))
ROW_KEYS: Final = ("finding_id", "category", "category_label", "evidence", "confidence", "grid_id", "grid_code",
                   "grid_name", "building", "unit", "floor", "room", "head_name", "name", "phone")
NO_GRID: Final = "未分网格"
_CATEGORY_ORDER = {c: i for i, c in enumerate(schema.FLAT_FINDINGS + schema.PERSON_FINDINGS
                                              + schema.HOUSEHOLD_FINDINGS)}
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _natural(text: Any) -> tuple:
    m = re.match(r"(\d+)(.*)", str(text or ""))
    return (int(m.group(1)), m.group(2)) if m else (10**9, str(text or ""))


def _floor_of(room: str | None) -> int | None:
    return int(room) // 100 if room and room.isdigit() else None


def worklist_rows(session: Session, community_id: int, grid_id: int | None = None) -> list[dict[str, Any]]:
    """The open findings of a community (or of one grid), one dict per finding with ROW_KEYS, ordered by grid,
    building, unit, floor, room and category. `phone` is masked (138****5678); names are shown as stored."""
    B, F, H, P, C, Fd = (models.Building, models.Flat, models.Household, models.Person, models.CheckpointRegistration,
                         models.Finding)
    findings = session.execute(
        select(Fd.id, Fd.category, Fd.flat_id, Fd.household_id, Fd.person_id, Fd.checkpoint_id, Fd.evidence,
               Fd.confidence)
        .where(Fd.community_id == community_id, Fd.status == schema.FINDING_OPEN)).all()
    grids = {g.id: g for g in session.execute(select(models.Grid.id, models.Grid.code, models.Grid.name,
                                                     models.Grid.seq)
                                              .where(models.Grid.community_id == community_id))}
    buildings = {b.number: b.grid_id for b in session.execute(select(B.number, B.grid_id)
                                                              .where(B.community_id == community_id))}
    flats = {f.id: f for f in session.execute(select(F.id, B.number, F.unit, F.floor, F.room, B.grid_id)
                                              .join(B, B.id == F.building_id).where(B.community_id == community_id))}
    person_ids = {r.person_id for r in findings if r.person_id}
    household_ids = {r.household_id for r in findings if r.household_id}
    persons = {p.id: p for p in _in(session, select(P.id, P.household_id, P.name, P.phone, P.phone2), P.id,
                                    person_ids)}
    household_ids |= {p.household_id for p in persons.values()}
    households = {h.id: h for h in _in(session, select(H.id, H.flat_id, H.head_name), H.id, household_ids)}
    flat_ids = {r.flat_id for r in findings if r.flat_id} | {h.flat_id for h in households.values()}
    first_household: dict[int, Any] = {}
    for h in _in(session, select(H.id, H.flat_id, H.head_name).where(H.active.is_(True)).order_by(H.id), H.flat_id,
                 flat_ids):
        first_household.setdefault(h.flat_id, h)
    for h in first_household.values():
        households.setdefault(h.id, h)
    head_phone = _head_phones(session, set(households))
    registrations = {c.id: c for c in _in(session, select(C.id, C.name, C.phone, C.building_no, C.unit, C.room,
                                                          C.flat_id),
                                          C.id, {r.checkpoint_id for r in findings if r.checkpoint_id})}
    rows = []
    for r in findings:
        person = persons.get(r.person_id)
        hh = households.get(r.household_id) or (households.get(person.household_id) if person else None)
        flat = flats.get(r.flat_id) or (flats.get(hh.flat_id) if hh else None)
        reg = registrations.get(r.checkpoint_id)
        if hh is None and flat is not None:
            hh = first_household.get(flat.id)
        if flat is not None:
            building, unit, floor, room, gid = flat.number, flat.unit, flat.floor, flat.room, flat.grid_id
        elif reg is not None:
            building, unit, room = reg.building_no, reg.unit or 1, reg.room
            floor, gid = _floor_of(reg.room), buildings.get(reg.building_no)
        else:
            building = unit = floor = room = gid = None
        if grid_id is not None and gid != grid_id:
            continue
        phone = (person.phone or person.phone2) if person else None
        if not phone and r.category in (schema.F_PRESENT_UNREGISTERED, schema.F_NEW_MEMBER,
                                        schema.F_AMBIGUOUS_MATCH) and reg is not None:
            phone = reg.phone
        if not phone and hh is not None:
            phone = head_phone.get(hh.id)
        if not phone and reg is not None:
            phone = reg.phone
        head = hh.head_name if hh is not None else (f"{reg.name}（卡口登记）" if reg is not None else None)
        grid = grids.get(gid)
        rows.append({
            "finding_id": r.id, "category": r.category, "category_label": schema.FINDING_LABELS[r.category],
            "evidence": r.evidence or "", "confidence": r.confidence, "grid_id": gid,
            "grid_code": grid.code if grid else None, "grid_name": grid.name if grid else None,
            "building": building, "unit": unit, "floor": floor if floor is not None else _floor_of(room),
            "room": room, "head_name": head, "name": person.name if person else (reg.name if reg else None),
            "phone": access.mask_phone(phone) if phone else ""})
    seq = {gid: (g.seq if g.seq is not None else 10**6, g.code) for gid, g in grids.items()}
    rows.sort(key=lambda x: (x["grid_id"] is None, seq.get(x["grid_id"], (10**6, "")), _natural(x["building"]),
                             x["unit"] or 0, x["floor"] or 0, _natural(x["room"]),
                             _CATEGORY_ORDER.get(x["category"], 99), x["finding_id"]))
    return rows


def _in(session: Session, query: Any, column: Any, ids: Iterable[int]) -> list[Any]:
    """Rows of `query` whose `column` is among `ids`, in chunks (SQLite limits bound parameters)."""
    ids = sorted(ids)
    out: list[Any] = []
    for i in range(0, len(ids), 900):
        out.extend(session.execute(query.where(column.in_(ids[i:i + 900]))).all())
    return out


def _head_phones(session: Session, household_ids: set[int]) -> dict[int, str]:
    """A contact number per household: the head's, else the first member's that has one."""
    P = models.Person
    best: dict[int, tuple[int, str]] = {}
    for p in _in(session, select(P.household_id, P.relation, P.phone, P.phone2, P.id)
                 .where(P.active.is_(True)).order_by(P.id), P.household_id, household_ids):
        phone = p.phone or p.phone2
        if not phone:
            continue
        rank = 0 if p.relation == schema.HEAD_RELATION else 1
        if p.household_id not in best or rank < best[p.household_id][0]:
            best[p.household_id] = (rank, phone)
    return {hid: phone for hid, (_, phone) in best.items()}


def print_setup(ws: Any, *, header_rows: int) -> None:
    """A printable sheet of residents: A4 landscape, one page wide, the `header_rows` repeated and frozen, page
    numbers and a confidentiality line in the footer."""
    ws.freeze_panes = f"A{header_rows + 1}"
    ws.print_title_rows = f"1:{header_rows}"
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    ws.oddFooter.center.text = "第 &P 页 / 共 &N 页"
    ws.oddFooter.left.text = "个人信息，注意保密"


def sheet_title(name: str, used: set[str]) -> str:
    """A valid, unique Excel sheet name for a grid (no []:*?/\\, at most 31 characters)."""
    base = _SHEET_FORBIDDEN.sub("_", name)[:31] or "网格"
    title, n = base, 2
    while title in used:
        suffix = f"({n})"
        title, n = base[:31 - len(suffix)] + suffix, n + 1
    used.add(title)
    return title


def write_worklist_xlsx(session: Session, community_id: int, path: str | Path, grid_code: str | None = None, *,
                        as_of: dt.date | None = None, by: str | None = None) -> dict[str, int]:
    """Write the community's worklist (or one grid's) to an .xlsx file, one printable sheet per grid.

    Returns the number of rows per sheet. Raises NotFoundError for an unknown community or grid code."""
    community = session.get(models.Community, community_id)
    if community is None:
        raise NotFoundError(f"community {community_id} does not exist")
    grids = session.execute(select(models.Grid.id, models.Grid.code, models.Grid.name)
                            .where(models.Grid.community_id == community_id)
                            .order_by(models.Grid.seq, models.Grid.code)).all()
    if grid_code is not None:
        grids = [g for g in grids if g.code == grid_code]
        if not grids:
            known = "、".join(session.scalars(select(models.Grid.code)
                                             .where(models.Grid.community_id == community_id)).all()) or "无"
            raise NotFoundError(f"--grid: 社区 {community.name} 没有网格 {grid_code!r}；已有网格：{known}")
    rows = worklist_rows(session, community_id, grids[0].id if grid_code is not None else None)
    as_of = as_of or dt.date.today()
    sheets: list[tuple[str, str | None, list[dict[str, Any]]]] = [
        (g.name, g.code, [r for r in rows if r["grid_id"] == g.id]) for g in grids]
    loose = [r for r in rows if r["grid_id"] is None]
    if loose and grid_code is None:
        sheets.append((NO_GRID, None, loose))
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    counts: dict[str, int] = {}
    for name, code, sheet_rows in sheets:
        title = sheet_title(name, used)
        _write_sheet(wb.create_sheet(title), community, name, code, sheet_rows, as_of)
        counts[title] = len(sheet_rows)
    if not sheets:
        _write_sheet(wb.create_sheet(NO_GRID), community, NO_GRID, None, [], as_of)
        counts[NO_GRID] = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    access.log_audit(session, by, schema.A_EXPORT, "community", community_id, reason="入户情况汇总表",
                     detail=f"worklist grid={grid_code or 'all'} rows={len(rows)}")
    session.flush()
    return counts


_THIN = Side(style="thin", color="808080")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _write_sheet(ws: Any, community: models.Community, grid_name: str, grid_code: str | None,
                 rows: list[dict[str, Any]], as_of: dt.date) -> None:
    last = get_column_letter(len(COLUMNS))
    label = f"（{schema.SYNTHETIC_LABEL}）" if community.synthetic else ""
    grid = f"{grid_name}（{grid_code}）" if grid_code else grid_name
    ws.append([f"{community.name} {grid} 入户情况汇总表{label}    日期：{as_of.isoformat()}    共 {len(rows)} 条"])
    ws.merge_cells(f"A1:{last}1")
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 26
    ws.append([h for h, _ in COLUMNS])
    for i, (_, width) in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=2, column=i)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center")
        cell.border = _BOX
        ws.column_dimensions[get_column_letter(i)].width = width
    wrap = Alignment(wrap_text=True, vertical="top")
    for n, r in enumerate(rows, start=1):
        ws.append([n, r["building"], r["unit"], r["room"], r["head_name"] or "", r["category_label"],
                   r["evidence"], r["phone"], "", "", ""])
        for i in range(1, len(COLUMNS) + 1):
            cell = ws.cell(row=n + 2, column=i)
            cell.border = _BOX
            cell.alignment = wrap
        ws.cell(row=n + 2, column=8).number_format = "@"
        ws.row_dimensions[n + 2].height = max(30, 15 * (len(r["evidence"]) // 48 + 1))
    if not rows:
        ws.append(["", "", "", "", "", "无待核实问题"])
    print_setup(ws, header_rows=2)
