"""The map dashboard in headless Chromium against a real server: sign in, map, layers, click-through, record a
verification, and the map's colour follows. No console errors anywhere."""
from __future__ import annotations

import re

from geodata import schema
from layers import colors
from tests.browser.conftest import VIEWPORT


def _fill(page, building_id: int) -> str:  # type: ignore[no-untyped-def]
    return page.get_attribute(f"path.gm-building-{building_id}", "fill")


def _click_centre(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not drawn"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert 0 < x < VIEWPORT["width"] and 0 < y < VIEWPORT["height"], f"{selector} is outside the viewport: {box}"
    page.mouse.click(x, y)


def test_map_shows_every_building_and_switches_layers(admin_page, server):
    page, errors = admin_page
    built = server["built"]
    assert page.locator("path.gm-building").count() == len(built.building_ids)
    assert page.locator("path.gm-grid").count() == len(built.grid_ids)
    page.wait_for_selector("#synthetic-banner")
    assert "演示数据" in page.inner_text("#synthetic-banner")
    assert "第一网格" in page.inner_text("#coverage-table")
    # Status colours on first draw: building 3 has an open finding, building 1 is verified.
    assert _fill(page, built.building_ids["1"]) == colors.STATUS_COLORS[schema.V_VERIFIED]
    assert _fill(page, built.building_ids["4"]) == colors.STATUS_COLORS[schema.V_NOT_STARTED]
    assert "有待核实问题" in page.inner_text("#map-legend")

    # The layer switcher restyles through the hideout: the events theme colours building 4 (one open event).
    page.locator("#map-theme").get_by_text("未办结事件", exact=True).click()
    event_colour = colors.EVENT_COLORS[1]
    page.wait_for_function(f"document.querySelector('path.gm-building-{built.building_ids['4']}')"
                           f".getAttribute('fill') === '{event_colour}'")
    assert _fill(page, built.building_ids["1"]) == colors.EVENT_COLORS[0]
    assert "≥5" in page.inner_text("#map-legend")

    # Grids off: their fill disappears; back on.
    page.locator("#map-overlays").get_by_text("显示网格", exact=True).click()
    page.wait_for_function("document.querySelector('path.gm-grid').getAttribute('fill-opacity') === '0'")
    page.locator("#map-overlays").get_by_text("显示网格", exact=True).click()
    page.wait_for_function("document.querySelector('path.gm-grid').getAttribute('fill-opacity') !== '0'")
    assert errors == []


def test_click_building_record_visit_and_map_follows(admin_page, server):
    page, errors = admin_page
    built = server["built"]
    b3 = built.building_ids["3"]
    assert _fill(page, b3) == colors.STATUS_COLORS[schema.V_OPEN_FINDINGS]

    _click_centre(page, f"path.gm-building-{b3}")
    page.wait_for_selector("#panel-flats")
    assert "兰翔新村3幢" in page.inner_text("#panel-title")
    rooms = page.locator("#panel-flats .gm-mini-flat").all_inner_texts()
    assert len(rooms) == 6 * 3 * 2 and "101" in rooms and "602" in rooms
    assert "gm-selected" in page.get_attribute(f"path.gm-building-{b3}", "class")

    page.click("#panel-open-building")
    page.wait_for_url(re.compile(rf"/building/{b3}$"))
    page.wait_for_selector("#flat-sheet")
    floors = page.locator("#flat-sheet th.gm-floor").all_inner_texts()
    assert floors[0] == "6层" and floors[-1] == "1层"  # top floor first
    flat_id = built.flat_ids[built.finding_flat]
    cell = page.locator(f"#flat-cell-{flat_id}")
    assert "待核实" in cell.inner_text()

    cell.locator("a").click()
    page.wait_for_url(re.compile(rf"/flat/{flat_id}$"))
    page.wait_for_selector("#visit-form")
    members = page.inner_text(".gm-members")
    assert "3204**********" in members                      # ID masked
    assert re.search(r"\b\d{18}\b|\d{17}X", members) is None  # no full ID anywhere
    assert "户在人不在" in page.inner_text("#flat-findings")

    page.locator("#visit-method").get_by_text("上门", exact=True).click()
    page.locator("#visit-result").get_by_text("核实无误", exact=True).click()
    page.fill("#visit-note", "上门核实，户主本人在家")
    page.click("#visit-submit")
    page.wait_for_selector("#visit-saved")
    household_id = built.household_ids[built.finding_flat]
    assert "已核实" in page.inner_text(f"#household-verified-{household_id}")
    assert "已关闭" in page.inner_text("#flat-findings")
    assert "上门核实，户主本人在家" in page.inner_text("#flat-visits")
    assert "核实日期" in page.inner_text("#flat-history")

    # Back to the map (browser history): the building is no longer red.
    page.go_back()
    page.wait_for_url(re.compile(rf"/building/{b3}$"))
    page.go_back()
    page.wait_for_selector(f"path.gm-building-{b3}")
    page.wait_for_function(f"document.querySelector('path.gm-building-{b3}').getAttribute('fill') === "
                           f"'{colors.STATUS_COLORS[schema.V_IN_PROGRESS]}'")
    assert errors == []


def test_grid_worker_sees_only_their_grid_and_english(worker_page, server):
    page, errors = worker_page
    built = server["built"]
    # worker2 covers 第二网格: buildings 3 and 4 only.
    assert page.locator("path.gm-building").count() == 2
    assert page.locator(f"path.gm-building-{built.building_ids['1']}").count() == 0
    page.goto(f"{server['base_url']}/building/{built.building_ids['1']}")
    page.wait_for_selector("#page-denied")
    page.locator("#lang-switch").get_by_text("English", exact=True).click()
    page.wait_for_function("document.querySelector('#app-title').innerText === 'Grid Map'")
    assert "Not available" in page.inner_text("#page-denied")
    page.locator("#lang-switch").get_by_text("中文", exact=True).click()
    page.wait_for_function("document.querySelector('#app-title').innerText === '网格地图'")
    assert errors == []
