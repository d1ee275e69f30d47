"""The data page (/data, 数据导入): upload a file, check the detected header and column mapping, import it with a
progress bar, read the problem report, download it; past import batches and their quarantined rows.

For community admins (every kind, their communities) and grid leaders (register and checkpoint tables, their
community); anyone else gets "无权查看". Every callback asks `auth.require_scope()` and the checks of
`dashboard.data_views` again: the layout hiding things is a convenience, not the control.
Resident text (names, file names, cell values) is always a component child or a DataTable cell: rendered as text.
"""
from __future__ import annotations

import logging
from typing import Any

import dash
import dash_ag_grid as dag
import flask
from dash import ALL, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, data_views
from dashboard.components import common
from geodata import schema
from geodata.errors import AccessDenied, GridMapError
from geodata.settings import Settings
from loaders import preview, uploads
from loaders.report import QUARANTINED

PATH = "/data"
LOG = logging.getLogger(__name__)
POLL_MS = 500
FORBIDDEN = "无权查看"

# Component ids.
PAGE = "data-page"
COMMUNITY = "data-community"
UPLOAD = "data-upload"
UPLOAD_STATUS = "data-upload-status"
UPLOAD_STORE = "data-upload-store"
KIND = "data-kind"
ENCODING = "data-encoding"
CRS = "data-crs"
CRS_ROW = "data-crs-row"
DRY_RUN = "data-dry-run"
DRY_RUN_ROW = "data-dry-run-row"
PREVIEW = "data-preview"
PREVIEW_STORE = "data-preview-store"
MAP = "data-map"                       # pattern-matching dropdowns {"type": MAP, "index": i}
MAPPING_CHECK = "data-mapping-check"
MAPPING_UPLOAD = "data-mapping-upload"
MAPPING_STORE = "data-mapping-store"
MAPPING_STATUS = "data-mapping-status"
MAPPING_BUTTON = "data-mapping-button"
MAPPING_FILE = "data-mapping-file"
IMPORT = "data-import"
IMPORT_STATUS = "data-import-status"
JOB_STORE = "data-job-store"
POLL = "data-poll"
PROGRESS = "data-progress"
RESULT = "data-result"
RESULT_STORE = "data-result-store"
ACCOUNTING = "data-accounting"
DIFF = "data-diff"
NOTES = "data-notes"
PROBLEMS = "data-problems"
REPORT_BUTTON = "data-report-button"
REPORT_FILE = "data-report-file"
BATCHES = "data-batches"
BATCH_SELECTED = "data-batch-selected"
BATCH_KINDS = "data-batch-kinds"
BATCH_TITLE = "data-batch-title"
BATCH_ROWS = "data-batch-rows"
BATCH_REPORT_BUTTON = "data-batch-report-button"
BATCH_REPORT_FILE = "data-batch-report-file"

DIFF_LABELS = {"flats_added": "新增房屋", "households_added": "新增住户", "households_changed": "住户信息变更",
               "households_removed": "不再列出的住户（已标记迁出，未删除）", "persons_added": "新增人员",
               "persons_changed": "人员信息变更", "persons_removed": "不再列出的人员（已标记迁出，未删除）"}
HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}
#: Relative column widths of the tables (AG Grid flex); the rest get 1.
_FLEX = {"reason": 3, "value": 2, "file": 2, "kind": 2, "row": 0.6, "id": 0.6}
_GRID_OPTIONS = {"pagination": True, "paginationPageSize": 15, "paginationPageSizeSelector": False,
                 "domLayout": "autoHeight", "enableCellTextSelection": True, "ensureDomOrder": True,
                 "localeText": {"page": "页", "of": "/", "to": "–", "more": "更多", "filterOoo": "筛选…",
                                "contains": "包含", "equals": "等于", "noRowsToShow": "无数据"}}


# --- pure rendering ----------------------------------------------------------------------------------

