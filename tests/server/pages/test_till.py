"""A till (/till) and a member's page (/me) in two browsers, on a real server process: the
member shows a code for points, the till holds them for a sale and captures part of it (the
rest goes back), or releases it all; the member's page follows without a reload."""

from __future__ import annotations

from playwright.async_api import expect as playwright_expect

from gamification.stores.models import Channel
from server.settings import Settings
from tests.factories import PASSWORD, create_device, create_member, credit_points, device_token
from tests.server.browser import Offline, screenshot
from tests.server.conftest import LiveServer
from tests.server.pages.screens import MemberScreen, TillScreen, still_the_same_document


async def test_the_till_holds_the_points_of_the_members_code_and_captures_part(
    server: LiveServer, member_browser: Offline, till_browser: Offline, settings: Settings
) -> None:
    # given: a member with 500 points on their page, and a signed-in till
    member = await create_member(email="maya@example.com", display_name="Maya Green")
    await credit_points(member=member, points=500)
    till = await create_device(channel=Channel.POS)
    me = await MemberScreen.signed_in(member_browser, server, member.email, PASSWORD)
    till_screen = await TillScreen.signed_in(till_browser, server, device_token(till, settings))

    # when: the member shows a code for 200 points, and the till holds them
    code = await me.show_code("Points at a till or kiosk", points=200)
    await till_screen.hold(code, 200)

    # then: the till shows the hold; on the member's page the points are held, not spent
    await playwright_expect(till_screen.summary).to_contain_text("Holding 200 points until")
    await playwright_expect(me.held).to_have_text("200")
    await playwright_expect(me.available).to_have_text("300")
    await playwright_expect(me.balance).to_have_text("500")
    await screenshot(till_screen.page, "till")

    # when: the sale comes to 150 points
    await till_screen.capture(150)

    # then: 150 are spent, 50 go back
    await playwright_expect(till_screen.summary).to_contain_text(
        "Captured 150 points of the 200 points held."
    )
    await playwright_expect(till_screen.message).to_have_text("Paid with 150 points.")
    await playwright_expect(me.balance).to_have_text("350")
    await playwright_expect(me.held).to_have_text("0")
    assert await still_the_same_document(me.page)
    member_browser.assert_clean()
    till_browser.assert_clean()


async def test_the_till_releases_a_hold(
    server: LiveServer, member_browser: Offline, till_browser: Offline, settings: Settings
) -> None:
    # given: 100 of a member's points held by a till
    member = await create_member()
    await credit_points(member=member, points=300)
    till = await create_device(channel=Channel.POS)
    me = await MemberScreen.signed_in(member_browser, server, member.email, PASSWORD)
    till_screen = await TillScreen.signed_in(till_browser, server, device_token(till, settings))
    await till_screen.hold(await me.show_code("Points at a till or kiosk", points=100), 100)
    await playwright_expect(me.held).to_have_text("100")

    # when: the sale is cancelled
    await till_screen.release()

    # then: nothing was spent
    await playwright_expect(till_screen.summary).to_contain_text(
        "Released: the 100 points went back to the member."
    )
    await playwright_expect(me.held).to_have_text("0")
    await playwright_expect(me.balance).to_have_text("300")
    member_browser.assert_clean()
    till_browser.assert_clean()
