"""GraphQL types of the leaderboards: a page of a board, and a member's place on one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import strawberry

from gamification.errors import InvalidInput
from gamification.leaderboards import keys, reads
from schema.context import Info
from schema.relay import PageInfo, pk_of, to_global_id

LeaderboardPeriod = strawberry.enum(
    keys.Period,
    name="LeaderboardPeriod",
    description=(
        "ALL_TIME; WEEK, the ISO week from Monday 00:00 UTC; MONTH, from the 1st 00:00 UTC."
    ),
)

BOARD_DESCRIPTION = (
    '"points" (points earned), "friends" (you and those you follow, by points earned), '
    '"cause:<Cause ID>" (points donated to that cause; ALL_TIME only) or '
    '"challenge:<Challenge ID>" (progress in that challenge, over all its windows: each '
    "completion counts as the target, plus the progress towards the next; ALL_TIME only; a "
    "hidden challenge's board exists only for those who earned it)."
)


def domain_board(board: str) -> str:
    """The domain's name for an API board name: the API names a cause or a challenge by its
    global ID.

    Raises UnknownBoard when a cause or challenge board does not name such an ID."""
    for prefix, type_name, name_of in (
        (keys.CAUSE_PREFIX, "Cause", keys.cause_board),
        (keys.CHALLENGE_PREFIX, "Challenge", keys.challenge_board),
    ):
        if not board.startswith(prefix):
            continue
        try:
            return name_of(pk_of(board.removeprefix(prefix), type_name, field="board"))
        except InvalidInput:
            raise reads.UnknownBoard(
                f'"{prefix}" must be followed by a {type_name.lower()} ID', field="board"
            ) from None
    return board


# `neighbours(above, below)` when an argument is left out.
DEFAULT_NEIGHBOURS = 2


class Names:
    """How one list of members appears, loaded once on first use: a query that asks for no
    name or badge count costs no database round trip, and one that does costs one statement
    for the whole list."""

    def __init__(self, member_ids: Iterable[int], *, viewer_id: int | None) -> None:
        self._member_ids = frozenset(member_ids)
        self._viewer_id = viewer_id
        self._loading: asyncio.Task[dict[int, reads.Listing]] | None = None

    async def of(self, member_id: int) -> reads.Listing:
        if self._loading is None:
            self._loading = asyncio.ensure_future(
                reads.listings(self._member_ids, viewer_id=self._viewer_id)
            )
        return (await self._loading)[member_id]


@strawberry.type(
    name="LeaderboardEntry",
    description='A ranked member. Members who hide themselves show as "Hidden member".',
)
class LeaderboardEntryType:
    rank: int = strawberry.field(description="1 is the top.")
    score: int
    is_me: bool = strawberry.field(description="This entry is the member the board is read for.")
    member_pk: strawberry.Private[int]
    names: strawberry.Private[Names]

    @strawberry.field(description='Their display name, or "Hidden member". Never an email.')
    async def display_name(self) -> str:
        return (await self.names.of(self.member_pk)).display_name

    @strawberry.field(description="Their member ID, to follow them; null for hidden members.")
    async def member_id(self) -> strawberry.ID | None:
        listing = await self.names.of(self.member_pk)
        return to_global_id("Member", self.member_pk) if listing.shown else None

    @strawberry.field(description="Badges the member holds.")
    async def badge_count(self) -> int:
        return (await self.names.of(self.member_pk)).badge_count

    @classmethod
    def list_of(
        cls, standings: list[reads.Standing], *, viewer_id: int | None
    ) -> list[LeaderboardEntryType]:
        names = Names((s.member_id for s in standings), viewer_id=viewer_id)
        return [
            cls(
                rank=s.rank,
                score=s.points,
                is_me=s.member_id == viewer_id,
                member_pk=s.member_id,
                names=names,
            )
            for s in standings
        ]


@strawberry.type(name="Leaderboard", description="One page of a board, best first.")
class LeaderboardType:
    board: str
    period: LeaderboardPeriod  # type: ignore[valid-type]
    total: int = strawberry.field(description="Ranked members (those with a score above 0).")
    entries: list[LeaderboardEntryType]
    page_info: PageInfo


@strawberry.type(
    name="LeaderboardRank",
    description="A member's place on a board; equal scores rank who got there first higher.",
)
class LeaderboardRankType:
    rank: int | None = strawberry.field(description="1 is the top; null when not ranked.")
    score: int = strawberry.field(
        description="Points on this board in this period (refunds may take it to 0 or below)."
    )
    total: int = strawberry.field(description="Ranked members (those with a score above 0).")
    percentile: float | None = strawberry.field(
        description="Share of ranked members at or below this one, in percent (100: the top)."
    )
    view: strawberry.Private[reads.Board]
    position: strawberry.Private[reads.Position]

    @classmethod
    def of(cls, view: reads.Board, position: reads.Position) -> LeaderboardRankType:
        return cls(
            rank=position.rank,
            score=position.points,
            total=position.total,
            percentile=position.percentile,
            view=view,
            position=position,
        )

    @strawberry.field(description="The members ranked just above and just below (not you).")
    async def neighbours(
        self, info: Info, above: int = DEFAULT_NEIGHBOURS, below: int = DEFAULT_NEIGHBOURS
    ) -> list[LeaderboardEntryType]:
        reads.check_neighbours(above, below, info.context.settings.leaderboard_max_neighbours)
        # Usually no read: `rank` read the neighbours its selection asks for with the rank.
        standings = await self.view.around(self.position, above=above, below=below)
        return LeaderboardEntryType.list_of(standings, viewer_id=self.position.member_id)
