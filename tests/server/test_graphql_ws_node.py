"""The npm `graphql-ws` client (what browser and Node apps use) follows a subscription on a real
server process, and is refused with 4403 without a valid token.

The client lives in tests/server/js (subscribe.mjs), installed by tests/server/node.py. Without
Node the test fails in CI and is skipped elsewhere, never passed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gamification.stores.models import Channel
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    bearer,
    create_device,
    create_earn_rule,
    create_member,
    device_token,
    member_token,
)
from tests.server.conftest import LiveServer
from tests.server.graphql_ws import ProgramServer, server_with_program_account
from tests.server.node import JS_DIR, installed_node_modules

MESSAGE_TIMEOUT_SECONDS = 15
# graphql-transport-ws closes with 4403 when `on_ws_connect` rejects the connection.
FORBIDDEN = 4403

POINTS_CHANGED = "subscription { pointsChanged { balance held available } }"
RECORD_PURCHASE = """
mutation Record($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) { pointsEarned errors { code } }
}
"""


@dataclass(frozen=True)
class NodeClient:
    node: str
    script: Path


@pytest.fixture(scope="module")
def node_client() -> NodeClient:
    tools = installed_node_modules("the graphql-ws client test")
    return NodeClient(node=tools.node, script=JS_DIR / "subscribe.mjs")


@pytest.fixture(scope="module")
async def program_server(
    app: Starlette, service_env: dict[str, str]
) -> AsyncIterator[ProgramServer]:
    async with server_with_program_account(service_env) as started:
        yield started


@pytest.fixture
async def live_server(program_server: ProgramServer) -> LiveServer:
    """This module's own server (see `server_with_program_account`)."""
    await program_server.pin_program_account()
    return program_server.server


class NodeSubscription:
    """One run of subscribe.mjs: its printed events, read one at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(MESSAGE_TIMEOUT_SECONDS):
            line = await self.process.stdout.readline()
        if not line:
            stderr = await self.process.stderr.read() if self.process.stderr else b""
            raise AssertionError(f"the Node client ended early: {stderr.decode()}")
        event: dict[str, Any] = json.loads(line)
        return event

    async def exit_code(self) -> int:
        async with asyncio.timeout(MESSAGE_TIMEOUT_SECONDS):
            return await self.process.wait()


@asynccontextmanager
async def _run_node(
    client: NodeClient, server: LiveServer, token: str, query: str, messages: int
) -> AsyncIterator[NodeSubscription]:
    process = await asyncio.create_subprocess_exec(
        client.node,
        str(client.script),
        server.graphql_ws_url,
        token,
        query,
        str(messages),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield NodeSubscription(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _record_purchase(server: LiveServer, till_token: str, member_id: int) -> Any:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        answer = await http.post(
            "/graphql",
            headers=bearer(till_token),
            json={
                "query": RECORD_PURCHASE,
                "variables": {
                    "key": "node-graphql-ws-1",
                    "input": {
                        "memberId": to_global_id("Member", member_id),
                        "amount": "12.00",
                        "currency": "EUR",
                        "externalId": "node-graphql-ws-1",
                        "occurredAt": datetime.now(UTC).isoformat(),
                    },
                },
            },
        )
    return answer.json()


async def test_the_npm_client_follows_points_changed(
    node_client: NodeClient, live_server: LiveServer, settings: Settings
) -> None:
    # given: a member's points stream, followed by the Node client
    await create_earn_rule()
    member = await create_member()
    till = await create_device(channel=Channel.POS)
    async with _run_node(
        node_client, live_server, member_token(member, settings), POINTS_CHANGED, messages=2
    ) as node:
        assert await node.event() == {"event": "connected"}
        first = await node.event()

        # when: a till records the member's purchase
        answer = await _record_purchase(live_server, device_token(till, settings), member.id)

        # then: the client got the new balance, and stopped cleanly
        second = await node.event()
        assert await node.event() == {"event": "done"}
        assert await node.exit_code() == 0

    assert answer["data"]["recordPurchase"] == {"pointsEarned": 12, "errors": []}
    assert first == {
        "event": "next",
        "payload": {"data": {"pointsChanged": {"balance": 0, "held": 0, "available": 0}}},
    }
    assert second == {
        "event": "next",
        "payload": {"data": {"pointsChanged": {"balance": 12, "held": 0, "available": 12}}},
    }


@pytest.mark.parametrize("token", ["not-a-jwt", ""], ids=["forged", "missing"])
async def test_the_npm_client_is_refused_without_a_valid_token(
    node_client: NodeClient, live_server: LiveServer, token: str
) -> None:
    # when
    async with _run_node(node_client, live_server, token, POINTS_CHANGED, messages=1) as node:
        first = await node.event()
        code = await node.exit_code()

    # then: closed with 4403 before any result
    assert first["event"] in {"closed", "error"}, first
    assert first["code"] == FORBIDDEN
    assert code == 1
