"""`redeemReward`: a member spends their points on a reward in the app or on the web. Every
refusal leaves the balance, the stock and the redemptions as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from gamification.ledger import points
from gamification.members.models import Member, Role
from gamification.rewards import redemptions
from gamification.rewards.models import LimitPeriod, Redemption, RedemptionStatus, Reward
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import (
    actor_of,
    consent_of,
    create_device,
    create_member,
    create_reward,
    credit_points,
    execute,
)
from tests.invariants import assert_books_balance

REDEEM_REWARD = """
mutation RedeemReward($rewardId: ID!, $key: String!, $channel: Channel) {
  redeemReward(rewardId: $rewardId, idempotencyKey: $key, channel: $channel) {
    redemption {
      id status voucherCode validUntil points channel createdAt usedAt cancelledAt
      reward { id name }
    }
    replayed
    errors { code field message }
  }
}
"""

NOW = datetime.now(UTC)


def redeem_variables(
    reward: Reward | int, *, key: str = "redeem-1", channel: str | None = None
) -> dict[str, Any]:
    pk = reward if isinstance(reward, int) else reward.id
    variables: dict[str, Any] = {"rewardId": to_global_id("Reward", pk), "key": key}
    if channel is not None:
        variables["channel"] = channel
    return variables


async def books(member: Member, reward: Reward) -> tuple[int, int | None, int]:
    """What a refusal must leave alone: the balance, the stock and the redemptions."""
    balance = (await points.summary(member.id)).balance
    stock = (await Reward.get(id=reward.id)).stock
    return balance, stock, await Redemption.all().count()


def codes(result: Any) -> list[tuple[str, str | None]]:
    assert result.errors is None, result.errors
    payload = result.data["redeemReward"]
    assert payload["redemption"] is None
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def test_a_member_redeems_a_reward_in_the_app(app: Starlette) -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=250)
    reward = await create_reward(name="Tote bag", cost_points=100, stock=3, voucher_valid_days=10)

    # when
    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    # then
    payload = result.data["redeemReward"]
    assert payload["errors"] == []
    assert payload["replayed"] is False
    redemption = await Redemption.get()
    assert payload["redemption"]["id"] == to_global_id("Redemption", redemption.id)
    assert payload["redemption"]["status"] == "ISSUED"
    assert payload["redemption"]["voucherCode"] == redemption.voucher_code
    assert payload["redemption"]["points"] == 100
    assert payload["redemption"]["channel"] == "APP"
    assert payload["redemption"]["reward"] == {
        "id": to_global_id("Reward", reward.id),
        "name": "Tote bag",
    }
    assert (payload["redemption"]["usedAt"], payload["redemption"]["cancelledAt"]) == (None, None)
    valid_until = datetime.fromisoformat(payload["redemption"]["validUntil"])
    assert timedelta(days=9) < valid_until - NOW < timedelta(days=11)
    assert await books(member, reward) == (150, 2, 1)
    await assert_books_balance()


async def test_a_member_redeems_on_the_web(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=100, channels=(Channel.WEB,))

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward, channel="WEB"), as_=member)

    assert result.data["redeemReward"]["redemption"]["channel"] == "WEB"
    assert await books(member, reward) == (0, None, 1)
    await assert_books_balance()


async def test_an_unknown_reward_is_refused(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)

    result = await execute(app, REDEEM_REWARD, redeem_variables(4242), as_=member)

    assert codes(result) == [("REWARD_NOT_FOUND", "rewardId")]
    assert (await points.summary(member.id)).balance == 100
    assert await Redemption.all().count() == 0


async def test_a_malformed_reward_id_is_refused(app: Starlette) -> None:
    member = await create_member()

    result = await execute(
        app, REDEEM_REWARD, {"rewardId": to_global_id("Store", 1), "key": "k"}, as_=member
    )

    assert codes(result) == [("INVALID_INPUT", "rewardId")]
    assert await Redemption.all().count() == 0


async def test_an_inactive_reward_is_refused(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=50, stock=5, active=False)

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    assert codes(result) == [("REWARD_INACTIVE", "rewardId")]
    assert await books(member, reward) == (100, 5, 0)


async def test_a_reward_not_yet_valid_is_refused(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=50, stock=5, valid_from=NOW + timedelta(hours=1))

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    assert codes(result) == [("REWARD_NOT_AVAILABLE", "rewardId")]
    assert await books(member, reward) == (100, 5, 0)


async def test_an_expired_reward_is_refused(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=50, stock=5, valid_to=NOW - timedelta(seconds=1))

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    assert codes(result) == [("REWARD_NOT_AVAILABLE", "rewardId")]
    assert await books(member, reward) == (100, 5, 0)


async def test_an_out_of_stock_reward_is_refused(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=50, stock=0)

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    assert codes(result) == [("OUT_OF_STOCK", "rewardId")]
    assert await books(member, reward) == (100, 0, 0)


async def test_a_reward_not_offered_on_the_channel_is_refused(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=50, stock=5, channels=(Channel.WEB,))

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward, channel="APP"), as_=member)

    assert codes(result) == [("WRONG_CHANNEL", "rewardId")]
    assert await books(member, reward) == (100, 5, 0)


@pytest.mark.parametrize("channel", ["KIOSK", "POS", "SYSTEM"])
async def test_a_member_cannot_redeem_for_an_in_store_channel(app: Starlette, channel: str) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=50, stock=5)

    result = await execute(
        app, REDEEM_REWARD, redeem_variables(reward, channel=channel), as_=member
    )

    assert codes(result) == [("WRONG_CHANNEL", "channel")]
    assert await books(member, reward) == (100, 5, 0)


async def test_redeeming_over_the_daily_limit_is_refused(app: Starlette) -> None:
    # given: one redeemed today, with a limit of one a day
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(
        cost_points=10, stock=5, per_member_limit=1, limit_period=LimitPeriod.DAY
    )
    await execute(app, REDEEM_REWARD, redeem_variables(reward, key="first"), as_=member)

    # when
    result = await execute(app, REDEEM_REWARD, redeem_variables(reward, key="second"), as_=member)

    # then
    assert codes(result) == [("MEMBER_LIMIT_REACHED", "rewardId")]
    assert await books(member, reward) == (90, 4, 1)


async def test_yesterdays_redemption_does_not_count_towards_the_daily_limit(
    app: Starlette,
) -> None:
    # given: the limit was used up yesterday
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=10, per_member_limit=1, limit_period=LimitPeriod.DAY)
    async with in_transaction() as conn:
        await redemptions.redeem_in(
            conn,
            actor_of(member),
            redemptions.RedemptionRequest(
                consent=consent_of(member.id), channel=Channel.APP, reward_id=reward.id
            ),
            datetime.now(UTC) - timedelta(days=1),
        )

    # when
    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    # then
    assert result.data["redeemReward"]["errors"] == []
    assert await Redemption.filter(member_id=member.id).count() == 2
    await assert_books_balance()


async def test_redeeming_over_the_lifetime_limit_is_refused(app: Starlette) -> None:
    # given: two redeemed, with a limit of two ever
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=10, per_member_limit=2, limit_period=LimitPeriod.EVER)
    for key in ("one", "two"):
        await execute(app, REDEEM_REWARD, redeem_variables(reward, key=key), as_=member)

    # when
    result = await execute(app, REDEEM_REWARD, redeem_variables(reward, key="three"), as_=member)

    # then
    assert codes(result) == [("MEMBER_LIMIT_REACHED", "rewardId")]
    assert await books(member, reward) == (80, None, 2)


async def test_a_cancelled_redemption_does_not_count_towards_the_limit(app: Starlette) -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=10, per_member_limit=1)
    first = await execute(app, REDEEM_REWARD, redeem_variables(reward, key="one"), as_=member)
    redemption = await Redemption.get()
    await redemptions.cancel_redemption(
        actor=actor_of(member), redemption_id=redemption.id, idempotency_key="cancel"
    )

    # when
    again = await execute(app, REDEEM_REWARD, redeem_variables(reward, key="two"), as_=member)

    # then
    assert first.data["redeemReward"]["errors"] == []
    assert again.data["redeemReward"]["errors"] == []
    assert await books(member, reward) == (90, None, 2)
    await assert_books_balance()


async def test_limits_are_per_member(app: Starlette) -> None:
    maya = await create_member()
    leo = await create_member()
    for member in (maya, leo):
        await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=10, per_member_limit=1)
    await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=maya)

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=leo)

    assert result.data["redeemReward"]["errors"] == []
    assert await Redemption.all().count() == 2


async def test_too_few_points_are_refused(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=99)
    reward = await create_reward(cost_points=100, stock=5)

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    assert codes(result) == [("INSUFFICIENT_POINTS", "points")]
    assert await books(member, reward) == (99, 5, 0)
    await assert_books_balance()


async def test_a_reward_for_a_higher_tier_is_refused(app: Starlette) -> None:
    # Tiers do not exist yet: any minimum tier is out of reach.
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=10, stock=5, min_tier="gold")

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    assert codes(result) == [("TIER_TOO_LOW", "rewardId")]
    assert await books(member, reward) == (100, 5, 0)


@pytest.mark.parametrize("channel", [Channel.KIOSK, Channel.POS, Channel.WEB])
async def test_a_device_cannot_redeem_rewards(app: Starlette, channel: Channel) -> None:
    device = await create_device(channel=channel)
    reward = await create_reward(cost_points=10, stock=5)

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=device)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert (await Reward.get(id=reward.id)).stock == 5
    assert await Redemption.all().count() == 0


async def test_redeeming_needs_a_credential(app: Starlette) -> None:
    reward = await create_reward(cost_points=10)

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward))

    assert [e.extensions["code"] for e in result.errors] == ["UNAUTHENTICATED"]
    assert await Redemption.all().count() == 0


async def test_retrying_with_the_same_key_redeems_once(app: Starlette) -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=250)
    reward = await create_reward(cost_points=100, stock=3)
    first = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    # when
    retry = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    # then
    assert retry.data["redeemReward"]["replayed"] is True
    assert retry.data["redeemReward"]["errors"] == []
    assert (
        retry.data["redeemReward"]["redemption"]["id"]
        == first.data["redeemReward"]["redemption"]["id"]
    )
    assert await books(member, reward) == (150, 2, 1)
    await assert_books_balance()


async def test_the_same_key_for_another_reward_is_refused(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=250)
    tote = await create_reward(cost_points=100)
    mug = await create_reward(cost_points=50, stock=2)
    await execute(app, REDEEM_REWARD, redeem_variables(tote), as_=member)

    result = await execute(app, REDEEM_REWARD, redeem_variables(mug), as_=member)

    assert codes(result) == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]
    assert await books(member, mug) == (150, 2, 1)


async def test_a_refused_request_leaves_its_key_usable(app: Starlette) -> None:
    # given: refused for want of points
    member = await create_member()
    reward = await create_reward(cost_points=100)
    refused = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)
    await credit_points(member=member, points=100)

    # when
    retry = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=member)

    # then
    assert codes(refused) == [("INSUFFICIENT_POINTS", "points")]
    assert retry.data["redeemReward"]["errors"] == []
    assert retry.data["redeemReward"]["replayed"] is False


async def test_staff_redeem_with_their_own_points(app: Starlette) -> None:
    cashier = await create_member(role=Role.STAFF)
    await credit_points(member=cashier, points=100)
    reward = await create_reward(cost_points=100)

    result = await execute(app, REDEEM_REWARD, redeem_variables(reward), as_=cashier)

    assert result.data["redeemReward"]["errors"] == []
    assert (await Redemption.get()).member_id == cashier.id  # type: ignore[attr-defined]
    assert (await Redemption.get()).status is RedemptionStatus.ISSUED