def denied(message: str = data_views.MSG_FORBIDDEN) -> html.Div:
    return html.Div([html.H2(FORBIDDEN), html.P(message)], id="data-forbidden", className="gm-empty")


def grid(grid_id: str, spec: tuple[tuple[str, str], ...], **kwargs: Any) -> dag.AgGrid:
    """A filterable, sortable table. AG Grid renders every cell as text (no HTML, no code)."""
    columns = [{"field": key, "headerName": label, "flex": _FLEX.get(key, 1)} for key, label in spec]
    return dag.AgGrid(id=grid_id, columnDefs=columns, rowData=[], columnSize="responsiveSizeToFit",
                      defaultColDef={"filter": True, "floatingFilter": True, "sortable": True, "resizable": True,
                                     "wrapText": True, "autoHeight": True, "minWidth": 70},
                      dashGridOptions=_GRID_OPTIONS, className="data-grid", **kwargs)


def problem_table(table_id: str) -> dag.AgGrid:
    return grid(table_id, data_views.PROBLEM_COLUMNS)


def sheet_lines(table: dict[str, Any]) -> list[html.Li]:
    items = []
    for sheet in table["sheets"]:
        name = f"工作表“{sheet['sheet']}”" if sheet["sheet"] else "表格"
        if sheet["header_row"] is None:
            items.append(html.Li(f"{name}：未找到表头（缺少：{'、'.join(sheet['missing'])}），其中的行将被隔离",
                                 className="gm-bad"))
            continue
        text = f"{name}：表头在第 {sheet['header_row']} 行，数据 {sheet['data_rows']} 行（共 {sheet['rows']} 行）"
        if sheet["missing"]:
            text += f"；缺少：{'、'.join(sheet['missing'])}"
        items.append(html.Li(text))
    return items


def mapping_table(table: dict[str, Any], kind: str) -> html.Table:
    """One row per distinct header text: the header, masked samples, and a drop-down of fields to fix the mapping."""
    labels = preview.field_labels(kind)
    options = [{"label": f"{label}", "value": field} for field, label in labels.items()]
    samples: dict[str, list[str]] = {}
    for sheet in table["sheets"]:
        for col in sheet["columns"]:
            samples.setdefault(col["header"], list(col["samples"]))
    rows = []
    for i, header in enumerate(table["headers"]):
        field = table["fields"].get(header)
        rows.append(html.Tr([
            html.Td(header, className="data-header-text"),
            html.Td("；".join(samples.get(header, [])[:3]), className="gm-hint"),
            html.Td(dcc.Dropdown(id={"type": MAP, "index": i}, options=options, value=field, clearable=True,
                                 placeholder="（不导入）", className="data-map-select")),
        ], className="data-map-row" + ("" if field else " data-unknown")))
    head = html.Thead(html.Tr([html.Th("表头（文件中的列名）"), html.Th("示例值（已脱敏）"), html.Th("对应字段")]))
    return html.Table([head, html.Tbody(rows)], className="gm-table data-mapping", id="data-mapping-table")


def table_preview(result: dict[str, Any]) -> html.Div:
    table, kind = result["table"], result["kind"]
    unknown = [h for h in table["headers"] if not table["fields"].get(h)]
    parts: list[Any] = [html.H3("检测到的表头"), html.Ul(sheet_lines(table), id="data-sheets")]
    if not table["headers"]:
        parts.append(common.notice("没有找到任何可识别的表头行：请确认数据类型，或上传列名映射。", "error"))
        return html.Div(parts)
    parts += [html.H3("列映射（可在下拉框中修改）"), mapping_table(table, kind)]
    if unknown:
        parts.append(html.P(f"未自动识别的列（选择字段后才会导入）：{'、'.join(unknown)}", id="data-unknown",
                            className="gm-hint"))
    return html.Div(parts)


