"""Leaderboards: live updates after commit equal a rebuild from the ledger, whatever the order,
the repeats, the rollbacks, the outages and the junk in Redis."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from gamification import redis_keys
from gamification.causes import donations as causes_donations
from gamification.earning import purchases
from gamification.leaderboards import keys, reads, reconcile, updates
from gamification.leaderboards.keys import BoardKey, Period, Score
from gamification.ledger import points
from gamification.ledger.models import LedgerAccount
from gamification.ledger.written import collect_written_entries
from gamification.members.models import Member, Role
from gamification.stores.models import Channel, Device
from tests.factories import (
    actor_of,
    consent_of,
    create_cause,
    create_device,
    create_earn_rule,
    create_member,
)
from tests.gamification.leaderboards.helpers import NOW, after_commit, bonus, credit, dead_redis

_receipts = itertools.count(1)

MARGIN = timedelta(days=7)  # the default `leaderboard_period_margin_days`
ALL = BoardKey("points", "all")
PARIS = ZoneInfo("Europe/Paris")


async def purchase(device: Device, member: Member, amount: str) -> purchases.PurchaseResult:
    number = next(_receipts)
    return await purchases.record_purchase(
        actor=actor_of(device),
        data=purchases.PurchaseInput(
            member_id=member.id,
            card_number=None,
            amount=Decimal(amount),
            currency="EUR",
            channel=device.channel,
            store_id=device.store_id,  # type: ignore[attr-defined]
            external_id=f"lb-receipt-{number}",
            occurred_at=datetime.now(UTC),
        ),
        idempotency_key=f"lb-purchase-{number}",
    )


async def standings(
    redis: Redis,
    board: str = "points",
    period: Period = Period.ALL_TIME,
    *,
    now: datetime | None = None,
) -> list[tuple[int, int]]:
    view = await reads.open_board(redis, board, period, member_id=None, now=now)
    _, page = await view.page(offset=0, limit=100)
    return [(s.member_id, s.points) for s in page]


async def dump(redis: Redis) -> dict[str, Any]:
    """Every leaderboard key's content, to compare two states of Redis exactly."""
    found: dict[str, Any] = {}
    async for name in redis.scan_iter(match=f"{redis_keys.BOARDS_PREFIX}*"):
        kind = await redis.type(name)
        if kind == "zset":
            found[name] = await redis.zrange(name, 0, -1, withscores=True)
        else:
            found[name] = await redis.hgetall(name)
    return found


async def assert_rebuild_changes_nothing(redis: Redis, *, now: datetime | None = None) -> None:
    report = await reconcile.check(redis, now=now)
    assert report.clean, [str(d) for d in report.differences]
    before = await dump(redis)
    fixed = await reconcile.rebuild(redis, now=now)
    assert fixed.clean, [str(d) for d in fixed.differences]
    assert await dump(redis) == before


# --- pure rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "week", "month"),
    [
        (datetime(2026, 11, 22, 23, 59, 59, 999999, tzinfo=UTC), "week:2026-W47", "month:2026-11"),
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), "week:2026-W48", "month:2026-11"),
        (datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "week:2026-W49", "month:2026-11"),
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "week:2026-W49", "month:2026-12"),
        # ISO years: 1 January 2027 is a Friday of 2026's week 53.
        (datetime(2027, 1, 1, 8, 0, tzinfo=UTC), "week:2026-W53", "month:2027-01"),
        # A time given in another zone counts at its UTC instant (Monday 00:30 in Paris is
        # still Sunday in UTC).
        (datetime(2026, 11, 23, 0, 30, tzinfo=PARIS), "week:2026-W47", "month:2026-11"),
    ],
)
def test_periods_have_utc_boundaries_and_iso_weeks(at: datetime, week: str, month: str) -> None:
    weekly = keys.board_key("points", Period.WEEK, at)
    monthly = keys.board_key("points", Period.MONTH, at)

    assert (weekly.bucket, monthly.bucket) == (week, month)
    assert weekly.starts_at is not None
    assert weekly.ends_at is not None
    assert weekly.starts_at.weekday() == 0
    assert weekly.starts_at <= at < weekly.ends_at
    assert monthly.starts_at is not None
    assert monthly.ends_at is not None
    assert monthly.starts_at.day == 1
    assert monthly.starts_at <= at < monthly.ends_at


