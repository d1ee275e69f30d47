"""Import accounting and the problem report: nothing read is lost without a line saying where and why.

rows read = imported + quarantined + skipped. Quarantined and skipped rows are kept in the store
(models.QuarantineRow) with file, sheet, row, column, value and reason; warnings (an ID Excel mangled, a phone that
is not a phone) accompany imported rows and are kept the same way.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import models, store

QUARANTINED = "quarantined"
SKIPPED = "skipped"
WARNING = "warning"
KIND_LABELS = {QUARANTINED: "隔离（未导入）", SKIPPED: "跳过", WARNING: "已导入，需核实"}


@dataclasses.dataclass
class Problem:
    file: str
    sheet: str | None
    row: int | None          # 1-based, as the spreadsheet shows it (feature index + 1 for geodata)
    column: str | None
    value: str | None
    reason: str
    kind: str = QUARANTINED
    raw: dict[str, Any] | None = None


@dataclasses.dataclass
class ImportResult:
    kind: str
    file: str
    batch_id: int | None = None
    rows_read: int = 0
    imported: int = 0
    quarantined: int = 0
    skipped: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)
    diff: dict[str, int] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)
        if problem.kind == QUARANTINED:
            self.quarantined += 1
        elif problem.kind == SKIPPED:
            self.skipped += 1

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.imported + self.quarantined + self.skipped

    @property
    def warnings(self) -> int:
        return sum(p.kind == WARNING for p in self.problems)

    def accounting_line(self) -> str:
        ok = "" if self.balanced else "  ⚠ 不平衡 / NOT BALANCED"
        return (f"{self.file}: 读取 {self.rows_read} 行 = 导入 {self.imported} + 隔离 {self.quarantined} + "
                f"跳过 {self.skipped}（警告 {self.warnings}） | read {self.rows_read} = imported {self.imported} + "
                f"quarantined {self.quarantined} + skipped {self.skipped} (warnings {self.warnings}){ok}")

    def reasons(self) -> Counter[str]:
        return Counter(f"{KIND_LABELS[p.kind]}: {p.reason}" for p in self.problems)


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file, or of every file in a folder (a shapefile's parts), in name order."""
    path = Path(path)
    h = hashlib.sha256()
    for part in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        h.update(part.name.encode())
        with open(part, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def already_imported(session: Session, community_id: int, kind: str, digest: str, result: ImportResult) -> bool:
    """True (with a note in `result`) when this very file was imported for the community before: nothing to do."""
    previous = session.scalars(select(models.ImportBatch).where(
        models.ImportBatch.community_id == community_id, models.ImportBatch.kind == kind,
        models.ImportBatch.file_hash == digest)).first()
    if previous is None:
        return False
    result.notes.append(f"同一文件已于 {previous.created_at:%Y-%m-%d %H:%M} 导入（批次 {previous.id}），未做任何更改 "
                        f"| same file already imported (batch {previous.id}): nothing changed")
    return True


def row_text(values: list[object]) -> str | None:
    """A whole row as one text for the report (a merged title repeated across cells appears once)."""
    parts: list[str] = []
    for v in values:
        if v not in (None, "") and (not parts or parts[-1] != str(v)):
            parts.append(str(v))
    return " | ".join(parts)[:500] or None


def save(session: Session, batch: models.ImportBatch, result: ImportResult) -> None:
    """Write the accounting into the batch and every problem row into the quarantine table."""
    batch.rows_read, batch.imported = result.rows_read, result.imported
    batch.quarantined, batch.skipped = result.quarantined, result.skipped
    batch.summary = json.dumps({"diff": result.diff, "notes": result.notes, "warnings": result.warnings},
                               ensure_ascii=False)
    # Plain rows, not ORM objects: a large register brings thousands of warnings.
    store.bulk_insert(session, models.QuarantineRow.__table__, [
        {"batch_id": batch.id, "file_name": p.file, "sheet": p.sheet, "row": p.row, "column": p.column,
         "value": p.value, "reason": p.reason, "kind": p.kind,
         "raw": json.dumps(p.raw, ensure_ascii=False, default=str) if p.raw else None}
        for p in result.problems])
    result.batch_id = batch.id


REPORT_COLUMNS = ("file", "sheet", "row", "column", "value", "kind", "reason")
REPORT_HEADERS = ("文件", "工作表", "行号", "列", "值", "处理", "原因")


def report_rows(problems: list[Problem]) -> list[tuple[Any, ...]]:
    return [(p.file, p.sheet or "", p.row or "", p.column or "", p.value or "", KIND_LABELS[p.kind], p.reason)
            for p in problems]


def write_report(problems: list[Problem], path: str | Path) -> Path:
    """The problem report as CSV (UTF-8 with BOM, so Excel opens it) or .xlsx, by the path's suffix."""
    path = Path(path)
    rows = report_rows(problems)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook
        wb = Workbook()
        ws = wb.active
        ws.title = "问题报告"
        ws.append(REPORT_HEADERS)
        for r in rows:
            ws.append(list(r))
        ws.freeze_panes = "A2"
        wb.save(path)
    else:
        with open(path, "w", newline="", encoding="utf-8-sig") as f:
            w = csv.writer(f)
            w.writerow(REPORT_HEADERS)
            w.writerows(rows)
    return path
