"""Members racing to donate, on PostgreSQL: each donation runs its own transaction on its own
connection, so the row locks (member account, cause, campaign) are real."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from gamification import causes, points
from gamification.errors import ErrorCode, LoyaltyError
from gamification.models import Cause, Channel, Donation, MatchingCampaign, Member
from tests.factories import (
    actor_of,
    create_cause,
    create_matching_campaign,
    create_member,
    credit_points,
)
from tests.invariants import assert_books_balance

pytestmark = pytest.mark.postgres

MEMBERS = 25
GIFTS_EACH = 4
GIFT = 100
PER_MEMBER_CAP = 250
TOTAL_CAP = 4000


async def test_100_racing_donations_honour_both_caps_and_every_balance() -> None:
    # given: 25 members giving 100 points 4 times each; every third can afford only 2 gifts;
    # a 1:1 campaign matching 250 per member and 4,000 in all (less than the 5,800 wanted)
    cause = await create_cause(points_per_unit=100)
    campaign = await create_matching_campaign(
        cause=cause, total_cap=TOTAL_CAP, per_member_cap=PER_MEMBER_CAP
    )
    members = [await create_member() for _ in range(MEMBERS)]
    for i, member in enumerate(members):
        await credit_points(member=member, points=250 if i % 3 == 0 else 400)

    async def give(member: Member, n: int) -> ErrorCode | None:
        try:
            await causes.donate_points(
                actor=actor_of(member),
                member_id=member.id,
                cause_id=cause.id,
                points=GIFT,
                channel=Channel.APP,
                idempotency_key=f"race-{n}",
            )
        except LoyaltyError as refused:
            return refused.code
        return None

    # when
    outcomes = await asyncio.gather(
        *(give(member, n) for member in members for n in range(GIFTS_EACH))
    )

    # then: only gifts beyond a balance are refused
    short = sum(1 for i in range(MEMBERS) if i % 3 == 0)
    assert outcomes.count(ErrorCode.INSUFFICIENT_POINTS) == short * 2
    assert outcomes.count(None) == MEMBERS * GIFTS_EACH - short * 2
    receipts = await Donation.all()
    given: dict[int, int] = defaultdict(int)
    matched: dict[int, int] = defaultdict(int)
    for receipt in receipts:
        given[receipt.member_id] += receipt.points  # type: ignore[attr-defined]
        matched[receipt.member_id] += receipt.matched_points  # type: ignore[attr-defined]
    for i, member in enumerate(members):
        assert given[member.id] == (200 if i % 3 == 0 else 400)
        assert matched[member.id] <= min(PER_MEMBER_CAP, given[member.id])
        assert (await points.summary(member.id)).balance == (50 if i % 3 == 0 else 0)

    # and: the caps are honoured exactly, whatever the interleaving
    wanted = sum(min(PER_MEMBER_CAP, given[m.id]) for m in members)
    assert wanted == 5800
    stored_campaign = await MatchingCampaign.get(id=campaign.id)
    assert stored_campaign.matched_total == min(TOTAL_CAP, wanted) == sum(matched.values())

    # and: the cause's totals are the sum of its receipts
    stored = await Cause.get(id=cause.id)
    assert stored.raised_member_points == sum(r.points for r in receipts)
    assert stored.raised_matched_points == sum(r.matched_points for r in receipts)
    assert stored.donor_count == MEMBERS
    await assert_books_balance()


async def test_one_member_racing_past_their_balance_gives_only_what_they_have() -> None:
    # given: 1,000 points and ten gifts of 150 at once, matched up to 500 for the member
    member = await create_member()
    await credit_points(member=member, points=1000)
    cause = await create_cause(points_per_unit=50)
    campaign = await create_matching_campaign(cause=cause, per_member_cap=500)

    async def give(n: int) -> ErrorCode | None:
        try:
            await causes.donate_points(
                actor=actor_of(member),
                member_id=member.id,
                cause_id=cause.id,
                points=150,
                channel=Channel.APP,
                idempotency_key=f"race-{n}",
            )
        except LoyaltyError as refused:
            return refused.code
        return None

    # when
    outcomes = await asyncio.gather(*(give(n) for n in range(10)))

    # then: six gifts (900 points), the match stopping at 500
    assert outcomes.count(None) == 6
    assert set(outcomes) - {None} == {ErrorCode.INSUFFICIENT_POINTS}
    assert (await points.summary(member.id)).balance == 100
    assert (await MatchingCampaign.get(id=campaign.id)).matched_total == 500
    stored = await Cause.get(id=cause.id)
    assert (stored.raised_member_points, stored.raised_matched_points, stored.donor_count) == (
        900,
        500,
        1,
    )
    await assert_books_balance()
