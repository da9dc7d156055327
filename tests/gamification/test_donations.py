from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gamification import causes, points
from gamification.actors import Actor, ActorKind
from gamification.errors import LoyaltyError
from gamification.models import Cause, Channel, MatchingCampaign
from tests.factories import create_member
from tests.gamification.test_ledger import earn
from tests.invariants import assert_books_balance

NOW = datetime.now(UTC)
ADMIN = Actor(kind=ActorKind.ADMIN, id=99_999)


async def _cause() -> Cause:
    return await Cause.create(
        name="Plant trees",
        impact_unit="tree",
        points_per_unit=500,
        starts_at=NOW - timedelta(days=1),
    )


async def test_a_matched_donation_moves_points_and_writes_a_receipt() -> None:
    # given
    member = await create_member()
    await earn(member, 2000, expires_at=NOW + timedelta(days=90), now=NOW)
    cause = await _cause()
    await MatchingCampaign.create(
        cause=cause,
        ratio=Decimal("1"),
        total_cap=700,
        per_member_cap=None,
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=1),
    )

    # when
    result = await causes.donate_points(
        actor=Actor(kind=ActorKind.MEMBER, id=member.id),
        member_id=member.id,
        cause_id=cause.id,
        points=1000,
        channel=Channel.APP,
        idempotency_key="d1",
    )

    # then: the cap cut the match and the receipt says so
    receipt = result.donation
    assert (receipt.points, receipt.matched_points, receipt.match_capped) == (1000, 700, True)
    assert receipt.impact_units == Decimal("3.4")
    assert len(receipt.entry_hash) == 64
    assert (await points.summary(member.id)).balance == 1000
    cause = await Cause.get(id=cause.id)
    assert (cause.raised_member_points, cause.raised_matched_points, cause.donor_count) == (
        1000,
        700,
        1,
    )
    await assert_books_balance()


async def test_reversal_restores_points_totals_and_cap_exactly_once() -> None:
    member = await create_member()
    await earn(member, 1000, expires_at=NOW + timedelta(days=90), now=NOW)
    cause = await _cause()
    campaign = await MatchingCampaign.create(
        cause=cause,
        ratio=Decimal("2"),
        total_cap=10_000,
        per_member_cap=None,
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=1),
    )
    donated = await causes.donate_points(
        actor=Actor(kind=ActorKind.MEMBER, id=member.id),
        member_id=member.id,
        cause_id=cause.id,
        points=500,
        channel=Channel.APP,
        idempotency_key="d1",
    )

    await causes.reverse_donation(
        actor=ADMIN, donation_id=donated.donation.id, reason="fraud", idempotency_key="r1"
    )
    with pytest.raises(LoyaltyError) as again:
        await causes.reverse_donation(
            actor=ADMIN, donation_id=donated.donation.id, reason="fraud", idempotency_key="r2"
        )

    assert again.value.code == "ALREADY_REVERSED"
    assert (await points.summary(member.id)).balance == 1000
    assert (await MatchingCampaign.get(id=campaign.id)).matched_total == 0
    cause = await Cause.get(id=cause.id)
    assert (cause.raised_member_points, cause.raised_matched_points, cause.donor_count) == (0, 0, 0)
    await assert_books_balance()
