"""Challenges: goal types, windows in the member's timezone, streaks, resets, rewards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from gamification.actors import Actor, ActorKind
from gamification.badges.models import MemberBadge
from gamification.challenges import definitions as challenges_definitions
from gamification.challenges import progress as challenges_progress
from gamification.challenges import views as challenges_views
from gamification.challenges import windows as challenges_windows
from gamification.challenges.models import (
    ChallengeCompletion,
    ChallengeProgress,
    GoalType,
    WindowKind,
)
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from gamification.events.models import EventKind
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.stores.models import Channel
from tests.factories import (
    check_in,
    create_badge,
    create_challenge,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
)
from tests.invariants import assert_books_balance

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def _day(n: int, hour: int = 9) -> datetime:
    return MONDAY + timedelta(days=n) - timedelta(hours=9) + timedelta(hours=hour)


async def _progress(challenge_id: int, member_id: int) -> list[ChallengeProgress]:
    return list(
        await ChallengeProgress.filter(challenge_id=challenge_id, member_id=member_id).order_by(
            "window_key"
        )
    )


async def _bonus_points(member_id: int) -> list[int]:
    entries = await LedgerEntry.filter(kind=EntryKind.BONUS, reference_type="challenge")
    return [e.points for e in entries]


# Goal types


async def test_count_completes_and_awards_its_points_once() -> None:
    # given
    challenge = await create_challenge(target="2", reward_points=50)
    member = await create_member()

    # when
    for n in range(3):
        await check_in(member=member, at=_day(n))

    # then
    assert await _bonus_points(member.id) == [50]
    assert await ChallengeCompletion.filter(challenge_id=challenge.id).count() == 1
    [progress] = await _progress(challenge.id, member.id)
    assert progress.completions == 1
    assert progress.completed_at is not None
    await assert_books_balance()


async def test_a_challenge_with_several_completions_restarts_after_each() -> None:
    challenge = await create_challenge(target="2", reward_points=10, max_completions=2)
    member = await create_member()

    for n in range(5):
        await check_in(member=member, at=_day(n))

    assert await _bonus_points(member.id) == [10, 10]
    [progress] = await _progress(challenge.id, member.id)
    assert progress.completions == 2


async def test_sum_adds_purchase_amounts_matching_the_filter() -> None:
    # given
    await create_earn_rule()
    kiosk = await create_device(channel=Channel.KIOSK)
    till = await create_device(channel=Channel.POS)
    challenge = await create_challenge(
        goal_type=GoalType.SUM,
        target="100",
        event_kind=EventKind.PURCHASE_RECORDED,
        filter_channel=Channel.POS,
        filter_min_amount=Decimal("20"),
        reward_points=25,
    )
    member = await create_member()

    # when
    await create_purchase(member=member, amount="60.00", recorded_by=till)
    await create_purchase(member=member, amount="80.00", recorded_by=kiosk)  # other channel
    await create_purchase(member=member, amount="10.00", recorded_by=till)  # below the minimum
    [progress] = await _progress(challenge.id, member.id)
    assert progress.current == Decimal("60")
    await create_purchase(member=member, amount="40.00", recorded_by=till)

    # then
    assert await _bonus_points(member.id) == [25]
    await assert_books_balance()


async def test_distinct_days_counts_each_local_day_once() -> None:
    await create_earn_rule()
    challenge = await create_challenge(
        goal_type=GoalType.DISTINCT_DAYS, target="2", event_kind=EventKind.PURCHASE_RECORDED
    )
    member = await create_member()

    await create_purchase(member=member, occurred_at=_day(0, 9))
    await create_purchase(member=member, occurred_at=_day(0, 18))
    [progress] = await _progress(challenge.id, member.id)
    assert progress.current == 1
    await create_purchase(member=member, occurred_at=_day(1))

    assert await ChallengeCompletion.filter(challenge_id=challenge.id).count() == 1


# Streaks


async def test_a_daily_streak_without_a_freeze_restarts_after_a_missed_day() -> None:
    challenge = await create_challenge(goal_type=GoalType.STREAK_DAYS, target="5")
    member = await create_member()

    for n in (0, 1, 3):  # Wednesday missed
        await check_in(member=member, at=_day(n))

    [progress] = await _progress(challenge.id, member.id)
    assert progress.streak == 1


async def test_a_freeze_bridges_one_missed_day_a_week() -> None:
    challenge = await create_challenge(
        goal_type=GoalType.STREAK_DAYS, target="10", freezes_per_week=1
    )
    member = await create_member()

    for n in (0, 1, 3):  # Wednesday missed, bridged by the week's freeze
        await check_in(member=member, at=_day(n))
    [progress] = await _progress(challenge.id, member.id)
    assert (progress.streak, progress.freezes_used) == (3, ["2026-11-04"])

    await check_in(member=member, at=_day(5))  # Friday missed too: no freeze left this week
    [progress] = await _progress(challenge.id, member.id)
    assert progress.streak == 1


async def test_a_streak_completes_when_long_enough() -> None:
    badge = await create_badge()
    challenge = await create_challenge(
        goal_type=GoalType.STREAK_DAYS, target="3", reward_points=30, reward_badge_id=badge.id
    )
    member = await create_member()

    for n in range(3):
        await check_in(member=member, at=_day(n))

    assert await _bonus_points(member.id) == [30]
    assert await MemberBadge.filter(member_id=member.id, badge_id=badge.id).exists()
    assert await ChallengeCompletion.filter(challenge_id=challenge.id).count() == 1


async def test_a_weekly_streak_counts_consecutive_weeks() -> None:
    challenge = await create_challenge(goal_type=GoalType.STREAK_WEEKS, target="3")
    member = await create_member()

    for n in (0, 1, 8, 20):  # two in week 1, one in week 2, one in week 3
        await check_in(member=member, at=_day(n))

    [progress] = await _progress(challenge.id, member.id)
    assert progress.streak == 3
    assert progress.completions == 1


async def test_a_streak_across_a_daylight_saving_change() -> None:
    # Paris leaves summer time on Sunday 2026-10-25: the local days stay consecutive.
    challenge = await create_challenge(goal_type=GoalType.STREAK_DAYS, target="3")
    member = await create_member(timezone="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")

    for day in (24, 25, 26):
        await check_in(member=member, at=datetime(2026, 10, day, 0, 30, tzinfo=paris))

    [progress] = await _progress(challenge.id, member.id)
    assert progress.streak == 3


# Windows


async def test_recurring_weekly_windows_reset() -> None:
    challenge = await create_challenge(window_kind=WindowKind.WEEKLY, target="3")
    member = await create_member()

    for n in (0, 1, 7):  # Monday, Tuesday, next Monday
        await check_in(member=member, at=_day(n))

    rows = await _progress(challenge.id, member.id)
    assert [(r.window_key, r.current) for r in rows] == [
        ("W2026-11-02", Decimal(2)),
        ("W2026-11-09", Decimal(1)),
    ]


@pytest.mark.parametrize(
    ("timezone", "last_second_utc"),
    [
        ("UTC", datetime(2026, 11, 8, 23, 59, 59, tzinfo=UTC)),
        ("Pacific/Kiritimati", datetime(2026, 11, 8, 9, 59, 59, tzinfo=UTC)),  # UTC+14
        ("Pacific/Pago_Pago", datetime(2026, 11, 9, 10, 59, 59, tzinfo=UTC)),  # UTC−11
    ],
)
async def test_the_last_second_of_a_local_week_belongs_to_that_week(
    timezone: str, last_second_utc: datetime
) -> None:
    # given
    challenge = await create_challenge(window_kind=WindowKind.WEEKLY, target="2")
    member = await create_member(timezone=timezone)

    # when
    await check_in(member=member, at=last_second_utc)
    await check_in(member=member, at=last_second_utc + timedelta(seconds=1))

    # then: two windows, no completion
    rows = await _progress(challenge.id, member.id)
    assert [r.window_key for r in rows] == ["W2026-11-02", "W2026-11-09"]
    assert not await ChallengeCompletion.filter(challenge_id=challenge.id).exists()


async def test_a_weekly_window_ends_at_local_midnight_across_a_dst_change() -> None:
    challenge = await create_challenge(window_kind=WindowKind.WEEKLY, target="2")

    ends = challenges_windows.window_ends_at(
        challenge, ZoneInfo("Europe/Paris"), datetime(2026, 10, 21, 12, tzinfo=UTC)
    )

    # Monday 2026-10-26 00:00 in Paris is 23:00 UTC on Sunday (winter time, UTC+1).
    assert ends == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)


async def test_events_outside_a_fixed_window_do_not_count() -> None:
    challenge = await create_challenge(
        starts_at=_day(1), ends_at=_day(2), target="1", reward_points=5
    )
    member = await create_member()

    await check_in(member=member, at=_day(0))
    await check_in(member=member, at=_day(2))

    assert not await _progress(challenge.id, member.id)


# Opt-in and eligibility


async def test_an_opt_in_challenge_counts_only_after_joining() -> None:
    challenge = await create_challenge(target="1", opt_in=True, reward_points=5)
    member = await create_member()
    actor = Actor(kind=ActorKind.MEMBER, id=member.id)

    await check_in(member=member, at=_day(0))
    assert not await _progress(challenge.id, member.id)
    await challenges_progress.join_challenge(actor=actor, challenge_id=challenge.id, now=_day(0))
    await check_in(member=member, at=_day(1))

    assert await _bonus_points(member.id) == [5]


async def test_views_show_the_current_window_in_few_queries() -> None:
    challenge = await create_challenge(goal_type=GoalType.STREAK_DAYS, target="5")
    member = await create_member()
    for n in range(2):
        await check_in(member=member, at=_day(n))

    [view] = await challenges_views.views_for(member.id, [challenge], now=_day(1, 20))
    assert (view.current, view.percent, view.streak) == (Decimal(2), 40, 2)
    [later] = await challenges_views.views_for(member.id, [challenge], now=_day(4))
    assert later.streak == 0  # broken: two days missed


# Bad input: typed errors, nothing written


async def _join(challenge_id: int, member_id: int, now: datetime | None = None) -> None:
    await challenges_progress.join_challenge(
        actor=Actor(kind=ActorKind.MEMBER, id=member_id), challenge_id=challenge_id, now=now
    )


async def test_joining_an_unknown_challenge() -> None:
    member = await create_member()
    with pytest.raises(NotFound) as error:
        await _join(999, member.id)
    assert error.value.code is ErrorCode.CHALLENGE_NOT_FOUND


async def test_joining_an_archived_challenge() -> None:
    challenge = await create_challenge(opt_in=True)
    await challenges_definitions.update_challenge(challenge.id, {}, archived=True)
    member = await create_member()
    with pytest.raises(Refused) as error:
        await _join(challenge.id, member.id)
    assert error.value.code is ErrorCode.CHALLENGE_ARCHIVED


async def test_joining_twice() -> None:
    challenge = await create_challenge(opt_in=True)
    member = await create_member()
    await _join(challenge.id, member.id)
    with pytest.raises(Conflict) as error:
        await _join(challenge.id, member.id)
    assert error.value.code is ErrorCode.ALREADY_JOINED


async def test_joining_a_challenge_whose_window_ended() -> None:
    challenge = await create_challenge(opt_in=True, starts_at=_day(0), ends_at=_day(1))
    member = await create_member()
    with pytest.raises(Refused) as error:
        await _join(challenge.id, member.id, now=_day(2))
    assert error.value.code is ErrorCode.CHALLENGE_ENDED


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target": Decimal(0)}, "target"),
        ({"target": Decimal(-3)}, "target"),
        ({"ends_at": datetime(2025, 1, 1, tzinfo=UTC)}, "endsAt"),
        ({"event_kind": "PURCHASE_TELEPORTED"}, "eventKind"),
        ({"filter_category": "organic"}, "filter"),  # check-ins have no category
        ({"filter_channel": Channel.SYSTEM, "event_kind": "PURCHASE_RECORDED"}, "filter"),
        ({"window_kind": WindowKind.DAILY, "goal_type": GoalType.STREAK_DAYS}, "target"),
    ],
)
async def test_an_invalid_challenge_definition_is_refused(
    changes: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {
        "title": "Bad",
        "goal_type": GoalType.COUNT,
        "target": Decimal(2),
        "event_kind": "CHECK_IN",
        "window_kind": WindowKind.FIXED,
        "starts_at": datetime(2026, 1, 1, tzinfo=UTC),
        "ends_at": datetime(2027, 1, 1, tzinfo=UTC),
        **changes,
    }
    definition = challenges_definitions.ChallengeInput(**values)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as error:
        await challenges_definitions.create_challenge(definition)
    assert error.value.code is ErrorCode.INVALID_CHALLENGE
    assert error.value.field == field
    from gamification.challenges.models import Challenge

    assert not await Challenge.exists()


async def test_a_challenge_for_higher_tiers_ignores_lower_members() -> None:
    from tests.factories import create_tier_ladder

    await create_tier_ladder()
    challenge = await create_challenge(target="1", min_tier="Silver", opt_in=True)
    member = await create_member()

    with pytest.raises(Refused) as error:
        await _join(challenge.id, member.id)

    assert error.value.code is ErrorCode.NOT_ELIGIBLE


async def test_redemptions_and_donations_feed_challenges() -> None:
    from tests.factories import create_cause, create_reward, credit_points, donate, redeem_reward

    redeemed = await create_challenge(
        goal_type=GoalType.SUM, target="150", event_kind=EventKind.REWARD_REDEEMED
    )
    donated = await create_challenge(target="1", event_kind=EventKind.POINTS_DONATED)
    member = await create_member()
    await credit_points(member=member, points=1000)
    reward = await create_reward(cost_points=100)

    await redeem_reward(member=member, reward=reward)
    await redeem_reward(member=member, reward=reward)
    await donate(member=member, cause=await create_cause(), points=10)

    assert await ChallengeCompletion.filter(challenge_id=redeemed.id).count() == 1
    assert await ChallengeCompletion.filter(challenge_id=donated.id).count() == 1
    await assert_books_balance()
