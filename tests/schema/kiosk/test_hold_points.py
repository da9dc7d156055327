from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.ledger import points
from gamification.ledger.models import IdempotencyKey
from gamification.members.models import Member
from gamification.rewards.models import PointsHold, RedemptionToken, Reward, RewardKind
from gamification.stores.models import Channel, Device
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    create_device,
    create_member,
    create_store,
    credit_points,
    execute,
    issue_redemption_token,
)
from tests.invariants import assert_books_balance

HOLD_POINTS = """
mutation HoldPoints(
  $token: String!, $points: Int!, $reference: String!, $ttl: Int!, $key: String!
) {
  holdPoints(
    token: $token, points: $points, reference: $reference, ttlSeconds: $ttl, idempotencyKey: $key
  ) {
    hold {
      id status points captured reference channel memberId storeId expiresAt createdAt settledAt
    }
    replayed
    errors { code field message }
  }
}
"""

HOLD_NODE = """
query Hold($id: ID!) { node(id: $id) { ... on PointsHold { id status points } } }
"""


async def _member_with(balance: int) -> Member:
    member = await create_member()
    await credit_points(member=member, points=balance)
    return member


async def _hold(
    app: Starlette,
    device: Device | Member,
    token: str,
    *,
    amount: int = 150,
    reference: str = "sale-1",
    ttl: int = 300,
    key: str = "h-1",
) -> Any:
    variables = {"token": token, "points": amount, "reference": reference, "ttl": ttl, "key": key}
    return await execute(app, HOLD_POINTS, variables, as_=device)


def _codes(result: Any) -> list[str]:
    payload = result.data["holdPoints"]
    assert payload["hold"] is None
    return [e["code"] for e in payload["errors"]]


async def assert_nothing_held(member: Member, *, balance: int = 500) -> None:
    assert await PointsHold.all().count() == 0
    assert await IdempotencyKey.all().count() == 0
    assert await RedemptionToken.filter(used_at__isnull=False).count() == 0
    summary = await points.summary(member.id)
    assert (summary.balance, summary.held) == (balance, 0)
    await assert_books_balance()


@pytest.mark.parametrize("channel", [Channel.POS, Channel.KIOSK])
async def test_a_till_holds_points_with_the_members_token(
    app: Starlette, settings: Settings, channel: Channel
) -> None:
    # given
    member = await _member_with(500)
    till = await create_device(channel=channel)
    token = await issue_redemption_token(member=member, settings=settings, points=200)

    # when
    result = await _hold(app, till, token, amount=150, reference="receipt-77", ttl=120)

    # then
    assert result.errors is None
    payload = result.data["holdPoints"]
    assert payload["errors"] == []
    assert payload["replayed"] is False
    hold = payload["hold"]
    stored = await PointsHold.get()
    assert hold["id"] == to_global_id("PointsHold", stored.id)
    assert (hold["status"], hold["points"], hold["captured"], hold["reference"]) == (
        "ACTIVE",
        150,
        0,
        "receipt-77",
    )
    assert hold["channel"] == channel.value
    assert hold["memberId"] == to_global_id("Member", member.id)
    assert hold["storeId"] == to_global_id("Store", till.store_id)  # type: ignore[attr-defined]
    assert hold["settledAt"] is None
    lifetime = datetime.fromisoformat(hold["expiresAt"]) - datetime.fromisoformat(hold["createdAt"])
    assert lifetime == timedelta(seconds=120)
    summary = await points.summary(member.id)
    assert (summary.balance, summary.held, summary.available) == (500, 150, 350)
    await assert_books_balance()


async def test_the_token_is_used_up_by_the_hold(app: Starlette, settings: Settings) -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    token = await issue_redemption_token(member=member, settings=settings, points=200)
    await _hold(app, till, token, amount=100, key="h-1")

    result = await _hold(app, till, token, amount=50, key="h-2")

    assert _codes(result) == ["TOKEN_USED"]
    assert await PointsHold.all().count() == 1
    assert (await points.summary(member.id)).held == 100


