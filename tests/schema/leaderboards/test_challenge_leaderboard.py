"""`leaderboard(board: "challenge:<Challenge ID>")` and `me { rank(board: …) }`: members ranked by
their progress in one challenge, written after the mutation that moved it."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.challenges.models import Challenge, GoalType
from gamification.events.models import EventKind
from gamification.leaderboards import reconcile
from gamification.members.models import Member, Role
from gamification.stores.models import Channel, Device
from schema.relay import to_global_id
from tests.documents import UPDATE_CHALLENGE
from tests.factories import create_challenge as create_challenge_definition
from tests.factories import create_device, create_earn_rule, create_member, execute
from tests.schema.leaderboards.helpers import earn, my_rank, read_board


@pytest.fixture
async def till() -> Device:
    """A till in a store where a euro earns a point."""
    await create_earn_rule(points_per_unit="1")
    return await create_device(channel=Channel.POS)


async def spending_challenge(**fields: object) -> Challenge:
    """Spend 100 euros (in whole euros on the board)."""
    return await create_challenge_definition(
        goal_type=GoalType.SUM,
        target="100",
        event_kind=EventKind.PURCHASE_RECORDED,
        **fields,  # type: ignore[arg-type]
    )


def board_of(challenge: Challenge) -> str:
    return f"challenge:{to_global_id('Challenge', challenge.id)}"


async def test_purchases_move_the_challenge_board_at_once(
    app: Starlette, redis: Redis, till: Device
) -> None:
    # given
    challenge = await spending_challenge()
    maya = await create_member(display_name="Maya")
    theo = await create_member(display_name="Theo")
    noor = await create_member(display_name="Noor")
    await earn(app, till, maya, "30.00")
    await earn(app, till, theo, "42.50")
    await earn(app, till, maya, "20.00")
    await earn(app, till, noor, "150.00")  # completes it: counts as the target

    # when
    result = await read_board(app, as_=maya, board=board_of(challenge))
    mine = await my_rank(app, maya, board=board_of(challenge), above=1, below=1)

    # then
    assert result.errors is None
    board = result.data["leaderboard"]
    assert (board["board"], board["period"], board["total"]) == (
        board_of(challenge),
        "ALL_TIME",
        3,
    )
    assert [(e["rank"], e["displayName"], e["score"], e["isMe"]) for e in board["entries"]] == [
        (1, "Noor", 100, False),
        (2, "Maya", 50, True),
        (3, "Theo", 42, False),
    ]
    assert mine.errors is None
    rank = mine.data["me"]["rank"]
    assert (rank["rank"], rank["score"], rank["total"]) == (2, 50, 3)
    assert [n["displayName"] for n in rank["neighbours"]] == ["Noor", "Theo"]
    # the live board equals a rebuild from the progress table
    assert (await reconcile.check(redis)).differences == []


async def test_equal_progress_ranks_who_got_there_first(app: Starlette, till: Device) -> None:
    challenge = await spending_challenge()
    first, second = await create_member(), await create_member()
    await earn(app, till, first, "25.00")
    await earn(app, till, second, "25.00")

    result = await read_board(app, as_=second, board=board_of(challenge))

    assert [e["isMe"] for e in result.data["leaderboard"]["entries"]] == [False, True]


async def test_hidden_members_keep_their_place_but_not_their_name(
    app: Starlette, till: Device
) -> None:
    challenge = await spending_challenge()
    hidden = await create_member(display_name="Theo")
    await Member.filter(id=hidden.id).update(leaderboard_visible=False)
    other = await create_member(display_name="Maya")
    await earn(app, till, hidden, "60.00")
    await earn(app, till, other, "10.00")

    seen_by_others = await read_board(app, as_=other, board=board_of(challenge))
    seen_by_themself = await read_board(app, as_=hidden, board=board_of(challenge))

    top = seen_by_others.data["leaderboard"]["entries"][0]
    assert (top["rank"], top["displayName"], top["memberId"]) == (1, "Hidden member", None)
    assert "Theo" not in json.dumps(seen_by_others.data)
    assert seen_by_themself.data["leaderboard"]["entries"][0]["displayName"] == "Theo"


async def test_a_hidden_challenge_does_not_leak(app: Starlette, till: Device) -> None:
    # given: a hidden challenge Noor earned and Maya only started
    challenge = await spending_challenge(hidden=True)
    noor, maya = await create_member(), await create_member()
    admin = await create_member(role=Role.ADMIN)
    await earn(app, till, noor, "100.00")
    await earn(app, till, maya, "10.00")
    no_such = f"challenge:{to_global_id('Challenge', 424242)}"

    # then: to Maya and to a kiosk screen, exactly as a challenge that does not exist
    for as_ in (maya, till):
        refused = await read_board(app, as_=as_, board=board_of(challenge))
        absent = await read_board(app, as_=as_, board=no_such)
        assert refused.data == absent.data == {"leaderboard": None}
        assert refused.errors is not None
        assert absent.errors is not None
        assert refused.errors[0].message == absent.errors[0].message
        assert refused.errors[0].extensions == {
            "code": "UNKNOWN_BOARD",
            "field": "board",
            "retryable": False,
        }
    rank = await my_rank(app, maya, board=board_of(challenge))
    assert rank.errors is not None
    assert rank.errors[0].extensions == {
        "code": "UNKNOWN_BOARD",
        "field": "board",
        "retryable": False,
    }
    # and Noor, who earned it, and admins read it
    for as_ in (noor, admin):
        result = await read_board(app, as_=as_, board=board_of(challenge))
        assert result.errors is None
        assert [e["score"] for e in result.data["leaderboard"]["entries"]] == [100, 10]


@pytest.mark.parametrize(
    "board",
    [
        "challenge:",  # no ID
        "challenge:12",  # a raw number, not a challenge ID
        f"challenge:{to_global_id('Challenge', 424242)}",  # no such challenge
        f"challenge:{to_global_id('Cause', 1)}",  # an ID of something else
    ],
)
async def test_an_unknown_challenge_board_is_a_typed_error(app: Starlette, board: str) -> None:
    member = await create_member()

    result = await read_board(app, as_=member, board=board)
    rank = await my_rank(app, member, board=board)

    for answer in (result, rank):
        assert answer.errors is not None
        assert answer.errors[0].extensions == {
            "code": "UNKNOWN_BOARD",
            "field": "board",
            "retryable": False,
        }
    assert result.data == {"leaderboard": None}


async def test_a_challenge_board_has_only_the_all_time_period(app: Starlette) -> None:
    member = await create_member()
    challenge = await spending_challenge()

    result = await read_board(app, as_=member, board=board_of(challenge), period="MONTH")

    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "UNKNOWN_PERIOD",
        "field": "period",
        "retryable": False,
    }


async def test_changing_the_target_recomputes_the_board(app: Starlette, till: Device) -> None:
    # given: a member who finished the challenge (counting as its target, 100)
    challenge = await spending_challenge()
    member = await create_member()
    admin = await create_member(role=Role.ADMIN)
    await earn(app, till, member, "120.00")

    # when: the admin raises the target
    result = await execute(
        app,
        UPDATE_CHALLENGE,
        {"id": to_global_id("Challenge", challenge.id), "input": {"target": "150"}},
        as_=admin,
    )

    # then: the completion now counts as 150
    assert result.data["updateChallenge"]["errors"] == []
    board = await read_board(app, as_=member, board=board_of(challenge))
    assert [e["score"] for e in board.data["leaderboard"]["entries"]] == [150]
