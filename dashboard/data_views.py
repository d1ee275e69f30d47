"""The data page's pure part: who may import, previews of an upload, import jobs with progress, batches, reports.

No Dash here; the callbacks in dashboard/pages/data.py are thin wrappers over these functions.

Who: community admins (all four kinds, for their communities) and grid leaders (register and checkpoint tables,
for their community). Every function takes the caller's scope and checks it (`require_*` raise AccessDenied).

Import jobs and their progress. An import runs in a background thread of the worker process that started it.
Its progress, and at the end its result, live in a small JSON record beside the upload
(`<upload_dir>/<token>/.job.json`, written atomically), never in module state: with several gunicorn workers the
browser's next poll may reach another worker, and that worker reads the same record from the shared upload folder.
The thread refreshes the record every few seconds; a record left "running" without refresh (the worker died or
was restarted) reads as interrupted. The import itself is one database transaction (loaders), so an interrupted
job leaves the store as it was. Limitation: the upload folder must be on a disk every worker sees (one machine).

Personal values (ID numbers, phones) in previews, problem tables and downloaded reports are masked
(`loaders.preview.mask_value`); file, sheet and row say where to find the original.
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from geodata import access, indicators, models, schema
from geodata.errors import AccessDenied, GridMapError, InputError
from geodata.settings import Settings
from loaders import preview, tables, uploads
from loaders.report import KIND_LABELS, QUARANTINED, ImportResult, Problem, write_report

DATA_ROLES = (schema.ROLE_COMMUNITY_ADMIN, schema.ROLE_GRID_LEADER)
#: Grid and building geometry change the whole community's map: community admins only.
GEO_ROLES = (schema.ROLE_COMMUNITY_ADMIN,)
ALL_KINDS = preview.TABLE_KINDS + preview.GEO_KINDS
LEADER_KINDS = (schema.K_CHECKPOINT,)
JOB_FILE = ".job.json"
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 30.0
#: Rows of a problem table sent to the browser (the download has them all).
MAX_TABLE_ROWS = 5000
TARGET_BATCH = "import_batch"

JOB_RUNNING = "running"
JOB_DONE = "done"
JOB_FAILED = "failed"
JOB_INTERRUPTED = "interrupted"

MSG_FORBIDDEN = "无权查看：只有社区管理员和网格长可以导入数据。"
MSG_NO_UPLOAD = "上传的文件已不存在（已导入或已过期），请重新上传。"
MSG_INTERRUPTED = "导入中断（服务进程已重启或退出）；导入是一个事务，数据库未被改动。请重新导入。"
MSG_BUSY = "该文件正在导入，请等待完成。"

PROBLEM_COLUMNS = (("file", "文件"), ("sheet", "工作表"), ("row", "行号"), ("column", "列"), ("value", "值"),
                   ("kind", "处理"), ("reason", "原因"))
BATCH_COLUMNS = (("id", "批次"), ("created", "导入时间"), ("kind", "类型"), ("file", "文件"), ("by", "导入人"),
                 ("rows_read", "读取"), ("imported", "导入"), ("quarantined", "隔离"), ("skipped", "跳过"),
                 ("warnings", "警告"), ("balanced", "平衡"))
_COLUMN_LABELS = {**preview.field_labels(schema.K_REGISTER), **preview.field_labels(schema.K_CHECKPOINT),
                  "geometry": "几何"}


# --- who may do what -------------------------------------------------------------------------------

def may_import(scope: access.Scope | None) -> bool:
    return scope is not None and scope.role in DATA_ROLES and bool(scope.community_ids)


def kinds_for(scope: access.Scope | None) -> tuple[str, ...]:
    """What the scope may import. Community admins: everything. Grid leaders: checkpoint registrations only — they
    add rows (and unlisted flats) and change no household, while a register import changes and removes households
    in every grid of the community, beyond a grid leader's area."""
    if not may_import(scope):
        return ()
    return ALL_KINDS if scope.role in GEO_ROLES else LEADER_KINDS


def require_importer(scope: access.Scope | None) -> access.Scope:
    if not may_import(scope):
        raise AccessDenied(MSG_FORBIDDEN)
    return scope


