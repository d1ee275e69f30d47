"""Import the master register (家庭户情况平铺表) into the store — and on re-import, apply the diff with history.

A register arrives as .xlsx/.xls/.csv, one sheet per grid or one for all, with title rows, merged cells and total
rows (`loaders.tables`). Each person row is parsed (ID, phone, birth date, address, codes); a row that cannot be
placed (no name, unknown building, no room) is quarantined with its reason; a row with a doubtful value (an ID
Excel turned into a number, a bad check char, a birth date that disagrees with the ID) is imported as it is and
reported as a warning. Nothing is repaired: raw texts are kept beside the parsed values.

Re-importing a newer register compares it with the store: persons and households added, changed (field by field,
logged in the change log with how=import) and no longer listed (kept, marked inactive). The same file twice
changes nothing.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from geodata import history, models, schema, store
from geodata.errors import InputError
from loaders import tables
from loaders.addresses import parse_address, parse_building_no, parse_room, parse_unit
from loaders.areas import compounds_of, find_community
from loaders.dates import dates_agree, parse_birth_date
from loaders.ids import check_id
from loaders.phones import parse_phones
from loaders.report import (QUARANTINED, SKIPPED, WARNING, ImportResult, Problem, already_imported, file_hash,
                            row_text, save)

Progress = Callable[[str, float], None]
PERSON_FIELDS = ("name", "relation", "relation_text", "id_number", "id_raw", "id_status", "sex", "birth_date",
                 "birth_raw", "phone", "phone2", "phone_raw", "political_status", "hukou_type", "note")
HOUSEHOLD_FIELDS = ("head_name", "residence_status", "landlord")
#: A re-import removing this share of the households or more needs allow_removals (see import_register).
MAX_REMOVED_SHARE = 0.5
#: Rows between two progress reports while parsing a sheet.
PROGRESS_EVERY = 1000


def _code(value: object, synonyms: Mapping[str, str], labels: Mapping[str, str]) -> tuple[str | None, bool]:
    """(code, recognised) for a coded text column; an empty cell is (None, True)."""
    text = tables.cell_text(value)
    if text is None:
        return None, True
    text = text.replace(" ", "")
    if text in synonyms:
        return synonyms[text], True
    for code, label in labels.items():
        if text in (label, code):
            return code, True
    return None, False


def _remembering(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`fn` (pure) with a memory for one parse: building, unit and room cells repeat on every member of a
    household (merged cells), coded columns hold a few dozen texts."""
    memory: dict[tuple[type, Any], Any] = {}

    def call(value: Any) -> Any:
        key = (type(value), value)   # the type too: 1, 1.0 and True are equal keys
        try:
            return memory[key]
        except KeyError:
            memory[key] = out = fn(value)
            return out
        except TypeError:            # an unhashable value from a table built in code
            return fn(value)
    return call


def _cell_parsers() -> dict[str, Callable[[Any], Any]]:
    def code(synonyms: Mapping[str, str], labels: Mapping[str, str]) -> Callable[[Any], Any]:
        return _remembering(lambda v: _code(v, synonyms, labels))
    return {
        schema.BUILDING: _remembering(parse_building_no), schema.UNIT: _remembering(parse_unit),
        schema.ROOM: _remembering(parse_room),
        schema.RESIDENCE_STATUS: code(schema.RESIDENCE_SYNONYMS, schema.RESIDENCE_LABELS),
        schema.RELATION: code(schema.RELATION_SYNONYMS, schema.RELATION_LABELS),
        schema.POLITICAL_STATUS: code(schema.POLITICAL_STATUS_SYNONYMS, schema.POLITICAL_STATUS_LABELS),
        schema.HUKOU_TYPE: code(schema.HUKOU_SYNONYMS, schema.HUKOU_LABELS),
    }


@dataclasses.dataclass
class PersonRow:
    sheet: str
    row: int
    flat_key: tuple[str, int, str]
    floor: int | None
    head_name: str | None
    residence_status: str | None
    landlord: str | None
    values: dict[str, Any]


