"""Reading the boards: open one (`open_board`), then a page of it by rank, a member's place and
their neighbours (`Board`); and how members appear on it (`listings`). A Redis failure while
reading answers LeaderboardsUnavailable: the points are safe, the board is not readable now.
"""

from __future__ import annotations

import abc
import logging
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gamification import sql
from gamification.causes.models import Cause
from gamification.challenges.models import Challenge, ChallengeCompletion
from gamification.errors import ErrorCode, InvalidInput, LoyaltyError
from gamification.leaderboards import store
from gamification.leaderboards.keys import (
    CHALLENGE_PREFIX,
    FRIENDS_BOARD,
    POINTS_BOARD,
    BoardKey,
    Period,
    Score,
    board_key,
    cause_id_of,
    challenge_board_key,
    challenge_id_of,
    member_of_tag,
    shard_of,
)
from gamification.limits import MAX_INT32
from gamification.members import follows
from gamification.members.models import Member

logger = logging.getLogger("loyalty.leaderboards")

HIDDEN_NAME: Final = "Hidden member"
_MAX_MEMBER_ID: Final = MAX_INT32  # a 32-bit column: PostgreSQL refuses larger numbers
_BOARD_NAMES: Final = (
    'Boards are "points", "friends", "cause:<cause ID>" and "challenge:<challenge ID>"'
)


class LeaderboardsUnavailable(LoyaltyError):
    """Redis cannot be reached: the boards cannot be read now (the points are safe)."""

    code = ErrorCode.UNAVAILABLE


class UnknownBoard(InvalidInput):
    code = ErrorCode.UNKNOWN_BOARD


class UnknownPeriod(InvalidInput):
    code = ErrorCode.UNKNOWN_PERIOD


@contextmanager
def _reading() -> Iterator[None]:
    try:
        yield
    except RedisError as error:
        logger.warning("leaderboard read failed: %s", error)
        raise LeaderboardsUnavailable(
            "The leaderboards are unavailable right now; your points are safe. Try again soon."
        ) from error


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int  # 1 is the top
    member_id: int
    points: int


@dataclass(frozen=True, slots=True)
class Position:
    """A member's place on a board. `rank` is None when they are not ranked (score <= 0).

    `nearby` holds the members up to `reach` = (above, below) places away, read together with
    the rank (the member excluded), so that `Board.around` needs no second read."""

    member_id: int
    rank: int | None
    points: int
    total: int
    nearby: tuple[Standing, ...] = ()
    reach: tuple[int, int] = (0, 0)

    @property
    def percentile(self) -> float | None:
        """The share of ranked members at or below this one, in percent: 100 for the leader,
        100/total for the last; None when not ranked."""
        if self.rank is None or not self.total:
            return None
        return round(100 * (self.total - self.rank + 1) / self.total, 2)

    def nearby_within(self, above: int, below: int) -> list[Standing] | None:
        """The members ranked up to `above` places above and `below` below, from what was read
        with the position; None when that read did not reach so far."""
        if self.rank is None:
            return []
        if above > self.reach[0] or below > self.reach[1]:
            return None
        lowest, highest = self.rank - above, self.rank + below
        return [s for s in self.nearby if lowest <= s.rank <= highest]


def check_neighbours(above: int, below: int, maximum: int) -> None:
    """Raises InvalidInput when `above` or `below` is negative or over `maximum`."""
    for name, value in (("above", above), ("below", below)):
        if value < 0:
            raise InvalidInput(f"`{name}` must not be negative", field=name)
        if value > maximum:
            raise InvalidInput(f"`{name}` must be at most {maximum}", field=name)


class Board(abc.ABC):
    """One board in one period, as a member or a screen reads it."""

    def __init__(self, name: str, period: Period) -> None:
        self.name = name
        self.period = period

    @abc.abstractmethod
    async def page(self, *, offset: int, limit: int) -> tuple[int, list[Standing]]:
        """The ranked total and `limit` standings after the first `offset`.
        Raises LeaderboardsUnavailable."""

    @abc.abstractmethod
    async def position(self, member_id: int, *, above: int = 0, below: int = 0) -> Position:
        """The member's place; with up to `above` and `below` neighbours when the board can
        read them in the same round trip (`around` then answers from them).
        Raises LeaderboardsUnavailable."""

    @abc.abstractmethod
    async def around(self, position: Position, *, above: int, below: int) -> list[Standing]:
        """Up to `above` members ranked just above the position and `below` just below it
        (none when it is not ranked). Raises LeaderboardsUnavailable."""


