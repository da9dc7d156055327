"""Two server processes on PostgreSQL and one real Redis behave as one: subscribe on one,
mutate on the other, receive. Runs in the real-services pass; it fails (never skips) when
LOYALTY_REDIS_URL names no reachable Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.ledger.models import LedgerEntry
from gamification.members.models import Role
from schema.relay import to_global_id
from server.redis import MEMORY_SCHEME
from server.settings import Settings
from tests.factories import (
    create_cause,
    create_device,
    create_member,
    credit_points,
    device_token,
    member_token,
)
from tests.server.conftest import run_server
from tests.server.graphql_ws import (
    ProgramServer,
    http_graphql,
    server_with_program_account,
    session,
)

pytestmark = pytest.mark.postgres

POINTS_CHANGED = "subscription { pointsChanged { version balance entry { kind points } } }"
ADJUST_POINTS = """
mutation Adjust($memberId: ID!, $key: String!) {
  adjustPoints(memberId: $memberId, points: 75, reason: "goodwill", idempotencyKey: $key) {
    errors { code }
  }
}
"""
CAUSE_PROGRESS = """
subscription Cause($causeId: ID!) {
  causeProgress(causeId: $causeId) { version progress { memberPoints } }
}
"""
BOARD = """
subscription Board($board: String!) {
  leaderboardChanged(board: $board, top: 1) { version top { score } }
}
"""
DONATE = """
mutation Donate($causeId: ID!, $key: String!) {
  donatePoints(causeId: $causeId, points: 30, idempotencyKey: $key) { errors { code } }
}
"""


@pytest.fixture(scope="module")
async def two_servers(
    app: Starlette, redis: Redis, settings: Settings, service_env: dict[str, str]
) -> AsyncIterator[tuple[ProgramServer, ProgramServer]]:
    if settings.redis_url.startswith(MEMORY_SCHEME):
        pytest.fail("two processes need a real Redis: set LOYALTY_REDIS_URL")
    if not await redis.ping():
        pytest.fail(f"Redis at {settings.redis_url} does not answer")
    async with server_with_program_account(service_env) as first:
        with run_server({**service_env, "LOYALTY_DATABASE_POOL_MAX": "5"}) as second:
            yield first, ProgramServer(second, first.program_pk)


async def test_a_change_made_on_one_process_reaches_a_subscriber_on_the_other(
    two_servers: tuple[ProgramServer, ProgramServer], settings: Settings
) -> None:
    # given: a member subscribed on the first process
    first, second = two_servers
    await first.pin_program_account()
    member = await create_member()
    admin = await create_member(role=Role.ADMIN)
    async with session(first.server, member_token(member, settings)) as socket:
        operation = await socket.subscribe(POINTS_CHANGED)
        assert (await socket.next_data(operation))["pointsChanged"]["balance"] == 0

        # when: an admin credits them through the second process
        data = await http_graphql(
            second.server,
            member_token(admin, settings),
            ADJUST_POINTS,
            {"memberId": to_global_id("Member", member.id), "key": uuid.uuid4().hex},
        )
        assert data["adjustPoints"]["errors"] == []

        # then
        change = (await socket.next_data(operation))["pointsChanged"]
    entry = await LedgerEntry.filter(account__member_id=member.id).order_by("-id").first()
    assert entry is not None
    assert change == {"version": entry.id, "balance": 75, "entry": {"kind": "ADJUST", "points": 75}}


async def test_public_streams_cross_processes_too(
    two_servers: tuple[ProgramServer, ProgramServer], settings: Settings
) -> None:
    first, second = two_servers
    await first.pin_program_account()
    cause = await create_cause()
    member = await create_member()
    await credit_points(member=member, points=100)
    cause_id = to_global_id("Cause", cause.id)
    screen_token = device_token(await create_device(), settings)
    async with session(first.server, screen_token) as screen:
        progress = await screen.subscribe(CAUSE_PROGRESS, {"causeId": cause_id})
        board = await screen.subscribe(BOARD, {"board": f"cause:{cause_id}"})
        await screen.next_data(progress)
        await screen.next_data(board)

        await http_graphql(
            second.server, member_token(member, settings), DONATE, {"causeId": cause_id, "key": "d"}
        )

        received: dict[str, dict[str, Any]] = {}
        while len(received) < 2:
            message = await screen.receive()
            if message.get("type") == "next":
                received[message["id"]] = message["payload"]["data"]
    assert received[progress]["causeProgress"]["progress"] == {"memberPoints": 30}
    assert received[board]["leaderboardChanged"]["top"] == [{"score": 30}]
