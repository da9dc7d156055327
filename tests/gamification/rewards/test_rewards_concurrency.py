"""Members racing for rewards, on PostgreSQL: each redemption runs its own transaction on its own
connection, so the row locks are real."""

from __future__ import annotations

import asyncio

import pytest

from gamification.errors import ErrorCode, LoyaltyError
from gamification.ledger import points
from gamification.members.models import Member
from gamification.rewards import redemptions
from gamification.rewards.models import Redemption, Reward
from gamification.stores.models import Channel
from tests.factories import actor_of, consent_of, create_member, create_reward, credit_points
from tests.invariants import assert_books_balance
from tests.pausing import PausedDebit

pytestmark = pytest.mark.postgres


async def test_50_members_racing_for_a_stock_of_5_get_exactly_5() -> None:
    # given
    reward = await create_reward(cost_points=100, stock=5)
    members = [await create_member() for _ in range(50)]
    for member in members:
        await credit_points(member=member, points=100)

    async def redeem(member: Member) -> ErrorCode | None:
        try:
            await redemptions.redeem(
                actor=actor_of(member),
                request=redemptions.RedemptionRequest(
                    consent_of(member.id), Channel.APP, reward_id=reward.id
                ),
                idempotency_key="race",
            )
        except LoyaltyError as refused:
            return refused.code
        return None

    # when
    outcomes = await asyncio.gather(*(redeem(m) for m in members))

    # then
    assert outcomes.count(None) == 5
    assert set(outcomes) - {None} == {ErrorCode.OUT_OF_STOCK}
    assert (await Reward.get(id=reward.id)).stock == 0
    assert await Redemption.all().count() == 5
    balances = [(await points.summary(m.id)).balance for m in members]
    assert sorted(balances) == [0] * 5 + [100] * 45
    await assert_books_balance()


async def test_one_member_racing_past_their_limit_gets_only_the_limit() -> None:
    # given: a limit of 2 and enough points for 10
    member = await create_member()
    await credit_points(member=member, points=1000)
    reward = await create_reward(cost_points=100, per_member_limit=2)

    async def redeem(i: int) -> ErrorCode | None:
        try:
            await redemptions.redeem(
                actor=actor_of(member),
                request=redemptions.RedemptionRequest(
                    consent_of(member.id), Channel.APP, reward_id=reward.id
                ),
                idempotency_key=f"race-{i}",
            )
        except LoyaltyError as refused:
            return refused.code
        return None

    # when
    outcomes = await asyncio.gather(*(redeem(i) for i in range(10)))

    # then
    assert outcomes.count(None) == 2
    assert set(outcomes) - {None} == {ErrorCode.MEMBER_LIMIT_REACHED}
    assert (await points.summary(member.id)).balance == 800
    await assert_books_balance()


async def test_a_redemption_in_flight_does_not_hold_up_others_of_the_same_reward(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: one member's redemption paused inside its transaction, after it read the reward
    reward = await create_reward(cost_points=100)
    slow, quick = await create_member(), await create_member()
    for member in (slow, quick):
        await credit_points(member=member, points=1000)
    pause = PausedDebit(monkeypatch, slow)

    async def redeem(member: Member) -> None:
        await redemptions.redeem(
            actor=actor_of(member),
            request=redemptions.RedemptionRequest(
                consent_of(member.id), Channel.APP, reward_id=reward.id
            ),
            idempotency_key=f"in-flight-{member.id}",
        )

    first = asyncio.create_task(redeem(slow))
    try:
        await asyncio.wait_for(pause.inside.wait(), timeout=10)

        # when: another member redeems the same reward meanwhile
        await asyncio.wait_for(redeem(quick), timeout=5)
    finally:
        pause.release.set()
        await first

    # then: it did not wait for the first; both went through
    assert await Redemption.filter(reward_id=reward.id).count() == 2
    await assert_books_balance()
