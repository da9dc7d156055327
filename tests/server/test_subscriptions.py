"""GraphQL subscriptions against a real uvicorn process: subscribe over a WebSocket, mutate over
HTTP, receive. Member streams belong to the connection's member only."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from websockets.asyncio.client import connect

from gamification.ledger.models import LedgerEntry
from gamification.members.models import Role
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    create_cause,
    create_device,
    create_member,
    credit_points,
    device_token,
    member_token,
)
from tests.server.conftest import LiveServer
from tests.server.graphql_ws import (
    PROTOCOL,
    ProgramServer,
    http_graphql,
    realtime_stats,
    server_with_program_account,
    session,
)


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


POINTS_CHANGED = """
subscription { pointsChanged { version balance available held entry { kind points reason } } }
"""

ADJUST_POINTS = """
mutation Adjust($memberId: ID!, $points: Int!, $key: String!) {
  adjustPoints(memberId: $memberId, points: $points, reason: "goodwill", idempotencyKey: $key) {
    entry { id } errors { code }
  }
}
"""

LEADERBOARD_CHANGED = """
subscription Board($board: String!, $top: Int!) {
  leaderboardChanged(board: $board, top: $top) {
    version board period total top { rank score displayName isMe }
  }
}
"""

CAUSE_PROGRESS = """
subscription Cause($causeId: ID!) {
  causeProgress(causeId: $causeId) { version causeId progress { memberPoints donors } }
}
"""

DONATE = """
mutation Donate($causeId: ID!, $points: Int!, $key: String!) {
  donatePoints(causeId: $causeId, points: $points, idempotencyKey: $key) { errors { code } }
}
"""


async def _adjust(server: LiveServer, settings: Settings, member_id: int, points: int) -> int:
    admin = await create_member(role=Role.ADMIN)
    data = await http_graphql(
        server,
        member_token(admin, settings),
        ADJUST_POINTS,
        {
            "memberId": to_global_id("Member", member_id),
            "points": points,
            "key": uuid.uuid4().hex,
        },
    )
    assert data["adjustPoints"]["errors"] == []
    return (await LedgerEntry.filter(account__member_id=member_id).order_by("-id").first()).id  # type: ignore[union-attr]


async def test_a_member_receives_their_points_change_after_commit(
    live_server: LiveServer, settings: Settings
) -> None:
    # given: a member subscribed to their points
    member = await create_member()
    async with session(live_server, member_token(member, settings)) as socket:
        operation = await socket.subscribe(POINTS_CHANGED)
        first = await socket.next_data(operation)
        assert first["pointsChanged"] == {
            "version": 0,
            "balance": 0,
            "available": 0,
            "held": 0,
            "entry": None,
        }

        # when: an admin credits them through the other door (HTTP)
        entry_id = await _adjust(live_server, settings, member.id, 50)

        # then
        change = (await socket.next_data(operation))["pointsChanged"]
        assert change == {
            "version": entry_id,
            "balance": 50,
            "available": 50,
            "held": 0,
            "entry": {"kind": "ADJUST", "points": 50, "reason": "goodwill"},
        }


async def test_the_first_message_is_the_current_balance(
    live_server: LiveServer, settings: Settings
) -> None:
    member = await create_member()
    entry = await credit_points(member=member, points=70)

    async with session(live_server, member_token(member, settings)) as socket:
        operation = await socket.subscribe(POINTS_CHANGED)

        first = (await socket.next_data(operation))["pointsChanged"]

    assert (first["version"], first["balance"], first["entry"]["points"]) == (entry.id, 70, 70)


async def test_a_member_never_receives_another_members_points(
    live_server: LiveServer, settings: Settings
) -> None:
    # given: two members, the second subscribed
    maya, noor = await create_member(), await create_member()
    async with session(live_server, member_token(noor, settings)) as socket:
        operation = await socket.subscribe(POINTS_CHANGED)
        await socket.next_data(operation)

        # when: the first one's points change
        await _adjust(live_server, settings, maya.id, 25)

        # then: nothing arrives for the second
        assert await socket.nothing_within(1.0)


async def test_no_argument_names_another_member(
    live_server: LiveServer, settings: Settings
) -> None:
    maya, noor = await create_member(), await create_member()
    maya_id = to_global_id("Member", maya.id)
    async with session(live_server, member_token(noor, settings)) as socket:
        for query in (
            f'subscription {{ pointsChanged(memberId: "{maya_id}") {{ balance }} }}',
            f'subscription {{ redemptionRequests(memberId: "{maya_id}") {{ id }} }}',
        ):
            operation = await socket.subscribe(query)
            message = await socket.receive()
            while message.get("id") != operation or message["type"] == "complete":
                message = await socket.receive()
            assert message["type"] == "error"
            assert "Unknown argument 'memberId'" in message["payload"][0]["message"]


async def test_a_device_has_no_member_stream(live_server: LiveServer, settings: Settings) -> None:
    kiosk = await create_device()
    async with session(live_server, device_token(kiosk, settings)) as socket:
        for query in (
            POINTS_CHANGED,
            "subscription { redemptionRequests { id } }",
            "subscription { badgeAwarded { name } }",
            "subscription { tierChanged { tier } }",
            "subscription { challengeProgress { current } }",
        ):
            operation = await socket.subscribe(query)
            message = await socket.receive()
            while message.get("id") != operation or message["type"] == "complete":
                message = await socket.receive()
            errors = (
                message["payload"]
                if message["type"] == "error"
                else message["payload"].get("errors")
            )
            assert errors, message
            assert errors[0]["extensions"]["code"] == "FORBIDDEN", message


async def test_subscribing_without_a_credential_is_refused(live_server: LiveServer) -> None:
    async with connect(live_server.graphql_ws_url, subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        # when: a client skips connection_init and subscribes straight away
        await socket.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": POINTS_CHANGED}})
        )

        # then: the server closes the socket (4401 Unauthorized, per the protocol)
        async with asyncio.timeout(5):
            await socket.wait_closed()
    assert socket.close_code == 4401


async def test_a_board_update_reaches_its_subscribers(
    live_server: LiveServer, settings: Settings
) -> None:
    # given: a kiosk screen watching a cause's board, and a member with points
    cause = await create_cause()
    member = await create_member(display_name="Board Maya")
    await credit_points(member=member, points=500)
    kiosk = await create_device()
    board = f"cause:{to_global_id('Cause', cause.id)}"
    async with session(live_server, device_token(kiosk, settings)) as screen:
        operation = await screen.subscribe(LEADERBOARD_CHANGED, {"board": board, "top": 3})
        first = (await screen.next_data(operation))["leaderboardChanged"]
        assert (first["version"], first["total"], first["top"]) == (0, 0, [])

        # when: the member donates in the app
        await http_graphql(
            live_server,
            member_token(member, settings),
            DONATE,
            {"causeId": to_global_id("Cause", cause.id), "points": 120, "key": "d-1"},
        )

        # then
        update = (await screen.next_data(operation))["leaderboardChanged"]
    assert update["version"] > 0
    assert (update["board"], update["period"], update["total"]) == (board, "ALL_TIME", 1)
    assert update["top"] == [{"rank": 1, "score": 120, "displayName": "Board Maya", "isMe": False}]


async def test_board_updates_are_coalesced_to_one_per_second(
    live_server: LiveServer, settings: Settings
) -> None:
    # given
    cause = await create_cause()
    member = await create_member()
    await credit_points(member=member, points=1000)
    board = f"cause:{to_global_id('Cause', cause.id)}"
    token = member_token(member, settings)
    async with session(live_server, token) as screen:
        operation = await screen.subscribe(LEADERBOARD_CHANGED, {"board": board, "top": 1})
        await screen.next_data(operation)

        # when: five donations in quick succession
        started = time.monotonic()
        for n in range(5):
            await http_graphql(
                live_server,
                token,
                DONATE,
                {"causeId": to_global_id("Cause", cause.id), "points": 10, "key": f"d-{n}"},
            )

        donating = time.monotonic() - started

        # then: the first goes out at once, the rest coalesced: at most one message per
        # interval while the donations last, and one after (five changes, two messages when
        # they take under a second; on a loaded machine they can span more windows)
        received: list[dict[str, Any]] = []
        while received == [] or received[-1]["top"][0]["score"] < 50:
            received.append((await screen.next_data(operation, within=3))["leaderboardChanged"])
    interval = settings.realtime_leaderboard_interval_seconds
    assert len(received) <= 2 + int(donating / interval)
    assert received[-1]["top"][0]["isMe"] is True


async def test_cause_progress_after_a_donation(live_server: LiveServer, settings: Settings) -> None:
    cause = await create_cause()
    member = await create_member()
    await credit_points(member=member, points=300)
    cause_id = to_global_id("Cause", cause.id)
    async with session(live_server, member_token(member, settings)) as socket:
        operation = await socket.subscribe(CAUSE_PROGRESS, {"causeId": cause_id})
        first = (await socket.next_data(operation))["causeProgress"]
        assert first == {
            "version": 0,
            "causeId": cause_id,
            "progress": {"memberPoints": 0, "donors": 0},
        }

        await http_graphql(
            live_server,
            member_token(member, settings),
            DONATE,
            {"causeId": cause_id, "points": 40, "key": "d-1"},
        )

        update = (await socket.next_data(operation))["causeProgress"]
    assert update["version"] > 0
    assert update["progress"] == {"memberPoints": 40, "donors": 1}


async def test_abrupt_disconnects_leave_nothing_behind(
    live_server: LiveServer, settings: Settings
) -> None:
    # given: the server at rest
    members = [await create_member() for _ in range(5)]
    cause = await create_cause()

    async def settled() -> dict[str, int]:
        for _ in range(100):
            stats = await realtime_stats(live_server)
            if stats["subscriptions"] == 0 and stats["redis_channels"] == 0:
                return stats
            await asyncio.sleep(0.05)
        return stats

    before = await settled()

    # when: 200 clients (10 at a time) subscribe, then vanish without closing (a TCP reset)
    async def vanish(n: int, subscribed: asyncio.Event, go: asyncio.Event) -> None:
        member = members[n % len(members)]
        try:
            async with session(live_server, member_token(member, settings)) as socket:
                points = await socket.subscribe(POINTS_CHANGED)
                await socket.next_data(points)
                board = await socket.subscribe(LEADERBOARD_CHANGED, {"board": "points", "top": 3})
                await socket.next_data(board)
                progress = await socket.subscribe(
                    CAUSE_PROGRESS, {"causeId": to_global_id("Cause", cause.id)}
                )
                await socket.next_data(progress)
                await socket.subscribe("subscription { redemptionRequests { id } }")
                subscribed.set()
                await go.wait()
                socket.socket.transport.abort()
        finally:
            subscribed.set()  # a client that failed must not keep the others waiting

    peak = 0
    for batch in range(20):
        go = asyncio.Event()
        ready = [asyncio.Event() for _ in range(10)]
        clients = [asyncio.create_task(vanish(batch * 10 + n, ready[n], go)) for n in range(10)]
        async with asyncio.timeout(60):
            await asyncio.gather(*(event.wait() for event in ready))
        failed = [c.exception() for c in clients if c.done() and c.exception()]
        assert not failed, failed
        peak = max(peak, (await realtime_stats(live_server))["subscriptions"])
        go.set()
        await asyncio.gather(*clients)

    # then: every queue, subscription, Redis channel and task is gone again
    after = await settled()
    assert peak >= 30
    assert after["subscriptions"] == after["channels"] == after["queued"] == 0
    assert after["redis_channels"] == after["timers"] == 0
    for _ in range(100):
        if (await realtime_stats(live_server))["tasks"] <= before["tasks"]:
            break
        await asyncio.sleep(0.05)
    assert (await realtime_stats(live_server))["tasks"] <= before["tasks"]
