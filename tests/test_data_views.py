"""The data page without a browser: preview, fixing the mapping, import jobs, batches, reports, scope checks, and the
page's callbacks over HTTP (a small Dash app with the real sign-in)."""
from __future__ import annotations

import base64
import io
import json
import re
import time

import dash
import openpyxl
import pytest
from dash import html
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from dashboard import auth, data_views
from dashboard.pages import data as data_page
from geodata import access, models, schema, store
from geodata.errors import AccessDenied, InputError
from geodata.settings import load_settings
from loaders import __main__ as loaders_cli
from loaders import preview, tables, uploads
from tests import factories

PASSWORD = "data-test-pass-1"
ID_A = factories.id_number(factories.dt.date(1960, 10, 1), 11)
ID_B = factories.id_number(factories.dt.date(1962, 4, 8), 22)
SQL_NAME = "'; DROP TABLE person; --"
SCRIPT_NAME = "<script>alert(1)</script>"
#: A register whose name column says 住户名, which no synonym knows.
CSV_TEXT = "\n".join([
    "兰翔社区花名册（测试）",
    "序号,楼号,单元,室号,户主姓名,住户名,与户主关系,身份证号码,联系电话",
    f"1,1,1,101,孙立,孙立,户主,{ID_A},13912345678",
    f"2,1,1,101,孙立,吴芳,配偶,{ID_B},",
    f"3,1,1,102,{SCRIPT_NAME},{SCRIPT_NAME},户主,3.20411E+17,0519-86543210",
    f"4,1,1,201,{SQL_NAME},{SQL_NAME},户主,,",
    "5,9,1,101,钱进,钱进,户主,,13800001111",
    "合计,,,,,5人,,,",
]) + "\n"


