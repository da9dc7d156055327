"""Kiosk asks, member confirms, end to end against a real server process: the kiosk's request
over HTTP, the member's app and the kiosk watching over WebSockets, the member's answer over
HTTP; decline, timeout, and an approval racing the timeout (exactly one outcome)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.ledger import points
from gamification.members.models import Member
from gamification.rewards.models import Redemption
from gamification.stores.models import Device
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    create_device,
    create_member,
    create_reward,
    credit_points,
    device_token,
    member_token,
)
from tests.server.conftest import LiveServer
from tests.server.graphql_ws import (
    ProgramServer,
    Session,
    http_graphql,
    server_with_program_account,
    session,
)

TIMEOUT_SECONDS = 2.0

REQUEST_REDEMPTION = """
mutation Ask($cardNumber: String, $memberId: ID, $rewardId: ID, $points: Int, $ref: String!) {
  requestRedemption(
    cardNumber: $cardNumber, memberId: $memberId, rewardId: $rewardId, points: $points,
    reference: $ref
  ) {
    request { id status version rewardName points reference expiresAt }
    replayed
    errors { code field }
  }
}
"""

RESPOND = """
mutation Respond($id: ID!, $answer: RedemptionAnswer!) {
  respondToRedemptionRequest(requestId: $id, answer: $answer) {
    request { id status redemption { id points } error { code } }
    errors { code }
  }
}
"""

REQUESTS = "subscription { redemptionRequests { id status points rewardName reference } }"

STATUS = """
subscription Status($id: ID!) {
  redemptionRequestStatus(requestId: $id) {
    id status version redemption { id points channel } error { code }
  }
}
"""


@pytest.fixture(scope="module")
async def program_server(
    app: Starlette, service_env: dict[str, str]
) -> AsyncIterator[ProgramServer]:
    """A server whose kiosk requests expire after TIMEOUT_SECONDS."""
    env = {**service_env, "LOYALTY_REDEMPTION_REQUEST_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS)}
    async with server_with_program_account(env) as started:
        yield started


@pytest.fixture
async def kiosk_server(program_server: ProgramServer) -> LiveServer:
    await program_server.pin_program_account()
    return program_server.server


async def _ask(
    server: LiveServer, settings: Settings, kiosk: Device, member: Member, **what: Any
) -> dict[str, Any]:
    variables = {"ref": f"sale-{what.pop('ref', 1)}", **what}
    if "memberId" not in what:
        variables["cardNumber"] = member.card_number
    data = await http_graphql(server, device_token(kiosk, settings), REQUEST_REDEMPTION, variables)
    payload: dict[str, Any] = data["requestRedemption"]
    return payload


async def _respond(
    server: LiveServer, settings: Settings, member: Member, request_id: str, answer: str
) -> dict[str, Any]:
    data = await http_graphql(
        server, member_token(member, settings), RESPOND, {"id": request_id, "answer": answer}
    )
    payload: dict[str, Any] = data["respondToRedemptionRequest"]
    return payload


async def _until_final(kiosk: Session, operation: str) -> list[dict[str, Any]]:
    """Every status the kiosk sees, up to the final one and the subscription's completion."""
    seen: list[dict[str, Any]] = []
    while True:
        message = await kiosk.receive(within=TIMEOUT_SECONDS + 10)
        if message.get("id") != operation:
            continue
        if message["type"] == "complete":
            return seen
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        seen.append(message["payload"]["data"]["redemptionRequestStatus"])


async def test_the_member_approves_and_the_kiosk_sees_the_redemption(
    kiosk_server: LiveServer, settings: Settings
) -> None:
    # given: a member with points and their app open, and a kiosk
    member = await create_member()
    await credit_points(member=member, points=500)
    reward = await create_reward(name="Tote bag", cost_points=200)
    kiosk = await create_device()
    async with session(kiosk_server, member_token(member, settings)) as app:
        requests = await app.subscribe(REQUESTS)
        await asyncio.sleep(0.2)  # no pending request to announce the subscription with

        # when: the kiosk asks, by card number
        asked = await _ask(
            kiosk_server, settings, kiosk, member, rewardId=to_global_id("Reward", reward.id)
        )
        request = asked["request"]
        assert asked["errors"] == []
        assert (request["status"], request["points"], request["rewardName"]) == (
            "PENDING",
            200,
            "Tote bag",
        )

        # then: the app shows it
        shown = (await app.next_data(requests))["redemptionRequests"]
        assert shown == {
            "id": request["id"],
            "status": "PENDING",
            "points": 200,
            "rewardName": "Tote bag",
            "reference": "sale-1",
        }

        # when: the kiosk watches, and the member approves
        async with session(kiosk_server, device_token(kiosk, settings)) as screen:
            status = await screen.subscribe(STATUS, {"id": request["id"]})
            first = (await screen.next_data(status))["redemptionRequestStatus"]
            assert first["status"] == "PENDING"
            answered = await _respond(kiosk_server, settings, member, request["id"], "APPROVE")

            # then: the kiosk sees APPROVED with the redemption, and the stream completes
            seen = await _until_final(screen, status)
    assert answered["errors"] == []
    redemption = answered["request"]["redemption"]
    assert answered["request"]["status"] == "APPROVED"
    assert seen[-1]["status"] == "APPROVED"
    assert seen[-1]["redemption"] == {**redemption, "channel": "KIOSK"}
    assert [s["version"] for s in seen] == sorted({s["version"] for s in seen})
    assert (await points.summary(member.id)).balance == 300

    # and approving again changes nothing: the same redemption, exactly once
    again = await _respond(kiosk_server, settings, member, request["id"], "APPROVE")
    assert again["request"]["redemption"] == redemption
    assert await Redemption.filter(member_id=member.id).count() == 1


