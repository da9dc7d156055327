"""A member's page (/me) and a store kiosk (/kiosk) in two browsers, on a real server process,
with every request to another host cut off: the member shows a code and the kiosk redeems it;
the kiosk asks and the member approves (a reward, then a donation); each page follows what the
other did without a reload. Screenshots of both at their sizes go to artifacts/screenshots/."""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.async_api import expect as playwright_expect

from gamification.members.models import Member
from gamification.rewards.models import RewardKind
from gamification.stores.models import Channel
from server.settings import Settings
from tests.factories import (
    PASSWORD,
    create_cause,
    create_device,
    create_eco_kind,
    create_member,
    create_reward,
    credit_points,
    device_token,
)
from tests.server.browser import Offline, screenshot
from tests.server.conftest import LiveServer
from tests.server.pages.screens import (
    KioskScreen,
    MemberScreen,
    open_page,
    still_the_same_document,
)

# Voucher codes: 16 characters of an alphabet without 0, O, 1 and I.
VOUCHER = re.compile(r"^Voucher [A-HJ-NP-Z2-9]{16}$")


@dataclass(frozen=True)
class SideBySide:
    member: Member
    me: MemberScreen
    kiosk: KioskScreen


async def _side_by_side(
    server: LiveServer,
    member_browser: Offline,
    kiosk_browser: Offline,
    settings: Settings,
    *,
    points: int,
) -> SideBySide:
    """A member with `points` signed in on their page, and a kiosk signed in on its own (after
    the catalog it shows is made)."""
    member = await create_member(email="maya@example.com", display_name="Maya Green")
    await credit_points(member=member, points=points)
    kiosk = await create_device(channel=Channel.KIOSK)
    return SideBySide(
        member=member,
        me=await MemberScreen.signed_in(member_browser, server, member.email, PASSWORD),
        kiosk=await KioskScreen.signed_in(kiosk_browser, server, device_token(kiosk, settings)),
    )


async def test_the_kiosk_redeems_the_code_the_member_shows_and_the_balance_follows(
    server: LiveServer, member_browser: Offline, kiosk_browser: Offline, settings: Settings
) -> None:
    # given: a kiosk reward, a member with 500 points on their page, a signed-in kiosk
    await create_reward(name="Reusable tote bag", cost_points=300, channels=(Channel.KIOSK,))
    await create_eco_kind(code="recycling", points_per_unit=5)
    both = await _side_by_side(server, member_browser, kiosk_browser, settings, points=500)
    member, me, kiosk_screen = both.member, both.me, both.kiosk
    await playwright_expect(me.balance).to_have_text("500")

    # when: the member shows a code for the reward and the kiosk takes it (typed, as a scanner
    # would fill it in)
    code = await me.show_code("A reward at the kiosk", reward="Reusable tote bag (300 points)")
    await screenshot(me.page, "member-code")
    await kiosk_screen.use_code(code)

    # then: the kiosk shows the voucher, and the member's balance drops on their open page
    await playwright_expect(kiosk_screen.voucher).to_have_text(VOUCHER)
    await playwright_expect(kiosk_screen.result).to_contain_text("Redeemed: Reusable tote bag")
    await playwright_expect(me.balance).to_have_text("200")
    await screenshot(kiosk_screen.page, "kiosk-voucher")

    # when: the kiosk records the member's recycling by card number
    recorded = await kiosk_screen.record_eco_action(
        member.card_number, "Recycling (5 points per item)", 4
    )

    # then: +20 points, on the kiosk and on the member's page, which was never reloaded
    await playwright_expect(recorded).to_have_text("Recorded: 4 × recycling, +20 points.")
    await playwright_expect(me.balance).to_have_text("220")
    assert await still_the_same_document(me.page)
    await screenshot(me.page, "member")
    member_browser.assert_clean()
    kiosk_browser.assert_clean()


async def test_the_kiosk_asks_the_member_approves_and_the_kiosk_shows_the_voucher(
    server: LiveServer, member_browser: Offline, kiosk_browser: Offline, settings: Settings
) -> None:
    # given: a member on their page, and a kiosk that knows their card number
    await create_reward(
        name="Free coffee", cost_points=150, kind=RewardKind.VOUCHER, channels=(Channel.KIOSK,)
    )
    both = await _side_by_side(server, member_browser, kiosk_browser, settings, points=400)
    member, me, kiosk_screen = both.member, both.me, both.kiosk

    # when: the kiosk asks the member to approve the reward
    await kiosk_screen.ask(member.card_number, "Redeem Free coffee (150 points)")

    # then: the kiosk waits, and the request shows on the member's page
    await playwright_expect(kiosk_screen.ask_status).to_have_text(
        "Waiting for the member to answer in their app…"
    )
    await playwright_expect(me.requests).to_contain_text(
        "A kiosk asks you to redeem Free coffee for 150 points."
    )
    await screenshot(me.page, "member-request")

    # when: the member approves
    await me.answer("Approve")

    # then: the kiosk shows the voucher, the member's page the request done and the balance
    await playwright_expect(kiosk_screen.voucher).to_have_text(VOUCHER)
    await playwright_expect(kiosk_screen.ask_status).to_have_text("The member approved.")
    await playwright_expect(me.requests).to_contain_text("Done: you approved")
    await playwright_expect(me.balance).to_have_text("250")
    await screenshot(kiosk_screen.page, "kiosk")
    member_browser.assert_clean()
    kiosk_browser.assert_clean()