def _standings(offset: int, replies: Sequence[tuple[str, float]]) -> list[Standing]:
    return [
        Standing(rank=offset + i + 1, member_id=member_of_tag(tag), points=int(score))
        for i, (tag, score) in enumerate(replies)
    ]


class RankedBoard(Board):
    """A board read straight from its sorted set."""

    def __init__(self, redis: Redis, key: BoardKey, period: Period) -> None:
        super().__init__(key.board, period)
        self.redis = redis
        self.key = key

    async def page(self, *, offset: int, limit: int) -> tuple[int, list[Standing]]:
        with _reading():
            total, replies = await store.page(self.redis, self.key, offset, limit)
        return total, _standings(offset, replies)

    async def position(self, member_id: int, *, above: int = 0, below: int = 0) -> Position:
        # One round trip (a script) for the state, the total, the rank and the neighbours: they
        # are also consistent with each other, read at one instant.
        with _reading():
            reply = await store.position(self.redis, self.key, member_id, above, below)
        total, state = int(reply[0]), reply[1] if len(reply) > 1 else None
        points = Score.decode(state).points if state is not None else 0
        if len(reply) < 5:  # not ranked
            return Position(member_id, None, points, total)
        rank, first, window = int(reply[2]) + 1, int(reply[3]), reply[4]
        nearby = tuple(
            Standing(rank=first + i + 1, member_id=member_of_tag(tag), points=int(score))
            for i, (tag, score) in enumerate(zip(window[::2], window[1::2], strict=True))
            if first + i + 1 != rank
        )
        return Position(member_id, rank, points, total, nearby, (above, below))

    async def around(self, position: Position, *, above: int, below: int) -> list[Standing]:
        if position.rank is None or above + below == 0:
            return []
        read = position.nearby_within(above, below)
        if read is not None:
            return read
        start = max(0, position.rank - 1 - above)
        with _reading():
            replies = await store.window(self.redis, self.key, start, position.rank - 1 + below)
        return [s for s in _standings(start, replies) if s.member_id != position.member_id]


class FriendsBoard(Board):
    """A member and those they follow, ranked by the `points` board of the period."""

    def __init__(self, period: Period, scores: dict[int, Score]) -> None:
        super().__init__(FRIENDS_BOARD, period)
        self.scores = scores
        ranked = sorted(
            (member for member, score in scores.items() if score.ranked),
            key=lambda m: (-scores[m].points, scores[m].reached_ms, m),  # the sorted set's order
        )
        self.ranked = [
            Standing(rank=i + 1, member_id=member, points=scores[member].points)
            for i, member in enumerate(ranked)
        ]

    @classmethod
    async def load(
        cls, redis: Redis, key: BoardKey, period: Period, member_ids: Collection[int]
    ) -> FriendsBoard:
        by_shard: dict[int, list[int]] = defaultdict(list)
        for member in sorted(set(member_ids)):
            by_shard[shard_of(member)].append(member)
        with _reading():
            replies = await store.hash_fields(
                redis, [(key.states(shard), members) for shard, members in by_shard.items()]
            )
        scores = {member: Score.decode(raw) for reply in replies for member, raw in reply.items()}
        return cls(period, scores)

    async def page(self, *, offset: int, limit: int) -> tuple[int, list[Standing]]:
        return len(self.ranked), self.ranked[offset : offset + limit]

    async def position(self, member_id: int, *, above: int = 0, below: int = 0) -> Position:
        score = self.scores.get(member_id)
        rank = next((s.rank for s in self.ranked if s.member_id == member_id), None)
        return Position(member_id, rank, score.points if score else 0, len(self.ranked))

    async def around(self, position: Position, *, above: int, below: int) -> list[Standing]:
        if position.rank is None:
            return []
        start = max(0, position.rank - 1 - above)
        window = self.ranked[start : position.rank + below]
        return [s for s in window if s.member_id != position.member_id]


