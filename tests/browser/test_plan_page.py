"""The visit-planning page in headless Chromium against a real server, as a grid worker of 兰翔社区's second grid
would use it: one click plans today's route for the open findings, numbered stops on the map and in the list, the
printable sheet downloads, a stop's link opens its flat page where the outcome is recorded, and back on the plan
page the stop is ticked. No console errors.

The session's server is shared with test_map.py, which closes the factory's open finding; this test adds open
findings of its own in grid 2 so that it does not depend on the order the tests run in."""
from __future__ import annotations

import re

import openpyxl
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import models, schema, store
from layers import routes
from tests.browser.conftest import record_outcome

#: Flats of grid 2 (buildings 3 and 4) that get an open finding for this test.
FLATS = (("3", 2, "201"), ("4", 1, "302"))


def _add_findings(server) -> set[int]:  # type: ignore[no-untyped-def]
    built = server["built"]
    engine = store.make_engine(server["db_url"])
    flat_ids = {built.flat_ids[key] for key in FLATS}
    with store.session_scope(engine) as s:
        for key in FLATS:
            household = s.scalar(select(models.Household).where(models.Household.flat_id == built.flat_ids[key],
                                                                models.Household.active.is_(True)))
            household.verified_at = None
            s.add(models.Finding(community_id=built.community_id, category=schema.F_TENANT_CHANGED,
                                 flat_id=built.flat_ids[key], household_id=household.id, evidence="卡口登记为其他租户",
                                 status=schema.FINDING_OPEN))
    engine.dispose()
    return flat_ids


def test_worker_plans_prints_records_and_sees_the_tick(worker_page, server, tmp_path):
    page, errors = worker_page
    base = server["base_url"]
    planted = _add_findings(server)

    page.click("a.gm-nav-link[href='/plan']")
    page.wait_for_selector("#plan-controls")
    # Their own grid, preselected, no other grid to choose.
    assert "第二网格" in page.inner_text("#plan-grid")
    assert page.locator("#plan-grid").is_disabled()
    assert not page.locator("#plan-workers").is_visible()

    # One click: today's route for the open findings (the default choice).
    page.click("#plan-generate")
    page.wait_for_selector("#plan-generated")
    page.wait_for_selector("#plan-stops-1")
    rows = page.locator("#plan-stops-1 tbody tr")
    n = rows.count()
    assert n >= len(planted)
    assert [page.inner_text(f"#plan-stop-1-{i} td.gm-num >> nth=0").strip() for i in range(1, n + 1)] == \
        [str(i) for i in range(1, n + 1)]
    assert "租户变更" in page.inner_text("#plan-stops-1")
    assert re.search(r"1\d{2}\*{4}\d{4}|无电话|–", page.inner_text("#plan-stops-1"))
    assert not re.search(r"1[3-9]\d{9}", page.inner_text("#plan-page"))      # masked phones only
    # The route on the map: a polyline in the worker's colour and numbered markers in walking order.
    page.wait_for_selector("path.gm-plan-path-w1")
    assert page.get_attribute("path.gm-plan-path-w1", "stroke") == routes.worker_color(1)
    markers = page.locator(".gm-plan-stop-w1")
    assert markers.count() >= 1
    assert markers.first.inner_text().strip().startswith("1")
    page.screenshot(path=str(tmp_path / "plan.png"))

    # The printable sheet.
    with page.expect_download() as download:
        page.click("#plan-xlsx")
    assert download.value.suggested_filename.endswith(".xlsx")
    target = tmp_path / "sheet.xlsx"
    download.value.save_as(target)
    sheet = openpyxl.load_workbook(target).worksheets[0]
    numbers = [r[0] for r in sheet.iter_rows(min_row=4, values_only=True) if isinstance(r[0], int)]
    assert numbers == list(range(1, n + 1))

    # Stop 1: open its flat page, record the outcome.
    link = page.locator("#plan-stop-link-1-1")
    href = link.get_attribute("href")
    flat_id = int(re.fullmatch(r"/flat/(\d+)", href).group(1))
    link.click()
    page.wait_for_selector("#verify-submit")
    assert page.url == f"{base}{href}"
    record_outcome(page, method="上门")

    # Back on the plan page: the same plan, stop 1 ticked, the others not.
    page.go_back()
    page.wait_for_selector("#plan-stop-1-1.gm-plan-done")
    assert page.locator("#plan-stops-1 tr.gm-plan-done").count() == 1
    assert "已走访 1" in page.inner_text("#plan-worker-1")
    # The map follows: stop 1's building is drawn as visited today.
    page.wait_for_selector("path.gm-plan-building-visited")
    engine = store.make_engine(server["db_url"])
    with Session(engine) as s:
        visit = s.scalar(select(models.Visit).where(models.Visit.flat_id == flat_id).order_by(models.Visit.id.desc()))
        plans = s.scalars(select(models.AuditLog).where(models.AuditLog.reason == "plan")).all()
    engine.dispose()
    assert (visit.by, visit.method) == ("worker2", schema.M_DOOR)
    assert plans and plans[-1].username == "worker2"
    assert errors == []

