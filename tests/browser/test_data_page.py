"""The data page in headless Chromium against the real server: upload a register whose name column is called 住户名,
fix that one mapping (after binary garbage named .xlsx was refused with a message), import with progress, read the accounting line and the problem table (hostile text shown as
text), download the report, open the batch; a grid worker gets no data page. No console errors.

The import goes into a community of its own (a separate street created here), so the other browser tests' data
stay as the factory built them.
"""
from __future__ import annotations

import io
import json

import openpyxl
import pytest
import shapely
from sqlalchemy import select

from geodata import access, models, schema, store
from tests import factories
from tests.browser.conftest import login

IMPORTER, IMPORTER_PASSWORD = "importer", "gridmap-test-3"
COMMUNITY = "导入测试社区"
XSS_TITLE = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">测试花名册"
SQL_NAME = "'; DROP TABLE person; --"
ID_1 = factories.id_number(factories.dt.date(1958, 5, 6), 31)
ID_2 = factories.id_number(factories.dt.date(1960, 7, 8), 42)
CSV = "\n".join([
    f'"{XSS_TITLE.replace(chr(34), chr(34) * 2)}",,,,,,,,',
    "序号,楼号,单元,室号,户主姓名,住户名,与户主关系,身份证号码,联系电话",
    f"1,1,1,101,周红,周红,户主,{ID_1},13912345678",
    f"2,1,1,101,周红,陈刚,配偶,{ID_2},",
    f"3,1,1,201,{SQL_NAME},{SQL_NAME},户主,3.20411E+17,",
    "4,9,1,101,李四,李四,户主,,",
    "合计,,,,,4人,,,",
]).encode("utf-8")


@pytest.fixture(scope="module")
def importer(server):
    """An admin of a community on its own street (one building with a footprint, no residents yet)."""
    engine = store.make_engine(server["db_url"])
    with store.session_scope(engine) as s:
        if s.scalar(select(models.Community.id).where(models.Community.name == COMMUNITY)) is None:
            street = models.Street(name="导入测试街道", synthetic=True)
            community = models.Community(street=street, name=COMMUNITY, compound="测试新村", synthetic=True)
            s.add_all([street, community])
            s.flush()
            x, y = factories.ORIGIN[0] + 0.02, factories.ORIGIN[1]
            box = shapely.box(x, y, x + factories.BUILDING_W, y + factories.BUILDING_H)
            grid = models.Grid(community_id=community.id, code="T01", name="测试网格", seq=1,
                               geom_wkb=store.to_wkb(box.buffer(0.0005)))
            s.add(grid)
            s.flush()
            s.add(models.Building(community_id=community.id, grid_id=grid.id, number="1", label="测试新村1幢",
                                  floors=5, units=1, geom_wkb=store.to_wkb(box)))
            access.create_user(s, IMPORTER, IMPORTER_PASSWORD, schema.ROLE_COMMUNITY_ADMIN,
                               community_id=community.id)
    engine.dispose()
    return IMPORTER


@pytest.fixture
def importer_page(browser, server, importer):
    page, context, errors = login(browser, server["base_url"], IMPORTER, IMPORTER_PASSWORD)
    yield page, errors
    context.close()


def _choose(page, index: int, label: str) -> None:  # type: ignore[no-untyped-def]
    """Pick `label` in the mapping drop-down of row `index` (Dash 4 dropdown: a trigger and a popover list)."""
    page.locator(".data-map-row").nth(index).locator(".dash-dropdown").first.click()
    page.get_by_role("option", name=label, exact=True).click()