@pytest.fixture(autouse=True)
def fast_hash(monkeypatch):
    monkeypatch.setattr(access, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def env(tmp_path):
    """(engine, built, settings, scopes by username) on a factory store with one user per role."""
    engine, built = factories.make_store(tmp_path / "store.db")
    with store.session_scope(engine) as s:
        access.create_user(s, "admin", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=built.community_id)
        access.create_user(s, "leader", PASSWORD, schema.ROLE_GRID_LEADER, grid_ids=[built.grid_ids[0]])
        access.create_user(s, "worker", PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[built.grid_ids[1]])
        access.create_user(s, "street", PASSWORD, schema.ROLE_STREET, street_id=built.street_id)
        access.create_user(s, "other", PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=built.other_community_id)
    settings = load_settings(env={}, db_url=str(engine.url), upload_dir=str(tmp_path / "uploads"), max_upload_mb=1,
                             secret_key="test-secret")
    with Session(engine) as s:
        scopes = {u: access.scope_for(s, u) for u in ("admin", "leader", "worker", "street", "other")}
    yield engine, built, settings, scopes
    engine.dispose()


def _url(data: bytes, mime: str = "text/csv") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _upload(settings, scope, text: str = CSV_TEXT, name: str = "花名册.csv") -> data_views.Upload:
    return data_views.receive_upload(settings, scope, _url(text.encode("utf-8")), name)


# --- roles -----------------------------------------------------------------------------------------

def test_who_may_use_the_data_page(env):
    engine, built, settings, scopes = env
    assert data_views.may_import(scopes["admin"]) and data_views.may_import(scopes["leader"])
    assert not data_views.may_import(scopes["worker"]) and not data_views.may_import(scopes["street"])
    assert not data_views.may_import(None)
    assert data_views.kinds_for(scopes["admin"]) == data_views.ALL_KINDS
    # no geometry and no register for grid leaders: a register import changes households in every grid
    assert data_views.kinds_for(scopes["leader"]) == (schema.K_CHECKPOINT,)
    with Session(engine) as s:
        assert [c["id"] for c in data_views.data_communities(s, scopes["leader"])] == [built.community_id]
        assert data_views.data_communities(s, scopes["worker"]) == []
        assert data_views.data_communities(s, scopes["street"]) == []
        with pytest.raises(AccessDenied):
            data_views.require_community(s, scopes["other"], built.community_id)
        with pytest.raises(AccessDenied):
            data_views.require_community(s, scopes["admin"], "1 OR 1=1")
    for role in ("worker", "street"):
        with pytest.raises(AccessDenied):
            _upload(settings, scopes[role])


# --- preview and the mapping fix -------------------------------------------------------------------

def test_preview_names_unknown_and_missing_columns(env):
    _, _, settings, scopes = env
    up = _upload(settings, scopes["admin"])
    assert up.name == "花名册.csv" and up.fmt == uploads.F_CSV
    result = data_views.preview_upload(settings, scopes["admin"], up.token)
    assert result["kind"] == schema.K_REGISTER and result["format"] == "csv"
    table = result["table"]
    [sheet] = table["sheets"]
    assert sheet["header_row"] == 2 and sheet["data_rows"] == 5
    assert table["fields"]["住户名"] is None and table["fields"]["楼号"] == schema.BUILDING
    assert table["fields"]["身份证号码"] == schema.ID_NUMBER
    assert "住户名" in sheet["unknown"] and "姓名" in sheet["missing"]
    assert any("缺少必需的列：姓名" in p for p in table["problems"])
    # samples are masked: no full ID, no full phone anywhere in the preview
    dumped = json.dumps(result, ensure_ascii=False)
    assert ID_A not in dumped and "13912345678" not in dumped and "3204**********" in dumped
    # a grid leader cannot read the admin's upload
    with pytest.raises(AccessDenied):
        data_views.preview_upload(settings, scopes["leader"], up.token)
    with pytest.raises(InputError, match="已不存在"):
        data_views.preview_upload(settings, scopes["admin"], "../" + up.token)


def test_fixed_mapping_imports_and_matches_the_cli_format(env, tmp_path, monkeypatch):
    engine, built, settings, scopes = env
    up = _upload(settings, scopes["admin"])
    table = data_views.preview_upload(settings, scopes["admin"], up.token)["table"]
    choices = dict(table["fields"])
    choices["住户名"] = schema.NAME
    assert preview.mapping_problems(schema.K_REGISTER, choices) == []
    mapping = preview.effective_mapping(schema.K_REGISTER, table["headers"], choices)
    assert mapping["住户名"] == schema.NAME and mapping["身份证号码"] == schema.ID_NUMBER

    # With the mapping fixed, the preview finds the full header.
    again = data_views.preview_upload(settings, scopes["admin"], up.token, schema.K_REGISTER, mapping=mapping)
    assert again["table"]["sheets"][0]["missing"] == [] and again["table"]["problems"] == []

    # The small file lists a few households of a community of 83: a real import is refused without confirmation.
    refused = data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id,
                                      schema.K_REGISTER, mapping=mapping, background=False)
    status = data_views.job_status(settings, scopes["admin"], refused)
    assert status["state"] != data_views.JOB_DONE and "不再在册" in status["error"]
    token = data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id,
                                    schema.K_REGISTER, mapping=mapping, allow_removals=True, background=False)
    status = data_views.job_status(settings, scopes["admin"], token)
    assert status["state"] == data_views.JOB_DONE, status
    result = status["result"]
    assert result["balanced"] and result["rows_read"] == 8
    assert (result["imported"], result["quarantined"], result["skipped"]) == (4, 1, 3)
    assert "读取 8 行 = 导入 4 + 隔离 1 + 跳过 3" in result["accounting"]
    assert result["diff"]["persons_added"] == 4
    rows = result["problems"]
    assert any(r["kind_code"] == "quarantined" and "楼栋 9" in r["reason"] for r in rows)
    assert all(ID_A not in json.dumps(r, ensure_ascii=False) for r in rows)
    assert uploads.upload_file(settings.upload_dir, up.token) is None      # the upload is deleted after import

    with Session(engine) as s:
        assert inspect(engine).has_table("person")                           # the SQL string did nothing
        names = set(s.scalars(select(models.Person.name).where(models.Person.active.is_(True))))
        assert {SQL_NAME, SCRIPT_NAME, "孙立", "吴芳"} <= names                # imported as text, verbatim
        batch = s.get(models.ImportBatch, result["batch_id"])
        assert batch.created_by == "admin" and json.loads(batch.options)["mapping"]["住户名"] == schema.NAME
        audit = s.scalars(select(models.AuditLog).where(models.AuditLog.action == schema.A_IMPORT)).all()
        assert len(audit) == 1 and audit[0].username == "admin" and audit[0].target_id == str(batch.id)
        assert ID_A not in (audit[0].detail or "")

    # The downloadable mapping is what the CLI's --mapping takes: the CLI imports the same file with it.
    mapping_file = tmp_path / "mapping.json"
    mapping_file.write_text(data_views.mapping_json(schema.K_REGISTER, table["headers"], choices), encoding="utf-8")
    assert preview.load_mapping(mapping_file.read_bytes(), schema.K_REGISTER) == mapping
    csv_file = tmp_path / "花名册2.csv"
    csv_file.write_text(CSV_TEXT.replace("吴芳", "吴芳芳"), encoding="utf-8")
    monkeypatch.setenv("GRIDMAP_DB", str(engine.url))
    assert loaders_cli.main(["register", "--community", "兰翔社区", str(csv_file), "--mapping",
                             str(mapping_file)]) == 0