def require_community(session: Session, scope: access.Scope | None, community_id: object) -> models.Community:
    """The community, when the scope may import into it; AccessDenied otherwise (also for a bad id)."""
    require_importer(scope)
    try:
        cid = int(community_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AccessDenied("无权查看：社区无效") from None
    community = session.get(models.Community, cid)
    if community is None or not access.community_visible(session, scope, cid):
        raise AccessDenied("无权查看：该社区不在您的管理范围内")
    return community


def require_kind(scope: access.Scope | None, kind: object) -> str:
    if kind not in kinds_for(scope):
        raise AccessDenied(f"无权导入该类型的数据：{kind!r}")
    return str(kind)


def data_communities(session: Session, scope: access.Scope | None) -> list[dict[str, Any]]:
    """Communities the scope may import into: id, name, street."""
    if not may_import(scope):
        return []
    rows = session.execute(select(models.Community.id, models.Community.name, models.Street.name)
                           .join(models.Street, models.Street.id == models.Community.street_id)
                           .where(models.Community.id.in_(scope.community_ids))
                           .order_by(models.Street.name, models.Community.name, models.Community.id)).all()
    return [{"id": r[0], "name": r[1], "street": r[2]} for r in rows]


# --- upload and preview ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Upload:
    token: str
    name: str
    fmt: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def max_bytes(settings: Settings) -> int:
    return int(settings.max_upload_mb) * 1024 * 1024


def receive_upload(settings: Settings, scope: access.Scope | None, contents: str | None,
                   filename: str | None) -> Upload:
    """Check and keep one upload (dcc.Upload's data URL): size before and after decoding, format by content."""
    require_importer(scope)
    limit = max_bytes(settings)
    data = uploads.decode_data_url(contents, limit)
    name, fmt = uploads.check_upload(data, filename, limit)
    uploads.clean_old_uploads(settings.upload_dir)
    token, _ = uploads.save_upload(settings.upload_dir, data, name)
    _write_job(Path(settings.upload_dir) / token, {"owner": scope.username, "state": None, "name": name})
    return Upload(token, name, fmt, len(data))


def upload_path(settings: Settings, scope: access.Scope | None, token: object) -> Path:
    """The uploaded file of `token` if it belongs to this user; InputError / AccessDenied otherwise."""
    require_importer(scope)
    folder = uploads.upload_folder(settings.upload_dir, token)
    if folder is None:
        raise InputError(MSG_NO_UPLOAD)
    record = _read_job(folder)
    if record.get("owner") != scope.username:
        raise AccessDenied("无权查看：这不是您上传的文件")
    path = uploads.upload_file(settings.upload_dir, token)
    if path is None:
        raise InputError(MSG_NO_UPLOAD)
    return path


def upload_format(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def preview_upload(settings: Settings, scope: access.Scope | None, token: object, kind: str | None = None, *,
                   encoding: str | None = None, mapping: Mapping[str, str] | None = None) -> dict[str, Any]:
    """{"format", "kind", "table" | "geo"}: the preview of an upload for `kind` (default: guessed)."""
    path = upload_path(settings, scope, token)
    fmt = upload_format(path)
    allowed = kinds_for(scope)
    if fmt in uploads.TABLE_FORMATS:
        sheets = tables.read_tables(path, encoding=encoding or None)
        if kind not in preview.TABLE_KINDS:
            kind = preview.guess_table_kind(sheets)
        require_kind(scope, kind)
        table = preview.preview_tables(sheets, kind, mapping)
        return {"format": fmt, "kind": kind, "kinds": [k for k in preview.TABLE_KINDS if k in allowed],
                "table": preview.as_json(table)}
    from loaders import geo   # geopandas/pyogrio: only when a vector file arrives

    if not set(preview.GEO_KINDS) & set(allowed):
        raise AccessDenied("无权导入地理数据：只有社区管理员可以导入网格和楼栋")
    gdf = geo.read_vector(path, encoding=encoding or None)
    result = preview.preview_geo(gdf)
    if kind not in preview.GEO_KINDS:
        kind = result.kind
    require_kind(scope, kind)
    return {"format": fmt, "kind": kind, "kinds": list(preview.GEO_KINDS), "geo": preview.as_json(result)}


# --- job records -----------------------------------------------------------------------------------

def _read_job(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_job(folder: Path, record: Mapping[str, Any]) -> None:
    tmp = folder / f".job.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(dict(record), ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, folder / JOB_FILE)


class _JobRecord:
    """The job's record and a lock between the import thread and its heartbeat (local to one job)."""

    def __init__(self, folder: Path, record: dict[str, Any]) -> None:
        self.folder, self.record, self.lock = folder, record, threading.Lock()
        self._last = 0.0

    def update(self, *, force: bool = False, **values: Any) -> None:
        with self.lock:
            self.record.update(values)
            now = time.time()
            if force or now - self._last >= 0.25:
                self.record["updated"] = now
                _write_job(self.folder, self.record)
                self._last = now


def problem_row(p: Problem) -> dict[str, Any]:
    """One problem for display: column label, masked value, kind label."""
    return {"file": p.file, "sheet": p.sheet or "", "row": p.row if p.row is not None else "",
            "column": _COLUMN_LABELS.get(p.column or "", p.column or ""),
            "value": preview.mask_value(p.column, p.value), "kind": KIND_LABELS.get(p.kind, p.kind),
            "kind_code": p.kind, "reason": p.reason}


def result_summary(result: ImportResult, *, dry_run: bool = False) -> dict[str, Any]:
    return {"kind": result.kind, "file": result.file, "batch_id": result.batch_id, "rows_read": result.rows_read,
            "imported": result.imported, "quarantined": result.quarantined, "skipped": result.skipped,
            "warnings": result.warnings, "balanced": result.balanced,
            "accounting": result.accounting_line() if result.rows_read or not result.notes else "",
            "diff": dict(result.diff), "notes": list(result.notes), "dry_run": dry_run,
            "problems": [problem_row(p) for p in result.problems]}


def run_import(engine: Engine, path: Path, community: str, kind: str, *, by: str, mapping: Mapping[str, str] | None,
               encoding: str | None, crs: str | None, dry_run: bool, allow_removals: bool = False,
               progress: Any = None) -> ImportResult:
    """Call the loader for `kind` (the CLI's functions, with the same mapping format)."""
    from loaders import checkpoint, register

    if kind == schema.K_REGISTER:
        return register.import_register(engine, community, path, mapping=mapping, encoding=encoding, by=by,
                                        dry_run=dry_run, allow_removals=allow_removals, progress=progress)
    if kind == schema.K_CHECKPOINT:
        return checkpoint.import_checkpoint(engine, community, path, mapping=mapping, encoding=encoding, by=by,
                                            progress=progress)
    from loaders import areas

    if kind == schema.K_GRIDS:
        return areas.import_grids(engine, community, path, crs=crs, encoding=encoding, by=by)
    if kind == schema.K_BUILDINGS:
        return areas.import_buildings(engine, community, path, crs=crs, encoding=encoding, by=by)
    raise InputError(f"数据类型无效：{kind!r}")


def _job(engine: Engine, settings: Settings, job: _JobRecord, path: Path, community: str, kind: str,
         options: dict[str, Any]) -> None:
    """The body of an import thread: run, record progress, result or error, audit-log, delete the upload."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            job.update(force=True)

    heart = threading.Thread(target=beat, name=f"import-heartbeat-{job.folder.name[:8]}", daemon=True)
    heart.start()

    def progress(label: str, share: float) -> None:
        share = max(0.0, min(1.0, float(share)))
        job.update(progress=round(0.1 + 0.75 * share, 3),
                   stage=f"解析 {label}" if share < 1 else "写入数据库…")

    owner = job.record["owner"]
    try:
        job.update(force=True, stage="读取文件…", progress=0.05)
        result = run_import(engine, path, community, kind, by=owner, progress=progress, **options)
        summary = result_summary(result, dry_run=bool(options.get("dry_run")))
        with Session(engine) as s:
            detail = (f"kind={kind} file={result.file} read={result.rows_read} imported={result.imported} "
                      f"quarantined={result.quarantined} skipped={result.skipped}"
                      + (" dry_run" if options.get("dry_run") else ""))
            access.log_audit(s, owner, schema.A_IMPORT, TARGET_BATCH, result.batch_id, detail=detail[:500])
            s.commit()
        job.update(force=True, state=JOB_DONE, progress=1.0, stage="完成", result=summary)
        if not options.get("dry_run"):
            path.unlink(missing_ok=True)   # the store keeps what was imported and every problem row
    except GridMapError as exc:
        job.update(force=True, state=JOB_FAILED, stage="失败", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug must end the job with a message, never a hung progress bar
        job.update(force=True, state=JOB_FAILED, stage="失败",
                   error=f"导入失败：内部错误（{type(exc).__name__}），数据库未被改动。请把文件交给管理员检查。")
    finally:
        stop.set()


def start_import(engine: Engine, settings: Settings, scope: access.Scope | None, token: object, community_id: object,
                 kind: object, *, mapping: Mapping[str, str] | None = None, encoding: str | None = None,
                 crs: str | None = None, dry_run: bool = False, allow_removals: bool = False,
                 background: bool = True) -> str:
    """Check everything, then run the import (in a thread unless `background` is False); returns the job token."""
    path = upload_path(settings, scope, token)
    with Session(engine) as s:
        community = require_community(s, scope, community_id)
        community_name = community.name
        # The loaders find a community by name: refuse rather than risk writing into a namesake of another street.
        namesakes = s.scalar(select(func.count()).select_from(models.Community)
                             .where(models.Community.name == community_name))
        if namesakes != 1:
            raise InputError(f"有 {namesakes} 个名为“{community_name}”的社区（不同街道），无法按名称导入；请先为社区改名")
    kind = require_kind(scope, kind)
    fmt = upload_format(path)
    if (kind in preview.TABLE_KINDS) != (fmt in uploads.TABLE_FORMATS):
        raise InputError(f"文件格式 {uploads.FORMAT_LABELS.get(fmt, fmt)} 不能作为“{preview.KIND_LABELS[kind]}”导入")
    if mapping:
        mapping = preview.load_mapping(json.dumps(dict(mapping)), kind if kind in preview.TABLE_KINDS else None)
    folder = path.parent
    record = _read_job(folder)
    if record.get("state") == JOB_RUNNING and not _stale(record):
        raise InputError(MSG_BUSY)
    options = {"mapping": dict(mapping or {}) or None, "encoding": encoding or None,
               "crs": crs or None, "dry_run": bool(dry_run) and kind == schema.K_REGISTER,
               "allow_removals": bool(allow_removals) and kind == schema.K_REGISTER}
    job = _JobRecord(folder, {"owner": scope.username, "name": path.name, "state": JOB_RUNNING, "kind": kind,
                              "community_id": community.id, "community": community_name, "progress": 0.0,
                              "stage": "排队中…", "started": time.time(), "options": options})
    job.update(force=True)
    args = (engine, settings, job, path, community_name, kind, options)
    if background:
        threading.Thread(target=_job, args=args, name=f"import-{folder.name[:8]}", daemon=True).start()
    else:
        _job(*args)
    return folder.name


def _stale(record: Mapping[str, Any], now: float | None = None) -> bool:
    now = time.time() if now is None else now
    return now - float(record.get("updated") or 0) > STALE_SECONDS


def job_status(settings: Settings, scope: access.Scope | None, token: object) -> dict[str, Any]:
    """{"state", "progress", "stage", "result"?, "error"?} of the user's own job; AccessDenied for others'."""
    require_importer(scope)
    folder = uploads.upload_folder(settings.upload_dir, token)
    if folder is None:
        raise InputError("导入任务不存在（可能已过期）")
    record = _read_job(folder)
    if record.get("owner") != scope.username:
        raise AccessDenied("无权查看：这不是您的导入任务")
    if record.get("state") == JOB_RUNNING and _stale(record):
        return {**record, "state": JOB_INTERRUPTED, "error": MSG_INTERRUPTED}
    return record


# --- batches and their problem rows ----------------------------------------------------------------

def _when(utc: Any) -> str:
    return "" if utc is None else indicators.local_time(utc).strftime("%Y-%m-%d %H:%M")


def batch_rows(session: Session, scope: access.Scope | None, community_id: object, *,
               limit: int = 100) -> list[dict[str, Any]]:
    """Past import batches of a community, newest first, with their accounting."""
    community = require_community(session, scope, community_id)
    batches = session.scalars(select(models.ImportBatch).where(models.ImportBatch.community_id == community.id)
                              .order_by(models.ImportBatch.created_at.desc(), models.ImportBatch.id.desc())
                              .limit(limit))
    rows = []
    for b in batches:
        summary = _json(b.summary)
        rows.append({"id": b.id, "created": _when(b.created_at), "kind": preview.KIND_LABELS.get(b.kind, b.kind),
                     "file": b.file_name, "by": b.created_by or "", "rows_read": b.rows_read,
                     "imported": b.imported, "quarantined": b.quarantined, "skipped": b.skipped,
                     "warnings": summary.get("warnings", ""),
                     "balanced": "是" if b.rows_read == b.imported + b.quarantined + b.skipped else "否"})
    return rows


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def require_batch(session: Session, scope: access.Scope | None, batch_id: object) -> models.ImportBatch:
    require_importer(scope)
    try:
        batch = session.get(models.ImportBatch, int(batch_id))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        batch = None
    if batch is None or not access.community_visible(session, scope, batch.community_id):
        raise AccessDenied("无权查看：该导入批次不在您的管理范围内")
    return batch


def batch_problems(session: Session, scope: access.Scope | None, batch_id: object, *,
                   kinds: tuple[str, ...] | None = (QUARANTINED,)) -> list[Problem]:
    """The problem rows kept for a batch (default: the quarantined ones, kept for fixing), in file order."""
    batch = require_batch(session, scope, batch_id)
    query = select(models.QuarantineRow).where(models.QuarantineRow.batch_id == batch.id)
    if kinds:
        query = query.where(models.QuarantineRow.kind.in_(kinds))
    rows = session.scalars(query.order_by(models.QuarantineRow.id))
    return [Problem(q.file_name, q.sheet, q.row, q.column, q.value, q.reason, q.kind) for q in rows]


def batch_problem_rows(session: Session, scope: access.Scope | None, batch_id: object, *,
                       kinds: tuple[str, ...] | None = (QUARANTINED,)) -> list[dict[str, Any]]:
    return [problem_row(p) for p in batch_problems(session, scope, batch_id, kinds=kinds)]


# --- reports ---------------------------------------------------------------------------------------

def report_xlsx(rows: list[Mapping[str, Any]]) -> bytes:
    """Problem rows (already masked, as `problem_row` makes them) as an .xlsx (loaders.report.write_report)."""
    import tempfile

    problems = [Problem(str(r.get("file", "")), r.get("sheet") or None, r.get("row") or None,
                        r.get("column") or None, r.get("value") or None, str(r.get("reason", "")),
                        r.get("kind_code") or QUARANTINED) for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_report(problems, Path(tmp) / "report.xlsx")
        return path.read_bytes()


def report_name(file_name: str, batch_id: object = None) -> str:
    stem = uploads.safe_filename(file_name).rsplit(".", 1)[0]
    return f"问题报告_{stem}" + (f"_批次{batch_id}" if batch_id else "") + ".xlsx"


def job_report(engine: Engine, settings: Settings, scope: access.Scope | None, token: object) -> tuple[str, bytes]:
    """(file name, xlsx bytes) of a finished job's problem report; the export is audit-logged."""
    status = job_status(settings, scope, token)
    result = status.get("result")
    if status.get("state") != JOB_DONE or not isinstance(result, dict):
        raise InputError("导入尚未完成，暂无问题报告")
    rows = result.get("problems") or []
    with Session(engine) as s:
        access.log_audit(s, scope.username, schema.A_EXPORT, TARGET_BATCH, result.get("batch_id"),
                         detail=f"problem report xlsx, {len(rows)} rows, file={result.get('file')}"[:500])
        s.commit()
    return report_name(str(result.get("file") or "import"), result.get("batch_id")), report_xlsx(rows)


def batch_report(engine: Engine, scope: access.Scope | None, batch_id: object, *,
                 kinds: tuple[str, ...] | None = None) -> tuple[str, bytes]:
    """(file name, xlsx bytes) of every problem row kept for a batch; the export is audit-logged."""
    with Session(engine) as s:
        batch = require_batch(s, scope, batch_id)
        rows = [problem_row(p) for p in batch_problems(s, scope, batch.id, kinds=kinds)]
        access.log_audit(s, scope.username, schema.A_EXPORT, TARGET_BATCH, batch.id,
                         detail=f"problem report xlsx, {len(rows)} rows, file={batch.file_name}"[:500])
        s.commit()
        name = report_name(batch.file_name, batch.id)
    return name, report_xlsx(rows)


def mapping_json(kind: str, headers: list[str], choices: Mapping[str, str | None]) -> str:
    return preview.dump_mapping(preview.effective_mapping(kind, headers, choices))

