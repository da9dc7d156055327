from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.members.models import Follow, Member
from gamification.stores.models import Channel, Device
from schema.relay import to_global_id
from tests.factories import (
    OverrideSettings,
    create_device,
    create_earn_rule,
    create_member,
    execute,
)
from tests.schema.leaderboards.helpers import earn, my_rank, read_board

FOLLOW = """
mutation Follow($memberId: ID!) {
  follow(memberId: $memberId) { following errors { code field } }
}
"""

UNFOLLOW = """
mutation Unfollow($memberId: ID!) {
  unfollow(memberId: $memberId) { following errors { code field } }
}
"""


@pytest.fixture
async def till() -> Device:
    """A till in a store where a euro earns a point."""
    await create_earn_rule(points_per_unit="1")
    return await create_device(channel=Channel.POS)


async def follow(app: Starlette, follower: Member | Device, followee_id: str) -> Any:
    result = await execute(app, FOLLOW, {"memberId": followee_id}, as_=follower)
    return result.data["follow"] if result.data else result


async def friends(app: Starlette, member: Member) -> list[tuple[str, int, bool]]:
    result = await read_board(app, as_=member, board="friends")
    assert result.errors is None
    return [
        (e["displayName"], e["score"], e["isMe"]) for e in result.data["leaderboard"]["entries"]
    ]


async def test_the_friends_board_ranks_me_among_those_i_follow(
    app: Starlette, till: Device
) -> None:
    # given
    me = await create_member(display_name="Maya")
    ana = await create_member(display_name="Ana")
    ben = await create_member(display_name="Ben")
    stranger = await create_member(display_name="Stranger")
    for member, amount in ((me, "30.00"), (ana, "50.00"), (ben, "10.00"), (stranger, "99.00")):
        await earn(app, till, member, amount)

    # when
    followed = [await follow(app, me, to_global_id("Member", m.id)) for m in (ana, ben)]

    # then
    assert followed == [{"following": True, "errors": []}] * 2
    assert await friends(app, me) == [("Ana", 50, False), ("Maya", 30, True), ("Ben", 10, False)]
    rank = (await my_rank(app, me, board="friends", above=1, below=1)).data["me"]["rank"]
    assert (rank["rank"], rank["total"], rank["score"]) == (2, 3, 30)
    assert [n["displayName"] for n in rank["neighbours"]] == ["Ana", "Ben"]


async def test_unfollowing_takes_them_off_my_friends_board(app: Starlette, till: Device) -> None:
    me, ana = await create_member(display_name="Maya"), await create_member(display_name="Ana")
    await earn(app, till, me, "5.00")
    await earn(app, till, ana, "6.00")
    await follow(app, me, to_global_id("Member", ana.id))

    result = await execute(app, UNFOLLOW, {"memberId": to_global_id("Member", ana.id)}, as_=me)
    again = await execute(app, UNFOLLOW, {"memberId": to_global_id("Member", ana.id)}, as_=me)

    assert result.data["unfollow"] == {"following": False, "errors": []}
    assert again.data["unfollow"] == {"following": False, "errors": []}
    assert await friends(app, me) == [("Maya", 5, True)]


async def test_following_twice_is_one_follow(app: Starlette) -> None:
    me, ana = await create_member(), await create_member()

    for _ in range(2):
        assert (await follow(app, me, to_global_id("Member", ana.id)))["following"] is True

    assert await Follow.filter(follower_id=me.id).count() == 1


async def test_hidden_friends_stay_hidden(app: Starlette, till: Device) -> None:
    me, shy = await create_member(display_name="Maya"), await create_member(display_name="Shy")
    await Member.filter(id=shy.id).update(leaderboard_visible=False)
    await earn(app, till, shy, "8.00")
    await follow(app, me, to_global_id("Member", shy.id))

    assert await friends(app, me) == [("Hidden member", 8, False)]


async def test_following_oneself_is_a_typed_error(app: Starlette) -> None:
    me = await create_member()

    payload = await follow(app, me, to_global_id("Member", me.id))

    assert payload == {
        "following": None,
        "errors": [{"code": "CANNOT_FOLLOW_SELF", "field": "memberId"}],
    }


@pytest.mark.parametrize(
    ("member_id", "code"),
    [
        (to_global_id("Member", 424242), "UNKNOWN_MEMBER"),
        (to_global_id("Store", 1), "INVALID_INPUT"),
        ("not-an-id", "INVALID_INPUT"),
    ],
)
async def test_following_an_unknown_member_is_a_typed_error(
    app: Starlette, member_id: str, code: str
) -> None:
    me = await create_member()

    payload = await follow(app, me, member_id)

    assert payload == {"following": None, "errors": [{"code": code, "field": "memberId"}]}
    assert not await Follow.exists()


async def test_following_is_limited(app: Starlette, override_settings: OverrideSettings) -> None:
    override_settings(max_follows=1)
    me, ana, ben = await create_member(), await create_member(), await create_member()
    await follow(app, me, to_global_id("Member", ana.id))

    payload = await follow(app, me, to_global_id("Member", ben.id))

    assert payload["errors"] == [{"code": "TOO_MANY_FOLLOWS", "field": "memberId"}]


async def test_devices_cannot_follow(app: Starlette) -> None:
    ana = await create_member()
    kiosk = await create_device()

    result = await execute(app, FOLLOW, {"memberId": to_global_id("Member", ana.id)}, as_=kiosk)

    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "FORBIDDEN", "retryable": False}