def parse_rows(sheets: list[tables.SheetTable], result: ImportResult, *, mapping: Mapping[str, str] | None = None,
               compounds: tuple[str, ...] = (), today: dt.date | None = None,
               progress: Progress | None = None) -> tuple[list[PersonRow], list[PersonRow]]:
    """Person rows and vacant-flat rows of every sheet; every other row is accounted for in `result`."""
    persons: list[PersonRow] = []
    vacant: list[PersonRow] = []
    file = result.file
    header_found = False
    parsers = _cell_parsers()
    total_rows = sum(len(t.rows) for t in sheets) or 1
    done = 0
    for table in sheets:
        result.rows_read += len(table.rows)
        header = tables.find_header(table, schema.REGISTER_HEADER_SYNONYMS, schema.REGISTER_REQUIRED,
                                    overrides=mapping or {})
        has_place = header is not None and (
            schema.ADDRESS in header.columns.values() or
            {schema.BUILDING, schema.ROOM} <= set(header.columns.values()))
        if header is None or header.missing or not has_place:
            missing = list(header.missing) if header else list(schema.REGISTER_REQUIRED)
            if header is not None and not has_place:
                missing.append("楼栋/单元/室号 或 地址")
            for i, values in enumerate(table.rows):
                kind = tables.classify_row(values)
                reason = (f"工作表未找到完整表头（缺少：{'、'.join(missing)}）" if kind == "data"
                          else "空行" if kind == schema.SKIP_BLANK else "合计行")
                result.add(Problem(file, table.sheet, i + 1, None, row_text(values), reason,
                                   QUARANTINED if kind == "data" else SKIPPED))
            continue
        header_found = True
        for i in range(header.row + 1):
            result.add(Problem(file, table.sheet, i + 1, None, row_text(table.rows[i]),
                               "表头" if i == header.row else "标题/说明行", SKIPPED))
        cols = {field: idx for idx, field in header.columns.items()}
        for i in range(header.row + 1, len(table.rows)):
            values = table.rows[i]
            kind = tables.classify_row(values)
            if kind != "data":
                result.add(Problem(file, table.sheet, i + 1, None, row_text(values),
                                   "空行" if kind == schema.SKIP_BLANK else "合计/小计行", SKIPPED))
                continue
            if progress and i % PROGRESS_EVERY == 0:
                progress(f"{table.sheet or file}", (done + i) / total_rows)
            cell = {field: (values[idx] if idx < len(values) else None) for field, idx in cols.items()}
            parsed = _parse_person(cell, file, table.sheet, i + 1, result, compounds, today, parsers)
            if parsed is not None:
                (vacant if parsed.values.get("name") is None else persons).append(parsed)
        done += len(table.rows)
        if progress:
            progress(f"{table.sheet or file}", done / total_rows)
    if not header_found:
        raise InputError("未找到登记表表头：需要“姓名”和“身份证号码”列，以及“楼栋/单元/室号”或“地址”列"
                         "（可用列名映射指定）", file=file)
    return persons, vacant


