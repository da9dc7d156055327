"""The leaderboard fields of `Member`. Only the member and admins reach them, because only they
can reach the `Member` object (see `schema.members.types`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gamification import leaderboards
from schema.context import Info
from schema.leaderboards.types import (
    BOARD_DESCRIPTION,
    LeaderboardPeriod,
    LeaderboardRankType,
    domain_board,
)


@strawberry.type
class MemberLeaderboardFields:
    pk: strawberry.Private[int]

    @strawberry.field(
        description=(
            "The member's place on a board, with their own score even when they hide "
            "themselves. Null, with an error, for an unknown board or period, or (UNAVAILABLE) "
            "while the boards cannot be reached."
        )
    )
    async def rank(
        self,
        info: Info,
        board: Annotated[str, strawberry.argument(description=BOARD_DESCRIPTION)] = "points",
        period: LeaderboardPeriod = leaderboards.Period.ALL_TIME,  # type: ignore[valid-type]
    ) -> LeaderboardRankType | None:
        view = await leaderboards.open_board(
            info.context.redis,
            domain_board(board),
            leaderboards.Period(period),
            member_id=self.pk,
        )
        return LeaderboardRankType.of(view, await view.position(self.pk))
