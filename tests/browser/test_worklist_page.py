"""The worklist in headless Chromium against a real server: a grid worker opens /worklist, clicks a finding, records
'已更正' with a new phone number on the flat page, and back on the worklist the finding is gone; a community admin
downloads the worklist and the updated register. No console errors."""
from __future__ import annotations

import io
import re

import openpyxl
from sqlalchemy import select

from geodata import models, schema, store

KEY = ("4", 2, "302")        # worker2's grid (第二网格); no other browser test touches this flat


def _add_finding(server) -> tuple[int, int, int]:
    """An open 'missing phone' finding for the head of household 4-2-302: (finding id, person id, flat id)."""
    built = server["built"]
    engine = store.make_engine(server["db_url"])
    try:
        with store.session_scope(engine) as s:
            person = s.scalars(select(models.Person).where(models.Person.household_id == built.household_ids[KEY])
                               .order_by(models.Person.id)).first()
            finding = models.Finding(community_id=built.community_id, category=schema.F_MISSING_PHONE,
                                     person_id=person.id, status=schema.FINDING_OPEN, evidence="花名册无联系电话")
            s.add(finding)
            s.flush()
            return finding.id, person.id, built.flat_ids[KEY]
    finally:
        engine.dispose()


def test_worker_records_a_correction_from_the_worklist(worker_page, server):
    page, errors = worker_page
    finding_id, person_id, flat_id = _add_finding(server)
    page.click("#nav-worklist")
    page.wait_for_selector(f"#worklist-row-{finding_id}")
    assert page.locator("#nav-approvals").count() == 0                    # workers do not approve
    assert "第二网格" in page.inner_text("#worklist-body") and "第一网格" not in page.inner_text("#worklist-body")
    assert "缺少联系电话" in page.inner_text(f"#worklist-row-{finding_id}")

    page.click(f"#worklist-link-{finding_id}")
    page.wait_for_url(re.compile(rf"/flat/{flat_id}$"))
    page.wait_for_selector("#verify-result")
    assert "缺少联系电话" in page.inner_text("#verify-form")
    page.locator("#verify-method").get_by_text("上门", exact=True).click()
    page.locator("#verify-result").get_by_text("已更正", exact=True).click()
    page.fill(f".verify-phone-{person_id}", "139 1234 5678")
    page.fill("#verify-note", "上门核实，补登手机号")
    page.click("#verify-submit")
    page.wait_for_selector("#verify-saved")
    assert "139****5678" in page.inner_text("#flat-history")             # old → new, masked
    assert "13912345678" not in page.content()
    assert "上门核实，补登手机号" in page.inner_text("#flat-visits")

    page.click("#nav-worklist")
    page.wait_for_selector("#worklist-page")
    page.wait_for_selector("#worklist-total")
    assert page.locator(f"#worklist-row-{finding_id}").count() == 0
    assert errors == []


def test_admin_downloads_the_worklist_and_the_register(admin_page, server):
    page, errors = admin_page
    page.click("#nav-worklist")
    page.wait_for_selector("#worklist-total")
    assert page.locator("#nav-approvals").count() == 1
    with page.expect_download() as info:
        page.click("#worklist-export")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx") and "入户情况汇总表" in download.suggested_filename
    sheets = openpyxl.load_workbook(io.BytesIO(open(download.path(), "rb").read())).sheetnames
    assert sheets[:2] == ["第一网格", "第二网格"]
    page.click("#worklist-export-register")                # an unmasked export without a reason is refused
    page.wait_for_selector("#worklist-error")
    page.fill("#worklist-export-reason", "季度核对")
    with page.expect_download() as info:
        page.click("#worklist-export-register")
    assert "家庭户情况平铺表" in info.value.suggested_filename
    book = openpyxl.load_workbook(io.BytesIO(open(info.value.path(), "rb").read()))
    assert "导出人" in book.properties.description
    assert errors == []
