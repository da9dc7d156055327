"""Badges: milestone rules, held once, rarity."""

from __future__ import annotations

import pytest

from gamification.badges import awards as badges
from gamification.badges.models import BadgeRule, MemberBadge
from gamification.errors import Conflict, ErrorCode, InvalidInput
from tests.factories import (
    create_badge,
    create_cause,
    create_earn_rule,
    create_member,
    create_purchase,
    create_tier_ladder,
    donate,
)


async def test_milestone_badges_are_awarded_once() -> None:
    # given
    await create_earn_rule()
    await create_tier_ladder()
    first = await create_badge(name="First purchase", rule=BadgeRule.FIRST_PURCHASE)
    third = await create_badge(name="Regular", rule=BadgeRule.PURCHASE_COUNT, threshold=3)
    silver = await create_badge(name="Silver", rule=BadgeRule.TIER_REACHED, tier_name="Silver")
    member = await create_member()

    # when
    for _ in range(3):
        await create_purchase(member=member, amount="40.00")

    # then
    held = {b.badge_id for b in await MemberBadge.filter(member_id=member.id)}  # type: ignore[attr-defined]
    assert held == {first.id, third.id, silver.id}


async def test_first_donation_badge() -> None:
    badge = await create_badge(rule=BadgeRule.FIRST_DONATION)
    member = await create_member()
    from tests.factories import credit_points

    await credit_points(member=member, points=100)
    cause = await create_cause()
    await donate(member=member, cause=cause, points=10)
    await donate(member=member, cause=cause, points=10)

    assert await MemberBadge.filter(member_id=member.id, badge_id=badge.id).count() == 1


async def test_rarity_is_the_share_of_members_holding_it() -> None:
    await create_earn_rule()
    badge = await create_badge(rule=BadgeRule.FIRST_PURCHASE)
    buyers = [await create_member() for _ in range(2)]
    await create_member()
    await create_member()
    for member in buyers:
        await create_purchase(member=member)

    [entry] = await badges.catalog()

    assert (entry.badge.id, entry.holders, entry.rarity) == (badge.id, 2, 0.5)


async def test_a_rule_without_its_threshold_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        await create_badge(rule=BadgeRule.PURCHASE_COUNT)
    assert error.value.code is ErrorCode.INVALID_BADGE


async def test_badge_names_are_unique() -> None:
    await create_badge(name="Eco hero")
    with pytest.raises(Conflict) as error:
        await create_badge(name="Eco hero")
    assert error.value.code is ErrorCode.BADGE_NAME_TAKEN


async def test_a_badge_with_levels_rises_with_the_count() -> None:
    await create_earn_rule()
    badge = await create_badge(rule=BadgeRule.PURCHASE_COUNT, threshold=1, level_thresholds=(2, 4))
    member = await create_member()

    levels = []
    for _ in range(4):
        await create_purchase(member=member)
        held = await MemberBadge.get(member_id=member.id, badge_id=badge.id)
        levels.append(held.level)

    assert levels == [1, 2, 2, 3]
    assert await MemberBadge.filter(member_id=member.id).count() == 1


async def test_levels_must_rise() -> None:
    with pytest.raises(InvalidInput) as error:
        await create_badge(rule=BadgeRule.STREAK_DAYS, threshold=7, level_thresholds=(5,))
    assert error.value.field == "levelThresholds"