def test_without_the_fix_the_import_fails_with_one_clear_sentence(env):
    engine, built, settings, scopes = env
    up = _upload(settings, scopes["admin"])
    token = data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id,
                                    schema.K_REGISTER, allow_removals=True, background=False)
    status = data_views.job_status(settings, scopes["admin"], token)
    assert status["state"] == data_views.JOB_FAILED and "未找到登记表表头" in status["error"]
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.ImportBatch)) == 0


def test_dry_run_writes_nothing(env):
    engine, built, settings, scopes = env
    with Session(engine) as s:
        before = s.scalar(select(func.count()).select_from(models.Person).where(models.Person.active.is_(True)))
    up = _upload(settings, scopes["admin"])
    mapping = {"住户名": schema.NAME}
    token = data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id,
                                    schema.K_REGISTER, mapping=mapping, dry_run=True, background=False)
    result = data_views.job_status(settings, scopes["admin"], token)["result"]
    assert result["dry_run"] and result["batch_id"] is None and result["diff"]["persons_removed"] > 0
    with Session(engine) as s:
        after = s.scalar(select(func.count()).select_from(models.Person).where(models.Person.active.is_(True)))
    assert before == after
    assert uploads.upload_file(settings.upload_dir, up.token) is not None   # kept for the real import


def test_checkpoint_in_the_background_with_progress(env):
    engine, built, settings, scopes = env
    lines = ["姓名,身份证号码,手机号码,住址,身份,登记日期"]
    lines += [f"居民{i},,139{i:08d},兰翔新村1幢1单元{100 * (1 + i % 5) + 1 + i % 2}室,业主,2020-02-{1 + i % 28:02d}"
              for i in range(3000)]
    up = _upload(settings, scopes["leader"], "\n".join(lines), "卡口.csv")
    assert data_views.preview_upload(settings, scopes["leader"], up.token)["kind"] == schema.K_CHECKPOINT
    token = data_views.start_import(engine, settings, scopes["leader"], up.token, built.community_id,
                                    schema.K_CHECKPOINT)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = data_views.job_status(settings, scopes["leader"], token)
        seen.append(status.get("progress"))
        if status["state"] != data_views.JOB_RUNNING:
            break
        time.sleep(0.02)
    assert status["state"] == data_views.JOB_DONE, status
    assert status["result"]["imported"] == 3000 and status["result"]["balanced"]
    assert seen[-1] == 1.0
    # someone else cannot watch the job
    with pytest.raises(AccessDenied):
        data_views.job_status(settings, scopes["admin"], token)


