"""Helpers shared by the leaderboard API's tests."""

from __future__ import annotations

import itertools
from typing import Any

from starlette.applications import Starlette

from gamification.members.models import Member
from gamification.stores.models import Device
from tests.documents import RECORD_PURCHASE, purchase_input
from tests.factories import (
    create_member,
    execute,
)

LEADERBOARD = """
query Leaderboard($board: String!, $period: LeaderboardPeriod!, $first: Int!, $after: String) {
  leaderboard(board: $board, period: $period, first: $first, after: $after) {
    board
    period
    total
    entries { rank displayName score badgeCount isMe memberId }
    pageInfo { hasNextPage endCursor }
  }
}
"""
_receipts = itertools.count(1)
MY_RANK = """
query MyRank($board: String!, $period: LeaderboardPeriod!, $above: Int!, $below: Int!) {
  me {
    displayName
    rank(board: $board, period: $period) {
      rank
      score
      total
      percentile
      neighbours(above: $above, below: $below) { rank displayName score isMe }
    }
  }
}
"""


async def earn(app: Starlette, device: Device, member: Member, amount: str) -> None:
    """Points earned through the API, as a till records them (1 point per euro)."""
    number = next(_receipts)
    result = await execute(
        app,
        RECORD_PURCHASE,
        {
            "input": purchase_input(member=member, amount=amount, external_id=f"lb-{number}"),
            "key": f"lb-{number}",
        },
        as_=device,
    )
    assert result.errors is None
    assert result.data["recordPurchase"]["errors"] == []


async def read_board(
    app: Starlette,
    *,
    as_: Member | Device,
    board: str = "points",
    period: str = "ALL_TIME",
    first: int = 20,
    after: str | None = None,
) -> Any:
    return await execute(
        app,
        LEADERBOARD,
        {"board": board, "period": period, "first": first, "after": after},
        as_=as_,
    )


async def my_rank(
    app: Starlette,
    member: Member,
    *,
    board: str = "points",
    period: str = "ALL_TIME",
    above: int = 2,
    below: int = 2,
) -> Any:
    return await execute(
        app,
        MY_RANK,
        {"board": board, "period": period, "above": above, "below": below},
        as_=member,
    )


async def board_of_six(app: Starlette, device: Device) -> list[Member]:
    """Six members with 60, 50, ... 10 points, ranked in that order."""
    members = [await create_member(display_name=f"Player {i}") for i in range(1, 7)]
    for i, member in enumerate(members):
        await earn(app, device, member, f"{60 - 10 * i}.00")
    return members