def _parse_person(cell: dict[str, Any], file: str, sheet: str, row: int, result: ImportResult,
                  compounds: tuple[str, ...], today: dt.date | None,
                  parsers: Mapping[str, Callable[[Any], Any]]) -> PersonRow | None:
    def problem(column: str | None, value: object, reason: str, kind: str = QUARANTINED) -> None:
        result.add(Problem(file, sheet, row, column, None if value is None else str(value), reason, kind,
                           raw={k: v for k, v in cell.items()}))

    building = parsers[schema.BUILDING](cell.get(schema.BUILDING))
    unit = parsers[schema.UNIT](cell.get(schema.UNIT))
    room_floor = parsers[schema.ROOM](cell.get(schema.ROOM))
    if (building is None or room_floor is None) and cell.get(schema.ADDRESS) not in (None, ""):
        addr = parse_address(cell[schema.ADDRESS], compounds)
        building = building or addr.building
        unit = unit or addr.unit
        if room_floor is None and addr.room:
            room_floor = (addr.room, addr.floor)
    if building is None:
        problem(schema.BUILDING, cell.get(schema.BUILDING) or cell.get(schema.ADDRESS), "无法识别楼栋号")
        return None
    if room_floor is None:
        problem(schema.ROOM, cell.get(schema.ROOM) or cell.get(schema.ADDRESS), "无法识别室号")
        return None
    if unit is None:
        if cell.get(schema.UNIT) in (None, "") and schema.UNIT not in cell:
            unit = 1  # buildings with one stairwell have no unit column; the room alone names the flat
        else:
            problem(schema.UNIT, cell.get(schema.UNIT) or cell.get(schema.ADDRESS), "无法识别单元号")
            return None
    res_status, ok = parsers[schema.RESIDENCE_STATUS](cell.get(schema.RESIDENCE_STATUS))
    if not ok:
        problem(schema.RESIDENCE_STATUS, cell.get(schema.RESIDENCE_STATUS), "居住状态无法识别（已保留原文于备注）",
                WARNING)
    name = tables.cell_text(cell.get(schema.NAME))
    base = PersonRow(sheet, row, (building, unit, room_floor[0]), room_floor[1], tables.cell_text(cell.get(schema.HEAD_NAME)),
                     res_status, tables.cell_text(cell.get(schema.LANDLORD)), {"name": name})
    if name is None:
        if res_status == schema.RES_VACANT:
            return base  # a vacant flat listed without persons
        problem(schema.NAME, None, "姓名为空")
        return None
    sex_text = tables.cell_text(cell.get(schema.SEX))
    stated_sex = _SEX_TEXT.get(sex_text or "")
    idc = check_id(cell.get(schema.ID_NUMBER), today=today, sex=stated_sex)
    if idc.status != schema.ID_OK:
        kind = WARNING
        reason = schema.ID_STATUS_LABELS[idc.status] + (f"：{idc.message}" if idc.message else "")
        if idc.status == schema.ID_UPGRADED_15:
            reason = "15位身份证号，已按规则升级为18位（原号码保留）"
        problem(schema.ID_NUMBER, idc.raw, reason, kind)
    birth = parse_birth_date(cell.get(schema.BIRTH_DATE), today=today)
    if birth.raw and birth.value is None:
        problem(schema.BIRTH_DATE, birth.raw, f"出生日期无法识别：{birth.message}", WARNING)
    if birth.value and idc.birth_date and not dates_agree(birth, idc.birth_date):
        problem(schema.BIRTH_DATE, birth.raw, f"出生日期与身份证不符（身份证：{idc.birth_date.isoformat()}）", WARNING)
    phones = parse_phones(cell.get(schema.PHONE))
    if phones.status in ("invalid", "partial"):
        problem(schema.PHONE, phones.raw, f"电话号码无效：{'、'.join(phones.invalid)}", WARNING)
    relation, rel_ok = parsers[schema.RELATION](cell.get(schema.RELATION))
    if not rel_ok:
        problem(schema.RELATION, cell.get(schema.RELATION), "与户主关系无法识别（原文已保留）", WARNING)
    political, pol_ok = parsers[schema.POLITICAL_STATUS](cell.get(schema.POLITICAL_STATUS))
    if not pol_ok:
        problem(schema.POLITICAL_STATUS, cell.get(schema.POLITICAL_STATUS), "政治面貌无法识别", WARNING)
    hukou, hk_ok = parsers[schema.HUKOU_TYPE](cell.get(schema.HUKOU_TYPE))
    if not hk_ok:
        problem(schema.HUKOU_TYPE, cell.get(schema.HUKOU_TYPE), "户籍类型无法识别", WARNING)
    if sex_text and stated_sex is None:
        problem(schema.SEX, sex_text, "性别无法识别（原文已保留在备注）", WARNING)
    elif stated_sex and idc.sex and stated_sex != idc.sex:
        problem(schema.SEX, sex_text, f"性别与身份证号不符（身份证：{schema.SEX_LABELS[idc.sex]}），按身份证记录",
                WARNING)
    sex = idc.sex or stated_sex
    note = tables.cell_text(cell.get(schema.NOTE))
    if not ok:
        note = "；".join(filter(None, [note, f"居住状态原文：{tables.cell_text(cell.get(schema.RESIDENCE_STATUS))}"]))
    if sex_text and stated_sex is None:
        note = "；".join(filter(None, [note, f"性别原文：{sex_text}"]))
    numbers = phones.numbers
    base.values = {
        "name": name, "relation": relation, "relation_text": tables.cell_text(cell.get(schema.RELATION)),
        "id_number": idc.value, "id_raw": idc.raw, "id_status": idc.status, "sex": sex,
        "birth_date": idc.birth_date if idc.status in (schema.ID_OK, schema.ID_UPGRADED_15) else birth.value,
        "birth_raw": birth.raw, "phone": numbers[0] if numbers else None,
        "phone2": numbers[1] if len(numbers) > 1 else None, "phone_raw": phones.raw,
        "political_status": political, "hukou_type": hukou, "note": note,
    }
    return base