def test_grid_leader_cannot_import_geometry_the_register_or_into_another_community(env):
    engine, built, settings, scopes = env
    geo = (factories.Path(__file__).parent / "data" / "grids_gcj02.geojson").read_bytes()
    with pytest.raises(AccessDenied):
        data_views.preview_upload(settings, scopes["leader"],
                                  data_views.receive_upload(settings, scopes["leader"], _url(geo), "g.geojson").token)
    up = _upload(settings, scopes["other"])
    with pytest.raises(AccessDenied):
        data_views.start_import(engine, settings, scopes["other"], up.token, built.community_id, schema.K_REGISTER)
    with pytest.raises(AccessDenied):
        data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id, schema.K_REGISTER)
    up2 = _upload(settings, scopes["leader"])
    with pytest.raises(AccessDenied):
        data_views.start_import(engine, settings, scopes["leader"], up2.token, built.community_id, schema.K_GRIDS)
    with pytest.raises(AccessDenied):          # the master register: community admins only
        data_views.start_import(engine, settings, scopes["leader"], up2.token, built.community_id, schema.K_REGISTER)
    with pytest.raises(AccessDenied):
        data_views.preview_upload(settings, scopes["leader"], up2.token, schema.K_REGISTER)


def test_geodata_preview_and_import(env):
    engine, built, settings, scopes = env
    geo = (factories.Path(__file__).parent / "data" / "grids_gcj02.geojson").read_bytes()
    up = data_views.receive_upload(settings, scopes["admin"], _url(geo, "application/json"), "网格.geojson")
    result = data_views.preview_upload(settings, scopes["admin"], up.token)
    assert result["kind"] == schema.K_GRIDS and result["geo"]["features"] == 3
    token = data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id, schema.K_GRIDS,
                                    crs=schema.GCJ02, background=False)
    status = data_views.job_status(settings, scopes["admin"], token)
    assert status["state"] == data_views.JOB_DONE and status["result"]["imported"] == 3


def test_hostile_uploads_end_in_messages(env):
    _, _, settings, scopes = env
    admin = scopes["admin"]
    with pytest.raises(InputError, match="网页格式"):
        data_views.receive_upload(settings, admin, _url(b"<html><table><tr><td>1</td></tr></table></html>"), "a.xls")
    with pytest.raises(InputError, match="文件太大"):
        data_views.receive_upload(settings, admin, _url(b"a,b\n" * (400 * 1024)), "big.csv")
    truncated = (factories.Path(__file__).parent / "data" / "truncated.xlsx").read_bytes()
    with pytest.raises(InputError, match="不完整"):
        data_views.receive_upload(settings, admin, _url(truncated), "../../etc/passwd")
    # a file that sniffs as an xlsx but whose parts are broken fails at the preview, with a message
    buf = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "not xml")
    up = data_views.receive_upload(settings, admin, _url(buf.getvalue()), "..\\..\\x.xlsx")
    assert up.name == "x.xlsx"
    with pytest.raises(InputError, match="无法读取文件"):
        data_views.preview_upload(settings, admin, up.token)


def test_interrupted_job(env):
    engine, built, settings, scopes = env
    up = _upload(settings, scopes["admin"])
    folder = uploads.upload_folder(settings.upload_dir, up.token)
    record = data_views._read_job(folder)
    record.update(state=data_views.JOB_RUNNING, updated=time.time() - data_views.STALE_SECONDS - 5)
    data_views._write_job(folder, record)
    status = data_views.job_status(settings, scopes["admin"], up.token)
    assert status["state"] == data_views.JOB_INTERRUPTED and "重新导入" in status["error"]
    record["updated"] = time.time()
    data_views._write_job(folder, record)
    with pytest.raises(InputError, match="正在导入"):
        data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id, schema.K_REGISTER)


# --- batches and reports ---------------------------------------------------------------------------

def _imported(env) -> tuple[str, int]:
    engine, built, settings, scopes = env
    up = _upload(settings, scopes["admin"])
    token = data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id,
                                    schema.K_REGISTER, mapping={"住户名": schema.NAME}, allow_removals=True,
                                    background=False)
    return token, data_views.job_status(settings, scopes["admin"], token)["result"]["batch_id"]


