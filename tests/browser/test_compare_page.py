"""The comparison page in headless Chromium against the real server (the issue's "done when"): a street-office user
signs in, sees the communities ranked by verified share, switches to elderly living alone, exports the table, and
never meets a personal detail; a grid worker gets "无权查看". No console errors.

The street staff account is created here on the factory's 河海街道 (兰翔社区 ranks first; 白云社区, one household,
shows '<5'); nothing else in the store changes, so the other browser tests see the factory's data.
"""
from __future__ import annotations

import io
import re
import time

import openpyxl
import pytest
from sqlalchemy import select

from geodata import access, models, schema, store
from tests.browser.conftest import VIEWPORT, ConsoleErrors

STREET_USER, STREET_PASSWORD = "street_cmp", "gridmap-test-4"
MASKED_ID = re.compile(r"\d{4}\*{10}")
#: The rows of the table in display order (AG Grid positions rows by row-index, not by DOM order).
ROWS_JS = """() => Array.from(document.querySelectorAll('#compare-table .ag-pinned-left-cols-container .ag-row'))
    .map(r => [Number(r.getAttribute('row-index')), r.innerText.split('\\n').map(s => s.trim())])
    .sort((a, b) => a[0] - b[0]).map(x => x[1])"""

#: The large bar chart's title is the chosen indicator once the callback has drawn it.
TITLE_IS = "(l) => (document.querySelector('#compare-bars .gtitle') || {}).textContent === l"


@pytest.fixture(scope="module")
def street_user(server):
    engine = store.make_engine(server["db_url"])
    with store.session_scope(engine) as s:
        if s.scalar(select(models.User.id).where(models.User.username == STREET_USER)) is None:
            access.create_user(s, STREET_USER, STREET_PASSWORD, schema.ROLE_STREET, street_id=server["built"].street_id)
    with store.session_scope(engine) as s:
        names = [n for (n,) in s.execute(select(models.Person.name))]
    engine.dispose()
    return names


def _sign_in(browser, base_url: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors = ConsoleErrors()
    errors.attach(page)
    page.set_default_timeout(15_000)
    page.goto(f"{base_url}/login")
    page.fill("#login-username", STREET_USER)
    page.fill("#login-password", STREET_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(re.compile(r".*/(street/\d+)?$"))
    return context, page, errors


def _choose_indicator(page, label: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#compare-indicator").click()
    page.get_by_role("option", name=label, exact=True).click()
    page.wait_for_function(TITLE_IS, arg=label)


def test_street_staff_compare_switch_and_export_without_personal_data(browser, server, street_user):
    started = time.monotonic()
    context, page, errors = _sign_in(browser, server["base_url"])
    try:
        page.goto(f"{server['base_url']}/compare")
        page.wait_for_selector("#compare-table .ag-row")
        page.wait_for_selector("path.gm-cmp-community")
        page.wait_for_function(TITLE_IS, arg="已核实户占比")
        # ranked by verified share: 兰翔社区 first with rank 1; 白云社区 (one household) unranked, '<5'
        rows = page.evaluate(ROWS_JS)
        assert rows[0] == ["1", "兰翔社区"] and rows[1] == ["白云社区"], rows
        table = page.inner_text("#compare-table")
        assert "<5" in table and "街道中位数" in table and "已核实户占比" in table
        assert page.locator("path.gm-cmp-community").count() == 2
        assert "已核实户占比" in page.inner_text("#compare-legend")

        _choose_indicator(page, "独居老人数")
        page.wait_for_function("document.querySelector('#compare-legend').innerText.includes('独居老人数')")
        header = page.locator("#compare-table .ag-header-cell[col-id=living_alone]").first
        assert "gm-cmp-chosen" in (page.locator("#compare-table .ag-row [col-id=living_alone]").first
                                   .get_attribute("class") or "")
        assert header.is_visible()
        assert page.evaluate(ROWS_JS)[0] == ["1", "兰翔社区"]

        with page.expect_download() as info:
            page.click("#compare-export-xlsx")
        download = info.value
        assert download.suggested_filename.endswith(".xlsx") and "独居老人数" in download.suggested_filename
        with open(download.path(), "rb") as fh:
            wb = openpyxl.load_workbook(io.BytesIO(fh.read()))
        cells = [str(c.value) for row in wb.worksheets[0].iter_rows() for c in row if c.value is not None]
        assert "<5" in cells and "街道中位数" in cells
        assert not set(street_user) & set(cells)
        page.wait_for_selector("#compare-exported")

        html = page.content()
        assert not MASKED_ID.search(html)
        for name in street_user:
            assert name not in html, name
        assert errors == []
    finally:
        context.close()
    assert time.monotonic() - started < 30


def test_grid_worker_gets_no_comparison(worker_page, server):
    page, errors = worker_page
    page.goto(f"{server['base_url']}/compare")
    page.wait_for_selector("#page-denied")
    assert "无权查看" in page.inner_text("#page-denied")
    assert page.locator("#compare-table").count() == 0
    assert errors == []
