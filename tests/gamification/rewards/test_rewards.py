"""The reward catalog: checks on what admins offer, partial updates, and who sees what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gamification.actors import Actor, ActorKind
from gamification.errors import LoyaltyError
from gamification.members.models import Role
from gamification.rewards import catalog as rewards
from gamification.rewards.models import LimitPeriod, Reward, RewardKind
from gamification.stores.models import Channel
from tests.factories import actor_of, create_device, create_member, create_reward, credit_points

NOW = datetime.now(UTC)
YESTERDAY = NOW - timedelta(days=1)
TOMORROW = NOW + timedelta(days=1)


def _input(**overrides: Any) -> rewards.RewardInput:
    values: dict[str, Any] = {"name": "Tote bag", "kind": RewardKind.PRODUCT, "cost_points": 100}
    values.update(overrides)
    return rewards.RewardInput(**values)


def _names(page: Any) -> list[str]:
    return [reward.name for reward in page.items]


async def test_a_reward_is_stored_normalised() -> None:
    # when
    reward = await rewards.create_reward(
        _input(
            name="  Tote bag  ",
            category=" Eco ",
            channels=(Channel.POS, Channel.APP, Channel.POS),
            image_url=" https://cdn.example.com/tote.png ",
            min_tier=" gold ",
        )
    )

    # then
    stored = await Reward.get(id=reward.id)
    assert stored.name == "Tote bag"
    assert stored.category == "eco"
    assert stored.channels == ["APP", "POS"]  # canonical order, no duplicates
    assert stored.image_url == "https://cdn.example.com/tote.png"
    assert stored.min_tier == "gold"
    assert (stored.stock, stored.per_member_limit, stored.limit_period) == (
        None,
        None,
        LimitPeriod.EVER,
    )


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"name": ""}, "INVALID_INPUT", "name"),
        ({"name": "   "}, "INVALID_INPUT", "name"),
        ({"name": "x" * 121}, "INVALID_INPUT", "name"),
        ({"description": "x" * 2001}, "INVALID_INPUT", "description"),
        ({"cost_points": 0}, "INVALID_AMOUNT", "costPoints"),
        ({"cost_points": -5}, "INVALID_AMOUNT", "costPoints"),
        ({"cost_points": 10_000_001}, "INVALID_AMOUNT", "costPoints"),
        ({"stock": -1}, "INVALID_INPUT", "stock"),
        ({"stock": 2**31}, "INVALID_INPUT", "stock"),
        ({"per_member_limit": 0}, "INVALID_INPUT", "perMemberLimit"),
        ({"channels": (Channel.SYSTEM,)}, "INVALID_CHANNEL", "channels"),
        ({"channels": (Channel.APP, Channel.SYSTEM)}, "INVALID_CHANNEL", "channels"),
        ({"valid_from": TOMORROW, "valid_to": YESTERDAY}, "INVALID_INPUT", "validTo"),
        ({"valid_from": TOMORROW, "valid_to": TOMORROW}, "INVALID_INPUT", "validTo"),
        ({"valid_from": datetime(2026, 1, 1)}, "INVALID_INPUT", "validFrom"),
        ({"image_url": "ftp://cdn.example.com/a.png"}, "INVALID_INPUT", "imageUrl"),
        ({"image_url": "javascript:alert(1)"}, "INVALID_INPUT", "imageUrl"),
        ({"image_url": "https://"}, "INVALID_INPUT", "imageUrl"),
        ({"image_url": "https://cdn.example.com/a b.png"}, "INVALID_INPUT", "imageUrl"),
        ({"image_url": "https://x.example/" + "a" * 500}, "INVALID_INPUT", "imageUrl"),
        ({"voucher_valid_days": 0}, "INVALID_INPUT", "voucherValidDays"),
        ({"voucher_valid_days": 3651}, "INVALID_INPUT", "voucherValidDays"),
        ({"category": "Food & drink"}, "INVALID_INPUT", "category"),
        ({"min_tier": "  "}, "INVALID_INPUT", "minTier"),
    ],
)
async def test_an_invalid_reward_is_refused(
    overrides: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(LoyaltyError) as refused:
        await rewards.create_reward(_input(**overrides))

    assert (refused.value.code, refused.value.field) == (code, field)
    assert await Reward.all().count() == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "x" * 120},
        {"cost_points": 1},
        {"cost_points": 10_000_000},
        {"stock": 0},
        {"per_member_limit": 1},
        {"voucher_valid_days": 1},
        {"voucher_valid_days": 3650},
        {"image_url": "http://cdn.example.com/a.png"},
        {"channels": (Channel.APP, Channel.WEB, Channel.KIOSK, Channel.POS)},
        {"valid_from": YESTERDAY},
        {"valid_to": YESTERDAY},
    ],
)
async def test_values_at_the_limits_are_accepted(overrides: dict[str, Any]) -> None:
    await rewards.create_reward(_input(**overrides))

    assert await Reward.all().count() == 1


async def test_an_update_changes_only_the_fields_given() -> None:
    # given
    reward = await create_reward(name="Tote bag", cost_points=100, stock=10, category="eco")

    # when
    updated = await rewards.update_reward(
        reward.id, rewards.RewardChanges(cost_points=150, channels=(Channel.WEB, Channel.APP))
    )

    # then
    stored = await Reward.get(id=reward.id)
    assert (stored.cost_points, stored.channels) == (150, ["APP", "WEB"])
    assert (stored.name, stored.stock, stored.category) == ("Tote bag", 10, "eco")
    assert updated.cost_points == 150


async def test_an_update_to_null_makes_stock_unlimited() -> None:
    reward = await create_reward(stock=3)

    await rewards.update_reward(reward.id, rewards.RewardChanges(stock=None))

    assert (await Reward.get(id=reward.id)).stock is None


async def test_an_update_is_checked_against_the_stored_fields() -> None:
    # given
    reward = await create_reward(valid_from=TOMORROW)

    # when: an end before the stored start
    with pytest.raises(LoyaltyError) as refused:
        await rewards.update_reward(reward.id, rewards.RewardChanges(valid_to=YESTERDAY))

    # then
    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "validTo")
    assert (await Reward.get(id=reward.id)).valid_to is None


async def test_updating_an_unknown_reward_is_refused() -> None:
    with pytest.raises(LoyaltyError) as refused:
        await rewards.update_reward(12345, rewards.RewardChanges(active=False))

    assert refused.value.code == "REWARD_NOT_FOUND"


async def test_members_see_only_active_rewards_valid_now() -> None:
    # given
    member = await create_member()
    await create_reward(name="offered")
    await create_reward(name="inactive", active=False)
    await create_reward(name="not yet", valid_from=TOMORROW)
    await create_reward(name="over", valid_to=YESTERDAY)
    await create_reward(name="in its window", valid_from=YESTERDAY, valid_to=TOMORROW)

    # when
    page = await rewards.list_rewards(actor_of(member), first=10, after_id=None)

    # then
    assert _names(page) == ["offered", "in its window"]


async def test_admins_see_every_reward() -> None:
    admin = await create_member(role=Role.ADMIN)
    await create_reward(name="offered")
    await create_reward(name="inactive", active=False)
    await create_reward(name="over", valid_to=YESTERDAY)

    page = await rewards.list_rewards(actor_of(admin), first=10, after_id=None)

    assert _names(page) == ["offered", "inactive", "over"]


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (Channel.APP, ["everywhere", "app", "app and web"]),
        (Channel.WEB, ["everywhere", "app and web", "web"]),
        (Channel.KIOSK, ["everywhere", "in store"]),
        (Channel.POS, ["everywhere", "in store"]),
    ],
)
async def test_the_channel_filter_keeps_rewards_offered_there(
    channel: Channel, expected: list[str]
) -> None:
    # given
    member = await create_member()
    await create_reward(name="everywhere")
    await create_reward(name="app", channels=(Channel.APP,))
    await create_reward(name="app and web", channels=(Channel.WEB, Channel.APP))
    await create_reward(name="web", channels=(Channel.WEB,))
    await create_reward(name="in store", channels=(Channel.KIOSK, Channel.POS))

    # when
    page = await rewards.list_rewards(actor_of(member), first=10, after_id=None, channel=channel)

    # then
    assert _names(page) == expected


async def test_the_affordable_filter_compares_with_available_points() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=150)
    await create_reward(name="cheap", cost_points=100)
    await create_reward(name="exact", cost_points=150)
    await create_reward(name="dear", cost_points=151)

    # when
    page = await rewards.list_rewards(actor_of(member), first=10, after_id=None, affordable=True)

    # then
    assert _names(page) == ["cheap", "exact"]


async def test_the_category_filter_matches_one_category() -> None:
    member = await create_member()
    await create_reward(name="tote", category="eco")
    await create_reward(name="coffee", category="food")
    await create_reward(name="misc")

    eco = await rewards.list_rewards(actor_of(member), first=10, after_id=None, category="ECO ")
    none = await rewards.list_rewards(actor_of(member), first=10, after_id=None, category="")

    assert (_names(eco), _names(none)) == (["tote"], ["misc"])


async def test_a_device_sees_the_rewards_of_its_own_channel() -> None:
    kiosk = await create_device(channel=Channel.KIOSK)
    await create_reward(name="everywhere")
    await create_reward(name="app", channels=(Channel.APP,))
    await create_reward(name="kiosk", channels=(Channel.KIOSK,))

    page = await rewards.list_rewards(actor_of(kiosk), first=10, after_id=None)

    assert _names(page) == ["everywhere", "kiosk"]


async def test_a_device_cannot_ask_about_another_channel() -> None:
    kiosk = await create_device(channel=Channel.KIOSK)

    with pytest.raises(LoyaltyError) as refused:
        await rewards.list_rewards(actor_of(kiosk), first=10, after_id=None, channel=Channel.APP)

    assert (refused.value.code, refused.value.field) == ("CHANNEL_MISMATCH", "channel")


async def test_a_device_has_no_points_to_afford_rewards_with() -> None:
    kiosk = await create_device(channel=Channel.KIOSK)

    with pytest.raises(LoyaltyError) as refused:
        await rewards.list_rewards(actor_of(kiosk), first=10, after_id=None, affordable=True)

    assert refused.value.field == "affordable"


async def test_pages_follow_on_from_the_last_reward_seen() -> None:
    # given
    member = await create_member()
    for n in range(5):
        await create_reward(name=f"reward {n}")
    viewer = Actor(kind=ActorKind.MEMBER, id=member.id)

    # when
    first = await rewards.list_rewards(viewer, first=2, after_id=None)
    second = await rewards.list_rewards(viewer, first=2, after_id=first.items[-1].id)
    last = await rewards.list_rewards(viewer, first=2, after_id=second.items[-1].id)

    # then
    assert (_names(first), first.has_next) == (["reward 0", "reward 1"], True)
    assert (_names(second), second.has_next) == (["reward 2", "reward 3"], True)
    assert (_names(last), last.has_next) == (["reward 4"], False)
