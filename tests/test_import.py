"""Importing community files into the store: accounting, quarantine, provenance, re-import diffs, one transaction."""
from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geodata import history, models, schema, store
from geodata.errors import InputError
from loaders import areas, checkpoint, register
from loaders import __main__ as cli

DATA = Path(__file__).parent / "data"


@pytest.fixture
def engine(db_url):
    return store.open_store(db_url)


def _load_areas(engine) -> None:
    r = areas.import_grids(engine, "兰翔社区", DATA / "grids_gcj02.geojson", street="河海街道", crs="gcj02",
                           compound="兰翔新村")
    assert (r.rows_read, r.imported, r.balanced) == (3, 3, True)
    assert any("make_valid" in p.reason for p in r.problems)  # the bow-tie: repaired and reported
    r = areas.import_buildings(engine, "兰翔社区", DATA / "buildings_4549_gbk")
    assert (r.rows_read, r.imported, r.balanced) == (3, 3, True)


def test_register_accounting_quarantine_and_flags(engine):
    _load_areas(engine)
    r = register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")
    assert r.balanced and r.rows_read == 17 and r.imported == 8 and r.quarantined == 0
    with Session(engine) as s:
        persons = {p.name: p for p in s.scalars(select(models.Person))}
        assert len(persons) == 8
        float_ids = [p for p in persons.values() if p.id_status == schema.ID_EXCEL_FLOAT]
        assert len(float_ids) == 1 and float_ids[0].id_raw  # kept as read, flagged, not repaired
        assert float_ids[0].id_raw.startswith("3204111954") and float_ids[0].id_raw.endswith("000")
        upgraded = [p for p in persons.values() if p.id_status == schema.ID_UPGRADED_15]
        assert len(upgraded) == 1 and len(upgraded[0].id_number) == 18 and len(upgraded[0].id_raw) == 15
        assert any(p.id_status == schema.ID_BAD_CHECKSUM for p in persons.values())
        # provenance on every record
        assert all(p.batch_id and p.source_sheet and p.source_row for p in persons.values())
        # households grouped by the merged head-of-household cells
        assert s.scalar(select(func.count()).select_from(models.Household)) == 4
        kept = s.scalars(select(models.QuarantineRow).where(
            models.QuarantineRow.kind == "warning",
            models.QuarantineRow.file_name == "register_multisheet.xlsx")).all()
        assert {q.column for q in kept} >= {schema.ID_NUMBER, schema.PHONE}
        assert all(q.file_name == "register_multisheet.xlsx" and q.sheet and q.row for q in kept)


def test_sex_column_is_checked_against_the_id_never_dropped(engine, tmp_path):
    """性别 that contradicts the ID is reported (the ID's sex is kept); unreadable 性别 text is kept in the note; an ID
    ending in 000 on a 男 row is flagged as Excel damage even though its check character fits."""
    from loaders.ids import check_char
    _load_areas(engine)
    path = tmp_path / "register_sex.xlsx"
    shutil.copy(DATA / "register_multisheet.xlsx", path)
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[3]]
    col = {h: header.index(h) + 1 for h in ("姓名", "性别", "*身份证号码")}
    rows = {ws.cell(r, col["姓名"]).value: r for r in range(4, ws.max_row + 1)}
    ws.cell(rows["张伟"], col["性别"]).value = "女"            # the ID (…059x) says male
    ws.cell(rows["赵丽"], col["性别"]).value = "不详"
    first17 = next(f"32041119520312{s:03d}" for s in range(0, 1000, 100) if check_char(f"32041119520312{s:03d}") == "0")
    ws.cell(rows["张建国"], col["*身份证号码"]).value = first17 + "0"   # 张建国 is 男
    wb.save(path)
    r = register.import_register(engine, "兰翔社区", path)
    assert r.balanced
    sex_problems = {(p.value, p.reason) for p in r.problems if p.column == schema.SEX}
    assert ("女", "性别与身份证号不符（身份证：男），按身份证记录") in sex_problems
    assert any(v == "不详" for v, _ in sex_problems)
    id_problems = [p for p in r.problems if p.column == schema.ID_NUMBER and p.value == first17 + "0"]
    assert id_problems and "000" in id_problems[0].reason
    with Session(engine) as s:
        persons = {p.name: p for p in s.scalars(select(models.Person))}
        assert persons["张伟"].sex == schema.SEX_MALE
        assert "性别原文：不详" in persons["赵丽"].note and persons["赵丽"].sex == schema.SEX_FEMALE
        flagged = persons["张建国"]
        assert (flagged.id_status, flagged.id_number, flagged.id_raw) == (schema.ID_EXCEL_FLOAT, first17 + "0",
                                                                           first17 + "0")
        assert flagged.sex == schema.SEX_MALE and flagged.birth_date is not None   # from the 出生年月 column


