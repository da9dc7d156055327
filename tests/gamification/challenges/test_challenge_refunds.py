"""Refunds take back the challenge progress their purchase made, exactly once, and revoke a
completion (with its bonus) that what remains no longer reaches."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gamification.badges.models import MemberBadge
from gamification.challenges import views as challenges_views
from gamification.challenges.models import (
    Challenge,
    ChallengeCompletion,
    ChallengeProgress,
    GoalType,
)
from gamification.earning.models import Purchase
from gamification.earning.purchases import RefundResult, refund_purchase
from gamification.events.models import DomainEvent, EventKind
from gamification.ledger.models import EntryKind, LedgerAccount, LedgerEntry
from gamification.members.models import Member
from gamification.stores.models import Device
from tests.factories import (
    OverrideSettings,
    actor_of,
    create_badge,
    create_challenge,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    create_reward,
    credit_points,
    redeem_reward,
)
from tests.invariants import assert_books_balance

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_keys = itertools.count()


def _day(n: int) -> datetime:
    return MONDAY + timedelta(days=n)


async def _refund(
    device: Device, purchase: Purchase, amount: str, key: str | None = None
) -> RefundResult:
    return await refund_purchase(
        actor=actor_of(device),
        purchase_id=purchase.id,
        amount=Decimal(amount),
        reason="returned",
        idempotency_key=key or f"refund-{next(_keys)}",
    )


async def _progress(challenge: Challenge, member: Member) -> ChallengeProgress:
    return await ChallengeProgress.get(challenge_id=challenge.id, member_id=member.id)


async def _challenge_ledger(member: Member) -> list[tuple[EntryKind, int]]:
    account = await LedgerAccount.get(code=f"member:{member.id}")
    entries = await LedgerEntry.filter(account_id=account.id, reference_type="challenge").order_by(
        "id"
    )
    return [(e.kind, e.points) for e in entries]


async def _given(goal_type: GoalType, target: str, **fields: Any) -> tuple[Challenge, Device]:
    await create_earn_rule()
    challenge = await create_challenge(
        goal_type=goal_type, target=target, event_kind=EventKind.PURCHASE_RECORDED, **fields
    )
    return challenge, await create_device()


# Progress of a challenge not yet completed


async def test_partial_refunds_lower_sum_progress_proportionally_and_add_up_exactly() -> None:
    # given
    challenge, device = await _given(GoalType.SUM, "500")
    member = await create_member()
    kept = await create_purchase(member=member, amount="25.00", recorded_by=device)
    refunded = await create_purchase(member=member, amount="100.00", recorded_by=device)
    assert (await _progress(challenge, member)).current == Decimal("125")

    # when / then: a third, a third, then the rest
    await _refund(device, refunded, "33.33")
    assert (await _progress(challenge, member)).current == Decimal("91.67")
    await _refund(device, refunded, "33.33")
    assert (await _progress(challenge, member)).current == Decimal("58.34")
    await _refund(device, refunded, "33.34")
    assert (await _progress(challenge, member)).current == Decimal("25.00")
    assert kept.amount == Decimal("25.00")
    await assert_books_balance()


async def test_a_retried_refund_takes_progress_back_once() -> None:
    # given
    challenge, device = await _given(GoalType.SUM, "500")
    member = await create_member()
    purchase = await create_purchase(member=member, amount="80.00", recorded_by=device)

    # when: the same refund three times (the till retries with its key)
    results = [await _refund(device, purchase, "30.00", key="till-42") for _ in range(3)]

    # then
    assert [r.replayed for r in results] == [False, True, True]
    assert (await _progress(challenge, member)).current == Decimal("50.00")
    assert await DomainEvent.filter(kind=EventKind.PURCHASE_REFUNDED).count() == 1


async def test_a_count_drops_only_when_the_purchase_is_refunded_in_full() -> None:
    challenge, device = await _given(GoalType.COUNT, "5")
    member = await create_member()
    purchase = await create_purchase(member=member, amount="40.00", recorded_by=device)
    await create_purchase(member=member, amount="40.00", recorded_by=device)

    await _refund(device, purchase, "10.00")
    assert (await _progress(challenge, member)).current == 2  # still a purchase
    await _refund(device, purchase, "30.00")
    assert (await _progress(challenge, member)).current == 1


async def test_a_day_stops_counting_when_its_last_purchase_is_refunded() -> None:
    # given: two purchases on Monday, one on Tuesday
    challenge, device = await _given(GoalType.DISTINCT_DAYS, "5")
    member = await create_member()
    monday = [
        await create_purchase(member=member, recorded_by=device, occurred_at=_day(0)),
        await create_purchase(
            member=member, recorded_by=device, occurred_at=_day(0) + timedelta(hours=3)
        ),
    ]
    await create_purchase(member=member, recorded_by=device, occurred_at=_day(1))
    assert (await _progress(challenge, member)).current == 2

    # when / then
    await _refund(device, monday[0], "10.00")
    progress = await _progress(challenge, member)
    assert (progress.current, progress.days) == (2, ["2026-11-02", "2026-11-03"])
    await _refund(device, monday[1], "10.00")
    progress = await _progress(challenge, member)
    assert (progress.current, progress.days) == (1, ["2026-11-03"])


@pytest.mark.parametrize(("freezes", "streak"), [(0, 1), (1, 2)])
async def test_a_streak_is_recomputed_without_the_refunded_day(freezes: int, streak: int) -> None:
    # given: a three-day streak, Monday to Wednesday
    challenge, device = await _given(GoalType.STREAK_DAYS, "7", freezes_per_week=freezes)
    member = await create_member()
    purchases = [
        await create_purchase(member=member, recorded_by=device, occurred_at=_day(n))
        for n in range(3)
    ]
    assert (await _progress(challenge, member)).streak == 3

    # when: Tuesday's purchase is refunded
    await _refund(device, purchases[1], "10.00")

    # then: Monday and Wednesday remain (bridged by a freeze when the challenge offers one)
    progress = await _progress(challenge, member)
    assert (progress.streak, progress.current) == (streak, streak)
    assert progress.last_period == _day(2).date()


async def test_a_refund_does_not_touch_challenges_the_purchase_did_not_count_for() -> None:
    challenge, device = await _given(GoalType.COUNT, "5")
    member = await create_member()
    purchase = await create_purchase(member=member, recorded_by=device)
    later = await create_challenge(
        goal_type=GoalType.COUNT, target="5", event_kind=EventKind.PURCHASE_RECORDED
    )
    await create_purchase(member=member, recorded_by=device)

    await _refund(device, purchase, "10.00")

    assert (await _progress(challenge, member)).current == 1
    assert (await _progress(later, member)).current == 1


# A completion the purchase helped to reach


async def test_a_refund_that_undoes_a_completion_revokes_it_and_claws_back_its_bonus() -> None:
    # given: completed and rewarded by the second purchase
    badge = await create_badge()
    challenge, device = await _given(
        GoalType.COUNT, "2", reward_points=50, reward_badge_id=badge.id
    )
    member = await create_member()
    await create_purchase(member=member, recorded_by=device)
    second = await create_purchase(member=member, recorded_by=device)
    assert (await _progress(challenge, member)).completions == 1

    # when
    await _refund(device, second, "10.00")

    # then: the completion no longer counts and the bonus went back through the ledger
    progress = await _progress(challenge, member)
    assert (progress.completions, progress.current, progress.completed_at) == (0, 1, None)
    completion = await ChallengeCompletion.get(challenge_id=challenge.id)
    assert completion.revoked_at is not None
    assert await _challenge_ledger(member) == [(EntryKind.BONUS, 50), (EntryKind.REFUND, -50)]
    [view] = await challenges_views.views_for(member.id, [challenge])
    assert (view.completions, view.percent) == (0, 50)
    assert await MemberBadge.filter(member_id=member.id).count() == 1  # a badge stays
    await assert_books_balance()

    # and: the challenge can be completed again, under a new number
    await create_purchase(member=member, recorded_by=device)
    progress = await _progress(challenge, member)
    assert (progress.completions, progress.revoked) == (1, 1)
    numbers = await ChallengeCompletion.filter(revoked_at__isnull=True).values_list(
        "number", flat=True
    )
    assert numbers == [2]
    assert await _challenge_ledger(member) == [
        (EntryKind.BONUS, 50),
        (EntryKind.REFUND, -50),
        (EntryKind.BONUS, 50),
    ]
    await assert_books_balance()


async def test_a_completion_stands_while_what_remains_still_reaches_the_target() -> None:
    # given: 60 + 60 against a target of 100
    challenge, device = await _given(GoalType.SUM, "100", reward_points=25)
    member = await create_member()
    await create_purchase(member=member, amount="60.00", recorded_by=device)
    second = await create_purchase(member=member, amount="60.00", recorded_by=device)

    # when: 10 back, still 110
    await _refund(device, second, "10.00")

    # then
    progress = await _progress(challenge, member)
    assert (progress.current, progress.completions) == (Decimal("110"), 1)
    assert await _challenge_ledger(member) == [(EntryKind.BONUS, 25)]

    # when: 20 more back, 90 is short of the target
    await _refund(device, second, "20.00")

    # then
    progress = await _progress(challenge, member)
    assert (progress.current, progress.completions) == (Decimal("90"), 0)
    assert await _challenge_ledger(member) == [(EntryKind.BONUS, 25), (EntryKind.REFUND, -25)]

    # and: a refund of the rest revokes nothing twice
    await _refund(device, second, "30.00")
    assert (await _progress(challenge, member)).current == Decimal("60")
    assert len(await _challenge_ledger(member)) == 2
    await assert_books_balance()


async def test_purchases_past_the_maximum_make_up_for_a_refunded_one() -> None:
    # given: three purchases complete it, two more come after
    challenge, device = await _given(GoalType.COUNT, "3", reward_points=50)
    member = await create_member()
    purchases = [await create_purchase(member=member, recorded_by=device) for _ in range(5)]

    # when: two of the first three are refunded
    await _refund(device, purchases[0], "10.00")
    await _refund(device, purchases[1], "10.00")

    # then: the later purchases still make three, the bonus stays
    progress = await _progress(challenge, member)
    assert (progress.completions, progress.current) == (1, 3)
    assert await _challenge_ledger(member) == [(EntryKind.BONUS, 50)]

    # when: one more refund leaves two
    await _refund(device, purchases[2], "10.00")

    # then
    progress = await _progress(challenge, member)
    assert (progress.completions, progress.current) == (0, 2)
    assert await _challenge_ledger(member) == [(EntryKind.BONUS, 50), (EntryKind.REFUND, -50)]
    await assert_books_balance()


async def test_the_next_completions_purchases_top_up_an_earlier_one() -> None:
    # given: three purchases for the first completion, two towards the second
    challenge, device = await _given(GoalType.COUNT, "3", reward_points=10, max_completions=2)
    member = await create_member()
    purchases = [await create_purchase(member=member, recorded_by=device) for _ in range(5)]
    assert (await _progress(challenge, member)).current == 2

    # when
    await _refund(device, purchases[1], "10.00")

    # then: four purchases left: one completion, one towards the next
    progress = await _progress(challenge, member)
    assert (progress.completions, progress.current) == (1, 1)
    assert await _challenge_ledger(member) == [(EntryKind.BONUS, 10)]


async def test_a_spent_bonus_becomes_an_outstanding_clawback() -> None:
    # given: the bonus and the purchase points were spent on a reward
    challenge, device = await _given(GoalType.COUNT, "1", reward_points=100)
    member = await create_member()
    purchase = await create_purchase(member=member, amount="20.00", recorded_by=device)
    reward = await create_reward(cost_points=120)
    await redeem_reward(member=member, reward=reward)

    # when
    await _refund(device, purchase, "20.00")

    # then: 20 purchase points and 100 bonus points are owed, repaid by later earnings
    account = await LedgerAccount.get(code=f"member:{member.id}")
    assert (account.balance, account.clawback_outstanding) == (0, 120)
    await credit_points(member=member, points=150)
    account = await LedgerAccount.get(code=f"member:{member.id}")
    assert (account.balance, account.clawback_outstanding) == (30, 0)
    assert (await _progress(challenge, member)).completions == 0
    await assert_books_balance()


async def test_revoking_an_earlier_completion_of_a_repeatable_challenge() -> None:
    # given: one purchase per completion, both completions reached
    challenge, device = await _given(GoalType.COUNT, "1", reward_points=10, max_completions=2)
    member = await create_member()
    first = await create_purchase(member=member, recorded_by=device)
    await create_purchase(member=member, recorded_by=device)
    assert (await _progress(challenge, member)).completions == 2

    # when: the first purchase is refunded
    await _refund(device, first, "10.00")

    # then: one completion left, and room for another
    progress = await _progress(challenge, member)
    assert (progress.completions, progress.current) == (1, 0)
    await create_purchase(member=member, recorded_by=device)
    progress = await _progress(challenge, member)
    assert progress.completions == 2
    numbers = await ChallengeCompletion.filter(revoked_at__isnull=True).order_by("number")
    assert [c.number for c in numbers] == [2, 3]
    assert sum(points for _, points in await _challenge_ledger(member)) == 20
    await assert_books_balance()


async def test_a_hidden_challenge_disappears_when_its_completion_is_revoked() -> None:
    challenge, device = await _given(GoalType.COUNT, "1", hidden=True)
    member = await create_member()
    purchase = await create_purchase(member=member, recorded_by=device)
    page = await challenges_views.visible_challenges(member.id, first=10, after_id=None)
    assert [c.id for c in page.items] == [challenge.id]

    await _refund(device, purchase, "10.00")

    page = await challenges_views.visible_challenges(member.id, first=10, after_id=None)
    assert page.items == []


async def test_a_revoked_bonus_no_longer_qualifies_for_tiers(
    override_settings: OverrideSettings,
) -> None:
    # given: challenge bonuses qualify
    from gamification.tiers import ladder as tiers

    override_settings(tier_bonus_points_qualify=True)
    challenge, device = await _given(GoalType.COUNT, "1", reward_points=40)
    member = await create_member()
    purchase = await create_purchase(member=member, amount="30.00", recorded_by=device)
    assert (await tiers.progress(member.id)).qualifying_points == 70

    # when
    await _refund(device, purchase, "30.00")

    # then
    assert (await tiers.progress(member.id)).qualifying_points == 0
    assert (await _progress(challenge, member)).completions == 0
