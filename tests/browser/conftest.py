"""Browser fixtures: the dashboard as a real server subprocess on a temporary SQLite store, and headless Chromium.

`python -m dashboard --port N --db sqlite:///…` is started on a store filled by tests.factories, with one community
admin account (`tester`); Playwright drives Debian's chromium (never a downloaded browser). Without chromium the
tests skip, unless GRIDMAP_REQUIRE contains 'browser' (CI), where they fail.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from geodata import access, schema, store
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
USERNAME, PASSWORD = "tester", "gridmap-test-1"
WORKER, WORKER_PASSWORD = "worker2", "gridmap-test-2"
START_TIMEOUT = 40.0


def _required() -> bool:
    return "browser" in os.environ.get("GRIDMAP_REQUIRE", "").split(",")


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"browser tests are required here: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[dict]:
    """The dashboard served by a subprocess; yields base_url, the factory's ids and the store URL."""
    folder = tmp_path_factory.mktemp("gridmap-server")
    db = folder / "store.db"
    engine, built = factories.make_store(db)
    with store.session_scope(engine) as session:
        access.create_user(session, USERNAME, PASSWORD, schema.ROLE_COMMUNITY_ADMIN, community_id=built.community_id)
        access.create_user(session, WORKER, WORKER_PASSWORD, schema.ROLE_GRID_WORKER, grid_ids=[built.grid_ids[1]])
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "GRIDMAP_SECRET_KEY": "browser-test-key", "GRIDMAP_TILES": "none", "GRIDMAP_LANG": "zh",
           "GRIDMAP_DEMO_DIR": str(folder / "demo"), "GRIDMAP_UPLOAD_DIR": str(folder / "uploads")}
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", str(port), "--db", f"sqlite:///{db}"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.fail(f"the dashboard exited with {proc.returncode}:\n{(folder / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/login", timeout=2) as response:
                if response.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            pytest.fail(f"the dashboard did not answer within {START_TIMEOUT:.0f} s:\n"
                        f"{(folder / 'server.log').read_text()}")
        time.sleep(0.2)
    yield {"base_url": base_url, "built": built, "db_url": f"sqlite:///{db}", "log": folder / "server.log"}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium through Playwright (sync API)."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        _unavailable(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed: {exc}")
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM)
                                         else shutil.which("chromium"), args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - any launch failure means no usable browser
            _unavailable(f"chromium did not start: {exc}")
        yield chromium
        chromium.close()


class ConsoleErrors(list):
    """Console errors and uncaught exceptions of a page (favicon misses ignored)."""

    def attach(self, page) -> None:  # type: ignore[no-untyped-def]
        page.on("console", lambda m: self.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
        page.on("pageerror", lambda e: self.append(f"uncaught: {e}"))


#: (base_url, username) → the signed-in browser storage (session cookie): each test signs in through the form once
#: per user and session, later pages reuse the cookie (keeps the browser suite well under its time budget).
_SIGNED_IN: dict[tuple[str, str], dict] = {}


def login(browser, base_url: str, username: str, password: str):  # type: ignore[no-untyped-def]
    """A new 1280×800 page signed in (through the /login form the first time); returns (page, context, errors)."""
    state = _SIGNED_IN.get((base_url, username))
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", storage_state=state)
    page = context.new_page()
    errors = ConsoleErrors()
    errors.attach(page)
    page.set_default_timeout(10_000)
    if state is None:
        page.goto(f"{base_url}/login")
        page.fill("#login-username", username)
        page.fill("#login-password", password)
        page.click("#login-submit")
        page.wait_for_selector("path.gm-building")
        _SIGNED_IN[(base_url, username)] = context.storage_state()
    else:
        page.goto(f"{base_url}/")
        page.wait_for_selector("path.gm-building")
    return page, context, errors


def record_outcome(page, *, method: str | None = None, result: str | None = None,  # type: ignore[no-untyped-def]
                   note: str | None = None, expect: str = "#verify-saved") -> None:
    """Fill the flat page's verification form (labels as shown: 上门, 核实无误 …; None keeps the default), save, and
    wait for `expect` (the saved notice, or e.g. #verify-conflict)."""
    if method:
        page.locator("#verify-method").get_by_text(method, exact=True).click()
    if result:
        page.locator("#verify-result").get_by_text(result, exact=True).click()
    if note is not None:
        page.fill("#verify-note", note)
    page.click("#verify-submit")
    page.wait_for_selector(expect)


@pytest.fixture
def admin_page(browser, server):
    page, context, errors = login(browser, server["base_url"], USERNAME, PASSWORD)
    yield page, errors
    context.close()


@pytest.fixture
def worker_page(browser, server):
    page, context, errors = login(browser, server["base_url"], WORKER, WORKER_PASSWORD)
    yield page, errors
    context.close()
