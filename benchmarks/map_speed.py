"""Map speed against a real server on the demo store, in headless Chromium; prints a table.

    python benchmarks/map_speed.py [--db sqlite:////tmp/demo2/g.db] [--runs 5] [--clicks 50]

The store is copied first (SQLite backup API) and never written: the benchmark sets its own passwords on the copy.
Figures (goal in brackets):
- 兰翔社区 map interactive: navigation until every building path is in the DOM (≤ 1.0 s)
- whole street view: navigation to /street/<id> until every community polygon is drawn (≤ 1.5 s)
- restyle: bytes of the callback responses of one layer change, and that they carry no geometry (neither as
  GeoJSON nor as the buildings layer's geobuf `data`)
- map bytes per building: gzipped size of the buildings layer's data in the page callback's JSON ÷ buildings
  (≤ 30 B); its hideout (palettes, sent once) and the whole page response (layout, legends, the other layers:
  mostly fixed costs) are printed as separate rows
- click → building page: server time (request sent → first byte) of the route callback, p50/p95 over N clicks
  (≤ 150 ms p95), and the view function timed directly
- naive baseline: a folium map of the same buildings as plain GeoJSON (Leaflet inlined so it loads offline):
  HTML size and load time until the paths exist
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.orm import Session  # noqa: E402

from geodata import access, store  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-pass-123"
VIEWPORT = {"width": 1400, "height": 900}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_store(url: str, folder: Path) -> str:
    source = url.removeprefix("sqlite:///")
    target = folder / "bench.db"
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return f"sqlite:///{target}"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def login(browser, base: str, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/login")
    page.fill("#login-username", username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#page > *")
    return context, page


def component_props(tree: object, component_id: str) -> dict | None:
    """The props of the component with `component_id` anywhere in a Dash JSON response."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return props
        children = tree.values()
    elif isinstance(tree, list):
        children = tree
    else:
        return None
    for child in children:
        found = component_props(child, component_id)
        if found is not None:
            return found
    return None


def gz_json(value: object) -> int:
    return len(gzip.compress(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()))