def test_batches_quarantined_rows_and_reports(env):
    engine, built, settings, scopes = env
    token, batch_id = _imported(env)
    with Session(engine) as s:
        rows = data_views.batch_rows(s, scopes["admin"], built.community_id)
        assert rows[0]["id"] == batch_id and rows[0]["balanced"] == "是" and rows[0]["by"] == "admin"
        assert rows[0]["rows_read"] == 8 and rows[0]["quarantined"] == 1
        assert data_views.batch_rows(s, scopes["leader"], built.community_id)[0]["id"] == batch_id
        quarantined = data_views.batch_problem_rows(s, scopes["admin"], batch_id)
        assert len(quarantined) == 1 and quarantined[0]["row"] == 7 and quarantined[0]["column"] == "楼栋"
        everything = data_views.batch_problem_rows(s, scopes["admin"], batch_id, kinds=None)
        id_rows = [r for r in everything if r["column"] == "身份证号码"]
        assert id_rows and all("*" in r["value"] for r in id_rows if r["value"])
        for role in ("other", "worker", "street"):
            with pytest.raises(AccessDenied):
                data_views.batch_problem_rows(s, scopes[role], batch_id)
        with pytest.raises(AccessDenied):
            data_views.batch_rows(s, scopes["other"], built.community_id)

    name, data = data_views.job_report(engine, settings, scopes["admin"], token)
    assert name.endswith(".xlsx") and "/" not in name
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    values = [tuple(row) for row in ws.iter_rows(values_only=True)]
    assert values[0][:3] == ("文件", "工作表", "行号")
    flat = json.dumps(values, ensure_ascii=False, default=str)
    assert "楼栋 9" in flat and ID_A not in flat and "13912345678" not in flat
    name, data = data_views.batch_report(engine, scopes["admin"], batch_id)
    assert len(list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows())) == len(everything) + 1
    with pytest.raises(AccessDenied):
        data_views.batch_report(engine, scopes["other"], batch_id)
    with Session(engine) as s:
        exports = s.scalars(select(models.AuditLog).where(models.AuditLog.action == schema.A_EXPORT)).all()
    assert [e.username for e in exports] == ["admin", "admin"]
    assert all(e.target_id == str(batch_id) for e in exports)


def test_masking_of_free_text():
    text = f"1 | 孙立 | {ID_A} | +86 139 1234 5678 | 0519-86543210"
    masked = preview.mask_text(text)
    assert ID_A not in masked and "1234 5678" not in masked and "86543210" not in masked and "孙立" in masked
    assert preview.mask_value(schema.ID_NUMBER, ID_A) == access.mask_id(ID_A)


def test_guess_kind():
    cp = tables.SheetTable("f", "", [["姓名", "身份证号码", "住址", "身份", "车牌号", "登记日期"]])
    reg = tables.SheetTable("f", "", [["楼号", "单元", "室号", "姓名", "与户主关系", "身份证号码"]])
    assert preview.guess_table_kind([cp]) == schema.K_CHECKPOINT
    assert preview.guess_table_kind([reg]) == schema.K_REGISTER


def test_load_mapping_rejects_bad_files():
    with pytest.raises(InputError, match="JSON"):
        preview.load_mapping(b"not json")
    with pytest.raises(InputError, match="JSON 对象"):
        preview.load_mapping(b'["a"]')
    with pytest.raises(InputError, match="没有的字段"):
        preview.load_mapping('{"住户名": "password_hash"}'.encode(), schema.K_REGISTER)
    assert preview.load_mapping('{"住户名": "name", "备注": ""}'.encode(), schema.K_REGISTER) == {
        "住户名": "name", "备注": ""}


# --- the page: rendering and callbacks over HTTP ----------------------------------------------------

def _strings(component) -> list[str]:
    """Every string child in a component tree."""
    out = []
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if isinstance(child, str):
            out.append(child)
        elif child is not None:
            out.extend(_strings(child))
    return out


def test_preview_renders_resident_text_as_text(env):
    _, _, settings, scopes = env
    up = _upload(settings, scopes["admin"])
    result = data_views.preview_upload(settings, scopes["admin"], up.token)
    rendered = data_page.table_preview(result)
    assert any(SCRIPT_NAME in s for s in _strings(rendered))
    assert "dangerously_allow_html" not in json.dumps(rendered.to_plotly_json(), default=str)
    assert not any(isinstance(c, dash.dcc.Markdown) for c in _walk(rendered))


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if hasattr(child, "children"):
            yield from _walk(child)


