from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.causes import donations as causes_donations
from gamification.leaderboards import reconcile, updates
from gamification.members.models import Member
from gamification.stores.models import Channel, Device
from schema.relay import encode_cursor, to_global_id
from tests.factories import (
    actor_of,
    consent_of,
    create_cause,
    create_device,
    create_earn_rule,
    create_member,
    execute,
)
from tests.gamification.leaderboards.helpers import after_commit, dead_redis
from tests.schema.leaderboards.helpers import LEADERBOARD, earn, read_board


@pytest.fixture
async def till() -> Device:
    """A till in a store where a euro earns a point."""
    await create_earn_rule(points_per_unit="1")
    return await create_device(channel=Channel.POS)


@pytest.fixture
async def redis_down(app: Starlette) -> AsyncIterator[None]:
    """The app's Redis pointed at a port nobody listens on, for the length of the test."""
    live = app.state.redis
    app.state.redis = dead_redis()
    try:
        yield
    finally:
        await app.state.redis.aclose()
        app.state.redis = live


async def test_points_earned_through_the_api_show_on_the_board_at_once(
    app: Starlette, till: Device
) -> None:
    # given
    maya = await create_member(display_name="Maya")
    theo = await create_member(display_name="Theo")
    await earn(app, till, maya, "30.00")
    await earn(app, till, theo, "50.00")

    # when
    result = await read_board(app, as_=maya)

    # then
    assert result.errors is None
    board = result.data["leaderboard"]
    assert (board["board"], board["period"], board["total"]) == ("points", "ALL_TIME", 2)
    assert board["entries"] == [
        {
            "rank": 1,
            "displayName": "Theo",
            "score": 50,
            "badgeCount": 0,
            "isMe": False,
            "memberId": to_global_id("Member", theo.id),
        },
        {
            "rank": 2,
            "displayName": "Maya",
            "score": 30,
            "badgeCount": 0,
            "isMe": True,
            "memberId": to_global_id("Member", maya.id),
        },
    ]
    assert board["pageInfo"] == {"hasNextPage": False, "endCursor": encode_cursor(2)}


async def test_equal_scores_list_the_earlier_arrival_first(app: Starlette, till: Device) -> None:
    first, second = await create_member(), await create_member()
    await earn(app, till, second, "5.00")
    await earn(app, till, first, "20.00")
    await earn(app, till, second, "15.00")  # second reaches 20 after first did

    result = await read_board(app, as_=first)

    assert [e["isMe"] for e in result.data["leaderboard"]["entries"]] == [True, False]


async def test_pages_follow_the_ranks(app: Starlette, till: Device) -> None:
    # given
    members = [await create_member() for _ in range(5)]
    for i, member in enumerate(members):
        await earn(app, till, member, f"{10 * (i + 1)}.00")

    # when
    first_page = (await read_board(app, as_=members[0], first=2)).data["leaderboard"]
    cursor = first_page["pageInfo"]["endCursor"]
    second_page = (await read_board(app, as_=members[0], first=2, after=cursor)).data["leaderboard"]
    last = (await read_board(app, as_=members[0], first=2, after=encode_cursor(4))).data[
        "leaderboard"
    ]

    # then
    assert [e["score"] for e in first_page["entries"]] == [50, 40]
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert [(e["rank"], e["score"]) for e in second_page["entries"]] == [(3, 30), (4, 20)]
    assert [(e["rank"], e["score"]) for e in last["entries"]] == [(5, 10)]
    assert last["pageInfo"]["hasNextPage"] is False


async def test_hidden_members_keep_their_place_without_their_name(
    app: Starlette, till: Device
) -> None:
    # given
    shown = await create_member(display_name="Maya", email="maya@example.com")
    hidden = await create_member(display_name="Theo", email="theo@example.com")
    await Member.filter(id=hidden.id).update(leaderboard_visible=False)
    await earn(app, till, shown, "10.00")
    await earn(app, till, hidden, "90.00")

    # when
    seen_by_others = await read_board(app, as_=shown)
    seen_by_themself = await read_board(app, as_=hidden)

    # then
    first = seen_by_others.data["leaderboard"]["entries"][0]
    assert (first["rank"], first["displayName"], first["score"]) == (1, "Hidden member", 90)
    assert first["memberId"] is None
    assert "Theo" not in json.dumps(seen_by_others.data)
    assert "@example.com" not in json.dumps(seen_by_others.data)
    mine = seen_by_themself.data["leaderboard"]["entries"][0]
    assert (mine["displayName"], mine["isMe"]) == ("Theo", True)