def test_unknown_building_is_quarantined_and_kept(engine):
    areas.import_grids(engine, "兰翔社区", DATA / "grids_gcj02.geojson", street="河海街道", crs="gcj02")
    r = register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")  # no buildings yet
    assert r.balanced and r.imported == 0 and r.quarantined == 8
    with Session(engine) as s:
        q = s.scalars(select(models.QuarantineRow).where(models.QuarantineRow.kind == "quarantined")).all()
        assert len(q) == 8 and all("楼栋" in x.reason and x.raw for x in q)


def test_same_file_twice_changes_nothing(engine):
    _load_areas(engine)
    register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")
    with Session(engine) as s:
        before = (s.scalar(select(func.count()).select_from(models.Person)),
                  s.scalar(select(func.count()).select_from(models.ImportBatch)),
                  s.scalar(select(func.count()).select_from(models.ChangeLog)))
    r = register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")
    assert r.imported == 0 and r.notes
    with Session(engine) as s:
        after = (s.scalar(select(func.count()).select_from(models.Person)),
                 s.scalar(select(func.count()).select_from(models.ImportBatch)),
                 s.scalar(select(func.count()).select_from(models.ChangeLog)))
    assert before == after


def test_reimport_applies_diff_with_history(engine, tmp_path):
    _load_areas(engine)
    register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")
    newer = tmp_path / "register_2020.xlsx"
    shutil.copy(DATA / "register_multisheet.xlsx", newer)
    wb = openpyxl.load_workbook(newer)
    ws = wb.worksheets[1]
    header = [c.value for c in ws[2]]
    phone_col = next(i for i, h in enumerate(header) if h and "电话" in str(h).replace(" ", "")) + 1
    name_col = header.index("姓名") + 1
    changed_name = ws.cell(3, name_col).value
    ws.cell(3, phone_col).value = "13999990000"
    removed_name = ws.cell(4, name_col).value
    ws.delete_rows(4)
    wb.save(newer)
    preview = register.import_register(engine, "兰翔社区", newer, dry_run=True)
    assert preview.diff.get("persons_changed") == 1 and preview.diff.get("persons_removed") == 1
    with Session(engine) as s:  # a dry run writes nothing
        assert s.scalars(select(models.Person).where(models.Person.name == changed_name)).one().phone != "13999990000"
    r = register.import_register(engine, "兰翔社区", newer, by="importer")
    assert r.balanced and r.diff.get("persons_changed") == 1 and r.diff.get("persons_removed") == 1
    with Session(engine) as s:
        p = s.scalars(select(models.Person).where(models.Person.name == changed_name)).one()
        log = history.history_of(s, schema.ENTITY_PERSON, p.id)
        phone_change = [c for c in log if c.field == "phone"]
        assert phone_change and phone_change[0].new == "13999990000" and phone_change[0].old
        assert phone_change[0].how == schema.HOW_IMPORT and phone_change[0].by == "importer"
        gone = s.scalars(select(models.Person).where(models.Person.name == removed_name)).one()
        assert gone.active is False  # kept, marked inactive, with history
        assert any(c.field == "active" for c in history.history_of(s, schema.ENTITY_PERSON, gone.id))


def test_crash_mid_import_leaves_store_as_it_was(engine, monkeypatch):
    _load_areas(engine)

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(register, "save", boom)
    with pytest.raises(RuntimeError):
        register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.Person)) == 0
        assert s.scalar(select(func.count()).select_from(models.ImportBatch)
                        .where(models.ImportBatch.kind == schema.K_REGISTER)) == 0


