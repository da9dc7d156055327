"""The three reference pages as a person uses them: what they fill in, what they press, what
they read. The tests say what happens; these say where it is on the page (labels and roles,
as a screen reader finds them, never CSS classes)."""

from __future__ import annotations

from typing import Self

from playwright.async_api import Locator, Page, ViewportSize
from playwright.async_api import expect as playwright_expect

from tests.server.browser import Offline
from tests.server.conftest import LiveServer

# The sizes each page is made for: a phone, a till's screen, a portrait kiosk.
MEMBER_VIEWPORT: ViewportSize = {"width": 390, "height": 844}
TILL_VIEWPORT: ViewportSize = {"width": 1024, "height": 768}
KIOSK_VIEWPORT: ViewportSize = {"width": 1080, "height": 1920}


async def open_page(browser: Offline, server: LiveServer, path: str) -> Page:
    page = await browser.new_page()
    response = await page.goto(f"{server.http_url}{path}", wait_until="load")
    assert response is not None
    assert response.status == 200
    # A mark that survives only while the document does: the page was not reloaded.
    await page.evaluate("window.sameDocument = true")
    return page


async def still_the_same_document(page: Page) -> bool:
    same: bool = await page.evaluate("window.sameDocument === true")
    return same


class MemberScreen:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.balance = page.get_by_test_id("balance")
        self.available = page.get_by_test_id("available")
        self.held = page.get_by_test_id("held")
        self.code = page.get_by_test_id("member-code")
        self.requests = page.get_by_role("region", name="Requests from a kiosk")

    @classmethod
    async def signed_in(
        cls, browser: Offline, server: LiveServer, email: str, password: str
    ) -> Self:
        screen = cls(await open_page(browser, server, "/me"))
        page = screen.page
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await playwright_expect(page.get_by_text("Live updates are on.")).to_be_visible()
        return screen

    async def show_code(
        self, purpose: str, *, reward: str | None = None, cause: str | None = None, points: int = 0
    ) -> str:
        """Ask for a one-time code (`purpose` as the page words it) and read it off the page."""
        form = self.page.get_by_role("region", name="Show a code at a kiosk or till")
        await form.get_by_label("What for").select_option(label=purpose)
        if reward is not None:
            await form.get_by_label("Reward").select_option(label=reward)
        if cause is not None:
            await form.get_by_label("Cause").select_option(label=cause)
        if points:
            await form.get_by_label("Points").fill(str(points))
        await form.get_by_role("button", name="Show my code").click()
        await playwright_expect(form.get_by_role("img", name="QR code")).to_be_visible()
        code = await self.code.text_content()
        assert code
        return code

    async def answer(self, answer: str) -> None:
        """Press "Approve" or "Decline" on the kiosk's request."""
        await self.requests.get_by_role("button", name=answer).click()

    async def donate(self, cause: str, points: int) -> Locator:
        form = self.page.get_by_role("region", name="Donate to a cause")
        await form.get_by_label("Cause").select_option(label=cause)
        await form.get_by_label("Points").fill(str(points))
        await form.get_by_role("button", name="Donate").click()
        return form.get_by_role("status")


class DeviceScreen:
    """A kiosk or till: signed in with the device's credential."""

    path = ""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    async def signed_in(cls, browser: Offline, server: LiveServer, credential: str) -> Self:
        screen = cls(await open_page(browser, server, cls.path))
        page = screen.page
        await page.get_by_label("Device credential").fill(credential)
        await page.get_by_role("button", name="Sign in").click()
        await playwright_expect(page.get_by_role("button", name="Sign out device")).to_be_visible()
        return screen


class KioskScreen(DeviceScreen):
    path = "/kiosk"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.voucher = page.get_by_test_id("voucher")
        self.result = page.locator("#result")
        self.ask_status = page.get_by_test_id("ask-status")

    async def use_code(self, code: str) -> None:
        await self.page.get_by_role("textbox", name="Member's code").fill(code)
        await self.page.get_by_role("button", name="Use this code").click()

    async def ask(self, card_number: str, what: str, points: int = 0) -> None:
        form = self.page.get_by_role("region", name="Ask a member to approve in their app")
        await form.get_by_label("Card number").fill(card_number)
        await form.get_by_label("What to ask").select_option(label=what)
        if points:
            await form.get_by_label("Points to donate").fill(str(points))
        await form.get_by_role("button", name="Ask the member").click()

    async def record_eco_action(self, card_number: str, action: str, quantity: int) -> Locator:
        form = self.page.get_by_role("region", name="Record an eco action")
        await form.get_by_label("Card number").fill(card_number)
        await form.get_by_label("Action").select_option(label=action)
        await form.get_by_label("How many").fill(str(quantity))
        await form.get_by_role("button", name="Record").click()
        return form.get_by_role("status")


class TillScreen(DeviceScreen):
    path = "/till"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.summary = page.get_by_test_id("hold-summary")
        self.message = page.locator("#till-message")

    async def hold(self, code: str, points: int) -> None:
        await self.page.get_by_label("Member's code").fill(code)
        await self.page.get_by_label("Points to hold").fill(str(points))
        await self.page.get_by_role("button", name="Hold").click()

    async def capture(self, points: int) -> None:
        await self.page.get_by_label("Points to spend").fill(str(points))
        await self.page.get_by_role("button", name="Capture").click()

    async def release(self) -> None:
        await self.page.get_by_role("button", name="Release").click()
