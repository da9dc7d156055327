"""The leaderboard fields of `Member`. Only the member and admins reach them, because only they
can reach the `Member` object (see `schema.members.types`)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from gamification.leaderboards import keys, reads
from schema.context import Info
from schema.leaderboards.types import (
    BOARD_DESCRIPTION,
    DEFAULT_NEIGHBOURS,
    LeaderboardPeriod,
    LeaderboardRankType,
    domain_board,
)


def neighbours_asked(info: Info) -> tuple[int, int]:
    """The widest `neighbours(above, below)` under this `rank` field (fragments included), so
    that `rank` reads them in its own round trip. Values `neighbours` refuses are left out: it
    raises its typed error without reading."""
    maximum = info.context.settings.leaderboard_max_neighbours
    above = below = 0
    pending: list[Selection] = [*info.selected_fields]
    while pending:
        for child in pending.pop().selections:
            if not isinstance(child, SelectedField):
                pending.append(child)  # a fragment: look inside
                continue
            if child.name != "neighbours":
                continue
            wanted = [_count(child.arguments.get(name, DEFAULT_NEIGHBOURS)) for name in NAMES]
            if all(n is not None and 0 <= n <= maximum for n in wanted):
                above, below = max(above, wanted[0] or 0), max(below, wanted[1] or 0)
    return above, below


NAMES = ("above", "below")


def _count(value: object) -> int | None:
    """An Int argument: variables arrive coerced, literals as their text (validation has made
    sure it is an Int)."""
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


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
        period: LeaderboardPeriod = keys.Period.ALL_TIME,  # type: ignore[valid-type]
    ) -> LeaderboardRankType | None:
        view = await reads.open_board(
            info.context.redis,
            domain_board(board),
            keys.Period(period),
            member_id=self.pk,
            sees_hidden=info.context.require_actor().is_admin,
        )
        above, below = neighbours_asked(info)
        position = await view.position(self.pk, above=above, below=below)
        return LeaderboardRankType.of(view, position)
