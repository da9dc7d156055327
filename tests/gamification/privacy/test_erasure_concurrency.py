"""Erasing members in the middle of busy accounts, on PostgreSQL: purchases, admin corrections
and till holds run at once with the erasure, each in its own transaction on its own
connection. The erasure takes the member's account lock first (the ledger's lock order), so
whatever commits before it is released or forfeited with the rest, whatever comes after sees
the erased account; the books balance and every chain verifies either way."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from gamification.actors import Actor, ActorKind
from gamification.errors import LoyaltyError
from gamification.ledger import points
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.members.models import Role
from gamification.privacy import erasure
from gamification.stores.models import Channel
from server.settings import Settings
from tests.factories import (
    actor_of,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    credit_points,
    hold_member_points,
)
from tests.invariants import assert_books_balance

pytestmark = pytest.mark.postgres


async def test_erasures_in_the_middle_of_busy_accounts_leave_the_books_whole(
    redis: Redis, settings: Settings
) -> None:
    # given: three members with points, a till, an admin
    await create_earn_rule()
    till = await create_device(channel=Channel.POS)
    admin = await create_member(role=Role.ADMIN)
    admin_actor = Actor(kind=ActorKind.ADMIN, id=admin.id)
    members = [await create_member() for _ in range(3)]
    for member in members:
        await credit_points(member=member, points=5_000)

    async def busy(member_id: int, i: int) -> None:
        member = next(m for m in members if m.id == member_id)
        try:
            if i % 3 == 0:
                await create_purchase(
                    member=member, recorded_by=till, external_id=f"r{member_id}-{i}"
                )
            elif i % 3 == 1:
                await points.adjust_points(
                    actor=admin_actor,
                    member_id=member_id,
                    points=-7,
                    reason="race",
                    idempotency_key=f"a{member_id}-{i}",
                )
            else:
                await hold_member_points(member=member, device=till, points=11)
        except LoyaltyError:
            pass  # refused after the erasure (no points left): that is fine

    async def erase(member_id: int) -> None:
        await asyncio.sleep(0)  # let some of the activity start first
        await erasure.erase_member(actor=admin_actor, member_id=member_id, reason="race test")

    # when: two of them erased while all three are busy
    work = [busy(m.id, i) for m in members for i in range(24)]
    work += [erase(members[0].id), erase(members[1].id), erase(members[0].id)]
    await asyncio.gather(*work)

    # then
    await assert_books_balance()
    assert await points.verify_all() == []
    for member in members[:2]:
        assert await erasure.is_erased(member.id)
        forfeits = await LedgerEntry.filter(
            account__member_id=member.id, kind=EntryKind.FORFEIT
        ).count()
        assert forfeits == 1
    assert not await erasure.is_erased(members[2].id)
    assert actor_of(members[2])