def test_tags_sort_earlier_arrivals_first_among_equal_scores() -> None:
    early = keys.member_tag(member_id=9, reached_ms=1_000)
    late = keys.member_tag(member_id=2, reached_ms=2_000)
    same_time_low_id = keys.member_tag(member_id=2, reached_ms=1_000)

    # ZREVRANGE lists equal scores in reverse lexicographic order
    assert sorted([late, early, same_time_low_id], reverse=True) == [same_time_low_id, early, late]
    assert len({len(early), len(late)}) == 1
    assert keys.member_of_tag(early) == 9


# --- live updates equal the rebuild --------------------------------------------------------------


async def test_rebuild_equals_the_live_boards_after_normal_operations(redis: Redis) -> None:
    # given: purchases, a refund taken at once, a refund owed and repaid later, adjustments,
    # donations and a reversed donation, each followed by its after-commit update
    await create_earn_rule(points_per_unit="10")
    device = await create_device(channel=Channel.KIOSK)
    admin = await create_member(role=Role.ADMIN)
    a, b, c = [await create_member() for _ in range(3)]
    cause = await create_cause()
    as_admin = actor_of(admin)

    await after_commit(redis, purchase(device, a, "10.00"))  # a: 100
    b_bought = await after_commit(redis, purchase(device, b, "10.00"))  # b: 100, after a
    bought = await after_commit(redis, purchase(device, c, "30.00"))  # c: 300
    await after_commit(
        redis,
        points.adjust_points(
            actor=as_admin, member_id=a.id, points=500, reason="goodwill", idempotency_key="g1"
        ),
    )  # adjustments do not count
    await after_commit(
        redis,
        purchases.refund_purchase(
            actor=actor_of(device),
            purchase_id=bought.purchase_id,
            amount=Decimal("15.00"),
            reason="returned",
            idempotency_key="r1",
        ),
    )  # c: 300 - 150
    await after_commit(
        redis,
        points.adjust_points(
            actor=as_admin, member_id=b.id, points=-100, reason="correction", idempotency_key="g2"
        ),
    )  # b has nothing left to claw back from
    await after_commit(
        redis,
        purchases.refund_purchase(
            actor=actor_of(device),
            purchase_id=b_bought.purchase_id,
            amount=Decimal("10.00"),
            reason="returned",
            idempotency_key="r2",
        ),
    )  # 100 owed: no entry yet, b stays at 100
    await after_commit(redis, purchase(device, b, "5.00"))  # b: +50 earned, -50 repaid
    await after_commit(
        redis,
        causes_donations.donate_points(
            actor=actor_of(a),
            member_consent=consent_of(a.id),
            cause_id=cause.id,
            points=200,
            channel=Channel.APP,
            idempotency_key="d1",
        ),
    )
    gift = await after_commit(
        redis,
        causes_donations.donate_points(
            actor=actor_of(c),
            member_consent=consent_of(c.id),
            cause_id=cause.id,
            points=100,
            channel=Channel.APP,
            idempotency_key="d2",
        ),
    )
    await after_commit(
        redis,
        causes_donations.reverse_donation(
            actor=as_admin, donation_id=gift.donation.id, reason="mistake", idempotency_key="x1"
        ),
    )

    # then: the boards say what the ledger says, ties broken by who got there first
    assert await standings(redis) == [(c.id, 150), (a.id, 100), (b.id, 100)]
    assert await standings(redis, "points", Period.WEEK) == await standings(redis)
    assert await standings(redis, "points", Period.MONTH) == await standings(redis)
    assert await standings(redis, keys.cause_board(cause.id)) == [(a.id, 200)]
    for member in (a, b, c):
        summary = await points.summary(member.id)
        view = await reads.open_board(redis, "points", Period.ALL_TIME, member_id=None)
        position = await view.position(member.id)
        assert position.points == summary.lifetime_earned + summary.clawback_outstanding
    # and a rebuild from the ledger finds nothing to change
    await assert_rebuild_changes_nothing(redis)


