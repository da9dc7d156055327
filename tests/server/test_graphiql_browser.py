"""GraphiQL works offline: a real headless Chromium (Debian's `chromium`, driven by Playwright)
loads the IDE from a real server process with every request to another host aborted, then a
query typed into its editor runs and its result shows in the result pane; a subscription
started from the IDE shows the points a till records meanwhile.

The browser and its offline contexts come from tests/server/browser.py (skipped without
/usr/bin/chromium, failed instead where LOYALTY_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.async_api import Page
from playwright.async_api import expect as playwright_expect
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.stores.models import Channel
from schema.relay import to_global_id
from server.app import create_app
from server.graphiql import ASSETS_PATH
from server.settings import Environment, Settings
from tests.factories import (
    bearer,
    create_device,
    create_earn_rule,
    create_member,
    create_tier_ladder,
    credit_points,
    device_token,
    member_token,
)
from tests.server.browser import Offline
from tests.server.conftest import LiveServer
from tests.server.graphql_ws import ProgramServer, server_with_program_account

ME_AND_TIERS = "{ me { email points { balance } } tiers { name } }"
POINTS_CHANGED = "subscription { pointsChanged { balance } }"
RECORD_PURCHASE = """
mutation Record($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) { pointsEarned errors { code } }
}
"""


async def _open_graphiql(offline: Offline, server: LiveServer) -> Page:
    page = await offline.new_page()
    response = await page.goto(f"{server.http_url}/graphql", wait_until="load")
    assert response is not None
    assert response.status == 200
    # Rendered by React from the local bundles: the editors exist once GraphiQL runs.
    await page.locator(".graphiql-query-editor .graphiql-editor .CodeMirror").wait_for()
    assert offline.errors == []
    return page


async def _type_into(page: Page, editor: str, text: str) -> None:
    """Replace the content of the visible CodeMirror editor in `editor` by typing `text`."""
    await page.locator(f"{editor} .graphiql-editor:not(.hidden) .CodeMirror").click()
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.press("Delete")
    await page.keyboard.type(text)
    # Close an autocompletion popup, if one is open, so that it cannot take the run shortcut.
    await page.keyboard.press("Escape")


async def _type_query(page: Page, query: str) -> None:
    """Type `query` into the query editor, then wait until GraphiQL has read it: it parses
    the editor's text 100 ms after the last key, and run before that, it would go by the
    previous text's operation (a subscription sent over HTTP instead of the WebSocket). It
    stores the text in the same step."""
    await _type_into(page, ".graphiql-query-editor", query)
    await page.wait_for_function(
        "query => localStorage.getItem('graphiql:query') === query", arg=query
    )


async def _set_headers(page: Page, headers: dict[str, str]) -> None:
    await page.get_by_role("button", name="Headers").click()
    await _type_into(page, ".graphiql-editor-tool", json.dumps(headers))


def _result_pane(page: Page) -> Any:
    return page.locator(".graphiql-response .CodeMirror")


async def test_graphiql_runs_a_typed_query_without_network(
    offline: Offline, live_server: LiveServer, settings: Settings
) -> None:
    # given: a program with tiers and a member with points, as the demo seed makes them
    await create_tier_ladder()
    member = await create_member(email="maya@example.com")
    await credit_points(member=member, points=70)
    page = await _open_graphiql(offline, live_server)

    # when: the member's token goes in the headers, the query is typed in and run
    await _set_headers(page, bearer(member_token(member, settings)))
    await _type_query(page, ME_AND_TIERS)
    await page.locator(".graphiql-execute-button").click()

    # then: the answer shows in the result pane, and nothing was fetched from elsewhere
    result = _result_pane(page)
    await playwright_expect(result).to_contain_text('"email": "maya@example.com"')
    await playwright_expect(result).to_contain_text('"balance": 70')
    await playwright_expect(result).to_contain_text('"name": "Gold"')
    assert offline.blocked == []
    # and the guard was armed: the CDN Strawberry's own page loads from is out of reach
    cdn = "https://unpkg.com/graphiql@4.1.2/graphiql.min.js"
    assert await page.evaluate("url => fetch(url).then(() => false, () => true)", cdn)
    assert offline.blocked == [cdn]


@pytest.fixture(scope="module")
async def program_server(
    app: Starlette, service_env: dict[str, str]
) -> AsyncIterator[ProgramServer]:
    async with server_with_program_account(service_env) as started:
        yield started


async def _record_purchase(server: LiveServer, till_token: str, member_id: int) -> Any:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        answer = await http.post(
            "/graphql",
            headers=bearer(till_token),
            json={
                "query": RECORD_PURCHASE,
                "variables": {
                    "key": "graphiql-subscription-1",
                    "input": {
                        "memberId": to_global_id("Member", member_id),
                        "amount": "12.00",
                        "currency": "EUR",
                        "externalId": "graphiql-subscription-1",
                        "occurredAt": datetime.now(UTC).isoformat(),
                    },
                },
            },
        )
    return answer.json()


async def test_graphiql_follows_a_subscription_without_network(
    offline: Offline, program_server: ProgramServer, settings: Settings
) -> None:
    # given: a member following their points from GraphiQL (the token sent as the
    # WebSocket's connection params, from the headers editor)
    await program_server.pin_program_account()
    server = program_server.server
    await create_earn_rule()
    member = await create_member()
    till = await create_device(channel=Channel.POS)
    page = await _open_graphiql(offline, server)
    await _set_headers(page, bearer(member_token(member, settings)))
    await _type_query(page, POINTS_CHANGED)
    await page.locator(".graphiql-execute-button").click()
    await playwright_expect(page.locator(".graphiql-execute-button")).to_have_attribute(
        "aria-label", re.compile("^Stop query")
    )
    await _wait_for_subscriber(server)

    # when: a till records the member's purchase
    answer = await _record_purchase(server, device_token(till, settings), member.id)
    assert answer["data"]["recordPurchase"]["errors"] == [], answer
    earned = answer["data"]["recordPurchase"]["pointsEarned"]

    # then: the new balance shows in the result pane
    await playwright_expect(_result_pane(page)).to_contain_text(f'"balance": {earned}')
    assert offline.blocked == []


async def _wait_for_subscriber(server: LiveServer) -> None:
    """Until the server holds the browser's subscription: a notice sent before is not seen."""
    stats: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        for _ in range(200):
            stats = (await http.get("/realtimez")).json()
            if stats["subscriptions"] >= 1:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"no subscription on the server: {stats}")


async def test_production_serves_neither_the_ide_nor_its_files(
    settings: Settings, redis: Redis
) -> None:
    # given: the app as production runs it (on the test session's Redis: a second lifespan
    # would close the session's database connections)
    app = create_app(settings.model_copy(update={"environment": Environment.PRODUCTION}))
    app.state.redis = redis
    transport = httpx.ASGITransport(app=app)

    # when: a browser asks for the IDE and one of its files
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        page = await http.get("/graphql", headers={"Accept": "text/html"})
        asset = await http.get(f"{ASSETS_PATH}/graphiql.min.js")

    # then: neither is there
    assert "GraphiQL" not in page.text
    assert asset.status_code == 404