async def test_a_donation_through_the_members_approval_and_one_from_their_page(
    server: LiveServer, member_browser: Offline, kiosk_browser: Offline, settings: Settings
) -> None:
    # given: a cause, a member with 600 points on their page, a kiosk
    await create_cause(name="Plant native trees", impact_unit="trees", points_per_unit=100)
    both = await _side_by_side(server, member_browser, kiosk_browser, settings, points=600)
    member, me, kiosk_screen = both.member, both.me, both.kiosk

    # when: the kiosk asks the member to donate 200 points, and the member approves
    await kiosk_screen.ask(member.card_number, "Donate to Plant native trees", points=200)
    await playwright_expect(me.requests).to_contain_text(
        "A kiosk asks you to donate 200 points to Plant native trees."
    )
    await me.answer("Approve")

    # then: the kiosk thanks them, with what it achieves; the member's balance follows
    await playwright_expect(kiosk_screen.result).to_contain_text(
        "Thank you for donating to Plant native trees"
    )
    await playwright_expect(kiosk_screen.result).to_contain_text("200 points given: 2 trees.")
    await playwright_expect(me.balance).to_have_text("400")

    # when: the member donates 100 more from their own page
    receipt = await me.donate("Plant native trees", 100)

    # then: the receipt, and the balance
    await playwright_expect(receipt).to_have_text(
        "Thank you: you gave 100 points to Plant native trees (1 trees). Your balance is 300."
    )
    await playwright_expect(me.balance).to_have_text("300")
    assert await still_the_same_document(me.page)
    member_browser.assert_clean()
    kiosk_browser.assert_clean()


async def test_a_wrong_password_and_a_forged_device_credential_are_refused(
    server: LiveServer, member_browser: Offline, kiosk_browser: Offline
) -> None:
    # given
    member = await create_member()
    me = await open_page(member_browser, server, "/me")
    kiosk = await open_page(kiosk_browser, server, "/kiosk")

    # when: the member mistypes the password; the kiosk is given a credential of its own making
    await me.get_by_label("Email").fill(member.email)
    await me.get_by_label("Password").fill("not the password")
    await me.get_by_role("button", name="Sign in").click()
    await kiosk.get_by_label("Device credential").fill("eyJhbGciOiJIUzI1NiJ9.e30.forged")
    await kiosk.get_by_role("button", name="Sign in").click()

    # then: each says so, and stays signed out
    await playwright_expect(me.get_by_role("alert")).to_contain_text("password")
    await playwright_expect(kiosk.get_by_role("alert")).to_have_text(
        "This credential was refused: it is not valid, or the device was revoked."
    )
    await playwright_expect(me.get_by_role("button", name="Sign out")).to_be_hidden()
    await playwright_expect(kiosk.get_by_role("button", name="Sign out device")).to_be_hidden()
    assert await kiosk.evaluate("localStorage.length") == 0
    member_browser.assert_clean()
    kiosk_browser.assert_clean()


# Chromium reads QR codes (BarcodeDetector) on macOS, ChromeOS and Android only: on Linux the
# camera is real (Chromium's fake one) and the detector a stand-in that "sees" the code the test
# puts in front of it, once the video plays.
FAKE_DETECTOR = """
window.BarcodeDetector = class {
  constructor(options) { this.formats = options.formats; }
  async detect(video) {
    const seen = window.codeInFrontOfTheCamera;
    return seen && video.readyState >= 2 ? [{ rawValue: seen, format: "qr_code" }] : [];
  }
};
"""


async def test_the_kiosk_scans_the_members_code_with_the_camera(
    server: LiveServer, member_browser: Offline, kiosk_browser: Offline, settings: Settings
) -> None:
    # given: a member showing a code, and a kiosk whose browser reads QR codes
    await create_reward(name="Reusable tote bag", cost_points=300, channels=(Channel.KIOSK,))
    await kiosk_browser.context.add_init_script(FAKE_DETECTOR)
    both = await _side_by_side(server, member_browser, kiosk_browser, settings, points=500)
    me, kiosk_screen = both.me, both.kiosk
    code = await me.show_code("A reward at the kiosk", reward="Reusable tote bag (300 points)")

    # when: the member holds the code up to the camera
    await kiosk_screen.page.evaluate("code => { window.codeInFrontOfTheCamera = code; }", code)
    await kiosk_screen.page.get_by_role("button", name="Scan with the camera").click()

    # then: redeemed, without anyone typing
    await playwright_expect(kiosk_screen.voucher).to_have_text(VOUCHER)
    await playwright_expect(me.balance).to_have_text("200")
    member_browser.assert_clean()
    kiosk_browser.assert_clean()
