"""Members racing to donate, on PostgreSQL: each donation runs its own transaction on its own
connection, so the row locks (member account, cause, campaign) are real."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from gamification.actors import Actor, ActorKind
from gamification.causes import catalog as causes_catalog
from gamification.causes import donations as causes_donations
from gamification.causes.models import Cause, CauseStatus, Donation, MatchingCampaign
from gamification.errors import ErrorCode, LoyaltyError
from gamification.ledger import points
from gamification.ledger.entries import verify_account_chain
from gamification.ledger.models import LedgerAccount
from gamification.members.models import Member
from gamification.stores.models import Channel
from tests.factories import (
    actor_of,
    consent_of,
    create_cause,
    create_matching_campaign,
    create_member,
    credit_points,
    donate,
)
from tests.invariants import assert_books_balance
from tests.pausing import PausedDebit

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
            await causes_donations.donate_points(
                actor=actor_of(member),
                member_consent=consent_of(member.id),
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
            await causes_donations.donate_points(
                actor=actor_of(member),
                member_consent=consent_of(member.id),
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


# --- How long donations to one cause hold each other up --------------------------------------


async def test_a_donation_in_flight_does_not_hold_up_other_donations_to_the_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: one member's donation paused inside its transaction, the cause already read
    cause = await create_cause(points_per_unit=100)
    slow, quick = await create_member(), await create_member()
    for member in (slow, quick):
        await credit_points(member=member, points=1000)
    pause = PausedDebit(monkeypatch, slow)
    first = asyncio.create_task(donate(member=slow, cause=cause, points=100))
    try:
        await asyncio.wait_for(pause.inside.wait(), timeout=10)

        # when: another member donates to the same cause meanwhile
        second = await asyncio.wait_for(donate(member=quick, cause=cause, points=200), timeout=5)
    finally:
        pause.release.set()
        await first

    # then: it did not wait for the first; both count, once each
    assert second.points == 200
    stored = await Cause.get(id=cause.id)
    assert (stored.raised_member_points, stored.donor_count) == (300, 2)
    await assert_books_balance()


async def test_closing_a_cause_waits_for_the_donation_in_flight_and_stops_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a donation paused after it found the cause open
    cause = await create_cause(points_per_unit=100)
    slow, late = await create_member(), await create_member()
    for member in (slow, late):
        await credit_points(member=member, points=1000)
    pause = PausedDebit(monkeypatch, slow)
    first = asyncio.create_task(donate(member=slow, cause=cause, points=100))
    try:
        await asyncio.wait_for(pause.inside.wait(), timeout=10)

        # when: an admin closes the cause meanwhile
        closing = asyncio.create_task(causes_catalog.close_cause(cause.id))
        await asyncio.sleep(0.5)

        # then: the close waits for the donation that found the cause open
        assert not closing.done()
    finally:
        pause.release.set()
        await first
    await asyncio.wait_for(closing, timeout=10)

    # and: the donation counts, the next one is refused
    with pytest.raises(LoyaltyError) as refused:
        await donate(member=late, cause=cause, points=100)
    assert refused.value.code is ErrorCode.CAUSE_CLOSED
    stored = await Cause.get(id=cause.id)
    assert (stored.status, stored.raised_member_points, stored.donor_count) == (
        CauseStatus.CLOSED,
        100,
        1,
    )


async def test_racing_donations_to_a_cause_that_stops_at_its_goal_stop_there() -> None:
    # given: a goal of 1,000 points, no donations after it; 20 members giving 100 at once
    cause = await create_cause(points_per_unit=100, goal_points=1000, accepts_after_goal=False)
    members = [await create_member() for _ in range(20)]
    for member in members:
        await credit_points(member=member, points=100)

    async def give(member: Member) -> ErrorCode | None:
        try:
            await donate(member=member, cause=cause, points=100)
        except LoyaltyError as refused:
            return refused.code
        return None

    # when
    outcomes = await asyncio.gather(*(give(member) for member in members))

    # then: each donation saw the totals of those before it: ten reach the goal, ten are refused
    assert outcomes.count(None) == 10
    assert outcomes.count(ErrorCode.CAUSE_GOAL_REACHED) == 10
    stored = await Cause.get(id=cause.id)
    assert (stored.status, stored.raised_member_points, stored.donor_count) == (
        CauseStatus.GOAL_REACHED,
        1000,
        10,
    )
    assert sum(d.points for d in await Donation.filter(cause_id=cause.id)) == 1000


async def test_reversals_racing_donations_reverse_once_and_keep_the_totals_exact() -> None:
    # given: a 2:1 campaign; each of 10 members gave once already
    cause = await create_cause(points_per_unit=100)
    campaign = await create_matching_campaign(cause=cause, ratio="2", per_member_cap=300)
    members = [await create_member() for _ in range(10)]
    for member in members:
        await credit_points(member=member, points=1000)
    earlier = [await donate(member=member, cause=cause, points=100) for member in members]
    admin = Actor(kind=ActorKind.ADMIN, id=1)

    async def reverse(n: int) -> ErrorCode | None:
        try:
            await causes_donations.reverse_donation(
                actor=admin,
                donation_id=earlier[n % 2].id,
                reason="duplicate gift",
                idempotency_key=f"reverse-{n}",
            )
        except LoyaltyError as refused:
            return refused.code
        return None

    async def give(member: Member) -> ErrorCode | None:
        try:
            await donate(member=member, cause=cause, points=100)
        except LoyaltyError as refused:
            return refused.code
        return None

    # when: every member gives again while two of the first gifts are reversed, each 4 times
    outcomes = await asyncio.gather(
        *(give(member) for member in members), *(reverse(n) for n in range(8))
    )

    # then: all gifts went through; each of the two reversals happened exactly once
    assert outcomes[:10] == [None] * 10
    assert sorted(outcomes[10:], key=str) == sorted(
        [None, None] + [ErrorCode.ALREADY_REVERSED] * 6, key=str
    )
    standing = await Donation.filter(cause_id=cause.id, reversed_at__isnull=True)
    assert len(standing) == 18
    stored = await Cause.get(id=cause.id)
    assert stored.raised_member_points == sum(d.points for d in standing) == 1800
    assert stored.raised_matched_points == sum(d.matched_points for d in standing)
    assert stored.donor_count == len(members)
    assert (await MatchingCampaign.get(id=campaign.id)).matched_total == sum(
        d.matched_points for d in standing
    )
    matched: dict[int, int] = defaultdict(int)
    for receipt in standing:
        matched[receipt.member_id] += receipt.matched_points  # type: ignore[attr-defined]
    assert set(matched.values()) <= {100, 200, 300}  # within the per-member cap
    cause_chain = await LedgerAccount.get(code=causes_catalog.cause_account_code(cause.id))
    assert (await verify_account_chain(cause_chain.id)).ok
    await assert_books_balance()