async def open_board(
    redis: Redis,
    board: str,
    period: Period,
    *,
    member_id: int | None,
    now: datetime | None = None,
    sees_hidden: bool = False,
) -> Board:
    """The board named `board` ("points", "friends", "cause:<id>" or "challenge:<id>") in
    `period`, for `member_id` (whose friends board "friends" is; None for a device). A hidden
    challenge's board exists only for members who earned the challenge and for `sees_hidden`
    callers (admins): to everyone else it is unknown, like a challenge that does not exist.

    Raises UnknownBoard, UnknownPeriod (cause and challenge boards have only ALL_TIME),
    LeaderboardsUnavailable.
    """
    now = now or datetime.now(UTC)
    if board.startswith(CHALLENGE_PREFIX):
        return await _open_challenge_board(
            redis, board, period, member_id=member_id, sees_hidden=sees_hidden
        )
    if board == POINTS_BOARD:
        return RankedBoard(redis, board_key(POINTS_BOARD, period, now), period)
    if board == FRIENDS_BOARD:
        if member_id is None:
            raise UnknownBoard("The friends board belongs to a member", field="board")
        members = [member_id, *await follows.followee_ids(member_id)]
        key = board_key(POINTS_BOARD, period, now)
        return await FriendsBoard.load(redis, key, period, members)
    cause_id = cause_id_of(board)
    if cause_id is None or not await Cause.filter(id=cause_id).exists():
        raise UnknownBoard(_BOARD_NAMES, field="board")
    if period is not Period.ALL_TIME:
        raise UnknownPeriod("A cause's board has only the ALL_TIME period", field="period")
    return RankedBoard(redis, board_key(board, Period.ALL_TIME, now), period)


async def _open_challenge_board(
    redis: Redis, board: str, period: Period, *, member_id: int | None, sees_hidden: bool
) -> Board:
    """Raises UnknownBoard (no such challenge, or a hidden one the caller has not earned),
    UnknownPeriod."""
    challenge_id = challenge_id_of(board)
    hidden: Any = (
        await Challenge.filter(id=challenge_id).first().values_list("hidden", flat=True)
        if challenge_id is not None
        else None
    )
    if challenge_id is None or hidden is None:
        raise UnknownBoard(_BOARD_NAMES, field="board")
    if (
        hidden
        and not sees_hidden
        and (
            member_id is None
            or not await ChallengeCompletion.filter(
                challenge_id=challenge_id, member_id=member_id, revoked_at__isnull=True
            ).exists()
        )
    ):
        raise UnknownBoard(_BOARD_NAMES, field="board")  # as if it did not exist
    if period is not Period.ALL_TIME:
        raise UnknownPeriod("A challenge's board has only the ALL_TIME period", field="period")
    return RankedBoard(redis, challenge_board_key(challenge_id), period)


@dataclass(frozen=True, slots=True)
class Listing:
    """How a member appears on a board: their display name, or HIDDEN_NAME, and how many
    badges they hold."""

    display_name: str
    shown: bool  # their identity is shown: they are visible, or they are the viewer
    badge_count: int = 0


async def listings(member_ids: Collection[int], *, viewer_id: int | None) -> dict[int, Listing]:
    """Members turned invisible keep their rank but not their name, except to themselves.
    Only display names are ever shown, never emails. One statement for the whole list."""
    # Hand-written: the ORM's query building costs more CPU than the database's answer here.
    ids = sorted({m for m in member_ids if 0 < m <= _MAX_MEMBER_ID})
    rows = []
    if ids:
        placeholders = ", ".join(f"${n}" for n in range(1, len(ids) + 1))
        rows = await sql.fetch(
            Member._meta.db,
            "SELECT m.id, m.display_name, m.leaderboard_visible, "
            "(SELECT COUNT(*) FROM member_badge b WHERE b.member_id = m.id) AS badge_count "
            f"FROM member m WHERE m.id IN ({placeholders})",
            *ids,
        )
    found = {}
    for row in rows:
        member_id = int(row["id"])
        shown = bool(row["leaderboard_visible"]) or member_id == viewer_id
        found[member_id] = Listing(
            row["display_name"] if shown else HIDDEN_NAME, shown, int(row["badge_count"])
        )
    return {m: found.get(m, Listing(HIDDEN_NAME, False)) for m in member_ids}