def spa_navigate(page, path: str) -> None:  # type: ignore[no-untyped-def]
    """Navigate inside the single-page app (what a dcc.Link click does): no reload of the scripts."""
    page.evaluate("p => { window.history.pushState({}, '', p); window.dispatchEvent(new PopStateEvent('popstate')); }",
                  path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=os.environ.get("GRIDMAP_DB", "sqlite:////tmp/demo2/g.db"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--clicks", type=int, default=50)
    ap.add_argument("--community", default="兰翔社区")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from dashboard import views
    from geodata import models
    from layers import folium_export

    folder = Path(tempfile.mkdtemp(prefix="map-speed-"))
    db = copy_store(args.db, folder)
    engine = store.open_store(db)
    with store.session_scope(engine) as s:
        for user in ("demo_admin", "demo_street"):
            access.set_password(s, user, PASSWORD, must_change_password=False)
    with Session(engine) as s:
        community = s.query(models.Community).filter_by(name=args.community).one()
        community_id, street_id = community.id, community.street_id
        n_communities = s.query(models.Community).filter_by(street_id=street_id).count()
        admin = access.scope_for(s, "demo_admin")
        data = views.map_data(s, admin, community_id)
        n_buildings = len(data["buildings"]["features"])
        building_ids = [f["id"] for f in data["buildings"]["features"]]

    port = _free_port()
    env = {**os.environ, "GRIDMAP_SECRET_KEY": "bench", "GRIDMAP_TILES": "none"}
    log = (folder / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port), "--db", db], cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str, str, str]] = []
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/login", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context, page = login(browser, base, "demo_admin")
            # 1. community map: navigation (in-app, as a link click) until every building path exists
            times, page_bytes, layer_bytes, hideout_bytes = [], [], [], []
            for run in range(args.runs):
                spa_navigate(page, "/issues")
                page.wait_for_selector("#issues-page")
                captured: list = []
                handler = (lambda r: captured.append(r) if "_dash-update-component" in r.url else None)
                page.on("response", handler)
                t0 = time.perf_counter()
                spa_navigate(page, f"/community/{community_id}")
                page.wait_for_function(f"document.querySelectorAll('path.gm-building').length >= {n_buildings}")
                times.append(time.perf_counter() - t0)
                page.remove_listener("response", handler)
                bodies = [r.body() for r in captured]
                biggest = max(bodies, key=len)
                page_bytes.append(len(gzip.compress(biggest)))
                layer = component_props(json.loads(biggest), "buildings-layer") or {}
                layer_bytes.append(gz_json(layer.get("data")))
                hideout_bytes.append(gz_json(layer.get("hideout")))
            t_map = statistics.median(times)
            rows.append((f"{args.community} map interactive", f"{t_map:.2f} s", "≤ 1.0 s",
                         "ok" if t_map <= 1.0 else "MISSED"))
            layer_kb, page_kb = statistics.median(layer_bytes) / 1024, statistics.median(page_bytes) / 1024
            per_building = statistics.median(layer_bytes) / n_buildings
            rows.append(("map bytes per building (gzip)", f"{per_building:.1f} B ({layer_kb:.1f} KB / {n_buildings}, "
                         f"{layer.get('format') or 'geojson'})", "≤ 30 B", "ok" if per_building <= 30 else "MISSED"))
            rows.append(("  buildings hideout, once (gzip)", f"{statistics.median(hideout_bytes) / 1024:.1f} KB",
                         "", ""))
            rows.append(("  whole page response (gzip)",
                         f"{page_kb:.1f} KB ({statistics.median(page_bytes) / n_buildings:.0f} B/building)", "", ""))
            # 2. restyle: one layer change; bytes of its callback responses; no geometry
            captured = []
            page.on("response", lambda r: captured.append(r) if "_dash-update-component" in r.url else None)
            page.locator("#map-theme label").nth(3).click()
            page.wait_for_function("location.search.includes('layer=')")
            time.sleep(0.5)
            restyle = [r.body() for r in captured]
            geometry = any(b'"coordinates"' in b
                           or "data" in json.loads(b).get("response", {}).get("buildings-layer", {})
                           for b in restyle)
            total = sum(len(b) for b in restyle)
            rows.append(("restyle (layer change) bytes", f"{total} B in {len(restyle)} responses", "no geometry",
                         "ok" if not geometry else "GEOMETRY SENT"))
            # 3. click → building page: server time of the route callback
            server_ms = []
            for building_id in (building_ids * 10)[:args.clicks]:
                captured = []
                handler = (lambda r: captured.append(r) if "_dash-update-component" in r.url else None)
                page.on("response", handler)
                spa_navigate(page, f"/building/{building_id}")
                page.wait_for_selector(f"#building-title")
                page.wait_for_function("document.querySelector('#flat-sheet') !== null")
                page.remove_listener("response", handler)
                timing = [r.request.timing for r in captured]
                server_ms.append(max(t["responseStart"] - t["requestStart"] for t in timing))
                spa_navigate(page, "/issues")
                page.wait_for_selector("#issues-page")
            rows.append((f"click → building page, server (n={len(server_ms)})",
                         f"p50 {pct(server_ms, .5):.0f} ms · p95 {pct(server_ms, .95):.0f} ms", "p95 ≤ 150 ms",
                         "ok" if pct(server_ms, .95) <= 150 else "MISSED"))
            context.close()
            # 4. street view
            context, page = login(browser, base, "demo_street")
            times = []
            for run in range(args.runs):
                spa_navigate(page, "/issues")
                page.wait_for_selector("#issues-page")
                t0 = time.perf_counter()
                spa_navigate(page, f"/street/{street_id}")
                page.wait_for_function(f"document.querySelectorAll('path.gm-community').length >= {n_communities}")
                times.append(time.perf_counter() - t0)
            t_street = statistics.median(times)
            rows.append((f"whole street view ({n_communities} communities)", f"{t_street:.2f} s", "≤ 1.5 s",
                         "ok" if t_street <= 1.5 else "MISSED"))
            context.close()
            # 5. naive baseline: folium, plain GeoJSON of the same buildings (Leaflet inlined to load offline)
            import folium
            naive = folium_export.OfflineMap(tiles=None)
            js, css = folium_export._leaflet_assets()
            from branca.element import Element
            naive.get_root().header.add_child(Element(f"<style>{css}</style><script>{js}</script>"), index=0)
            folium.GeoJson(data["buildings"]).add_to(naive)
            naive.fit_bounds(data["bounds"])
            naive_file = folder / "naive.html"
            naive_file.write_text(naive.get_root().render(), encoding="utf-8")
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            times = []
            for run in range(args.runs):
                t0 = time.perf_counter()
                page.goto(naive_file.as_uri())
                page.wait_for_function(f"document.querySelectorAll('path.leaflet-interactive').length >= {n_buildings}")
                times.append(time.perf_counter() - t0)
            html_bytes = naive_file.stat().st_size
            naive_gz = len(gzip.compress(naive_file.read_bytes()))
            rows.append(("naive folium baseline: HTML", f"{html_bytes / 1024:.0f} KB ({naive_gz / n_buildings:.0f} B/"
                         "building gz, incl. Leaflet)", "", ""))
            rows.append(("naive folium baseline: load", f"{statistics.median(times):.2f} s", "", ""))
            geometry_only = {"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": f["geometry"]} for f in data["buildings"]["features"]]}
            geometry_gz = len(gzip.compress(json.dumps(geometry_only).encode()))
            rows.append(("  GeoJSON geometry alone (gzip)", f"{geometry_gz / n_buildings:.0f} B/building", "", ""))
            context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
    # 6. the view function directly (same store, no HTTP)
    with Session(engine) as s:
        admin = access.scope_for(s, "demo_admin")
        direct = []
        for building_id in (building_ids * 10)[:args.clicks]:
            t0 = time.perf_counter()
            views.building_sheet(s, admin, building_id)
            direct.append((time.perf_counter() - t0) * 1000)
    rows.append((f"views.building_sheet directly (n={len(direct)})",
                 f"p50 {pct(direct, .5):.0f} ms · p95 {pct(direct, .95):.0f} ms", "", ""))
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)    # the store copy (tens of MB) and the server log
    width = max(len(r[0]) for r in rows)
    print(f"map speed on {args.db} ({args.community}: {n_buildings} buildings)")
    print(f"{'figure':<{width}}  {'measured':<40} {'goal':<14} result")
    for name, value, goal, result in rows:
        print(f"{name:<{width}}  {value:<40} {goal:<14} {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
