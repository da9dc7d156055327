"""Each reference page, signed out and signed in, at the size of its screen, checked in
Chromium by axe-core (bundled locally: tests/server/js, installed by tests/server/node.py; no
CDN): no serious or critical violation (labels and names, roles, contrast, ...). And every
control is a large enough touch target: 48 CSS pixels high, 88 on the kiosk."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize

from gamification.stores.models import Channel
from server.settings import Settings
from tests.factories import (
    PASSWORD,
    create_cause,
    create_device,
    create_member,
    create_reward,
    credit_points,
    device_token,
)
from tests.server.browser import Offline, offline_context, screenshot
from tests.server.conftest import LiveServer
from tests.server.node import NODE_MODULES, installed_node_modules
from tests.server.pages.screens import (
    KIOSK_VIEWPORT,
    MEMBER_VIEWPORT,
    TILL_VIEWPORT,
    KioskScreen,
    MemberScreen,
    TillScreen,
    open_page,
)

SERIOUS = {"serious", "critical"}
# What axe reports of each violation: enough to find and fix it.
RUN_AXE = """async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""
# Visible controls lower than `min` CSS pixels.
SMALL_TARGETS = """(min) => Array.from(document.querySelectorAll("button, input, select"))
  .filter((el) => el.offsetParent !== null && el.getBoundingClientRect().height < min)
  .map((el) => `${el.tagName.toLowerCase()}#${el.id} ${el.getBoundingClientRect().height}px`)"""


@pytest.fixture(scope="module")
def axe_script() -> Path:
    installed_node_modules("the accessibility check (axe-core)")
    return NODE_MODULES / "axe-core" / "axe.min.js"


def _checked_context(
    browser: Browser, viewport: ViewportSize
) -> AbstractAsyncContextManager[Offline]:
    # The pages' Content-Security-Policy allows no injected script, axe's included; the flows'
    # tests run with it.
    return offline_context(browser, viewport, bypass_csp=True)


async def _violations(page: Page, axe_script: Path, min_target: int) -> dict[str, Any]:
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=axe_script)
    found: list[dict[str, Any]] = await page.evaluate(RUN_AXE)
    return {
        "serious": [v for v in found if v["impact"] in SERIOUS],
        "small targets": await page.evaluate(SMALL_TARGETS, min_target),
    }


NOTHING: dict[str, list[Any]] = {"serious": [], "small targets": []}


async def test_the_member_page_is_accessible(
    server: LiveServer, browser: Browser, axe_script: Path
) -> None:
    # given
    await create_cause(name="Plant native trees")
    await create_reward(name="Reusable tote bag", cost_points=300, channels=(Channel.KIOSK,))
    member = await create_member(display_name="Maya Green")
    await credit_points(member=member, points=500)
    async with _checked_context(browser, MEMBER_VIEWPORT) as context:
        signed_out = await open_page(context, server, "/me")

        # then: signed out, signed in, and with a code on screen
        assert await _violations(signed_out, axe_script, 48) == NOTHING
        await signed_out.close()
        me = await MemberScreen.signed_in(context, server, member.email, PASSWORD)
        await me.show_code("A reward at the kiosk", reward="Reusable tote bag (300 points)")
        assert await _violations(me.page, axe_script, 48) == NOTHING
        await screenshot(me.page, "a11y-member")
        context.assert_clean()


@pytest.mark.parametrize(
    ("screen", "channel", "viewport", "min_target"),
    [
        (KioskScreen, Channel.KIOSK, KIOSK_VIEWPORT, 88),
        (TillScreen, Channel.POS, TILL_VIEWPORT, 48),
    ],
    ids=["kiosk", "till"],
)
async def test_the_device_pages_are_accessible(
    server: LiveServer,
    browser: Browser,
    axe_script: Path,
    settings: Settings,
    screen: type[KioskScreen | TillScreen],
    channel: Channel,
    viewport: ViewportSize,
    min_target: int,
) -> None:
    # given
    await create_cause(name="Plant native trees")
    await create_reward(name="Reusable tote bag", cost_points=300, channels=(Channel.KIOSK,))
    device = await create_device(channel=channel)
    async with _checked_context(browser, viewport) as context:
        signed_out = await open_page(context, server, screen.path)

        # then: signed out and signed in
        assert await _violations(signed_out, axe_script, min_target) == NOTHING
        await signed_out.close()
        signed_in = await screen.signed_in(context, server, device_token(device, settings))
        assert await _violations(signed_in.page, axe_script, min_target) == NOTHING
        await screenshot(signed_in.page, f"a11y-{screen.path.strip('/')}")
        context.assert_clean()
