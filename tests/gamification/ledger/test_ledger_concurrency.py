"""Real concurrency, on PostgreSQL: each task runs its own transaction on its own connection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gamification.actors import Actor, ActorKind
from gamification.errors import LoyaltyError
from gamification.ledger import points
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.ledger.movements import InsufficientPoints
from tests.factories import create_member
from tests.gamification.ledger.helpers import earn
from tests.invariants import assert_books_balance

pytestmark = pytest.mark.postgres

ADMIN = Actor(kind=ActorKind.ADMIN, id=10_000)


async def test_200_concurrent_debits_on_a_balance_for_k_exactly_k_succeed() -> None:
    # given: a balance that covers 37 debits of 10
    member = await create_member()
    await earn(member, 370, expires_at=datetime.now(UTC) + timedelta(days=30))

    async def debit(i: int) -> bool:
        try:
            await points.adjust_points(
                actor=ADMIN, member_id=member.id, points=-10, reason="race", idempotency_key=f"d{i}"
            )
        except InsufficientPoints:
            return False
        return True

    # when
    outcomes = await asyncio.gather(*(debit(i) for i in range(200)))

    # then
    assert sum(outcomes) == 37
    assert (await points.summary(member.id)).balance == 0
    await assert_books_balance()


async def test_20_concurrent_replays_of_one_key_have_one_effect_and_one_answer() -> None:
    member = await create_member()

    async def replay() -> points.AdjustResult:
        return await points.adjust_points(
            actor=ADMIN, member_id=member.id, points=25, reason="goodwill", idempotency_key="same"
        )

    results = await asyncio.gather(*(replay() for _ in range(20)))

    assert len({(r.entry_id, r.balance) for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await LedgerEntry.filter(kind=EntryKind.ADJUST).count() == 1
    assert (await points.summary(member.id)).balance == 25
    await assert_books_balance()


async def test_concurrent_earnings_for_many_members_keep_the_books() -> None:
    members = [await create_member() for _ in range(10)]

    async def goodwill(member_id: int, i: int) -> None:
        try:
            await points.adjust_points(
                actor=ADMIN, member_id=member_id, points=5, reason="x", idempotency_key=f"g{i}"
            )
        except LoyaltyError:
            raise

    await asyncio.gather(*(goodwill(m.id, i) for i, m in enumerate(members * 5)))

    assert sum([(await points.summary(m.id)).balance for m in members]) == 250
    await assert_books_balance()