#: What a register's 性别 column says, read as schema.SEX_*.
_SEX_TEXT = {"男": schema.SEX_MALE, "女": schema.SEX_FEMALE, "男性": schema.SEX_MALE, "女性": schema.SEX_FEMALE,
             "M": schema.SEX_MALE, "F": schema.SEX_FEMALE}


def _household_groups(rows: list[PersonRow]) -> dict[tuple[tuple[str, int, str], str], list[PersonRow]]:
    """Persons grouped into households: by flat and head of household (merged cells are already filled).

    Without a head column, consecutive rows of one flat form a household, a new 户主 row starting the next.
    """
    groups: dict[tuple[tuple[str, int, str], str], list[PersonRow]] = {}
    current: dict[tuple[str, int, str], str] = {}
    for r in rows:
        head = r.head_name
        if head is None:
            if r.values.get("relation") == schema.HEAD_RELATION or r.flat_key not in current:
                current[r.flat_key] = r.values["name"]
            head = current[r.flat_key]
            r.head_name = head
        groups.setdefault((r.flat_key, head), []).append(r)
    return groups


def _person_key(flat_key: tuple[str, int, str], values: Mapping[str, Any]) -> tuple:
    """A person is the same across imports when listed at the same flat with the same valid ID (or, without one,
    the same name). One ID listed at two flats stays two records, as the register has it (a finding, not a merge)."""
    if values.get("id_status") in (schema.ID_OK, schema.ID_UPGRADED_15):
        return (flat_key, "id", values["id_number"])
    return (flat_key, "name", values["name"])


def import_register(engine: Engine, community: str, path: str | Path, *, mapping: Mapping[str, str] | None = None,
                    encoding: str | None = None, by: str | None = None, dry_run: bool = False,
                    allow_removals: bool = False, today: dt.date | None = None,
                    progress: Progress | None = None) -> ImportResult:
    """Import (or re-import) a community's master register in one transaction.

    A re-import that would mark MAX_REMOVED_SHARE or more of the community's households as no longer listed
    (a wrong file, a wrong column mapping, one grid's sheet instead of all) is refused unless `allow_removals`;
    a dry run always shows the diff.
    """
    path = Path(path)
    result = ImportResult(schema.K_REGISTER, path.name)
    digest = file_hash(path)
    with store.session_scope(engine) as s:
        comm = find_community(s, community)
        if already_imported(s, comm.id, schema.K_REGISTER, digest, result):
            return result
    sheets = tables.read_tables(path, encoding=encoding)
    # A PersonRow and a dict per row, then a tuple per row to insert: see tables.gc_paused.
    with tables.gc_paused(), store.session_scope(engine) as s:
        comm = find_community(s, community)
        compounds = compounds_of(comm)
        persons, vacant = parse_rows(sheets, result, mapping=mapping, compounds=compounds, today=today,
                                     progress=progress)
        batch = models.ImportBatch(community_id=comm.id, kind=schema.K_REGISTER, file_name=path.name,
                                   file_hash=digest, created_by=by,
                                   options=json.dumps({"mapping": dict(mapping or {}), "encoding": encoding},
                                                      ensure_ascii=False))
        s.add(batch)
        s.flush()
        existing = s.scalar(select(func.count()).select_from(models.Household).join(models.Flat)
                            .join(models.Building).where(models.Building.community_id == comm.id,
                                                         models.Household.active.is_(True)))
        _apply(s, comm, batch, persons, vacant, result, by=by)
        removed = result.diff.get("households_removed", 0)
        if not dry_run and not allow_removals and existing and removed >= MAX_REMOVED_SHARE * existing:
            raise InputError(f"本次导入会把 {removed} 户（在册 {existing} 户的 {removed / existing:.0%}）标记为不再在册，"
                             f"可能选错了文件或列名映射；请先试运行（--dry-run）核对，确属实再加 --allow-removals 导入 "
                             f"| this import would mark {removed} of {existing} households as no longer listed",
                             file=path.name)
        save(s, batch, result)
        if dry_run:
            s.rollback()
            result.batch_id = None
            result.notes.append("试运行：未写入 | dry run: nothing written")
    return result


