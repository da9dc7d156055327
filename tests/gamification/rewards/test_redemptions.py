from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gamification.actors import Actor, ActorKind
from gamification.errors import LoyaltyError
from gamification.ledger import points
from gamification.rewards import redemptions
from gamification.rewards.models import Redemption, RedemptionStatus, Reward, RewardKind
from gamification.stores.models import Channel
from tests.factories import consent_of, create_member
from tests.gamification.ledger.helpers import earn
from tests.invariants import assert_books_balance

FAR = datetime.now(UTC) + timedelta(days=300)


async def _reward(**overrides: object) -> Reward:
    values: dict[str, Any] = {"name": "Tote bag", "kind": RewardKind.PRODUCT, "cost_points": 100}
    values.update(overrides)
    return await Reward.create(**values)


def _app(member_id: int) -> Actor:
    return Actor(kind=ActorKind.MEMBER, id=member_id)


async def test_redeeming_spends_points_takes_stock_and_issues_a_voucher() -> None:
    member = await create_member()
    await earn(member, 250, expires_at=FAR, now=datetime.now(UTC))
    reward = await _reward(stock=3)

    redemption, replayed = await redemptions.redeem(
        actor=_app(member.id),
        request=redemptions.RedemptionRequest(
            consent_of(member.id), Channel.APP, reward_id=reward.id
        ),
        idempotency_key="r1",
    )

    assert not replayed
    assert redemption.status is RedemptionStatus.ISSUED
    assert len(redemption.voucher_code) == 16
    assert (await points.summary(member.id)).balance == 150
    assert (await Reward.get(id=reward.id)).stock == 2
    await assert_books_balance()


async def test_cancelling_returns_points_and_stock_exactly_once() -> None:
    member = await create_member()
    await earn(member, 100, expires_at=FAR, now=datetime.now(UTC))
    reward = await _reward(stock=1)
    redemption, _ = await redemptions.redeem(
        actor=_app(member.id),
        request=redemptions.RedemptionRequest(
            consent_of(member.id), Channel.APP, reward_id=reward.id
        ),
        idempotency_key="r1",
    )

    await redemptions.cancel_redemption(
        actor=_app(member.id), redemption_id=redemption.id, idempotency_key="c1"
    )
    with pytest.raises(LoyaltyError) as again:
        await redemptions.cancel_redemption(
            actor=_app(member.id), redemption_id=redemption.id, idempotency_key="c2"
        )

    assert again.value.code == "NOT_CANCELLABLE"
    assert (await points.summary(member.id)).balance == 100
    assert (await Reward.get(id=reward.id)).stock == 1
    assert (await Redemption.get(id=redemption.id)).status is RedemptionStatus.CANCELLED
    await assert_books_balance()


async def test_returned_points_keep_their_original_expiry_when_later_than_the_grace() -> None:
    member = await create_member()
    await earn(member, 100, expires_at=FAR, now=datetime.now(UTC))
    reward = await _reward()
    redemption, _ = await redemptions.redeem(
        actor=_app(member.id),
        request=redemptions.RedemptionRequest(
            consent_of(member.id), Channel.APP, reward_id=reward.id
        ),
        idempotency_key="r1",
    )

    await redemptions.cancel_redemption(
        actor=_app(member.id), redemption_id=redemption.id, idempotency_key="c1"
    )

    expiring = await points.expiring_soon(member.id, days=400)
    assert [(e.expires_at, e.points) for e in expiring] == [(FAR, 100)]


async def test_returned_points_get_at_least_the_grace_period() -> None:
    soon = datetime.now(UTC) + timedelta(days=2)
    member = await create_member()
    await earn(member, 100, expires_at=soon, now=datetime.now(UTC))
    redemption, _ = await redemptions.redeem(
        actor=_app(member.id),
        request=redemptions.RedemptionRequest(
            consent=consent_of(member.id), channel=Channel.KIOSK, points=100
        ),
        idempotency_key="r1",
    )

    await redemptions.cancel_redemption(
        actor=_app(member.id), redemption_id=redemption.id, idempotency_key="c1"
    )

    (returned,) = await points.expiring_soon(member.id, days=60)
    assert returned.points == 100
    assert returned.expires_at > datetime.now(UTC) + redemptions.RETURN_GRACE - timedelta(minutes=1)