def geo_preview(result: dict[str, Any]) -> html.Div:
    geo = result["geo"]
    crs = geo["crs"] or "未声明（请在上方选择坐标系）"
    rows = [html.Tr([html.Td(f), html.Td("；".join(geo["samples"].get(f, [])), className="gm-hint")])
            for f in geo["fields"]]
    return html.Div([
        html.H3("地理数据"),
        html.P(f"要素 {geo['features']} 个；几何类型：{'、'.join(geo['geometry_types']) or '无'}；文件声明的坐标系：{crs}",
               id="data-geo-summary"),
        html.Table([html.Thead(html.Tr([html.Th("字段"), html.Th("示例值")])), html.Tbody(rows)],
                   className="gm-table data-mapping"),
    ])


def progress_bar(share: float, stage: str) -> html.Div:
    pct = round(max(0.0, min(1.0, share)) * 100)
    return html.Div([common.progress(share, "#1f6feb"), html.Span(f"{pct}%", className="gm-num", id="data-percent"),
                     html.Span(stage, className="gm-hint")], className="gm-progress-cell data-progress-row")


def diff_text(diff: dict[str, int]) -> str:
    if not diff:
        return ""
    return "变更：" + "，".join(f"{DIFF_LABELS.get(k, k)} {v}" for k, v in diff.items())


def _choices(headers: Any, values: list[Any], ids: list[Any]) -> dict[str, str | None]:
    """header text → chosen field, from the drop-downs (index → header through the preview's header list)."""
    if not isinstance(headers, list):
        return {}
    out: dict[str, str | None] = {}
    for id_, value in zip(ids or [], values or []):
        index = id_.get("index") if isinstance(id_, dict) else None
        if isinstance(index, int) and 0 <= index < len(headers) and isinstance(headers[index], str):
            out[headers[index][:200]] = value if isinstance(value, str) and value else None
    return out


# --- layout ------------------------------------------------------------------------------------------

