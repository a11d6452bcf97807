"""Web UI fixtures: an archive synced from the simulator, a real ``ringvault serve`` app (uvicorn on loopback), and
Debian's Chromium driven headless through Playwright.

``make test`` installs Chromium (``make chromium``); a machine without it fails these tests with the command that
installs it, it never skips them. ``RINGVAULT_TEST_CHROMIUM`` names another Chromium binary.

Screenshots: ``UiPage.screenshot(name)`` writes ``<name>.png`` into ``$RINGVAULT_UI_SCREENSHOTS`` when it is set
(``make screenshots`` sets it to ``docs/screenshots``), else into the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Response, sync_playwright

from ringvault.server import ServerSettings, create_app
from ringvault.sim.config import SimConfig
from ringvault.sim.server import SimServer
from tests.archive.sync_helpers import fast_sync_options, sync_once
from tests.server.helpers import ServerThread

CHROMIUM = os.environ.get("RINGVAULT_TEST_CHROMIUM", "/usr/bin/chromium")
#: how long a page may take to load or an element to appear on a busy 2-core machine (not a performance goal)
PAGE_TIMEOUT_MS = 30_000
T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end on a loop of its own thread: Playwright's sync API keeps an event loop running in
    the test's thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class UiWorld:
    """A simulator and an archive synced from it once (read-only for the tests that share it)."""

    sim: SimServer
    base: Path
    archive: Path
    token_file: Path

    def settings(self, **overrides: Any) -> ServerSettings:
        values: dict[str, Any] = {
            "archive_dir": self.archive,
            "token_file": self.token_file,
            "cloud_url": self.sim.url,
            "sync_defaults": fast_sync_options(),
        }
        values.update(overrides)
        return ServerSettings(**values)


@pytest.fixture(scope="module")
def ui_sim_config(media_cache: Path) -> SimConfig:
    """The world of one test module (override in a module for another)."""
    return SimConfig(seed=13, locations=2, events_per_device=8, recording_seconds=1.0, media_cache_dir=media_cache)


@pytest.fixture(scope="module")
def ui_world(ui_sim_config: SimConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiWorld]:
    base = tmp_path_factory.mktemp("ui-world")
    archive = base / "archive"
    with SimServer(ui_sim_config) as sim:
        run_async(sync_once(sim, base, archive))
        yield UiWorld(sim=sim, base=base, archive=archive, token_file=base / "tokens" / "token.json")


@pytest.fixture(scope="module")
def ui_server(ui_world: UiWorld) -> Iterator[ServerThread]:
    """``ringvault serve`` over the shared archive, without an API key (loopback only)."""
    server = ServerThread(create_app(ui_world.settings())).start()
    yield server
    server.stop()


ServeUi = Callable[..., ServerThread]


@pytest.fixture
def serve_ui(ui_world: UiWorld) -> Iterator[ServeUi]:
    """Start another server over the shared archive with other settings: ``serve_ui(api_key="...")``."""
    started: list[ServerThread] = []

    def _serve(**overrides: Any) -> ServerThread:
        server = ServerThread(create_app(ui_world.settings(**overrides))).start()
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's sync API keeps an asyncio loop marked running in this thread while it is started: module scope
    stops it after the last browser test of a module, so that the asyncio tests a worker runs next (pytest-asyncio,
    ``asyncio.run``) do not fail with "cannot be called from a running event loop"."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed ({CHROMIUM} is missing): run `make chromium` "
            "(or `sudo apt-get install chromium`); the web UI tests need it"
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
    )
    yield browser
    browser.close()


@dataclass
class UiPage:
    """A browser tab (its own context: cookies are not shared between tests) that records console errors, failed
    page scripts and the requests it made."""

    page: Page
    base_url: str
    shots: Path
    console_errors: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    allowed_errors: list[str] = field(default_factory=list)

    def open(self, path: str, *, status: int = 200) -> Response:
        """Load ``path`` and wait until the network is idle; the HTTP status must be ``status``."""
        response = self.page.goto(self.base_url + path, wait_until="networkidle")
        assert response is not None, f"no response for {path}"
        assert response.status == status, f"{path}: HTTP {response.status}, expected {status}"
        return response

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        path = self.shots / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def allow_console_error(self, fragment: str) -> None:
        """A console error containing ``fragment`` is expected in this test (e.g. a refused request it makes)."""
        self.allowed_errors.append(fragment)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.console_errors if not any(fragment in e for fragment in self.allowed_errors)]


def _record_console(ui: UiPage, message: ConsoleMessage) -> None:
    if message.type == "error":
        ui.console_errors.append(f"console: {message.text} ({message.location.get('url', '')})")


@pytest.fixture
def ui_page_factory(browser: Browser, tmp_path: Path) -> Iterator[Callable[[str], UiPage]]:
    """``ui_page_factory(base_url)``: a fresh tab on a server; at the end of the test no page may have logged a
    console error or an uncaught script error that the test did not allow (``UiPage.allow_console_error``)."""
    opened: list[UiPage] = []
    shots = Path(os.environ.get("RINGVAULT_UI_SCREENSHOTS") or tmp_path / "screenshots")

    def _open(base_url: str) -> UiPage:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        page = context.new_page()
        ui = UiPage(page=page, base_url=base_url.rstrip("/"), shots=shots)
        page.on("console", lambda message: _record_console(ui, message))
        page.on("pageerror", lambda error: ui.console_errors.append(f"page error: {error}"))
        page.on("request", lambda request: ui.requests.append((request.method, request.url, request.headers)))
        opened.append(ui)
        return ui

    yield _open
    problems = [f"{ui.page.url}: {error}" for ui in opened for error in ui.unexpected_errors()]
    for ui in opened:
        ui.page.context.close()
    assert not problems, "console errors in the browser:\n" + "\n".join(problems)


@pytest.fixture
def ui_page(ui_page_factory: Callable[[str], UiPage], ui_server: ServerThread) -> UiPage:
    """A fresh tab on the shared server."""
    return ui_page_factory(ui_server.url)
