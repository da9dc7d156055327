"""Tiers: upgrade on the crossing purchase, multipliers, refunds, period-end evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gamification.earning.purchases import refund_purchase
from gamification.errors import ErrorCode, InvalidInput, NotFound, Refused
from gamification.events.models import DomainEvent, EventKind
from gamification.tiers import ladder as tiers
from gamification.tiers import windows as tier_windows
from gamification.tiers.models import MemberTier, TierChange, TierChangeReason
from tests.factories import (
    OverrideSettings,
    actor_of,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    create_reward,
    create_tier_ladder,
    credit_points,
    redeem_reward,
)
from tests.invariants import assert_books_balance


async def _tier_name(member_id: int) -> str | None:
    tier = await tiers.current_tier(member_id)
    return tier.name if tier else None


async def test_the_purchase_that_crosses_the_threshold_upgrades_the_member() -> None:
    # given
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    first = await create_purchase(member=member, amount="60.00")
    assert await _tier_name(member.id) == "Bronze"

    # when
    crossing = await create_purchase(member=member, amount="60.00")

    # then: earned at the old multiplier, upgraded in the same transaction
    assert crossing.points_earned == 60
    assert await _tier_name(member.id) == "Silver"
    change = await TierChange.get(member_id=member.id)
    assert change.reason is TierChangeReason.UPGRADE
    assert change.qualifying_points == 120
    assert await DomainEvent.filter(member_id=member.id, kind=EventKind.TIER_REACHED).count() == 1
    assert first.points_earned == 60
    await assert_books_balance()


async def test_the_tier_multiplier_applies_to_later_purchases() -> None:
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="120.00")

    later = await create_purchase(member=member, amount="10.00")

    assert later.points_earned == 15  # Silver earns ×1.5


async def test_one_purchase_can_climb_several_tiers() -> None:
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()

    await create_purchase(member=member, amount="600.00")

    assert await _tier_name(member.id) == "Gold"
    assert await DomainEvent.filter(member_id=member.id, kind=EventKind.TIER_REACHED).count() == 1


async def test_a_refund_lowers_qualifying_points_but_not_the_tier_before_the_period_ends() -> None:
    # given
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    device = await create_device()
    purchase = await create_purchase(member=member, amount="120.00", recorded_by=device)

    # when
    await refund_purchase(
        actor=actor_of(device),
        purchase_id=purchase.id,
        amount=Decimal("50.00"),
        reason="returned",
        idempotency_key="refund-1",
    )

    # then
    progress = await tiers.progress(member.id)
    assert progress.qualifying_points == 70
    assert progress.current is not None
    assert progress.current.name == "Silver"
    assert progress.points_to_next == 430
    await assert_books_balance()


async def test_a_refunded_purchase_no_longer_helps_to_cross_a_threshold() -> None:
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    device = await create_device()
    purchase = await create_purchase(member=member, amount="90.00", recorded_by=device)
    await refund_purchase(
        actor=actor_of(device),
        purchase_id=purchase.id,
        amount=Decimal("90.00"),
        reason="returned",
        idempotency_key="refund-all",
    )

    await create_purchase(member=member, amount="20.00")

    assert await _tier_name(member.id) == "Bronze"


async def test_downgrade_evaluation_drops_one_tier_once_per_period() -> None:
    # given: a Gold member who earns nothing in the next period
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="600.00")
    status = await MemberTier.get(member_id=member.id)
    after_period = status.period_ends_at + timedelta(days=1)

    # when: the evaluation runs twice
    first = await tiers.evaluate_due_tiers(now=after_period)
    second = await tiers.evaluate_due_tiers(now=after_period)

    # then: one step down (not to Bronze, which the points deserve), once
    assert (first, second) == (1, 0)
    assert await _tier_name(member.id) == "Silver"
    reasons = [c.reason for c in await TierChange.filter(member_id=member.id).order_by("id")]
    assert reasons == [TierChangeReason.UPGRADE, TierChangeReason.DOWNGRADE]


async def test_nothing_is_evaluated_before_the_period_ends() -> None:
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="600.00")

    assert await tiers.evaluate_due_tiers(now=datetime.now(UTC) + timedelta(days=300)) == 0
    assert await _tier_name(member.id) == "Gold"


async def test_a_member_who_requalified_keeps_the_tier() -> None:
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="120.00")
    status = await MemberTier.get(member_id=member.id)
    # A purchase inside the new period, backdated there by the evaluation's clock.
    await DomainEvent.filter(member_id=member.id).update(
        occurred_at=status.period_ends_at - timedelta(days=10)
    )

    assert await tiers.evaluate_due_tiers(now=status.period_ends_at + timedelta(seconds=1)) == 1

    assert await _tier_name(member.id) == "Silver"
    last = await TierChange.filter(member_id=member.id).order_by("-id").first()
    assert last is not None
    assert last.reason is TierChangeReason.RETAINED


async def test_an_admin_floor_keeps_the_member_from_dropping() -> None:
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="600.00")
    await tiers.set_tier_floor(member.id, "Gold")
    status = await MemberTier.get(member_id=member.id)

    await tiers.evaluate_due_tiers(now=status.period_ends_at + timedelta(days=1))

    assert await _tier_name(member.id) == "Gold"


async def test_a_floor_raises_a_member_below_it() -> None:
    await create_tier_ladder()
    member = await create_member()

    await tiers.set_tier_floor(member.id, "Silver")

    assert await _tier_name(member.id) == "Silver"


async def test_an_unknown_floor_tier_is_refused() -> None:
    await create_tier_ladder()
    member = await create_member()

    with pytest.raises(NotFound) as error:
        await tiers.set_tier_floor(member.id, "Platinum")

    assert error.value.code is ErrorCode.UNKNOWN_TIER


async def test_reward_minimum_tier_is_checked() -> None:
    # given
    await create_tier_ladder()
    await create_earn_rule()
    reward = await create_reward(cost_points=10, min_tier="Silver")
    bronze, silver = await create_member(), await create_member()
    await credit_points(member=bronze, points=50)
    await create_purchase(member=silver, amount="120.00")

    # when / then
    with pytest.raises(Refused) as error:
        await redeem_reward(member=bronze, reward=reward)
    assert error.value.code is ErrorCode.TIER_TOO_LOW
    assert (await redeem_reward(member=silver, reward=reward)).points == 10


async def test_thresholds_must_rise_with_the_rank() -> None:
    await create_tier_ladder()

    with pytest.raises(InvalidInput) as error:
        await tiers.define_tier(tiers.TierInput(name="Platinum", rank=3, threshold=50))

    assert error.value.code is ErrorCode.INVALID_TIER


async def test_the_grace_period_delays_the_downgrade(override_settings: OverrideSettings) -> None:
    # given

    override_settings(tier_grace_days=30)
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="600.00")
    status = await MemberTier.get(member_id=member.id)

    # when / then
    assert await tiers.evaluate_due_tiers(now=status.period_ends_at + timedelta(days=29)) == 0
    assert await _tier_name(member.id) == "Gold"
    assert await tiers.evaluate_due_tiers(now=status.period_ends_at + timedelta(days=31)) == 1
    assert await _tier_name(member.id) == "Silver"


async def test_a_calendar_year_window(override_settings: OverrideSettings) -> None:
    from server.settings import TierWindow

    override_settings(tier_window=TierWindow.CALENDAR_YEAR)
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)

    assert tier_windows.window_start(now) == datetime(2026, 1, 1, tzinfo=UTC)
    assert tier_windows.period_end_after(now) == datetime(2027, 1, 1, tzinfo=UTC)
    # A period ending at midnight on 1 January is evaluated on the year before it.
    assert tier_windows.window_start(datetime(2027, 1, 1, tzinfo=UTC)) == datetime(
        2026, 1, 1, tzinfo=UTC
    )


def test_a_rolling_window_is_twelve_months() -> None:
    assert tier_windows.window_start(datetime(2026, 2, 28, tzinfo=UTC)) == datetime(
        2025, 2, 28, tzinfo=UTC
    )
    assert tier_windows.period_end_after(datetime(2024, 2, 29, tzinfo=UTC)) == datetime(
        2025, 2, 28, tzinfo=UTC
    )
