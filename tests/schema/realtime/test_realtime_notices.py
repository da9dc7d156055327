"""What a mutation publishes after commit, read from the process's own fan-out: points, board
pings, and the tier changes and badge awards the purchase caused."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette

from gamification.badges.models import BadgeRule, MemberBadge
from gamification.events.realtime import Notice, Topic, member_channel
from gamification.stores.models import Channel
from gamification.tiers.models import TierChange
from tests.barriers import publish_barrier, queued_until_barrier, until_barrier
from tests.documents import RECORD_PURCHASE, purchase_input
from tests.factories import (
    create_badge,
    create_device,
    create_earn_rule,
    create_member,
    create_tier_ladder,
    execute,
)


async def test_a_purchase_publishes_points_tier_and_badge_after_commit(app: Starlette) -> None:
    # given: a ladder, a first-purchase badge, and the member's stream open in this process
    await create_tier_ladder()
    await create_earn_rule()
    await create_badge(name="First purchase", rule=BadgeRule.FIRST_PURCHASE)
    member = await create_member()
    till = await create_device(channel=Channel.POS)
    received: asyncio.Queue[Notice] = asyncio.Queue()
    async with app.state.broker.subscribe(member_channel(member.id)) as notices:

        async def forward() -> None:
            async for notice in notices:
                received.put_nowait(notice)

        forwarding = asyncio.create_task(forward())

        # when: a purchase takes them to Silver
        result = await execute(
            app,
            RECORD_PURCHASE,
            {"input": purchase_input(card_number=member.card_number, amount="120"), "key": "k"},
            as_=till,
        )
        assert result.data["recordPurchase"]["errors"] == []
        await publish_barrier(app.state.redis, member_channel(member.id))
        found = {n.topic: n for n in await queued_until_barrier(received)}
        forwarding.cancel()

    # then
    assert found[Topic.POINTS_CHANGED].data["balance"] == 120
    change = await TierChange.filter(member_id=member.id).order_by("-id").first()
    assert change is not None
    assert found[Topic.TIER_CHANGED].version == change.id
    assert found[Topic.TIER_CHANGED].data["tier"] == "Silver"
    award = await MemberBadge.get(member_id=member.id)
    assert found[Topic.BADGE_AWARDED].version == award.id
    assert found[Topic.BADGE_AWARDED].data["name"] == "First purchase"


async def test_a_refused_mutation_publishes_nothing(app: Starlette) -> None:
    await create_earn_rule()
    member = await create_member()
    till = await create_device(channel=Channel.POS)
    async with app.state.broker.subscribe(member_channel(member.id)) as notices:
        result = await execute(
            app,
            RECORD_PURCHASE,
            {"input": purchase_input(member=member, amount="-5"), "key": "k"},
            as_=till,
        )
        assert result.data["recordPurchase"]["errors"] != []
        await publish_barrier(app.state.redis, member_channel(member.id))
        unexpected = await until_barrier(notices)
    assert unexpected == []