async def test_a_cause_board_ranks_what_members_gave(
    app: Starlette, redis: Redis, till: Device
) -> None:
    # given
    cause = await create_cause()
    giver, bigger_giver = await create_member(), await create_member()
    for member, points in ((giver, 300), (bigger_giver, 500)):
        await earn(app, till, member, f"{points}.00")
        await after_commit(
            redis,
            causes_donations.donate_points(
                actor=actor_of(member),
                member_consent=consent_of(member.id),
                cause_id=cause.id,
                points=points - 100,
                channel=Channel.APP,
                idempotency_key=f"gift-{member.id}",
            ),
        )

    # when
    result = await read_board(app, as_=giver, board=f"cause:{to_global_id('Cause', cause.id)}")

    # then
    assert result.errors is None
    assert [(e["score"], e["isMe"]) for e in result.data["leaderboard"]["entries"]] == [
        (400, False),
        (200, True),
    ]


async def test_a_kiosk_screen_may_show_the_board(app: Starlette, till: Device) -> None:
    member = await create_member(display_name="Maya")
    await earn(app, till, member, "12.00")

    result = await read_board(app, as_=till)

    assert result.errors is None
    assert [(e["displayName"], e["isMe"]) for e in result.data["leaderboard"]["entries"]] == [
        ("Maya", False)
    ]


async def test_anonymous_callers_are_refused(app: Starlette) -> None:
    result = await execute(
        app, LEADERBOARD, {"board": "points", "period": "WEEK", "first": 5, "after": None}
    )

    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "UNAUTHENTICATED", "retryable": False}


@pytest.mark.parametrize(
    "board",
    [
        "nope",
        "cause:",
        "cause:12",  # a raw number, not a cause ID
        f"cause:{to_global_id('Cause', 424242)}",  # no such cause
        f"cause:{to_global_id('Store', 1)}",  # an ID of something else
    ],
)
async def test_an_unknown_board_is_a_typed_error(app: Starlette, board: str) -> None:
    member = await create_member()

    result = await read_board(app, as_=member, board=board)

    assert result.data == {"leaderboard": None}
    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "UNKNOWN_BOARD",
        "field": "board",
        "retryable": False,
    }


async def test_the_friends_board_needs_a_member(app: Starlette, till: Device) -> None:
    result = await read_board(app, as_=till, board="friends")

    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "UNKNOWN_BOARD",
        "field": "board",
        "retryable": False,
    }


async def test_a_period_the_board_does_not_have_is_a_typed_error(app: Starlette) -> None:
    member = await create_member()
    cause = await create_cause()

    result = await read_board(
        app, as_=member, board=f"cause:{to_global_id('Cause', cause.id)}", period="WEEK"
    )

    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "UNKNOWN_PERIOD",
        "field": "period",
        "retryable": False,
    }


async def test_an_unknown_period_is_refused_before_execution(app: Starlette) -> None:
    member = await create_member()

    result = await read_board(app, as_=member, period="YEAR")

    assert result.data is None
    assert result.errors is not None
    assert "LeaderboardPeriod" in result.errors[0].message


async def test_a_page_size_over_the_maximum_is_a_typed_error(
    app: Starlette,
) -> None:
    member = await create_member()

    result = await read_board(app, as_=member, first=app.state.settings.max_page_size + 1)

    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "PAGE_SIZE_TOO_LARGE",
        "field": "first",
        "retryable": False,
    }


async def test_a_foreign_cursor_is_a_typed_error(app: Starlette) -> None:
    member = await create_member()

    result = await read_board(app, as_=member, after="not-a-cursor")

    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "INVALID_CURSOR",
        "field": "after",
        "retryable": False,
    }


async def test_without_redis_earning_succeeds_and_the_board_is_unavailable(
    app: Starlette, redis: Redis, till: Device
) -> None:
    # given: a board that was up to date
    early, late = await create_member(), await create_member()
    await earn(app, till, early, "10.00")
    missed = updates.missed_updates()

    # when Redis goes away mid-scenario
    live = app.state.redis
    app.state.redis = dead_redis()
    try:
        await earn(app, till, late, "25.00")  # the mutation still succeeds
        during = await read_board(app, as_=late)
    finally:
        await app.state.redis.aclose()
        app.state.redis = live

    # then
    assert updates.missed_updates() == missed + 1
    assert during.data == {"leaderboard": None}
    assert during.errors is not None
    assert during.errors[0].extensions == {"code": "UNAVAILABLE", "retryable": True}
    behind = (await read_board(app, as_=late)).data["leaderboard"]
    assert [e["score"] for e in behind["entries"]] == [10]
    # and a rebuild with a working client restores the exact board
    await reconcile.rebuild(redis)
    after = (await read_board(app, as_=late)).data["leaderboard"]
    assert [(e["score"], e["isMe"]) for e in after["entries"]] == [(25, True), (10, False)]
    assert (await reconcile.check(redis)).clean


@pytest.mark.usefixtures("redis_down")
async def test_an_unreachable_redis_answers_unavailable(app: Starlette) -> None:
    member = await create_member()

    result = await read_board(app, as_=member)

    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "UNAVAILABLE", "retryable": True}
    assert "unavailable" in result.errors[0].message
