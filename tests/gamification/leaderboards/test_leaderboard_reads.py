"""Reading a member's place: the rank, the total and the neighbours come from one script run
(one round trip), agree with the sorted set's order, and names come with badge counts in one
statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from gamification.badges import awards as badges
from gamification.leaderboards import keys, reads, updates
from gamification.leaderboards.keys import Period
from gamification.members.models import Member
from tests.factories import create_badge, create_member
from tests.gamification.leaderboards.helpers import NOW, bonus


async def board_with_ties(redis: Redis) -> list[Member]:
    """Seven members; three tie at 100 (who got there first ranks higher), two at 50."""
    members = [await create_member() for _ in range(7)]
    moment = NOW - timedelta(hours=1)
    for member, points, seconds in zip(
        members, (100, 100, 100, 80, 50, 50, 10), (3, 1, 2, 0, 5, 4, 0), strict=True
    ):
        written = await bonus(member, points, at=moment + timedelta(seconds=seconds))
        await updates.record_committed(redis, written.entries, now=NOW)
    return members


async def open_points(redis: Redis) -> reads.Board:
    return await reads.open_board(redis, "points", Period.ALL_TIME, member_id=None, now=NOW)


async def test_the_rank_read_with_neighbours_follows_the_sorted_sets_order(redis: Redis) -> None:
    # given
    await board_with_ties(redis)
    view = await open_points(redis)
    _, page = await view.page(offset=0, limit=10)

    # then: every member's rank and neighbours, read in one go, agree with the page
    for standing in page:
        position = await view.position(standing.member_id, above=2, below=3)
        assert (position.rank, position.points, position.total) == (
            standing.rank,
            standing.points,
            7,
        )
        expected = [
            s
            for s in page
            if standing.rank - 2 <= s.rank <= standing.rank + 3 and s is not standing
        ]
        assert list(position.nearby) == expected
        assert await view.around(position, above=2, below=3) == expected
        assert await view.around(position, above=1, below=0) == [
            s for s in expected if s.rank == standing.rank - 1
        ]


async def test_neighbours_beyond_what_was_read_are_read_again(redis: Redis) -> None:
    # given
    members = await board_with_ties(redis)
    view = await open_points(redis)
    position = await view.position(members[3].id, above=1, below=0)  # ranked 4th

    # when
    wider = await view.around(position, above=3, below=2)

    # then
    assert position.nearby_within(3, 2) is None
    assert [s.rank for s in wider] == [1, 2, 3, 5, 6]
    assert [s.rank for s in await view.around(position, above=1, below=0)] == [3]


async def test_a_position_without_neighbours_reads_none(redis: Redis) -> None:
    members = await board_with_ties(redis)
    view = await open_points(redis)

    position = await view.position(members[0].id)

    assert (position.rank, position.points, position.nearby) == (3, 100, ())
    assert [s.rank for s in await view.around(position, above=0, below=1)] == [4]


async def test_unranked_and_unknown_members_have_a_score_but_no_rank(redis: Redis) -> None:
    # given: one member whose score went below 0 (a refund this week of last week's purchase),
    # one who never scored
    await board_with_ties(redis)
    below_zero, newcomer = await create_member(), await create_member()
    key = keys.board_key("points", Period.ALL_TIME, NOW)
    state = keys.Score(-30, 1_000)
    await redis.hset(
        key.states(below_zero.id >> keys.SHARD_BITS), str(below_zero.id), state.encode()
    )
    view = await open_points(redis)

    # when
    positions = [await view.position(m.id, above=2, below=2) for m in (below_zero, newcomer)]

    # then
    assert [(p.rank, p.points, p.total, p.nearby) for p in positions] == [
        (None, -30, 7, ()),
        (None, 0, 7, ()),
    ]
    for position in positions:
        assert position.percentile is None
        assert await view.around(position, above=2, below=2) == []


async def test_the_script_is_sent_again_to_a_redis_that_forgot_it(redis: Redis) -> None:
    members = await board_with_ties(redis)
    view = await open_points(redis)
    before = await view.position(members[4].id, above=1, below=1)

    await redis.script_flush()
    after = await view.position(members[4].id, above=1, below=1)

    assert after == before
    assert after.rank == 6  # tied at 50 with the member who got there a second earlier


async def test_listings_carry_badge_counts_in_one_statement() -> None:
    # given
    holder, hidden, none = [await create_member(display_name=f"P{i}") for i in range(3)]
    await Member.filter(id=hidden.id).update(leaderboard_visible=False)
    catalog = [await create_badge() for _ in range(3)]
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        for badge in catalog:
            await badges.award(conn, holder.id, badge.id, now)
        await badges.award(conn, hidden.id, catalog[0].id, now)

    # when: one unknown id, one beyond the 32-bit id column
    found = await reads.listings([holder.id, hidden.id, none.id, 424242, 2**40], viewer_id=None)

    # then
    assert found[holder.id] == reads.Listing("P0", True, 3)
    assert found[hidden.id] == reads.Listing("Hidden member", False, 1)
    assert found[none.id] == reads.Listing("P2", True, 0)
    assert found[424242] == found[2**40] == reads.Listing("Hidden member", False, 0)
    assert await reads.listings([], viewer_id=None) == {}