def layout(engine: Engine, settings: Settings) -> html.Div:
    """The page for the signed-in user; outside a request (layout validation) the full skeleton."""
    communities: list[dict[str, Any]] = []
    if flask.has_request_context():
        scope = auth.current_scope()
        if not data_views.may_import(scope):
            return html.Div(denied(), id=PAGE)
        with Session(engine) as s:
            communities = data_views.data_communities(s, scope)
    options = [{"label": f"{c['street']} · {c['name']}", "value": c["id"]} for c in communities]
    limit = settings.max_upload_mb
    formats = "Excel（.xlsx/.xls）、CSV，或 GeoJSON、Shapefile（.zip）、GeoPackage、KML"
    return html.Div([
        html.Div([html.H2("数据导入"),
                  dcc.Dropdown(id=COMMUNITY, options=options, value=options[0]["value"] if options else None,
                               clearable=False, className="gm-community-select data-community")],
                 className="gm-title-row data-head"),
        html.Div([
            html.H3("1. 上传文件"),
            dcc.Upload(id=UPLOAD, children=html.Div(["拖放文件到这里，或 ", html.A("点击选择文件"),
                                                     html.Div(f"{formats}；最大 {limit} MB", className="gm-hint")]),
                       multiple=False, className="data-upload"),
            html.Div(id=UPLOAD_STATUS),
            dcc.Store(id=UPLOAD_STORE),
        ], className="gm-card"),
        html.Div([
            html.H3("2. 数据类型与列映射"),
            html.Div([
                html.Div([html.Label("数据类型"), dcc.RadioItems(id=KIND, options=[], value=None, inline=True,
                                                              className="gm-radio-inline")]),
                html.Div([html.Label("编码（CSV / Shapefile）"),
                          dcc.Dropdown(id=ENCODING, value="", clearable=False, className="data-select",
                                       options=[{"label": label, "value": v} for v, label in preview.ENCODING_CHOICES])]),
                html.Div([html.Label("坐标系"),
                          dcc.Dropdown(id=CRS, value="", clearable=False, className="data-select",
                                       options=[{"label": label, "value": v} for v, label in preview.CRS_CHOICES])],
                         id=CRS_ROW, style=HIDDEN),
                html.Div(dcc.Checklist(id=DRY_RUN, options=[{"label": "试运行：只显示将发生的变更，不写入数据库",
                                                             "value": "dry"},
                                                            {"label": "确认允许半数以上的户标记为不再在册（先试运行核对）",
                                                             "value": "allow_removals"}],
                                       value=[], className="data-check"),
                         id=DRY_RUN_ROW, style=HIDDEN),
            ], className="gm-form data-options"),
            html.Div(id=PREVIEW, className="data-preview"),
            html.Div(id=MAPPING_CHECK),
            html.Div([
                html.Button("下载列名映射（JSON）", id=MAPPING_BUTTON, className="gm-button"),
                dcc.Upload(id=MAPPING_UPLOAD, children=html.Button("载入列名映射（JSON）", className="gm-button"),
                           multiple=False, className="data-mapping-upload"),
                html.Span(id=MAPPING_STATUS),
            ], className="data-actions"),
            dcc.Store(id=PREVIEW_STORE), dcc.Store(id=MAPPING_STORE), dcc.Download(id=MAPPING_FILE),
        ], className="gm-card"),
        html.Div([
            html.H3("3. 导入"),
            html.Button("开始导入", id=IMPORT, className="gm-button gm-button-primary"),
            html.Div(id=IMPORT_STATUS),
            html.Div(id=PROGRESS),
            dcc.Store(id=JOB_STORE), dcc.Store(id=RESULT_STORE),
            dcc.Interval(id=POLL, interval=POLL_MS, disabled=True),
            html.Div([
                html.P(id=ACCOUNTING, className="data-accounting gm-strong"),
                html.P(id=DIFF), html.Ul(id=NOTES),
                html.Div([html.H3("问题报告"),
                          html.Button("下载问题报告（xlsx）", id=REPORT_BUTTON, className="gm-button")],
                         className="data-actions"),
                problem_table(PROBLEMS),
                dcc.Download(id=REPORT_FILE),
            ], id=RESULT, style=HIDDEN),
        ], className="gm-card"),
        html.Div([
            html.H3("导入记录"),
            html.P("点击一行查看该批次的问题行。", className="gm-hint"),
            grid(BATCHES, data_views.BATCH_COLUMNS, getRowId="params.data.id"),
            dcc.Store(id=BATCH_SELECTED),
            html.Div([html.Span(id=BATCH_TITLE, className="gm-strong"),
                      dcc.RadioItems(id=BATCH_KINDS, value=QUARANTINED, inline=True, className="gm-radio-inline",
                                     options=[{"label": "只看隔离行（待修正）", "value": QUARANTINED},
                                              {"label": "全部问题", "value": "all"}]),
                      html.Button("下载该批次问题报告（xlsx）", id=BATCH_REPORT_BUTTON, className="gm-button")],
                     className="data-actions"),
            problem_table(BATCH_ROWS),
            dcc.Download(id=BATCH_REPORT_FILE),
        ], className="gm-card"),
    ], id=PAGE)


# --- callbacks ---------------------------------------------------------------------------------------

def _error(exc: Exception) -> html.Div:
    text = str(exc)
    if isinstance(exc, AccessDenied) and not text.startswith(FORBIDDEN):
        text = f"{FORBIDDEN}：{text}"
    return html.Div(text, className="gm-notice gm-notice-error data-error", role="alert")