async def test_a_retry_with_the_same_key_replays_the_hold(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    token = await issue_redemption_token(member=member, settings=settings, points=200)
    first = await _hold(app, till, token, key="h-1")

    again = await _hold(app, till, token, key="h-1")

    assert again.data["holdPoints"]["replayed"] is True
    assert again.data["holdPoints"]["hold"] == first.data["holdPoints"]["hold"]
    assert (await points.summary(member.id)).held == 150


async def test_a_hold_of_exactly_what_the_token_authorises_is_placed(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    token = await issue_redemption_token(member=member, settings=settings, points=100)

    result = await _hold(app, till, token, amount=100)

    assert result.data["holdPoints"]["errors"] == []
    assert result.data["holdPoints"]["hold"]["points"] == 100
    assert (await points.summary(member.id)).held == 100


@pytest.mark.parametrize(
    ("amount", "reference", "ttl", "field"),
    [(0, "sale", 60, "points"), (10, "", 60, "reference"), (10, "sale", 0, "ttlSeconds")],
)
async def test_a_malformed_hold_is_refused(
    app: Starlette, settings: Settings, amount: int, reference: str, ttl: int, field: str
) -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    token = await issue_redemption_token(member=member, settings=settings, points=200)

    result = await _hold(app, till, token, amount=amount, reference=reference, ttl=ttl)

    assert [e["field"] for e in result.data["holdPoints"]["errors"]] == [field]
    await assert_nothing_held(member)


# The member's token, made for the case.
Token = Callable[[Member, Settings], Awaitable[str]]


def points_token(points: int, *, issued: timedelta = timedelta(0)) -> Token:
    async def make(member: Member, settings: Settings) -> str:
        now = datetime.now(UTC) - issued
        return await issue_redemption_token(
            member=member, settings=settings, points=points, now=now
        )

    return make


async def reward_token(member: Member, settings: Settings) -> str:
    reward = await Reward.create(name="Tote", kind=RewardKind.PRODUCT, cost_points=100)
    return await issue_redemption_token(member=member, settings=settings, reward_id=reward.id)


async def forged_token(member: Member, settings: Settings) -> str:
    token = await issue_redemption_token(member=member, settings=settings, points=200)
    version, row_id, expiry, signature = token.split(".")
    return f"{version}.{row_id}.{expiry}.{signature[::-1]}"


@dataclass(frozen=True)
class HoldRefusal:
    code: str
    token: Token
    amount: int = 150
    balance: int = 500
    channel: Channel = Channel.POS


_REFUSALS = {
    "holding more than the token authorises": HoldRefusal(
        "HOLD_EXCEEDS_TOKEN", points_token(100), amount=101
    ),
    "holding more than is available": HoldRefusal(
        "INSUFFICIENT_POINTS", points_token(200), balance=100
    ),
    "a reward token": HoldRefusal("TOKEN_WRONG_PURPOSE", reward_token, amount=100),
    "an expired token": HoldRefusal("TOKEN_EXPIRED", points_token(200, issued=timedelta(hours=1))),
    "a forged token": HoldRefusal("TOKEN_INVALID", forged_token),
    "a web shop server": HoldRefusal("CHANNEL_MISMATCH", points_token(200), channel=Channel.WEB),
}


@pytest.mark.parametrize("case", list(_REFUSALS.values()), ids=list(_REFUSALS))
async def test_a_hold_is_refused_and_holds_nothing(
    app: Starlette, settings: Settings, case: HoldRefusal
) -> None:
    # given
    member = await _member_with(case.balance)
    device = await create_device(channel=case.channel)
    token = await case.token(member, settings)

    # when
    result = await _hold(app, device, token, amount=case.amount)

    # then
    assert _codes(result) == [case.code]
    await assert_nothing_held(member, balance=case.balance)


async def test_a_member_cannot_hold_points(app: Starlette, settings: Settings) -> None:
    member = await _member_with(500)
    token = await issue_redemption_token(member=member, settings=settings, points=200)

    result = await _hold(app, member, token)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    await assert_nothing_held(member)


async def test_a_hold_is_visible_to_its_member_and_its_store_only(
    app: Starlette, settings: Settings
) -> None:
    # given
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    token = await issue_redemption_token(member=member, settings=settings, points=200)
    hold_id = (await _hold(app, till, token)).data["holdPoints"]["hold"]["id"]
    same_store = await create_device(channel=Channel.KIOSK, store=await till.store)
    other_store = await create_device(channel=Channel.POS, store=await create_store())
    someone_else = await create_member()

    viewers: dict[str, Member | Device] = {
        "member": member,
        "same store": same_store,
        "other store": other_store,
        "someone else": someone_else,
    }

    # when
    seen = {
        name: (await execute(app, HOLD_NODE, {"id": hold_id}, as_=who)).data["node"]
        for name, who in viewers.items()
    }

    # then
    assert seen["member"] == {"id": hold_id, "status": "ACTIVE", "points": 150}
    assert seen["same store"] == seen["member"]
    assert (seen["other store"], seen["someone else"]) == (None, None)
