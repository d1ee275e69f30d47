"""The map dashboard in headless Chromium against a real server: sign in, map, layers, click-through, record a
verification, and the map's colour follows; every layer, filters in the URL, search, the street page, exports
and the issues page. No console errors anywhere. Tests that change data (visit, closing) run last."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

from sqlalchemy.orm import Session

from geodata import indicators, schema, store
from layers import buildings, colors, legend
from tests.browser.conftest import USERNAME, VIEWPORT, record_outcome


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
    # Status colours on first draw: building 1 is verified; building 3 is not started (fill) with an open mismatch
    # (red outline and a count badge in its label), building 4 not started without one.
    assert _fill(page, built.building_ids["1"]) == colors.STATUS_COLORS[schema.V_VERIFIED]
    assert _fill(page, built.building_ids["4"]) == colors.STATUS_COLORS[schema.V_NOT_STARTED]
    b3 = f"path.gm-building-{built.building_ids['3']}"
    assert _fill(page, built.building_ids["3"]) == colors.STATUS_COLORS[schema.V_NOT_STARTED]
    assert page.get_attribute(b3, "stroke") == colors.MISMATCH_COLOR
    assert page.get_attribute(f"path.gm-building-{built.building_ids['4']}", "stroke") == "#ffffff"
    assert "已核实，仍有出入" in page.inner_text("#map-legend") and "有出入问题" in page.inner_text("#map-legend")

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


def _wait_fill(page, building_id: int, colour: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"document.querySelector('path.gm-building-{building_id}').getAttribute('fill') === "
                           f"'{colour}'")


def _query(page) -> dict:  # type: ignore[no-untyped-def]
    return parse_qs(urlparse(page.url).query)


def test_every_layer_restyles_without_geometry_and_lands_in_the_url(admin_page, server):
    page, errors = admin_page
    b = server["built"].building_ids
    # Restyling sends no geometry: record the callback responses while switching every layer.
    bodies: list[str] = []
    page.on("response", lambda r: bodies.append(r.text()) if "_dash-update-component" in r.url else None)
    expected = {legend.THEME_ELDERLY_ONLY: None, legend.THEME_LIVING_ALONE: None, legend.THEME_PARTY: None,
                legend.THEME_ELDERLY: None, legend.THEME_EVENTS: (b["4"], colors.EVENT_COLORS[1]),
                legend.THEME_FINDINGS: (b["3"], colors.FINDING_COLORS[1])}
    for theme, check in expected.items():
        label = page.locator("#map-theme label").nth(legend.THEMES.index(theme))
        label.click()
        page.wait_for_function(f"location.search.includes('layer={theme}')")
        if check:
            _wait_fill(page, *check)
        page.wait_for_selector(f"#map-legend >> text={label.inner_text()}")
    # The findings layer has a category selector: a category building 1 does not have keeps it at zero.
    page.click("#map-category")
    page.locator(".dash-dropdown-options [role=option]").get_by_text("户在人不在", exact=True).click()
    page.wait_for_function("location.search.includes('cat=absent_registered')")
    _wait_fill(page, b["3"], colors.FINDING_COLORS[1])
    assert _fill(page, b["1"]) == colors.FINDING_COLORS[0]
    assert bodies and all('"coordinates"' not in body for body in bodies)
    # nor the buildings' data in any other form (it goes as geobuf): only hideout patches reach the layer
    sent = [json.loads(body).get("response", {}).get("buildings-layer", {}) for body in bodies]
    assert any("hideout" in props for props in sent) and all(set(props) <= {"hideout"} for props in sent)
    # The issue marker (open repair at 4-2-502): shown, labelled with its age, hidden by the overlay switch.
    marker = page.locator(".gm-issue")
    assert marker.count() == 1 and marker.first.is_visible()
    page.locator("#map-overlays").get_by_text("显示事件标记", exact=True).click()
    page.wait_for_function("!document.querySelector('.gm-issue').offsetParent")
    assert "show=grids,labels" in page.url
    assert errors == []


def test_a_url_with_filters_reproduces_the_view_and_back_restores(browser, server, admin_page):
    page, errors = admin_page
    built = server["built"]
    b = built.building_ids
    url = (f"{server['base_url']}/community/{built.community_id}?layer=living_alone&only=mismatches"
           f"&grid=32041100300702")
    page.goto(url)
    page.wait_for_selector("path.gm-building")
    assert page.locator("#map-theme input[value=living_alone]").is_checked()
    assert page.locator("#map-filters input[value=mismatches]").is_checked()
    assert "第二网格" in page.inner_text("#map-grid")
    # Only building 3 (grid 2, an open mismatch) passes the filters; the others are dimmed.
    assert "gm-dimmed" not in page.get_attribute(f"path.gm-building-{b['3']}", "class")
    for other in ("1", "2", "4"):
        assert "gm-dimmed" in page.get_attribute(f"path.gm-building-{b[other]}", "class")
    # A further filter is added to the URL; back restores the previous view.
    page.locator("#map-filters").get_by_text("有党员家庭", exact=True).click()
    page.wait_for_function("location.search.includes('only=mismatches,party')")
    page.go_back()
    page.wait_for_function("!location.search.includes('party')")
    page.wait_for_function("!document.querySelector('#map-filters input[value=party]').checked")
    assert _query(page)["only"] == ["mismatches"]
    assert errors == []


def test_search_zooms_to_a_building_and_highlights_it(admin_page, server):
    page, errors = admin_page
    b = server["built"].building_ids
    page.fill("#map-search", "4-2-502")
    page.press("#map-search", "Enter")
    page.wait_for_selector("#search-hits")
    assert "兰翔新村4幢 2-502" in page.inner_text("#search-hits")
    page.wait_for_function(f"document.querySelector('path.gm-building-{b['4']}').classList.contains('gm-selected')")
    page.wait_for_selector("#panel-title >> text=兰翔新村4幢")
    page.wait_for_function("location.search.includes('b=')")
    # the map flew to the building: it sits at the centre of the map area left free by the layer panel
    page.wait_for_function(
        f"(() => {{ const r = document.querySelector('path.gm-building-{b['4']}').getBoundingClientRect();"
        "const m = document.querySelector('#map').getBoundingClientRect();"
        "const cx = m.left + 24 + (m.width - 24 - 236) / 2, cy = m.top + m.height / 2;"
        "return Math.abs(r.left + r.width / 2 - cx) < 40 && Math.abs(r.top + r.height / 2 - cy) < 40; })()")
    page.fill("#map-search", "没有这个人")
    page.click("#map-search-button")
    page.wait_for_selector("#search-none")
    assert errors == []


def test_street_page_click_opens_the_community(admin_page, server):
    page, errors = admin_page
    built = server["built"]
    page.goto(f"{server['base_url']}/street/{built.street_id}")
    page.wait_for_selector(f"path.gm-community-{built.community_id}")
    assert "兰翔社区" in page.inner_text("#street-table")
    assert page.locator("path.gm-community").count() == 1        # a community admin sees their community only
    _click_centre(page, f"path.gm-community-{built.community_id}")
    page.wait_for_url(re.compile(rf"/community/{built.community_id}$"))
    page.wait_for_selector("path.gm-building")
    assert errors == []


def test_export_downloads_an_offline_html(admin_page, server):
    page, errors = admin_page
    with page.expect_download() as info:
        page.click("#export-html")
    download = info.value
    assert download.suggested_filename.endswith(".html")
    body = open(download.path(), encoding="utf-8").read()
    assert "L.map(" in body
    assert not re.search(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?https?://", body)
    assert errors == []


def test_labels_show_the_number_and_a_glyph_per_flag_when_close(admin_page, server):
    """The features carry flag bits and counts; the label decodes them into the glyph row (several flags at once,
    the mismatch and event counts as text), shown from the label zoom on."""
    page, errors = admin_page
    built = server["built"]
    engine = store.open_store(server["db_url"])
    with Session(engine) as session:
        status = indicators.building_status(session, built.community_id)
    engine.dispose()
    counts = {legend.FLAG_MISMATCHES: "open_mismatches", legend.FLAG_OPEN_ISSUES: "open_events"}
    expected = {row["number"]: [(f, str(row[counts[f]]) if f in counts else None)
                                for f in legend.GLYPH_FLAGS if f in buildings.flags_of(row)]
                for row in status.to_dict("records")}
    labels = page.evaluate("""() => Array.from(document.querySelectorAll('.gm-building-label')).map(t => [
        t.querySelector('.gm-bnum').textContent,
        Array.from(t.querySelectorAll('.gm-g')).map(g => [g.className.replace('gm-g gm-g-', ''), g.textContent])])""")
    got = {number: glyphs for number, glyphs in labels}
    assert set(got) == set(expected)
    for number, glyphs in expected.items():
        assert [flag for flag, _ in got[number]] == [flag for flag, _ in glyphs], number
        assert all(text == count for (_, text), (_, count) in zip(got[number], glyphs) if count is not None), number
    assert any(len(glyphs) >= 2 for glyphs in got.values())                 # several flags at once
    assert got["3"][0] == [legend.FLAG_MISMATCHES, "1"] and [legend.FLAG_OPEN_ISSUES, "1"] in got["4"]
    # close: labels shown; zoomed out below the label zoom: hidden
    for _ in range(6):
        if page.evaluate("document.querySelector('#map').classList.contains('gm-zoom-close')"):
            break
        page.click(".leaflet-control-zoom-in")
        page.wait_for_timeout(400)
    assert page.locator(".gm-building-label").first.is_visible()
    for _ in range(8):
        if not page.evaluate("document.querySelector('#map').classList.contains('gm-zoom-close')"):
            break
        page.click(".leaflet-control-zoom-out")
        page.wait_for_timeout(400)
    page.wait_for_function("!document.querySelector('.gm-building-label').offsetParent")
    assert errors == []


def test_leaving_the_map_sets_off_no_view_callbacks(admin_page, server):
    """A link away from the map changes the URL before the router replaces the page: the map's own Location must
    not take the new (empty) search for a view to restore. If it did, the restyle's hideout patch could arrive after
    the next page is drawn — "Cannot patch undefined" on a busy machine."""
    page, errors = admin_page
    b3 = server["built"].building_ids["3"]
    _click_centre(page, f"path.gm-building-{b3}")
    page.wait_for_selector("#panel-open-building")
    page.wait_for_function("location.search.includes('b=')")
    page.wait_for_load_state("networkidle")
    outputs: list[str] = []
    page.on("request", lambda r: outputs.append(json.loads(r.post_data or "{}").get("output", ""))
            if "_dash-update-component" in r.url else None)
    page.click("#panel-open-building")
    page.wait_for_selector("#flat-sheet")
    page.wait_for_load_state("networkidle")
    # the router draws the page; the map's URL sync is asked and answers no update, so nothing of the map follows
    # (no hideout patch, no viewport, no side panel)
    assert outputs and all(o.startswith(("..page.children", "..map-url.search")) for o in outputs), outputs
    assert errors == []


def test_click_building_record_visit_and_map_follows(admin_page, server):
    page, errors = admin_page
    built = server["built"]
    b3 = built.building_ids["3"]
    assert _fill(page, b3) == colors.STATUS_COLORS[schema.V_NOT_STARTED]

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
    page.wait_for_selector("#verify-submit")
    assert page.locator("#visit-form").count() == 0 and page.locator(".gm-form #verify-submit").count() == 1
    members = page.inner_text(".gm-members")
    assert "3204**********" in members                      # ID masked
    assert re.search(r"\b\d{18}\b|\d{17}X", members) is None  # no full ID anywhere
    assert "户在人不在" in page.inner_text("#flat-findings")
    # Who to call: the register household, head first with the 户主 chip, phones masked.
    head = next(h for h in built.households if (h.building, h.unit, h.room) == built.finding_flat)
    contacts = page.inner_text("#flat-contacts")
    assert head.members[0].name in contacts and "户主" in contacts and "登记表" in contacts
    assert re.search(r"1[3-9]\d{9}", contacts) is None

    # The one verification form: the open finding is ticked; record a door visit that confirms the register.
    finding = page.locator(".gm-verify-findings input[type=checkbox]")
    assert finding.count() == 1 and finding.is_checked()
    assert "户在人不在" in page.inner_text(".gm-verify-findings")
    record_outcome(page, method="上门", result="核实无误", note="上门核实，户主本人在家")
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
    assert page.get_attribute(f"path.gm-building-{b3}", "stroke") != colors.MISMATCH_COLOR   # mismatch settled
    assert errors == []


def test_issue_page_moves_the_event_along_and_suggests_leak_sources(admin_page, server):
    """From the issues list to the event's page: its log, the next steps the procedure allows, one step taken with a
    comment, and — for a leak — where it may come from (the flat is on the top floor: the roof)."""
    page, errors = admin_page
    page.click("text=事件")
    page.wait_for_selector("#issues-page")
    page.locator("#issues-table a", has_text="办理").first.click()
    page.wait_for_selector("#issue-page")
    assert page.inner_text("#issue-state") == "上报"
    assert "楼上无户室" in page.inner_text("#issue-leak") and "楼顶" in page.inner_text("#issue-leak")
    page.get_by_role("button", name="受理", exact=True).click()
    page.wait_for_selector("#issue-saved")
    page.wait_for_function("document.querySelector('#issue-state').innerText === '受理'")
    log = page.inner_text("#issue-log")
    assert "上报 → 受理" in log and USERNAME in log
    # closing needs a reason: refused without one, the state unchanged
    page.get_by_role("button", name="结案", exact=True).click()
    page.wait_for_selector("#issue-error")
    assert page.inner_text("#issue-state") == "受理"
    assert errors == []


def test_issues_page_lists_and_closes(admin_page, server):
    page, errors = admin_page
    page.click("text=事件")
    page.wait_for_selector("#issues-page")
    rows = page.locator("#issues-table tbody tr")
    assert rows.count() == 1 and "设施维修" in rows.first.inner_text() and "2-502" in rows.first.inner_text()
    page.locator("#issues-table button").first.click()
    page.wait_for_selector("#issues-error")                          # a comment is required
    page.locator("#issues-table input").first.fill("物业已修复，住户确认")
    page.locator("#issues-table button").first.click()
    page.wait_for_selector("#issues-saved")
    assert "没有未办结事件" in page.inner_text("#issues-body")
    page.goto(server["base_url"] + "/")
    page.wait_for_selector("path.gm-building")
    assert page.locator(".gm-issue").count() == 0                    # closed: no marker any more
    assert errors == []
