"""Import checkpoint registrations (人员排查和交通管控信息表): person rows with a free-text address.

Addresses are parsed to flats of the community; a row whose address names another compound is kept and reported
as outside the community, a row whose address cannot be parsed is kept without a flat and reported. A row
already imported (same name, ID, address and date) is skipped as a duplicate, so a newer, cumulative table can be
imported over an older one.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from geodata import models, schema, store
from geodata.errors import InputError
from loaders import tables
from loaders.addresses import parse_address
from loaders.areas import compounds_of, find_community
from loaders.dates import parse_birth_date
from loaders.ids import check_id
from loaders.phones import parse_phones
from loaders.report import (QUARANTINED, SKIPPED, WARNING, ImportResult, Problem, already_imported, file_hash,
                            row_text, save)

#: Rows between two progress reports while parsing a sheet.
PROGRESS_EVERY = 1000


def _reg_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return parse_birth_date(value).value


def import_checkpoint(engine: Engine, community: str, path: str | Path, *, mapping: Mapping[str, str] | None = None,
                      encoding: str | None = None, by: str | None = None,
                      progress: Callable[[str, float], None] | None = None) -> ImportResult:
    path = Path(path)
    result = ImportResult(schema.K_CHECKPOINT, path.name)
    digest = file_hash(path)
    sheets = tables.read_tables(path, encoding=encoding)
    with store.session_scope(engine) as s:
        comm = find_community(s, community)
        if already_imported(s, comm.id, schema.K_CHECKPOINT, digest, result):
            return result
        compounds = compounds_of(comm)
        flats = {(b, u, r): fid for fid, b, u, r in s.execute(
            select(models.Flat.id, models.Building.number, models.Flat.unit, models.Flat.room)
            .join(models.Building).where(models.Building.community_id == comm.id))}
        buildings = set(s.scalars(select(models.Building.number).where(models.Building.community_id == comm.id)))
        seen = {(n, i, a, d) for n, i, a, d in s.execute(
            select(models.CheckpointRegistration.name, models.CheckpointRegistration.id_raw,
                   models.CheckpointRegistration.address_raw, models.CheckpointRegistration.reg_date)
            .where(models.CheckpointRegistration.community_id == comm.id))}
        batch = models.ImportBatch(community_id=comm.id, kind=schema.K_CHECKPOINT, file_name=path.name,
                                   file_hash=digest, created_by=by,
                                   options=json.dumps({"mapping": dict(mapping or {}), "encoding": encoding},
                                                      ensure_ascii=False))
        s.add(batch)
        s.flush()
        rows = []
        header_found = False
        total_rows = sum(len(t.rows) for t in sheets) or 1
        done = 0
        for table in sheets:
            result.rows_read += len(table.rows)
            header = tables.find_header(table, schema.CHECKPOINT_HEADER_SYNONYMS, schema.CHECKPOINT_REQUIRED,
                                        overrides=mapping or {})
            if header is None or header.missing:
                missing = "、".join(header.missing if header else schema.CHECKPOINT_REQUIRED)
                for i, values in enumerate(table.rows):
                    kind = tables.classify_row(values)
                    result.add(Problem(path.name, table.sheet, i + 1, None, row_text(values),
                                       f"工作表未找到完整表头（缺少：{missing}）" if kind == "data" else "空行/合计行",
                                       QUARANTINED if kind == "data" else SKIPPED))
                continue
            header_found = True
            for i in range(header.row + 1):
                result.add(Problem(path.name, table.sheet, i + 1, None, row_text(table.rows[i]),
                                   "表头" if i == header.row else "标题/说明行", SKIPPED))
            cols = {field: idx for idx, field in header.columns.items()}
            for i in range(header.row + 1, len(table.rows)):
                values = table.rows[i]
                kind = tables.classify_row(values)
                if kind != "data":
                    result.add(Problem(path.name, table.sheet, i + 1, None, row_text(values),
                                       "空行" if kind == schema.SKIP_BLANK else "合计/小计行", SKIPPED))
                    continue
                if progress and i % PROGRESS_EVERY == 0:
                    progress(table.sheet or path.name, (done + i) / total_rows)
                cell = {f: (values[idx] if idx < len(values) else None) for f, idx in cols.items()}
                rec = _parse(cell, path.name, table.sheet, i + 1, result, compounds, flats, buildings)
                if rec is None:
                    continue
                key = (rec["name"], rec["id_raw"], rec["address_raw"], rec["reg_date"])
                if key in seen:
                    result.add(Problem(path.name, table.sheet, i + 1, None, rec["name"], "与已导入的登记重复", SKIPPED))
                    continue
                seen.add(key)
                rows.append({**rec, "community_id": comm.id, "batch_id": batch.id, "source_sheet": table.sheet,
                             "source_row": i + 1})
            done += len(table.rows)
            if progress:
                progress(table.sheet or path.name, done / total_rows)
        if not header_found:
            raise InputError("未找到卡口登记表表头：需要“姓名”和“住址”列（可用列名映射指定）", file=path.name)
        _place_unlisted_flats(s, comm.id, rows, flats, result, batch.id, by)
        if rows:
            store.bulk_insert(s, models.CheckpointRegistration.__table__, rows)
        result.imported = len(rows)
        save(s, batch, result)
    return result


def _place_unlisted_flats(s: Session, community_id: int, rows: list[dict], flats: dict, result: ImportResult,
                          batch_id: int, by: str | None) -> None:
    """Registrations at a flat of a known building that the register does not list (vacant flats often have no
    register rows): the flat exists, so it is created — without a household — and the registration placed on it,
    so what the cross-check finds there (人在户不在) shows on the map. A room beyond the building's floors or units
    is reported and left unplaced, never guessed."""
    meta = {number: (bid, floors, units) for bid, number, floors, units in s.execute(
        select(models.Building.id, models.Building.number, models.Building.floors, models.Building.units)
        .where(models.Building.community_id == community_id))}
    wanted: dict[tuple[str, int, str], dict] = {}
    for r in rows:
        if r["flat_id"] is not None or not r["in_community"] or r["building_no"] not in meta or not r["room"]:
            continue
        key = (r["building_no"], r["unit"] or 1, r["room"])
        if key in flats:
            r["flat_id"] = flats[key]
            continue
        bid, floors, units = meta[key[0]]
        floor = int(key[2]) // 100 if key[2].isdigit() and len(key[2]) >= 3 else None
        if not floor or (floors and floor > floors) or (units and key[1] > units):
            result.add(Problem(result.file, r["source_sheet"], r["source_row"], schema.ADDRESS, r["address_raw"],
                               f"户室 {key[0]}幢{key[1]}单元{key[2]} 超出楼栋的层数或单元数，未建户室，已保留", WARNING))
            continue
        wanted.setdefault(key, {"building_id": bid, "unit": key[1], "floor": floor, "room": key[2]})
    if not wanted:
        return
    new_ids = store.bulk_insert(s, models.Flat.__table__, list(wanted.values()), ("building_id", "unit", "room"))
    ids = [new_ids[(v["building_id"], v["unit"], v["room"])] for v in wanted.values()]
    flats.update(zip(wanted, ids))
    s.add_all(models.ChangeLog(by=by, how=schema.HOW_IMPORT, entity=schema.ENTITY_FLAT, entity_id=fid,
                               field="created", old=None, new="checkpoint", batch_id=batch_id) for fid in ids)
    for r in rows:
        if r["flat_id"] is None and r["building_no"] in meta and r["room"]:
            r["flat_id"] = flats.get((r["building_no"], r["unit"] or 1, r["room"]))
    result.diff["flats_added"] = len(ids)


def _parse(cell: dict, file: str, sheet: str, row: int, result: ImportResult, compounds: tuple[str, ...],
           flats: dict, buildings: set[str]) -> dict | None:
    def problem(column: str, value: object, reason: str, kind: str = WARNING) -> None:
        result.add(Problem(file, sheet, row, column, None if value is None else str(value), reason, kind,
                           raw=dict(cell)))

    name = tables.cell_text(cell.get(schema.NAME))
    if name is None:
        problem(schema.NAME, None, "姓名为空", QUARANTINED)
        return None
    idc = check_id(cell.get(schema.ID_NUMBER))
    if idc.status not in (schema.ID_OK, schema.ID_MISSING):
        problem(schema.ID_NUMBER, idc.raw, schema.ID_STATUS_LABELS[idc.status])
    phones = parse_phones(cell.get(schema.PHONE))
    if phones.status in ("invalid", "partial"):
        problem(schema.PHONE, phones.raw, f"电话号码无效：{'、'.join(phones.invalid)}")
    address_raw = tables.cell_text(cell.get(schema.ADDRESS))
    addr = parse_address(cell.get(schema.ADDRESS), compounds)
    in_community = True
    flat_id = None
    if addr.compound and compounds and addr.compound not in compounds:
        in_community = False
        problem(schema.ADDRESS, address_raw, f"地址不在本社区（{addr.compound}），已保留")
    elif addr.compound and not compounds:
        problem(schema.ADDRESS, address_raw, f"地址含小区名“{addr.compound}”，但本社区未设置小区名，无法判断是否本社区"
                "（导入网格时用 --compound 设置）")
    elif addr.building is None or addr.room is None:
        problem(schema.ADDRESS, address_raw, f"地址无法解析到户室：{addr.message or '缺少楼栋或室号'}，已保留")
    else:
        unit = addr.unit or 1
        flat_id = flats.get((addr.building, unit, addr.room))
        if addr.building not in buildings:
            problem(schema.ADDRESS, address_raw, f"楼栋 {addr.building} 不在本社区的楼栋数据中，已保留")
    role_text = (tables.cell_text(cell.get(schema.CP_ROLE)) or "").replace(" ", "")
    role = schema.CP_ROLE_SYNONYMS.get(role_text)
    if role_text and role is None:
        problem(schema.CP_ROLE, role_text, "身份无法识别（业主/租户/家属）")
    return {
        "name": name, "id_number": idc.value, "id_raw": idc.raw, "id_status": idc.status,
        "phone": phones.numbers[0] if phones.numbers else None, "phone_raw": phones.raw,
        "address_raw": address_raw, "building_no": addr.building, "unit": addr.unit, "room": addr.room,
        "flat_id": flat_id, "in_community": in_community, "role": role, "plate": tables.cell_text(cell.get(schema.PLATE)),
        "pass_no": tables.cell_text(cell.get(schema.PASS_NO)), "reg_date": _reg_date(cell.get(schema.REG_DATE)),
    }
