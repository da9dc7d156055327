"""Refunds racing each other, their own retries and new purchases take challenge progress back
exactly once (PostgreSQL row locks)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from gamification.challenges.models import ChallengeCompletion, ChallengeProgress, GoalType
from gamification.earning.purchases import refund_purchase
from gamification.events.models import EventKind
from gamification.ledger.models import LedgerAccount, LedgerEntry
from tests.factories import (
    actor_of,
    create_challenge,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
)
from tests.invariants import assert_books_balance

pytestmark = pytest.mark.postgres


async def test_concurrent_partial_refunds_retries_and_purchases() -> None:
    # given: a spending challenge far from its target, and a count completed by the purchase
    await create_earn_rule()
    spend = await create_challenge(
        goal_type=GoalType.SUM, target="10000", event_kind=EventKind.PURCHASE_RECORDED
    )
    count = await create_challenge(
        goal_type=GoalType.COUNT,
        target="3",
        event_kind=EventKind.PURCHASE_RECORDED,
        reward_points=50,
    )
    device = await create_device()
    member = await create_member()
    await create_purchase(member=member, amount="20.00", recorded_by=device)
    await create_purchase(member=member, amount="30.00", recorded_by=device)
    refunded = await create_purchase(member=member, amount="100.00", recorded_by=device)
    assert await ChallengeCompletion.filter(challenge_id=count.id).count() == 1

    # when: ten partial refunds of 10.00, each sent twice, and four new purchases, at once
    async def refund(n: int) -> Any:
        return await refund_purchase(
            actor=actor_of(device),
            purchase_id=refunded.id,
            amount=Decimal("10.00"),
            reason="returned",
            idempotency_key=f"part-{n}",
        )

    await asyncio.gather(
        *(refund(n % 10) for n in range(20)),
        *(create_purchase(member=member, amount="5.00", recorded_by=device) for _ in range(4)),
    )

    # then: the refunded purchase no longer counts anywhere, whatever the order was
    progress = await ChallengeProgress.get(challenge_id=spend.id, member_id=member.id)
    assert progress.current == Decimal("70.00")  # 20 + 30 + 4 × 5
    standing = await ChallengeCompletion.filter(challenge_id=count.id, revoked_at__isnull=True)
    counted = await ChallengeProgress.get(challenge_id=count.id, member_id=member.id)
    assert counted.completions == len(standing) == 1  # revoked, then reached again
    account = await LedgerAccount.get(code=f"member:{member.id}")
    entries = await LedgerEntry.filter(account_id=account.id, reference_type="challenge")
    net = sum(e.points for e in entries)
    assert net == 50
    await assert_books_balance()
