"""The `leaderboard` query."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gamification.leaderboards import keys, reads
from schema.context import Info
from schema.leaderboards.types import (
    BOARD_DESCRIPTION,
    LeaderboardEntryType,
    LeaderboardPeriod,
    LeaderboardType,
    domain_board,
)
from schema.relay import PageInfo, encode_cursor, page_args


@strawberry.type
class LeaderboardQueries:
    @strawberry.field(
        description=(
            "A board, best first, for any signed-in caller (a kiosk screen too; the friends "
            "board needs a member). `after` is a rank: ranks move as members earn, so pages "
            "read at different times may repeat or skip a member. Null, with an UNAVAILABLE "
            "error, while the boards cannot be reached."
        )
    )
    async def leaderboard(
        self,
        info: Info,
        board: Annotated[str, strawberry.argument(description=BOARD_DESCRIPTION)] = "points",
        period: LeaderboardPeriod = keys.Period.ALL_TIME,  # type: ignore[valid-type]
        first: int = 20,
        after: str | None = None,
    ) -> LeaderboardType | None:
        actor = info.context.require_actor()
        first, after_rank = page_args(info, first, after)
        viewer_id = actor.id if actor.is_person else None
        view = await reads.open_board(
            info.context.redis,
            domain_board(board),
            keys.Period(period),
            member_id=viewer_id,
            sees_hidden=actor.is_admin,
        )
        offset = after_rank or 0
        total, standings = await view.page(offset=offset, limit=first)
        return LeaderboardType(
            board=board,
            period=period,
            total=total,
            entries=LeaderboardEntryType.list_of(standings, viewer_id=viewer_id),
            page_info=PageInfo(
                has_next_page=offset + len(standings) < total,
                end_cursor=encode_cursor(standings[-1].rank) if standings else None,
                has_previous_page=offset > 0,
                start_cursor=encode_cursor(standings[0].rank) if standings else None,
            ),
        )