@pytest.fixture
def site(env):
    engine, built, settings, scopes = env
    app = dash.Dash(__name__, suppress_callback_exceptions=True)
    app.layout = html.Div(data_page.layout(engine, settings))
    auth.init_auth(app, engine, settings)
    data_page.register(app, engine, settings)
    return app, engine, built, settings


def _login(client, username):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token})


def _upload_callback(client, contents, filename):
    payload = {"output": f"..{data_page.UPLOAD_STORE}.data...{data_page.UPLOAD_STATUS}.children..",
               "outputs": [{"id": data_page.UPLOAD_STORE, "property": "data"},
                           {"id": data_page.UPLOAD_STATUS, "property": "children"}],
               "inputs": [{"id": data_page.UPLOAD, "property": "contents", "value": contents}],
               "state": [{"id": data_page.UPLOAD, "property": "filename", "value": filename}],
               "changedPropIds": [f"{data_page.UPLOAD}.contents"]}
    return client.post("/_dash-update-component", json=payload)


def _batches_callback(client, community_id):
    payload = {"output": f"..{data_page.BATCHES}.rowData...{data_page.BATCH_SELECTED}.data..",
               "outputs": [{"id": data_page.BATCHES, "property": "rowData"},
                           {"id": data_page.BATCH_SELECTED, "property": "data"}],
               "inputs": [{"id": data_page.COMMUNITY, "property": "value", "value": community_id},
                          {"id": data_page.RESULT_STORE, "property": "data", "value": None}],
               "state": [], "changedPropIds": [f"{data_page.COMMUNITY}.value"]}
    return client.post("/_dash-update-component", json=payload)


def test_callbacks_enforce_the_scope_on_the_server(site, env):
    app, engine, built, settings = site
    _imported(env)
    contents = _url(CSV_TEXT.encode())
    anonymous = app.server.test_client()
    assert _upload_callback(anonymous, contents, "a.csv").status_code == 401

    worker = app.server.test_client()
    _login(worker, "worker")
    body = _upload_callback(worker, contents, "a.csv").get_data(as_text=True)
    assert "无权查看" in body and "已接收" not in body
    assert '"rowData":[]' in _batches_callback(worker, built.community_id).get_data(as_text=True).replace(" ", "")

    other = app.server.test_client()
    _login(other, "other")
    assert '"rowData":[]' in _batches_callback(other, built.community_id).get_data(as_text=True).replace(" ", "")

    admin = app.server.test_client()
    _login(admin, "admin")
    body = _upload_callback(admin, contents, "../../etc/passwd").get_data(as_text=True)
    assert "已接收" in body and "passwd.csv" in body and "../" not in body
    body = _upload_callback(admin, _url(b"\x00\x01garbage" * 100), "x.xlsx").get_data(as_text=True)
    assert "无法识别文件内容" in body
    body = _batches_callback(admin, built.community_id).get_data(as_text=True)
    assert "花名册.csv" in body


def test_layout_for_roles(site, env):
    app, engine, built, settings = site
    _, _, _, scopes = env
    import flask
    for scope, allowed in ((None, False), (scopes["worker"], False), (scopes["street"], False),
                           (scopes["leader"], True), (scopes["admin"], True)):
        with app.server.test_request_context("/data"):
            flask.g.gridmap_scope = scope
            page = data_page.layout(engine, settings)
            assert any("无权查看" in s for s in _strings(page)) is not allowed


def test_a_community_name_used_twice_is_refused(env):
    engine, built, settings, scopes = env
    with store.session_scope(engine) as s:
        street = models.Street(name="另一街道", synthetic=True)
        s.add(models.Community(street=street, name="兰翔社区", synthetic=True))
    up = _upload(settings, scopes["admin"])
    with pytest.raises(InputError, match="2 个名为“兰翔社区”的社区"):
        data_views.start_import(engine, settings, scopes["admin"], up.token, built.community_id, schema.K_REGISTER)
