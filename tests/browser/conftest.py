"""Browser test support: the app served live from a file SQLite database, and Chromium pages.

Fixtures for every browser test module:

- ``live_server``: the base URL (a ``str``) of a freshly built app served in a thread; its
  ``.app`` attribute is the Flask app, for seeding and for checking the database afterwards
  (``with live_server.app.app_context(): ...``). ``live_server.url("/path")`` joins a path.
- ``live_server_config``: settings passed to ``create_app("test", ...)``; override the fixture
  in a module to change them (CSRF is on by default, as in production).
- ``live_server_seed``: ``None`` or a callable ``seed(app)`` run inside an app context before
  the server starts; it may add rows and need not commit. Override it in a module.
- ``page``: a Playwright page in a fresh browser context (no cookies shared between tests);
  failed tests leave a screenshot of every page they opened in test-artifacts/.
- ``browser_context_args``: options for that context (locale, viewport); override in a module.
- ``new_page(**context_args)``: another page with its own context, e.g. a Dutch phone.
- ``console_messages``: what the pages logged (CSP violations show up here as errors).
- ``screenshot(name, page=None)``: save an artefact screenshot in test-artifacts/.

``run_live_server(directory, seed=..., **settings)`` is the same server as a context manager,
for a test that needs two servers or settings decided inside the test.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: Playwright waits this long (ms) for an element or a navigation before failing a step.
DEFAULT_TIMEOUT_MS = 10_000

Seed = Callable[[Any], None]


class LiveServer(str):
    """The base URL of a running app, usable as a string, with the app attached."""

    app: Any

    def __new__(cls, base_url: str, app: Any) -> LiveServer:
        server = super().__new__(cls, base_url)
        server.app = app
        return server

    def url(self, path: str = "/") -> str:
        return self.rstrip("/") + "/" + path.lstrip("/")


@contextmanager
def run_live_server(
    directory: Path, *, seed: Seed | None = None, **settings: Any
) -> Iterator[LiveServer]:
    """Build the app on a SQLite file in `directory`, seed it, and serve it on a free port."""
    from werkzeug.serving import make_server

    from ticketing.app import create_app
    from ticketing.extensions import db

    directory.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{directory / 'live.db'}",
        "ATTACHMENT_STORAGE_PATH": str(directory / "attachments"),
        "WTF_CSRF_ENABLED": True,
        **settings,
    }
    app = create_app("test", **options)
    app.instance_path = str(directory)
    with app.app_context():
        db.create_all()
        if seed is not None:
            seed(app)
            db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    if "PUBLIC_BASE_URL" not in settings:
        # Links in pages and acknowledgements must lead back to this server, not to a real host.
        app.config["PUBLIC_BASE_URL"] = base_url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(base_url, app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def live_server_config() -> dict[str, Any]:
    return {}


@pytest.fixture
def live_server_seed() -> Seed | None:
    return None


@pytest.fixture
def live_server(
    tmp_path: Path, live_server_config: dict[str, Any], live_server_seed: Seed | None
) -> Iterator[LiveServer]:
    with run_live_server(tmp_path / "live", seed=live_server_seed, **live_server_config) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    return {"locale": "en-GB", "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def console_messages() -> list[Any]:
    return []


class PageFactory:
    """Open pages in fresh browser contexts; remembers them for screenshots and clean-up."""

    def __init__(self, browser: Any, console_messages: list[Any]) -> None:
        self.browser = browser
        self.console_messages = console_messages
        self.pages: list[Any] = []
        self._contexts: list[Any] = []

    def __call__(self, **context_args: Any) -> Any:
        context = self.browser.new_context(**context_args)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        self._contexts.append(context)
        browser_page = context.new_page()
        # Playwright tags its handlers with an attribute, which a bound builtin cannot carry.
        browser_page.on("console", lambda message: self.console_messages.append(message))
        self.pages.append(browser_page)
        return browser_page

    def close(self) -> None:
        for context in self._contexts:
            context.close()


@pytest.fixture
def new_page(
    browser: Any, console_messages: list[Any], request: pytest.FixtureRequest
) -> Iterator[PageFactory]:
    """``new_page(locale="nl-NL", viewport=...)``: a page with its own cookies and settings."""
    factory = PageFactory(browser, console_messages)
    try:
        yield factory
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            for number, browser_page in enumerate(factory.pages, start=1):
                _save_screenshot(browser_page, request.node.name, f"failed-{number}")
        factory.close()


@pytest.fixture
def page(new_page: PageFactory, browser_context_args: dict[str, Any]) -> Any:
    return new_page(**browser_context_args)


@pytest.fixture
def screenshot(new_page: PageFactory, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``screenshot(name, page=None)``: save test-artifacts/<test>-<name>.png (default: the
    first page the test opened)."""

    def take(name: str, browser_page: Any = None) -> Path:
        target = browser_page if browser_page is not None else new_page.pages[0]
        return _save_screenshot(target, request.node.name, name)

    return take


def _save_screenshot(browser_page: Any, test_name: str, name: str) -> Path:
    safe = re.sub(r"[^\w.-]+", "_", f"{test_name}-{name}")[:150]
    path = ARTIFACTS / f"{safe}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        browser_page.screenshot(path=str(path), full_page=True)
    except Exception as error:  # noqa: BLE001 - a screenshot must never hide the real failure
        print(f"screenshot {path} failed: {error}")
    return path


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Remember each phase's report on the test item, so `page` knows whether the test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