async def test_equal_scores_rank_who_got_there_first(redis: Redis) -> None:
    # given
    first, second, third = [await create_member() for _ in range(3)]
    moment = NOW - timedelta(hours=1)
    for member, points_, at in (
        (second, 100, moment + timedelta(seconds=1)),
        (first, 100, moment),
        (third, 60, moment),
        (third, 40, moment + timedelta(seconds=2)),  # reaches 100 last
    ):
        written = await bonus(member, points_, at=at)
        await updates.record_committed(redis, written.entries, now=NOW)

    # then
    assert await standings(redis, now=NOW) == [(first.id, 100), (second.id, 100), (third.id, 100)]
    await assert_rebuild_changes_nothing(redis, now=NOW)


async def test_at_the_same_millisecond_the_lower_member_id_ranks_higher(redis: Redis) -> None:
    low, high = await create_member(), await create_member()
    for member in (high, low):
        written = await bonus(member, 70, at=NOW - timedelta(minutes=5))
        await updates.record_committed(redis, written.entries, now=NOW)

    assert await standings(redis, now=NOW) == [(low.id, 70), (high.id, 70)]


async def test_periods_count_entries_by_time_and_expire_after_a_margin(redis: Redis) -> None:
    # given
    a, b = await create_member(), await create_member()
    for member, points_, at in (
        (a, 100, datetime(2037, 11, 23, 0, 0, tzinfo=UTC)),  # this week (W48)
        (a, 40, datetime(2037, 11, 22, 23, 59, 59, 999000, tzinfo=UTC)),  # last week (W47)
        (b, 70, datetime(2037, 11, 1, 0, 0, tzinfo=UTC)),  # this month, a long-gone week
        (b, 30, datetime(2037, 10, 31, 23, 59, tzinfo=UTC)),  # October: gone, margin included
    ):
        written = await bonus(member, points_, at=at)
        await updates.record_committed(redis, written.entries, now=NOW)

    # then
    assert await standings(redis, now=NOW) == [(a.id, 140), (b.id, 100)]
    assert await standings(redis, "points", Period.WEEK, now=NOW) == [(a.id, 100)]
    assert await standings(redis, "points", Period.MONTH, now=NOW) == [(a.id, 140), (b.id, 70)]
    last_week = keys.board_key("points", Period.WEEK, NOW - timedelta(days=7))
    sunday_night = datetime(2037, 11, 22, 23, 59, 59, 999000, tzinfo=UTC)
    assert await redis.zrange(last_week.zset, 0, -1, withscores=True) == [
        (keys.member_tag(a.id, keys.ms(sunday_night)), 40.0)
    ]
    assert not await redis.exists(redis_keys.board_zset("points", "month:2037-10"))
    # period keys expire on their own, a margin after the period ends; all-time keys never
    week = keys.board_key("points", Period.WEEK, NOW)
    month = keys.board_key("points", Period.MONTH, NOW)
    assert await redis.expiretime(week.zset) == int(datetime(2037, 12, 7, tzinfo=UTC).timestamp())
    assert await redis.expiretime(week.states(0)) == await redis.expiretime(week.zset)
    assert await redis.expiretime(month.zset) == int(datetime(2037, 12, 8, tzinfo=UTC).timestamp())
    assert await redis.expiretime(ALL.zset) == -1
    await assert_rebuild_changes_nothing(redis, now=NOW)


async def test_updates_in_any_order_and_repeated_count_once(redis: Redis) -> None:
    # given: transactions whose updates arrive late, reversed, concurrently and twice
    a, b = await create_member(), await create_member()
    writes = []
    for i in range(6):
        member = a if i % 2 else b
        writes.append(await bonus(member, 10 * (i + 1), at=NOW - timedelta(minutes=10 - i)))

    # when
    await asyncio.gather(
        *(updates.record_committed(redis, w.entries, now=NOW) for w in reversed(writes))
    )
    await asyncio.gather(*(updates.record_committed(redis, w.entries, now=NOW) for w in writes))

    # then
    assert await standings(redis, now=NOW) == [(a.id, 120), (b.id, 90)]
    seqs = await redis.hgetall(redis_keys.board_seq(0))
    accounts = await LedgerAccount.filter(member_id__in=[a.id, b.id]).values_list(
        "member_id", "entry_count"
    )
    assert seqs == {str(member): str(count) for member, count in accounts}
    await assert_rebuild_changes_nothing(redis, now=NOW)