async def test_a_kiosk_retrying_with_its_reference_gets_the_same_request(
    kiosk_server: LiveServer, settings: Settings
) -> None:
    member = await create_member()
    kiosk = await create_device()

    first = await _ask(kiosk_server, settings, kiosk, member, points=50, ref=7)
    again = await _ask(kiosk_server, settings, kiosk, member, points=50, ref=7)
    other = await _ask(kiosk_server, settings, kiosk, member, points=60, ref=7)

    assert (again["request"]["id"], again["replayed"]) == (first["request"]["id"], True)
    assert other["errors"] == [{"code": "IDEMPOTENCY_KEY_REUSED", "field": "reference"}]


async def test_the_member_declines(kiosk_server: LiveServer, settings: Settings) -> None:
    member = await create_member()
    await credit_points(member=member, points=500)
    kiosk = await create_device()
    request = (
        await _ask(
            kiosk_server,
            settings,
            kiosk,
            member,
            memberId=to_global_id("Member", member.id),
            points=100,
        )
    )["request"]
    async with session(kiosk_server, device_token(kiosk, settings)) as screen:
        status = await screen.subscribe(STATUS, {"id": request["id"]})

        declined = await _respond(kiosk_server, settings, member, request["id"], "DECLINE")

        seen = await _until_final(screen, status)
    assert declined["request"]["status"] == "DECLINED"
    assert [s["status"] for s in seen] == ["PENDING", "DECLINED"]
    late = await _respond(kiosk_server, settings, member, request["id"], "APPROVE")
    assert late["errors"] == [{"code": "REQUEST_ANSWERED"}]
    assert (await points.summary(member.id)).balance == 500
    assert not await Redemption.filter(member_id=member.id).exists()


async def test_an_unanswered_request_expires(kiosk_server: LiveServer, settings: Settings) -> None:
    member = await create_member()
    await credit_points(member=member, points=500)
    kiosk = await create_device()
    request = (await _ask(kiosk_server, settings, kiosk, member, points=100))["request"]
    async with session(kiosk_server, device_token(kiosk, settings)) as screen:
        status = await screen.subscribe(STATUS, {"id": request["id"]})

        seen = await _until_final(screen, status)

    assert [s["status"] for s in seen] == ["PENDING", "EXPIRED"]
    assert datetime.now(UTC) >= datetime.fromisoformat(request["expiresAt"])
    late = await _respond(kiosk_server, settings, member, request["id"], "APPROVE")
    assert late["errors"] == [{"code": "REQUEST_EXPIRED"}]
    assert not await Redemption.filter(member_id=member.id).exists()


async def test_only_the_member_answers_and_only_the_kiosk_watches(
    kiosk_server: LiveServer, settings: Settings
) -> None:
    member, stranger = await create_member(), await create_member()
    kiosk, other_kiosk = await create_device(), await create_device()
    request = (await _ask(kiosk_server, settings, kiosk, member, points=10))["request"]

    answered = await _respond(kiosk_server, settings, stranger, request["id"], "APPROVE")

    assert answered["errors"] == [{"code": "REQUEST_NOT_FOUND"}]
    for token in (device_token(other_kiosk, settings), member_token(member, settings)):
        async with session(kiosk_server, token) as screen:
            status = await screen.subscribe(STATUS, {"id": request["id"]})
            message = await screen.receive()
            assert message["id"] == status
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "REQUEST_NOT_FOUND", message


async def test_an_approval_racing_the_timeout_has_exactly_one_outcome(
    kiosk_server: LiveServer, settings: Settings
) -> None:
    # given: ten requests, each watched by its kiosk
    member = await create_member()
    await credit_points(member=member, points=10_000)
    kiosk = await create_device()
    asked = [
        (await _ask(kiosk_server, settings, kiosk, member, points=10, ref=100 + n))["request"]
        for n in range(10)
    ]

    async def race(n: int, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        async with session(kiosk_server, device_token(kiosk, settings)) as screen:
            status = await screen.subscribe(STATUS, {"id": request["id"]})
            await screen.next_data(status)
            # when: the member answers around the deadline (from 50 ms before to 40 ms after)
            deadline = datetime.fromisoformat(request["expiresAt"])
            offset = (n - 5) / 100
            await asyncio.sleep(max(0, (deadline - datetime.now(UTC)).total_seconds() + offset))
            answered, seen = await asyncio.gather(
                _respond(kiosk_server, settings, member, request["id"], "APPROVE"),
                _until_final(screen, status),
            )
        return seen[-1]["status"], answered

    outcomes = await asyncio.gather(*(race(n, r) for n, r in enumerate(asked)))

    # then: the kiosk, the member and the books agree on one outcome per request
    approved = 0
    for final, answered in outcomes:
        assert final in ("APPROVED", "EXPIRED")
        if final == "APPROVED":
            approved += 1
            assert answered["request"]["status"] == "APPROVED"
        else:
            assert answered["errors"] == [{"code": "REQUEST_EXPIRED"}]
    assert await Redemption.filter(member_id=member.id).count() == approved
    assert (await points.summary(member.id)).balance == 10_000 - 10 * approved
