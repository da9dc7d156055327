"""Challenge boards: members ranked by their progress in one challenge, written after commit and
equal to a rebuild from the progress table, whatever the outages and the junk in Redis."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from redis.asyncio import Redis

from gamification.challenges import definitions as challenges_definitions
from gamification.challenges import views as challenges_views
from gamification.challenges.models import Challenge, GoalType, WindowKind
from gamification.earning import purchases
from gamification.events import progress as progress_updates
from gamification.events.models import EventKind
from gamification.leaderboards import keys, reads, reconcile, updates
from gamification.leaderboards.keys import Period
from gamification.ledger.written import collect_written_entries
from gamification.members.models import Member
from gamification.stores.models import Device
from tests.factories import (
    actor_of,
    check_in,
    create_challenge,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
)
from tests.gamification.leaderboards.helpers import dead_redis

T = TypeVar("T")
_receipts = itertools.count(1)

MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _day(n: int) -> datetime:
    return MONDAY + timedelta(days=n)


async def after_commit(redis: Redis, action: Awaitable[T]) -> T:
    """Run a use case as the GraphQL layer does: collect what it wrote and moved, then update
    the boards after commit."""
    with (
        collect_written_entries() as written,
        progress_updates.collect_progress_updates() as progress,
    ):
        result = await action
    await updates.record_committed(redis, written.entries)
    await updates.record_challenge_progress(redis, progress)
    return result


async def spend(redis: Redis, till: Device, member: Member, amount: str, at: datetime) -> None:
    await after_commit(
        redis,
        create_purchase(
            member=member,
            recorded_by=till,
            amount=amount,
            external_id=f"cb-{next(_receipts)}",
            occurred_at=at,
        ),
    )


async def standings(redis: Redis, challenge: Challenge) -> list[tuple[int, int]]:
    view = await reads.open_board(
        redis, keys.challenge_board(challenge.id), Period.ALL_TIME, member_id=None
    )
    _, page = await view.page(offset=0, limit=100)
    return [(s.member_id, s.points) for s in page]


async def assert_boards_equal_the_progress(redis: Redis) -> None:
    found = await reconcile.check(redis)
    assert found.differences == [], [str(d) for d in found.differences]
    fixed = await reconcile.rebuild(redis)
    assert fixed.differences == [], [str(d) for d in fixed.differences]


@pytest.fixture
async def till() -> Device:
    await create_earn_rule(points_per_unit="1")
    return await create_device()


async def test_progress_through_normal_operations_equals_a_rebuild(
    redis: Redis, till: Device
) -> None:
    # given: spending, counting, daily and streak challenges, moved by purchases and check-ins
    spending = await create_challenge(
        goal_type=GoalType.SUM, target="100", event_kind=EventKind.PURCHASE_RECORDED
    )
    weekly = await create_challenge(
        goal_type=GoalType.COUNT,
        target="2",
        event_kind=EventKind.PURCHASE_RECORDED,
        window_kind=WindowKind.WEEKLY,
        max_completions=2,
    )
    streak = await create_challenge(goal_type=GoalType.STREAK_DAYS, target="5")
    maya, theo, noor = await create_member(), await create_member(), await create_member()
    for n, amount in enumerate(("30.00", "45.50", "40.00")):
        await spend(redis, till, maya, amount, _day(n))
    await spend(redis, till, theo, "12.99", _day(0))
    for n in range(3):
        await after_commit(redis, check_in(member=noor, at=_day(n)))
        await after_commit(redis, check_in(member=maya, at=_day(2 * n)))

    # then: the live boards equal a rebuild exactly
    await assert_boards_equal_the_progress(redis)
    assert await standings(redis, spending) == [(maya.id, 100), (theo.id, 12)]
    # Maya: one completion (the target, 2) and one purchase towards the next
    assert await standings(redis, weekly) == [(maya.id, 2 + 1), (theo.id, 1)]
    # Noor's streak is 3 days; Maya's restarted each time (a day missed, no freeze)
    assert await standings(redis, streak) == [(noor.id, 3), (maya.id, 1)]


async def test_concurrent_updates_land_exactly(redis: Redis, till: Device) -> None:
    # given
    challenge = await create_challenge(
        goal_type=GoalType.SUM, target="1000", event_kind=EventKind.PURCHASE_RECORDED
    )
    members = [await create_member() for _ in range(3)]

    # when: purchases of several members, some of the same member, at once
    await asyncio.gather(
        *(
            spend(redis, till, members[n % 3], f"{n + 1}.00", _day(0) + timedelta(seconds=n))
            for n in range(12)
        )
    )

    # then
    expected = {m.id: sum(n + 1 for n in range(12) if n % 3 == i) for i, m in enumerate(members)}
    assert dict(await standings(redis, challenge)) == expected
    await assert_boards_equal_the_progress(redis)


async def test_completions_count_as_the_target_and_a_finished_challenge_stops(
    redis: Redis, till: Device
) -> None:
    # given: 3 purchases a week, at most twice
    challenge = await create_challenge(
        goal_type=GoalType.COUNT,
        target="3",
        event_kind=EventKind.PURCHASE_RECORDED,
        max_completions=2,
    )
    member = await create_member()

    # when: eight purchases, of which six count (two completions, then nothing)
    for n in range(8):
        await spend(redis, till, member, "5.00", _day(0) + timedelta(minutes=n))

    # then
    assert await standings(redis, challenge) == [(member.id, 6)]
    await assert_boards_equal_the_progress(redis)


async def test_equal_progress_ranks_who_got_there_first(redis: Redis) -> None:
    challenge = await create_challenge(goal_type=GoalType.COUNT, target="10")
    late, early = await create_member(), await create_member()
    await after_commit(redis, check_in(member=early, at=_day(0)))
    await after_commit(redis, check_in(member=late, at=_day(1)))

    assert await standings(redis, challenge) == [(early.id, 1), (late.id, 1)]

    # the late one moves ahead, the early one catches up later: now the late one was first
    await after_commit(redis, check_in(member=late, at=_day(2)))
    await after_commit(redis, check_in(member=early, at=_day(3)))
    assert await standings(redis, challenge) == [(late.id, 2), (early.id, 2)]
    await assert_boards_equal_the_progress(redis)


async def test_progress_is_recorded_without_redis_and_a_rebuild_catches_up(
    redis: Redis, till: Device
) -> None:
    # given: one purchase on the board, then Redis goes away
    challenge = await create_challenge(
        goal_type=GoalType.SUM, target="500", event_kind=EventKind.PURCHASE_RECORDED
    )
    member = await create_member()
    await spend(redis, till, member, "20.00", _day(0))
    missed = updates.missed_updates()
    dead = dead_redis()
    try:
        # when: a purchase while Redis is down
        await spend(dead, till, member, "30.00", _day(1))
    finally:
        await dead.aclose()

    # then: the progress is recorded, the board is behind, the miss was counted
    views = await challenges_views.views_for(member.id, [challenge], _day(1))
    assert views[0].current == Decimal("50.00")
    assert updates.missed_updates() > missed
    assert await standings(redis, challenge) == [(member.id, 20)]
    on_board = [
        (d.member_id, d.problem)
        for d in (await reconcile.check(redis)).differences
        if d.key == keys.challenge_board_key(challenge.id)
    ]
    assert on_board == [(member.id, "different score or time")]

    # and a rebuild makes it exact
    await reconcile.rebuild(redis)
    assert await standings(redis, challenge) == [(member.id, 50)]
    await assert_boards_equal_the_progress(redis)


async def test_the_next_update_repairs_a_missed_one(redis: Redis, till: Device) -> None:
    challenge = await create_challenge(
        goal_type=GoalType.SUM, target="500", event_kind=EventKind.PURCHASE_RECORDED
    )
    member = await create_member()
    dead = dead_redis()
    try:
        await spend(dead, till, member, "30.00", _day(0))
    finally:
        await dead.aclose()

    await spend(redis, till, member, "5.00", _day(1))

    assert await standings(redis, challenge) == [(member.id, 35)]
    await assert_boards_equal_the_progress(redis)


async def test_a_rebuild_removes_what_the_progress_does_not_say(redis: Redis) -> None:
    # given: a real place, a stray sorted-set entry, a state for a member with no progress
    challenge = await create_challenge(goal_type=GoalType.COUNT, target="10")
    member, stranger = await create_member(), await create_member()
    await after_commit(redis, check_in(member=member, at=_day(0)))
    key = keys.challenge_board_key(challenge.id)
    await redis.zadd(key.zset, {keys.member_tag(stranger.id, 5): 99})
    await redis.hset(key.states(0), str(stranger.id), "7:5")
    orphan = keys.challenge_board_key(424242)  # a board of no challenge
    await redis.zadd(orphan.zset, {keys.member_tag(member.id, 5): 1})

    # when
    found = await reconcile.check(redis)
    fixed = await reconcile.rebuild(redis)

    # then
    expected = {(key, stranger.id), (orphan, member.id)}
    assert {(d.key, d.member_id) for d in found.differences} == expected
    assert {(d.key, d.member_id) for d in fixed.differences} == expected
    assert await standings(redis, challenge) == [(member.id, 1)]
    assert not await redis.exists(orphan.zset)
    await assert_boards_equal_the_progress(redis)


async def test_changing_the_target_recomputes_the_board(redis: Redis) -> None:
    # given: a member with one completion of a two-check-in challenge (counting 2 + 1)
    challenge = await create_challenge(goal_type=GoalType.COUNT, target="2", max_completions=3)
    member = await create_member()
    for n in range(3):
        await after_commit(redis, check_in(member=member, at=_day(n)))
    assert await standings(redis, challenge) == [(member.id, 3)]

    # when: the admin raises the target (the completion now counts as 5)
    with progress_updates.collect_progress_updates() as changed:
        await challenges_definitions.update_challenge(challenge.id, {"target": Decimal(5)})
    await updates.record_challenge_progress(redis, changed)

    # then
    assert changed.redefined == {challenge.id}
    assert await standings(redis, challenge) == [(member.id, 5 + 1)]
    await assert_boards_equal_the_progress(redis)


async def test_a_hidden_challenges_board_is_only_for_those_who_earned_it(redis: Redis) -> None:
    # given: a hidden challenge one member has earned and another has only started
    challenge = await create_challenge(goal_type=GoalType.COUNT, target="2", hidden=True)
    earner, starter = await create_member(), await create_member()
    for n in range(2):
        await after_commit(redis, check_in(member=earner, at=_day(n)))
    await after_commit(redis, check_in(member=starter, at=_day(0)))
    board = keys.challenge_board(challenge.id)

    # then: unknown, exactly as a challenge that does not exist, to all but the earner and admins
    for member_id in (starter.id, None):
        with pytest.raises(reads.UnknownBoard) as refused:
            await reads.open_board(redis, board, Period.ALL_TIME, member_id=member_id)
        with pytest.raises(reads.UnknownBoard) as absent:
            await reads.open_board(
                redis, keys.challenge_board(424242), Period.ALL_TIME, member_id=member_id
            )
        assert str(refused.value) == str(absent.value)
    for member_id, admin in ((earner.id, False), (None, True)):
        view = await reads.open_board(
            redis, board, Period.ALL_TIME, member_id=member_id, sees_hidden=admin
        )
        _, page = await view.page(offset=0, limit=10)
        assert [(s.member_id, s.points) for s in page] == [(earner.id, 2), (starter.id, 1)]


@pytest.mark.parametrize("board", ["challenge:", "challenge:0", "challenge:x", "challenge:99"])
async def test_an_unknown_challenge_board_is_a_typed_error(redis: Redis, board: str) -> None:
    with pytest.raises(reads.UnknownBoard):
        await reads.open_board(redis, board, Period.ALL_TIME, member_id=None)


async def test_a_challenge_board_has_only_the_all_time_period(redis: Redis) -> None:
    challenge = await create_challenge()

    with pytest.raises(reads.UnknownPeriod):
        await reads.open_board(
            redis, keys.challenge_board(challenge.id), Period.WEEK, member_id=None
        )


async def test_a_refund_lowers_the_board_as_the_progress_says(redis: Redis, till: Device) -> None:
    # given: two purchases towards a spending challenge, one of them completing it
    challenge = await create_challenge(
        goal_type=GoalType.SUM, target="100", event_kind=EventKind.PURCHASE_RECORDED
    )
    member = await create_member()
    await spend(redis, till, member, "30.00", _day(0))
    refunded = await create_purchase(
        member=member, recorded_by=till, amount="80.00", occurred_at=_day(1)
    )
    await reconcile.rebuild(redis)
    assert await standings(redis, challenge) == [(member.id, 100)]

    # when: the completing purchase is half refunded (the completion no longer stands)
    await after_commit(
        redis,
        purchases.refund_purchase(
            actor=actor_of(till),
            purchase_id=refunded.id,
            amount=Decimal("40.00"),
            reason="returned",
            idempotency_key="cb-refund",
        ),
    )

    # then
    assert await standings(redis, challenge) == [(member.id, 70)]
    await assert_boards_equal_the_progress(redis)
