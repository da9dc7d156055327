from __future__ import annotations

import pytest
from starlette.applications import Starlette

from gamification.members.models import Member
from gamification.stores.models import Device
from tests.factories import create_member
from tests.schema.leaderboards.helpers import board_of_six, my_rank


async def test_my_rank_with_the_members_around_me(app: Starlette, till: Device) -> None:
    # given
    members = await board_of_six(app, till)

    # when
    result = await my_rank(app, members[2])

    # then
    assert result.errors is None
    rank = result.data["me"]["rank"]
    assert (rank["rank"], rank["score"], rank["total"], rank["percentile"]) == (3, 40, 6, 66.67)
    assert rank["neighbours"] == [
        {"rank": 1, "displayName": "Player 1", "score": 60, "isMe": False},
        {"rank": 2, "displayName": "Player 2", "score": 50, "isMe": False},
        {"rank": 4, "displayName": "Player 4", "score": 30, "isMe": False},
        {"rank": 5, "displayName": "Player 5", "score": 20, "isMe": False},
    ]


async def test_neighbours_stop_at_the_ends_of_the_board(app: Starlette, till: Device) -> None:
    members = await board_of_six(app, till)

    top = (await my_rank(app, members[0], above=3, below=1)).data["me"]["rank"]
    bottom = (await my_rank(app, members[5], above=1, below=3)).data["me"]["rank"]

    assert (top["rank"], top["percentile"]) == (1, 100.0)
    assert [n["rank"] for n in top["neighbours"]] == [2]
    assert (bottom["rank"], bottom["percentile"]) == (6, 16.67)
    assert [n["rank"] for n in bottom["neighbours"]] == [5]


async def test_hidden_members_still_see_their_own_rank(app: Starlette, till: Device) -> None:
    # given
    members = await board_of_six(app, till)
    await Member.filter(id__in=[members[1].id, members[3].id]).update(leaderboard_visible=False)

    # when
    result = await my_rank(app, members[3], above=1, below=0)

    # then: their own place, and others hidden from them too
    rank = result.data["me"]["rank"]
    assert (rank["rank"], rank["score"]) == (4, 30)
    assert rank["neighbours"] == [
        {"rank": 3, "displayName": "Player 3", "score": 40, "isMe": False}
    ]
    seen_by_other = (await my_rank(app, members[2], above=1, below=1)).data["me"]["rank"]
    assert [n["displayName"] for n in seen_by_other["neighbours"]] == [
        "Hidden member",
        "Hidden member",
    ]


async def test_a_member_without_points_is_not_ranked(app: Starlette, till: Device) -> None:
    await board_of_six(app, till)
    newcomer = await create_member()

    rank = (await my_rank(app, newcomer)).data["me"]["rank"]

    assert rank == {"rank": None, "score": 0, "total": 6, "percentile": None, "neighbours": []}


async def test_my_weekly_and_monthly_ranks(app: Starlette, till: Device) -> None:
    members = await board_of_six(app, till)

    for period in ("WEEK", "MONTH"):
        rank = (await my_rank(app, members[1], period=period)).data["me"]["rank"]
        assert (rank["rank"], rank["score"], rank["total"]) == (2, 50, 6)


@pytest.mark.parametrize(
    ("above", "below", "field"),
    [(-1, 2, "above"), (2, -1, "below"), (26, 0, "above"), (0, 26, "below")],
)
async def test_negative_or_too_many_neighbours_are_a_typed_error(
    app: Starlette, till: Device, above: int, below: int, field: str
) -> None:
    members = await board_of_six(app, till)

    result = await my_rank(app, members[0], above=above, below=below)

    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "INVALID_INPUT",
        "field": field,
        "retryable": False,
    }
    assert result.data["me"]["displayName"] == "Player 1"  # only the rank is lost


async def test_my_rank_on_an_unknown_board_is_a_typed_error(app: Starlette) -> None:
    member = await create_member()

    result = await my_rank(app, member, board="tiers")

    assert result.errors is not None
    assert result.errors[0].extensions == {
        "code": "UNKNOWN_BOARD",
        "field": "board",
        "retryable": False,
    }
    assert result.data["me"]["rank"] is None