async def test_a_later_update_fills_the_gap_from_the_ledger_without_a_recomputation(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: three bonuses of one member whose updates arrive last first
    member = await create_member()
    writes = [
        await bonus(member, points, at=NOW - timedelta(minutes=5 - i))
        for i, points in enumerate((10, 20, 40))
    ]

    async def no_recomputation(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the gap should be filled from the entries in between")

    monkeypatch.setattr(reconcile, "reconcile_member", no_recomputation)

    # when: the newest arrives first, then the others (each then already applied)
    for written in reversed(writes):
        await updates.record_committed(redis, written.entries, now=NOW)

    # then
    assert await standings(redis, now=NOW) == [(member.id, 70)]
    assert await redis.hget(redis_keys.board_seq(0), str(member.id)) == "3"
    await assert_rebuild_changes_nothing(redis, now=NOW)


@pytest.mark.postgres
async def test_concurrent_purchases_and_refunds_leave_exact_boards(redis: Redis) -> None:
    # given
    await create_earn_rule(points_per_unit="1")
    device = await create_device()
    members = [await create_member() for _ in range(3)]
    bought = await after_commit(redis, purchase(device, members[0], "100.00"))

    # when: purchases and refunds for the same members commit and update concurrently
    await asyncio.gather(
        *(after_commit(redis, purchase(device, members[i % 3], f"{i + 1}.00")) for i in range(30)),
        *(
            after_commit(
                redis,
                purchases.refund_purchase(
                    actor=actor_of(device),
                    purchase_id=bought.purchase_id,
                    amount=Decimal("10.00"),
                    reason="returned",
                    idempotency_key=f"refund-{i}",
                ),
            )
            for i in range(5)
        ),
    )

    # then
    expected = {m.id: sum(i + 1 for i in range(30) if i % 3 == n) for n, m in enumerate(members)}
    expected[members[0].id] += 100 - 50
    assert sorted(await standings(redis)) == sorted(expected.items())
    await assert_rebuild_changes_nothing(redis)


async def test_entries_of_a_rolled_back_transaction_do_not_count(redis: Redis) -> None:
    member = await create_member()
    with collect_written_entries() as written:
        with pytest.raises(RuntimeError):
            await credit(member, 500, at=NOW, fail=True)
        await credit(member, 20, at=NOW)
    assert len(written.entries) == 2

    await updates.record_committed(redis, written.entries, now=NOW)

    assert await standings(redis, now=NOW) == [(member.id, 20)]
    await assert_rebuild_changes_nothing(redis, now=NOW)


async def test_only_positive_scores_are_ranked(redis: Redis) -> None:
    # given: a purchase fully refunded
    await create_earn_rule(points_per_unit="1")
    device = await create_device()
    member, other = await create_member(), await create_member()
    bought = await after_commit(redis, purchase(device, member, "50.00"))
    await after_commit(redis, purchase(device, other, "5.00"))
    await after_commit(
        redis,
        purchases.refund_purchase(
            actor=actor_of(device),
            purchase_id=bought.purchase_id,
            amount=Decimal("50.00"),
            reason="returned",
            idempotency_key="r",
        ),
    )

    # then
    view = await reads.open_board(redis, "points", Period.ALL_TIME, member_id=member.id)
    assert await standings(redis) == [(other.id, 5)]
    position = await view.position(member.id)
    assert (position.rank, position.points, position.total) == (None, 0, 1)
    await assert_rebuild_changes_nothing(redis)


# --- Redis faults ----------------------------------------------------------------------------


async def test_earning_succeeds_without_redis_and_a_rebuild_restores_the_boards(
    redis: Redis,
) -> None:
    # given: a board that was up to date
    await create_earn_rule(points_per_unit="1")
    device = await create_device()
    a, b = await create_member(), await create_member()
    await after_commit(redis, purchase(device, a, "30.00"))
    missed_before = updates.missed_updates()

    # when Redis goes away mid-scenario
    dead = dead_redis()
    try:
        result = await after_commit(dead, purchase(device, b, "40.00"))
        with pytest.raises(reads.LeaderboardsUnavailable) as raised:
            await standings(dead)
    finally:
        await dead.aclose()

    # then the purchase went through, the miss was counted, reads say UNAVAILABLE
    assert result.points_earned == 40
    assert (await points.summary(b.id)).balance == 40
    assert updates.missed_updates() == missed_before + 1
    assert raised.value.code == "UNAVAILABLE"
    # the board is behind until a rebuild with a working client puts it right
    assert await standings(redis) == [(a.id, 30)]
    assert not (await reconcile.check(redis)).clean
    fixed = await reconcile.rebuild(redis)
    assert [(d.member_id, d.problem) for d in fixed.differences] == [
        (b.id, "missing from the board")
    ] * 3  # all time, this week, this month
    assert await standings(redis) == [(b.id, 40), (a.id, 30)]
    await assert_rebuild_changes_nothing(redis)


async def test_a_missed_update_is_repaired_by_the_members_next_one(redis: Redis) -> None:
    # given: an update lost while Redis was down
    member = await create_member()
    first = await bonus(member, 25, at=NOW - timedelta(minutes=2))
    dead = dead_redis()
    try:
        await updates.record_committed(dead, first.entries, now=NOW)
    finally:
        await dead.aclose()

    # when the member's next update arrives: its seq does not follow the last one applied
    second = await bonus(member, 5, at=NOW - timedelta(minutes=1))
    await updates.record_committed(redis, second.entries, now=NOW)

    # then the member was recomputed from the ledger
    assert await standings(redis, now=NOW) == [(member.id, 30)]
    await assert_rebuild_changes_nothing(redis, now=NOW)


async def test_rebuild_removes_what_the_ledger_does_not_say(redis: Redis) -> None:
    # given: a correct board, then junk: a stranger, a stray tag, a wrong score, a stale week
    member = await create_member()
    written = await bonus(member, 80, at=NOW - timedelta(hours=2))
    await updates.record_committed(redis, written.entries, now=NOW)
    right = Score(80, keys.ms(NOW - timedelta(hours=2)))
    await redis.hset(ALL.states(0), "999", Score(5, 1).encode())
    await redis.zadd(ALL.zset, {keys.member_tag(999, 1): 5})
    await redis.zadd(ALL.zset, {keys.member_tag(998, 7): 3})  # no state at all
    await redis.zadd(ALL.zset, {right.tag(member.id): 81})
    await redis.zadd(redis_keys.board_zset("points", "week:2026-W30"), {right.tag(member.id): 1})

    # when
    found = await reconcile.check(redis, now=NOW)
    fixed = await reconcile.rebuild(redis, now=NOW)

    # then
    problems = sorted((d.member_id, d.problem) for d in found.differences)
    assert (999, "not in the ledger") in problems
    assert (member.id, "sorted set out of step") in problems
    assert any(m == 998 and p.startswith("stray") for m, p in problems)
    assert found.stale_keys == [redis_keys.board_zset("points", "week:2026-W30")]
    assert len(fixed.differences) >= 3
    assert await standings(redis, now=NOW) == [(member.id, 80)]
    assert not await redis.exists(redis_keys.board_zset("points", "week:2026-W30"))
    await assert_rebuild_changes_nothing(redis, now=NOW)


async def test_a_rebuild_running_beside_live_updates_is_exact(redis: Redis) -> None:
    # given: members with history, and transactions whose updates arrive during the rebuild
    members = [await create_member() for _ in range(5)]
    for i, member in enumerate(members):
        await bonus(member, 10 + i, at=NOW - timedelta(hours=3))  # never applied live
    late = [await bonus(m, 7, at=NOW - timedelta(minutes=1)) for m in members]

    # when
    await asyncio.gather(
        reconcile.rebuild(redis, now=NOW),
        *(updates.record_committed(redis, w.entries, now=NOW) for w in late),
    )

    # then
    assert sorted(await standings(redis, now=NOW)) == sorted(
        (m.id, 17 + i) for i, m in enumerate(members)
    )
    await assert_rebuild_changes_nothing(redis, now=NOW)


async def test_hidden_members_keep_their_rank_but_not_their_name() -> None:
    shown = await create_member(display_name="Maya")
    hidden = await create_member(display_name="Theo")
    await Member.filter(id=hidden.id).update(leaderboard_visible=False)

    for_others = await reads.listings([shown.id, hidden.id, 424242], viewer_id=shown.id)
    for_themself = await reads.listings([hidden.id], viewer_id=hidden.id)

    assert for_others[shown.id] == reads.Listing("Maya", True)
    assert for_others[hidden.id] == reads.Listing("Hidden member", False)
    assert for_others[424242] == reads.Listing("Hidden member", False)
    assert for_themself[hidden.id] == reads.Listing("Theo", True)