def test_checkpoint_variants_and_outside_addresses(engine):
    _load_areas(engine)
    register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")
    r = checkpoint.import_checkpoint(engine, "兰翔社区", DATA / "checkpoint_gbk.csv")
    assert r.balanced and r.imported == 9
    with Session(engine) as s:
        regs = s.scalars(select(models.CheckpointRegistration)).all()
        outside = [x for x in regs if not x.in_community]
        assert [x.address_raw for x in outside] == ["青枫新村7幢1单元101室"]
        flat_202 = {x.flat_id for x in regs if (x.building_no, x.unit, x.room) == ("12", 4, "202")}
        assert len(flat_202) == 1 and None not in flat_202  # every variant of 12-4-202 lands on one flat
        assert {x.role for x in regs} == {schema.CP_OWNER, schema.CP_TENANT, schema.CP_FAMILY}
    again = checkpoint.import_checkpoint(engine, "兰翔社区", DATA / "checkpoint_gbk.csv")
    assert again.imported == 0 and again.notes


def test_register_without_header_is_one_clear_error(engine, tmp_path):
    _load_areas(engine)
    bad = tmp_path / "notes.csv"
    bad.write_text("说明\n这是一份会议纪要\n", encoding="utf-8")
    with pytest.raises(InputError, match="表头"):
        register.import_register(engine, "兰翔社区", bad)


def test_cli_exit_codes_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRIDMAP_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    assert cli.main(["grids", "--community", "兰翔社区", "--street", "河海街道", "--compound", "兰翔新村",
                     str(DATA / "grids_gcj02.geojson"), "--crs", "gcj02"]) == 0
    assert cli.main(["buildings", "--community", "兰翔社区", str(DATA / "buildings_4549_gbk")]) == 0
    report = tmp_path / "problems.xlsx"
    assert cli.main(["register", "--community", "兰翔社区", str(DATA / "register_multisheet.xlsx"),
                     "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "读取 17 行 = 导入 8 + 隔离 0 + 跳过 9" in out
    rows = list(openpyxl.load_workbook(report).active.values)
    assert rows[0][:3] == ("文件", "工作表", "行号") and len(rows) == 1 + 9 + 4
    assert cli.main(["register", "--community", "兰翔社区", str(DATA / "truncated.xlsx")]) == 2
    assert cli.main(["register", "--community", "没有这个社区", str(DATA / "register_multisheet.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "没有这个社区" in err
    assert cli.main(["grids", "--community", "X社区", "--street", "河海街道",
                     str(DATA / "grids_gcj02.geojson").replace("gcj02.geojson", "none.geojson")]) == 2


def test_reimport_removing_most_households_is_refused_unless_allowed(engine, tmp_path):
    _load_areas(engine)
    register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")
    one_sheet = tmp_path / "only_grid_two.xlsx"       # a user picks one grid's file instead of the whole register
    wb = openpyxl.load_workbook(DATA / "register_multisheet.xlsx")
    wb.remove(wb.worksheets[0])
    wb.save(one_sheet)
    preview = register.import_register(engine, "兰翔社区", one_sheet, dry_run=True)
    assert preview.diff.get("households_removed") == 2            # half of the 4: the dry run shows it
    with pytest.raises(InputError, match="allow-removals"):
        register.import_register(engine, "兰翔社区", one_sheet)
    with Session(engine) as s:                                      # refused: nothing changed
        assert s.scalar(select(func.count()).select_from(models.Household)
                        .where(models.Household.active.is_(True))) == 4
    r = register.import_register(engine, "兰翔社区", one_sheet, allow_removals=True)
    assert r.diff["households_removed"] == preview.diff["households_removed"]


def test_checkpoint_at_an_unlisted_flat_creates_the_flat_without_a_household(engine):
    _load_areas(engine)
    register.import_register(engine, "兰翔社区", DATA / "register_multisheet.xlsx")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.Flat).join(models.Building)
                        .where(models.Building.number == "12", models.Flat.unit == 2, models.Flat.room == "502")) == 0
    r = checkpoint.import_checkpoint(engine, "兰翔社区", DATA / "checkpoint_gbk.csv", by="importer")
    assert r.diff.get("flats_added") == 1
    with Session(engine) as s:
        reg = s.scalars(select(models.CheckpointRegistration)
                        .where(models.CheckpointRegistration.address_raw == "12号楼2单元502")).one()
        flat = s.get(models.Flat, reg.flat_id)       # placed on the flat the register does not list
        assert (flat.building.number, flat.unit, flat.room, flat.floor) == ("12", 2, "502", 5)
        assert flat.households == []                 # no household is invented
        assert history.history_of(s, schema.ENTITY_FLAT, flat.id)[0].by == "importer"
