"""The demo seed's reward catalog: something to redeem on every channel, added once."""

from __future__ import annotations

from gamification.rewards.models import Reward
from gamification.stores.models import Channel
from server.seed import seed_rewards


async def test_the_demo_catalog_offers_rewards_on_every_channel() -> None:
    await seed_rewards()

    catalog = await Reward.all()
    for channel in (Channel.APP, Channel.WEB, Channel.KIOSK, Channel.POS):
        assert any(channel.value in r.channels for r in catalog), channel
    assert any(not r.channels for r in catalog), "one offered everywhere"
    assert any(r.stock is not None and r.stock <= 10 for r in catalog), "one with a small stock"
    assert any(r.per_member_limit is not None for r in catalog), "one with a per-member limit"


async def test_seeding_the_catalog_twice_adds_nothing() -> None:
    await seed_rewards()
    before = [r.name for r in await Reward.all().order_by("id")]

    await seed_rewards()

    assert [r.name for r in await Reward.all().order_by("id")] == before