def _flat_keys(stmt: Any) -> Any:
    """`stmt` (selecting from Flat) joined to the flat's building, for a filter on the community."""
    return stmt.join(models.Building, models.Flat.building_id == models.Building.id)


def _load(s: Session, model: type, ids: list[int]) -> dict[int, Any]:
    """ORM objects by id, a few hundred ids per query (not one query per object)."""
    out: dict[int, Any] = {}
    for i in range(0, len(ids), 500):
        out.update((o.id, o) for o in s.scalars(select(model).where(model.id.in_(ids[i:i + 500]))))
    return out


def _apply(s: Session, comm: models.Community, batch: models.ImportBatch, persons: list[PersonRow],
           vacant: list[PersonRow], result: ImportResult, *, by: str | None) -> None:
    # Plain columns, not ORM objects: a first import of a large register would otherwise build (and, after the
    # insert, query back one by one) an object for every flat.
    in_community = models.Building.community_id == comm.id
    buildings = dict(s.execute(select(models.Building.number, models.Building.id).where(in_community)).all())
    flats: dict[tuple[str, int, str], int] = {(b, u, r): fid for fid, b, u, r in s.execute(_flat_keys(
        select(models.Flat.id, models.Building.number, models.Flat.unit, models.Flat.room)).where(in_community))}
    # Rows whose building the community does not have cannot be placed: quarantine, keep.
    placed: list[PersonRow] = []
    for r in persons + vacant:
        if r.flat_key[0] not in buildings:
            result.add(Problem(result.file, r.sheet, r.row, schema.BUILDING, r.flat_key[0],
                               f"楼栋 {r.flat_key[0]} 不在本社区的楼栋数据中（请先导入楼栋或核对楼栋号）",
                               raw=r.values))
        else:
            placed.append(r)
    new_flats = {}
    for r in placed:
        if r.flat_key not in flats and r.flat_key not in new_flats:
            new_flats[r.flat_key] = {"building_id": buildings[r.flat_key[0]], "unit": r.flat_key[1],
                                     "floor": r.floor, "room": r.flat_key[2], "residence_status": r.residence_status}
    if new_flats:
        ids = store.bulk_insert(s, models.Flat.__table__, list(new_flats.values()), ("building_id", "unit", "room"))
        for key, values in new_flats.items():
            flats[key] = ids[(values["building_id"], values["unit"], values["room"])]
        result.diff["flats_added"] = len(new_flats)
    vacant_rows = [r for r in placed if r.values.get("name") is None]
    if vacant_rows:
        flat_objects = _load(s, models.Flat, sorted({flats[r.flat_key] for r in vacant_rows}))
        for r in vacant_rows:
            history.apply_changes(s, flat_objects[flats[r.flat_key]], {"residence_status": r.residence_status},
                                  by=by, how=schema.HOW_IMPORT, batch_id=batch.id)
            result.imported += 1
    groups = _household_groups([r for r in placed if r.values.get("name") is not None])
    existing_hh = {(b, u, r, h.head_name): h for h, b, u, r in s.execute(_flat_keys(
        select(models.Household, models.Building.number, models.Flat.unit, models.Flat.room)
        .join(models.Flat, models.Household.flat_id == models.Flat.id))
        .where(in_community, models.Household.active.is_(True)))}
    existing_persons: dict[tuple, models.Person] = {}
    for p, b, u, r in s.execute(_flat_keys(
            select(models.Person, models.Building.number, models.Flat.unit, models.Flat.room)
            .join(models.Household, models.Person.household_id == models.Household.id)
            .join(models.Flat, models.Household.flat_id == models.Flat.id))
            .where(in_community, models.Person.active.is_(True))):
        existing_persons[_person_key((b, u, r), {"id_status": p.id_status, "id_number": p.id_number,
                                                 "name": p.name})] = p
    first_import = not existing_hh and not existing_persons
    seen_households: set[int] = set()
    seen_persons: set[int] = set()
    new_households: list[tuple[tuple, list[PersonRow], dict]] = []
    counts = {"households_added": 0, "households_changed": 0, "households_removed": 0, "persons_added": 0,
              "persons_changed": 0, "persons_removed": 0}
    for (flat_key, head), rows in groups.items():
        flat_id = flats[flat_key]
        first = rows[0]
        hh_values = {"head_name": head, "residence_status": first.residence_status, "landlord": first.landlord}
        hh = existing_hh.get((*flat_key, head))
        if hh is None:
            new_households.append(((flat_key, head), rows, {"flat_id": flat_id, **hh_values, "batch_id": batch.id,
                                                            "source_sheet": first.sheet, "source_row": first.row,
                                                            "active": True}))
            continue
        seen_households.add(hh.id)
        if history.apply_changes(s, hh, hh_values, by=by, how=schema.HOW_IMPORT, batch_id=batch.id):
            counts["households_changed"] += 1
        for r in rows:
            _upsert_person(s, hh, flat_key, r, existing_persons, seen_persons, batch, counts, by)
            result.imported += 1
    # New households (all of them on a first import): bulk insert, then their persons.
    if new_households:
        hh_ids = store.bulk_insert(s, models.Household.__table__, [v for _, _, v in new_households],
                                   ("flat_id", "head_name"))
        ids = [hh_ids[(v["flat_id"], v["head_name"])] for _, _, v in new_households]
        person_rows = []
        for hid, (key, rows, _) in zip(ids, new_households):
            counts["households_added"] += 1
            for r in rows:
                pk = _person_key(key[0], r.values)
                moved = existing_persons.get(pk)
                if moved is not None and moved.id not in seen_persons:
                    # the same person now listed in another household (e.g. the flat changed hands)
                    seen_persons.add(moved.id)
                    hh = s.get(models.Household, hid)
                    _upsert_person(s, hh, key[0], r, existing_persons, seen_persons, batch, counts, by, moved)
                else:
                    person_rows.append({**r.values, "household_id": hid, "batch_id": batch.id, "source_sheet": r.sheet,
                                        "source_row": r.row, "active": True})
                    counts["persons_added"] += 1
                result.imported += 1
        if person_rows:
            # every row has the same keys (PERSON_FIELDS and provenance)
            store.bulk_insert(s, models.Person.__table__, person_rows)
        if not first_import:
            for hid in ids:
                history.log_creation(s, s.get(models.Household, hid), by=by, how=schema.HOW_IMPORT, batch_id=batch.id)
    if not first_import:
        for key, hh in existing_hh.items():
            if hh.id not in seen_households:
                history.apply_changes(s, hh, {"active": False}, by=by, how=schema.HOW_IMPORT, batch_id=batch.id)
                counts["households_removed"] += 1
        for p in existing_persons.values():
            if p.id not in seen_persons:
                history.apply_changes(s, p, {"active": False}, by=by, how=schema.HOW_IMPORT, batch_id=batch.id)
                counts["persons_removed"] += 1
    result.diff.update({k: v for k, v in counts.items() if v})


def _upsert_person(s: Session, hh: models.Household, flat_key: tuple, r: PersonRow, existing: dict,
                   seen: set[int], batch: models.ImportBatch, counts: dict, by: str | None,
                   person: models.Person | None = None) -> None:
    person = person or existing.get(_person_key(flat_key, r.values))
    if person is None or person.id in seen and person.household_id != hh.id:
        person = models.Person(household_id=hh.id, batch_id=batch.id, source_sheet=r.sheet, source_row=r.row,
                               **r.values)
        s.add(person)
        history.log_creation(s, person, by=by, how=schema.HOW_IMPORT, batch_id=batch.id)
        seen.add(person.id)
        counts["persons_added"] += 1
        return
    seen.add(person.id)
    changes = {f: r.values.get(f) for f in PERSON_FIELDS}
    changes["household_id"] = hh.id
    if history.apply_changes(s, person, changes, by=by, how=schema.HOW_IMPORT, batch_id=batch.id):
        counts["persons_changed"] += 1
    person.batch_id, person.source_sheet, person.source_row = batch.id, r.sheet, r.row