def test_upload_fix_mapping_import_and_report(importer_page, server):
    page, errors = importer_page
    page.get_by_role("link", name="数据导入").click()
    page.wait_for_selector("#data-upload")
    # Binary garbage named .xlsx: one clear sentence, nothing kept.
    page.set_input_files("#data-upload input[type=file]",
                         files=[{"name": "登记表.xlsx", "mimeType": "application/octet-stream",
                                 "buffer": bytes((i * 7919 + 13) % 256 for i in range(20_000))}])
    page.wait_for_selector(".data-error")
    assert "无法识别文件内容" in page.inner_text(".data-error")

    page.set_input_files("#data-upload input[type=file]",
                         files=[{"name": "../../测试花名册.csv", "mimeType": "text/csv", "buffer": CSV}])
    page.wait_for_selector("#data-received")
    assert "测试花名册.csv" in page.inner_text("#data-received") and "../" not in page.inner_text("#data-received")
    page.wait_for_selector("#data-mapping-table")
    assert "表头在第 2 行" in page.inner_text("#data-sheets")
    assert "住户名" in page.inner_text("#data-unknown")
    page.wait_for_selector("#data-mapping-problems")
    assert "缺少必需的列：姓名" in page.inner_text("#data-mapping-problems")

    headers = page.locator(".data-map-row .data-header-text").all_inner_texts()
    _choose(page, headers.index("住户名"), "姓名")
    page.wait_for_selector("#data-mapping-ok")
    with page.expect_download() as info:     # the fixed mapping, in the CLI's --mapping format
        page.click("#data-mapping-button")
    assert json.loads(open(info.value.path(), encoding="utf-8").read())["住户名"] == schema.NAME

    page.click("#data-import")
    page.wait_for_function("document.querySelector('#data-accounting') && "
                           "document.querySelector('#data-accounting').innerText.includes('读取')", timeout=20_000)
    accounting = page.inner_text("#data-accounting")
    assert "读取 7 行 = 导入 3 + 隔离 1 + 跳过 3" in accounting
    assert "新增人员 3" in page.inner_text("#data-diff")
    assert "100%" in page.inner_text("#data-percent")

    problems = page.locator("#data-problems")
    problems.locator(".ag-cell", has_text="楼栋 9").first.wait_for()
    # Hostile text from the file is shown as text and never runs.
    assert problems.locator(".ag-cell", has_text="<script>window.__xss=1</script>").count() >= 1
    assert page.evaluate("window.__xss") is None
    assert problems.locator("script").count() == 0 and problems.locator("img").count() == 0
    # IDs are masked in the table
    assert ID_1 not in problems.inner_text()

    with page.expect_download() as info:
        page.click("#data-report-button")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx") and "/" not in download.suggested_filename
    rows = list(openpyxl.load_workbook(io.BytesIO(open(download.path(), "rb").read())).active
                .iter_rows(values_only=True))
    assert rows[0][:4] == ("文件", "工作表", "行号", "列")
    assert any("楼栋 9" in str(r[6]) for r in rows[1:])

    # The batch is listed; clicking it shows its quarantined row.
    batches = page.locator("#data-batches")
    batches.locator(".ag-cell", has_text="测试花名册.csv").first.click()
    page.wait_for_function("document.querySelector('#data-batch-title').innerText.includes('批次')")
    page.locator("#data-batch-rows .ag-cell", has_text="楼栋 9").first.wait_for()

    engine = store.make_engine(server["db_url"])
    with engine.connect() as conn:
        names = set(conn.execute(select(models.Person.name)).scalars())
        exports = conn.execute(select(models.AuditLog.action).where(models.AuditLog.username == IMPORTER)).scalars()
        actions = list(exports)
    engine.dispose()
    assert SQL_NAME in names and "周红" in names
    assert schema.A_IMPORT in actions and schema.A_EXPORT in actions
    assert errors == []


def test_grid_worker_gets_no_data_page(worker_page, server):
    page, errors = worker_page
    assert page.get_by_role("link", name="数据导入").count() == 0
    page.goto(f"{server['base_url']}/data")
    page.wait_for_selector("#data-forbidden")
    assert "无权查看" in page.inner_text("#data-forbidden")
    assert page.locator("#data-upload").count() == 0
    assert errors == []
