"""A real headless Chromium (Debian's `chromium`, driven by Playwright) for the browser tests:
GraphiQL (test_graphiql_browser.py) and the reference pages (tests/server/pages/).

Without /usr/bin/chromium these tests are skipped, except where LOYALTY_REQUIRE_BROWSER=1 (CI,
which installs it): there they fail. Playwright's own browser downloads are never used.

Each context aborts every request to a host other than this machine and remembers it, and
remembers the console errors and uncaught exceptions of its pages: a page must have needed
neither. The fixtures are re-exported by tests/server/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    ViewportSize,
    async_playwright,
)
from playwright.async_api import expect as playwright_expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A camera that shows a test pattern, allowed without asking (the kiosk's scanner).
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
# Milliseconds, Playwright's unit: generous, the machine's CPUs are shared.
UI_TIMEOUT_MS = 20_000
# Where screenshots go: a CI artefact folder (gitignored), under the project root.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

# `expect(...)` waits this long too (its own default is 5 s).
playwright_expect.set_options(timeout=UI_TIMEOUT_MS)


def _browser_required() -> bool:
    return os.environ.get("LOYALTY_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if _browser_required():
            pytest.fail(f"{message}; LOYALTY_REQUIRE_BROWSER=1 needs it")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Offline:
    """A browser context (one person's browser) that aborts every request to a host other than
    this machine, and remembers them, and what its pages reported as errors."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.blocked: list[str] = []
        self.errors: list[str] = []

    async def _route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            self.blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    async def new_page(self) -> Page:
        page = await self.context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        return page

    def assert_clean(self) -> None:
        """Nothing was fetched from elsewhere, and no page logged an error."""
        assert self.blocked == [], self.blocked
        assert self.errors == [], self.errors


@asynccontextmanager
async def offline_context(
    browser: Browser, viewport: ViewportSize | None = None, *, bypass_csp: bool = False
) -> AsyncIterator[Offline]:
    """An `Offline` context of `browser`, closed afterwards.
    `bypass_csp` lets a test inject a script (a checker) into pages that allow none."""
    context = await browser.new_context(viewport=viewport, bypass_csp=bypass_csp)
    context.set_default_timeout(UI_TIMEOUT_MS)
    offline = Offline(context)
    await context.route("**/*", offline._route)
    try:
        yield offline
    finally:
        await context.close()


@pytest.fixture
async def offline(browser: Browser) -> AsyncIterator[Offline]:
    async with offline_context(browser) as context:
        yield context


async def screenshot(page: Page, name: str) -> Path:
    """The whole page as `artifacts/screenshots/<name>.png`, at the page's viewport width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    return path