def register(app: dash.Dash, engine: Engine, settings: Settings) -> None:
    """The page's callbacks. Call once after `auth.init_auth`."""
    if app.server.config.get("MAX_CONTENT_LENGTH") is None:
        # A request may carry one upload as base64 (4/3 of its size) with room to spare, so that a file over the
        # limit still arrives and gets its clear message; far larger bodies are refused by Flask before parsing.
        app.server.config["MAX_CONTENT_LENGTH"] = 3 * data_views.max_bytes(settings) + (1 << 20)

    @app.callback(Output(UPLOAD_STORE, "data"), Output(UPLOAD_STATUS, "children"),
                  Input(UPLOAD, "contents"), State(UPLOAD, "filename"), prevent_initial_call=True)
    def on_upload(contents: str | None, filename: str | None):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        if not contents:
            raise PreventUpdate
        try:
            upload = data_views.receive_upload(settings, scope, contents, filename)
        except GridMapError as exc:
            return None, _error(exc)
        except Exception:  # noqa: BLE001 - a hostile file must end in a message, never a broken page
            LOG.exception("upload failed")
            return None, _error(GridMapError("无法处理该文件（内部错误），请检查文件后重试"))
        size = f"{uploads.mb(upload.size):.1f} MB" if upload.size >= 1 << 20 else f"{upload.size / 1024:.1f} KB"
        text = f"已接收：{upload.name}（{uploads.FORMAT_LABELS.get(upload.fmt, upload.fmt)}，{size}）"
        return upload.as_json(), common.notice(text, "ok", id="data-received")

    @app.callback(Output(KIND, "value"), Output(KIND, "options"), Output(PREVIEW, "children"),
                  Output(PREVIEW_STORE, "data"), Output(CRS_ROW, "style"), Output(DRY_RUN_ROW, "style"),
                  Input(UPLOAD_STORE, "data"), Input(KIND, "value"), Input(ENCODING, "value"),
                  Input(MAPPING_STORE, "data"), prevent_initial_call=True)
    def on_preview(upload, kind, encoding, mapping):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        if not isinstance(upload, dict) or not upload.get("token"):
            return None, [], None, None, HIDDEN, HIDDEN
        if dash.ctx.triggered_id == UPLOAD_STORE:
            kind = None   # a new file: guess its kind
        try:
            result = data_views.preview_upload(settings, scope, upload["token"], kind, encoding=encoding or None,
                                               mapping=mapping if isinstance(mapping, dict) else None)
        except GridMapError as exc:
            return no_update, no_update, _error(exc), None, no_update, no_update
        except Exception:  # noqa: BLE001 - see on_upload
            LOG.exception("preview failed")
            return no_update, no_update, _error(GridMapError("无法读取文件内容（文件可能已损坏）")), None, \
                no_update, no_update
        kind = result["kind"]
        options = [{"label": preview.KIND_LABELS[k], "value": k} for k in result["kinds"]]
        if "table" in result:
            store = {"token": upload["token"], "kind": kind, "headers": result["table"]["headers"]}
            return (kind, options, table_preview(result), store, HIDDEN,
                    SHOWN if kind == schema.K_REGISTER else HIDDEN)
        store = {"token": upload["token"], "kind": kind, "headers": []}
        return kind, options, geo_preview(result), store, SHOWN, HIDDEN

    @app.callback(Output(MAPPING_CHECK, "children"), Input({"type": MAP, "index": ALL}, "value"),
                  State({"type": MAP, "index": ALL}, "id"), State(PREVIEW_STORE, "data"), prevent_initial_call=True)
    def on_mapping_change(values, ids, store):  # type: ignore[no-untyped-def]
        auth.require_scope()
        if not isinstance(store, dict) or store.get("kind") not in preview.TABLE_KINDS:
            return None
        problems = preview.mapping_problems(store["kind"], _choices(store.get("headers"), values, ids))
        if not problems:
            return common.notice("列映射完整，可以导入。", "ok", id="data-mapping-ok")
        return html.Div([html.Div(p) for p in problems], className="gm-notice gm-notice-error",
                        id="data-mapping-problems")

    @app.callback(Output(MAPPING_STORE, "data"), Output(MAPPING_STATUS, "children"),
                  Input(MAPPING_UPLOAD, "contents"), State(KIND, "value"), prevent_initial_call=True)
    def on_mapping_upload(contents, kind):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        try:
            data_views.require_importer(scope)
            data = uploads.decode_data_url(contents, 1 << 20)
            mapping = preview.load_mapping(data, kind if kind in preview.TABLE_KINDS else None)
        except GridMapError as exc:
            return no_update, _error(exc)
        return mapping, common.notice(f"已载入列名映射（{len(mapping)} 列）", "ok", id="data-mapping-loaded")

    @app.callback(Output(MAPPING_FILE, "data"), Output(MAPPING_STATUS, "children", allow_duplicate=True),
                  Input(MAPPING_BUTTON, "n_clicks"), State({"type": MAP, "index": ALL}, "value"),
                  State({"type": MAP, "index": ALL}, "id"), State(PREVIEW_STORE, "data"), State(KIND, "value"),
                  prevent_initial_call=True)
    def on_mapping_download(n, values, ids, store, kind):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        if not n:
            raise PreventUpdate
        try:
            data_views.require_importer(scope)
            if not isinstance(store, dict) or kind not in preview.TABLE_KINDS or store.get("kind") != kind:
                raise GridMapError("请先上传表格文件并查看列映射")
            text = data_views.mapping_json(kind, list(store.get("headers") or []),
                                           _choices(store.get("headers"), values, ids))
        except GridMapError as exc:
            return no_update, _error(exc)
        return dcc.send_string(text, f"列名映射_{kind}.json", type="application/json"), None

    @app.callback(Output(JOB_STORE, "data"), Output(IMPORT_STATUS, "children"),
                  Output(POLL, "disabled", allow_duplicate=True),
                  Input(IMPORT, "n_clicks"), State(UPLOAD_STORE, "data"), State(COMMUNITY, "value"),
                  State(KIND, "value"), State(ENCODING, "value"), State(CRS, "value"), State(DRY_RUN, "value"),
                  State({"type": MAP, "index": ALL}, "value"), State({"type": MAP, "index": ALL}, "id"),
                  State(PREVIEW_STORE, "data"), prevent_initial_call=True)
    def on_import(n, upload, community_id, kind, encoding, crs, dry, values, ids, store):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        if not n:
            raise PreventUpdate
        try:
            data_views.require_importer(scope)
            if not isinstance(upload, dict) or not upload.get("token"):
                raise GridMapError("请先上传文件")
            mapping = None
            if kind in preview.TABLE_KINDS and isinstance(store, dict) and store.get("kind") == kind:
                mapping = preview.effective_mapping(kind, list(store.get("headers") or []),
                                                    _choices(store.get("headers"), values, ids))
            token = data_views.start_import(engine, settings, scope, upload["token"], community_id, kind,
                                            mapping=mapping, encoding=encoding or None, crs=crs or None,
                                            dry_run="dry" in (dry or []),
                                            allow_removals="allow_removals" in (dry or []))
        except GridMapError as exc:
            return no_update, _error(exc), True
        return {"token": token}, None, False

    @app.callback(Output(PROGRESS, "children"), Output(POLL, "disabled"), Output(RESULT, "style"),
                  Output(ACCOUNTING, "children"), Output(DIFF, "children"), Output(NOTES, "children"),
                  Output(PROBLEMS, "rowData"), Output(RESULT_STORE, "data"),
                  Input(POLL, "n_intervals"), State(JOB_STORE, "data"), prevent_initial_call=True)
    def on_poll(_n, job):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        if not isinstance(job, dict) or not job.get("token"):
            return None, True, HIDDEN, None, None, None, [], no_update
        try:
            status = data_views.job_status(settings, scope, job["token"])
        except GridMapError as exc:
            return _error(exc), True, HIDDEN, None, None, None, [], no_update
        state = status.get("state")
        if state == data_views.JOB_RUNNING:
            bar = progress_bar(float(status.get("progress") or 0), str(status.get("stage") or ""))
            return bar, False, HIDDEN, None, None, None, [], no_update
        if state != data_views.JOB_DONE:
            message = status.get("error") or "导入失败"
            return _error(GridMapError(message)), True, HIDDEN, None, None, None, [], no_update
        result = status.get("result") or {}
        rows = list(result.get("problems") or [])
        notes = [html.Li(n) for n in result.get("notes") or []]
        if len(rows) > data_views.MAX_TABLE_ROWS:
            notes.append(html.Li(f"问题行较多：下表只显示前 {data_views.MAX_TABLE_ROWS} 行，完整报告请下载"))
        done = "试运行完成（未写入）" if result.get("dry_run") else "导入完成"
        return (progress_bar(1.0, done), True, SHOWN, result.get("accounting") or "", diff_text(result.get("diff") or {}),
                notes, rows[:data_views.MAX_TABLE_ROWS],
                {"token": job["token"], "batch_id": result.get("batch_id")})

    @app.callback(Output(REPORT_FILE, "data"), Output(IMPORT_STATUS, "children", allow_duplicate=True),
                  Input(REPORT_BUTTON, "n_clicks"), State(JOB_STORE, "data"), prevent_initial_call=True)
    def on_report(n, job):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        if not n or not isinstance(job, dict):
            raise PreventUpdate
        try:
            name, data = data_views.job_report(engine, settings, scope, job.get("token"))
        except GridMapError as exc:
            return no_update, _error(exc)
        return dcc.send_bytes(data, name), no_update

    @app.callback(Output(BATCHES, "rowData"), Output(BATCH_SELECTED, "data"),
                  Input(COMMUNITY, "value"), Input(RESULT_STORE, "data"))
    def on_batches(community_id, _result):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        if community_id is None:
            return [], None
        try:
            with Session(engine) as s:
                return data_views.batch_rows(s, scope, community_id), None
        except GridMapError:
            return [], None

    @app.callback(Output(BATCH_SELECTED, "data", allow_duplicate=True), Input(BATCHES, "cellClicked"),
                  prevent_initial_call=True)
    def on_batch_click(cell):  # type: ignore[no-untyped-def]
        auth.require_scope()
        batch_id = _batch_id((cell or {}).get("rowId"))
        if batch_id is None:
            raise PreventUpdate
        return batch_id

    @app.callback(Output(BATCH_ROWS, "rowData"), Output(BATCH_TITLE, "children"),
                  Input(BATCH_SELECTED, "data"), Input(BATCH_KINDS, "value"))
    def on_batch(selected, kinds):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        batch_id = _batch_id(selected)
        if batch_id is None:
            return [], "选择上表中的一个批次，查看其问题行"
        try:
            with Session(engine) as s:
                rows = data_views.batch_problem_rows(s, scope, batch_id,
                                                     kinds=None if kinds == "all" else (QUARANTINED,))
        except GridMapError as exc:
            return [], str(exc)
        more = f"（只显示前 {data_views.MAX_TABLE_ROWS} 行）" if len(rows) > data_views.MAX_TABLE_ROWS else ""
        return rows[:data_views.MAX_TABLE_ROWS], f"批次 {batch_id}：{len(rows)} 行{more}"

    @app.callback(Output(BATCH_REPORT_FILE, "data"), Output(BATCH_TITLE, "children", allow_duplicate=True),
                  Input(BATCH_REPORT_BUTTON, "n_clicks"), State(BATCH_SELECTED, "data"), State(BATCH_KINDS, "value"),
                  prevent_initial_call=True)
    def on_batch_report(n, selected, kinds):  # type: ignore[no-untyped-def]
        scope = auth.require_scope()
        batch_id = _batch_id(selected)
        if not n or batch_id is None:
            raise PreventUpdate
        try:
            name, data = data_views.batch_report(engine, scope, batch_id,
                                                 kinds=None if kinds == "all" else (QUARANTINED,))
        except GridMapError as exc:
            return no_update, str(exc)
        return dcc.send_bytes(data, name), no_update


def _batch_id(value: Any) -> int | None:
    """A batch id from the browser (a row id or the stored selection); the scope is checked by data_views."""
    try:
        batch_id = int(str(value))
    except (TypeError, ValueError):
        return None
    return batch_id if batch_id > 0 else None
