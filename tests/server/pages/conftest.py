"""One server process for the reference pages' tests (the pages are on by default in
development), and a browser context per person, each at the size of the screen they use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser
from starlette.applications import Starlette

from tests.server.browser import Offline, offline_context
from tests.server.conftest import LiveServer
from tests.server.graphql_ws import ProgramServer, server_with_program_account
from tests.server.pages.screens import KIOSK_VIEWPORT, MEMBER_VIEWPORT, TILL_VIEWPORT


@pytest.fixture(scope="package")
async def pages_server(app: Starlette, service_env: dict[str, str]) -> AsyncIterator[ProgramServer]:
    async with server_with_program_account(service_env) as started:
        yield started


@pytest.fixture
async def server(pages_server: ProgramServer) -> LiveServer:
    await pages_server.pin_program_account()
    return pages_server.server


@pytest.fixture
async def member_browser(browser: Browser) -> AsyncIterator[Offline]:
    async with offline_context(browser, MEMBER_VIEWPORT) as context:
        yield context


@pytest.fixture
async def kiosk_browser(browser: Browser) -> AsyncIterator[Offline]:
    async with offline_context(browser, KIOSK_VIEWPORT) as context:
        yield context


@pytest.fixture
async def till_browser(browser: Browser) -> AsyncIterator[Offline]:
    async with offline_context(browser, TILL_VIEWPORT) as context:
        yield context
