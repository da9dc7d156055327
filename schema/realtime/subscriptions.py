"""GraphQL subscriptions (graphql-transport-ws): the member's own streams and the public ones.

Member streams (`pointsChanged`, `tierChanged`, `challengeProgress`, `badgeAwarded`,
`redemptionRequests`) take no member argument: the member is the connection's credential,
checked in `connection_init`, so nobody can subscribe to another member's stream. Devices have
no member stream.

Every message has a `version`, increasing along its stream; delivery is at-most-once, so a
client that sees a version jump (or reconnects) refetches. `pointsChanged`,
`leaderboardChanged` and `causeProgress` start with the current state (boards and causes with
version 0), read once the subscription is in place, so nothing between the two is missed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, TypeVar

import strawberry

from gamification.actors import Actor
from gamification.causes import catalog as causes_catalog
from gamification.causes import impact as causes_impact
from gamification.errors import ErrorCode, InvalidInput, NotFound
from gamification.events import realtime
from gamification.events.realtime import Feed, Notice, Topic
from gamification.leaderboards import keys, reads
from gamification.ledger import models as ledger_models
from schema.causes.types import CauseProgress
from schema.context import Context, Info
from schema.leaderboards.types import (
    BOARD_DESCRIPTION,
    LeaderboardEntryType,
    LeaderboardPeriod,
    Names,
    domain_board,
)
from schema.permissions import Forbidden
from schema.points.types import LedgerEntryType
from schema.relay import pk_of, to_global_id

T = TypeVar("T")

_CENTS: Final = Decimal("0.01")
VERSION_DESCRIPTION: Final = (
    "Increases along this stream (for points, the id of the ledger entry that left the balance "
    "as shown). Delivery is at-most-once: after a gap, refetch."
)


# --- shared reads ----------------------------------------------------------------------------


class SharedReads:
    """One read per key in this process, however many subscribers ask for it at once: a board
    update fanned out to 10,000 subscribers reads the board once. Keeps the last `size`."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._reads: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = OrderedDict()

    async def get(self, key: tuple[Any, ...], read: Callable[[], Awaitable[T]]) -> T:
        found = self._reads.get(key)
        if found is None or (found.done() and found.exception() is not None):
            found = asyncio.ensure_future(read())
            self._reads[key] = found
            while len(self._reads) > self.size:
                self._reads.popitem(last=False)
        result: T = await asyncio.shield(found)
        return result


_shared = SharedReads()


def feed_of(info: Info) -> Feed:
    feed = info.context.feed
    if feed is None:
        raise NotFound("Subscriptions are not served here", code=ErrorCode.UNAVAILABLE)
    return feed


def member_of(info: Info) -> Actor:
    """The signed-in person whose streams these are. Raises for devices and anonymous callers."""
    actor = info.context.require_actor()
    if not actor.is_person:
        raise Forbidden("Member streams belong to members")
    return actor


# --- points ----------------------------------------------------------------------------------


@strawberry.type(description="A member's points after a change.")
class PointsChange:
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    balance: int
    held: int
    available: int = strawberry.field(description="`balance` − `held`.")
    entry_pk: strawberry.Private[int]

    @strawberry.field(description="The entry that made the change; null before any entry.")
    async def entry(self) -> LedgerEntryType | None:
        if not self.entry_pk:
            return None
        entry = await ledger_models.LedgerEntry.get_or_none(id=self.entry_pk)
        return LedgerEntryType.from_model(entry) if entry else None

    @classmethod
    def of(cls, state: realtime.PointsState) -> PointsChange:
        return cls(
            version=state.version,
            balance=state.balance,
            held=state.held,
            available=state.available,
            entry_pk=state.version,
        )


# --- tiers, challenges, badges (published by those modules; see gamification.events.realtime) ---


@strawberry.type(description="The member moved to another tier.")
class TierUpdate:
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    tier: str
    previous_tier: str | None


@strawberry.type(
    description="Your progress in the current window of a challenge, after an event moved it: "
    "the same values as `me { challenges { progress } }`."
)
class ChallengeProgressUpdate:
    version: int = strawberry.field(
        description="The id of the event that moved the progress; increases along your "
        "stream (one event moving several challenges sends one message per challenge, with "
        "the same version). Delivery is at-most-once: after a gap, refetch `me { challenges }`."
    )
    challenge_id: strawberry.ID
    current: Decimal
    target: Decimal
    percent: int
    completions: int = strawberry.field(description="In the current window.")
    completed: bool = strawberry.field(
        description="The current window's last completion (maxCompletions) is reached."
    )
    completed_at: datetime | None
    streak_length: int
    ends_at: datetime | None = strawberry.field(description="When the current window closes.")


@strawberry.type(description="The member was awarded a badge.")
class BadgeAward:
    version: int = strawberry.field(description=VERSION_DESCRIPTION)
    badge_id: strawberry.ID
    name: str


def _tier_update(notice: Notice) -> TierUpdate:
    return TierUpdate(
        version=notice.version,
        tier=str(notice.data["tier"]),
        previous_tier=notice.data.get("previous_tier"),
    )


def _challenge_progress(notice: Notice) -> ChallengeProgressUpdate:
    data = notice.data
    return ChallengeProgressUpdate(
        version=notice.version,
        challenge_id=to_global_id("Challenge", int(data["challenge_id"])),
        current=Decimal(data["current"]).quantize(_CENTS),
        target=Decimal(data["target"]).quantize(_CENTS),
        percent=int(data["percent"]),
        completions=int(data["completions"]),
        completed=bool(data["completed"]),
        completed_at=_moment(data.get("completed_at")),
        streak_length=int(data["streak"]),
        ends_at=_moment(data.get("ends_at")),
    )


def _moment(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def _badge_award(notice: Notice) -> BadgeAward:
    return BadgeAward(
        version=notice.version,
        badge_id=to_global_id("Badge", int(notice.data["badge_id"])),
        name=str(notice.data["name"]),
    )


async def _member_topic(
    info: Info, topic: Topic, convert: Callable[[Notice], T]
) -> AsyncGenerator[T, None]:
    actor = member_of(info)
    async with feed_of(info).subscribe(realtime.member_channel(actor.id)) as notices:
        async for notice in notices:
            if notice.topic is topic:
                yield convert(notice)


# --- boards and causes -----------------------------------------------------------------------


@strawberry.type(description="The top of a board after a change (at most one per second).")
class LeaderboardUpdate:
    version: int = strawberry.field(
        description="The newest ledger entry id behind this update (0 for the first message)."
    )
    board: str
    period: LeaderboardPeriod  # type: ignore[valid-type]
    total: int = strawberry.field(description="Ranked members (those with a score above 0).")
    top: list[LeaderboardEntryType]


@strawberry.type(description="What a cause has raised, after a change.")
class CauseProgressUpdate:
    version: int = strawberry.field(
        description="The newest ledger entry id behind this update (0 for the first message)."
    )
    cause_id: strawberry.ID
    progress: CauseProgress


async def _read_top(
    context: Context, board: str, period: keys.Period
) -> tuple[int, list[reads.Standing], Names]:
    view = await reads.open_board(context.redis, board, period, member_id=None)
    total, standings = await view.page(
        offset=0, limit=context.settings.realtime_leaderboard_top_max
    )
    # Names shared by every subscriber: one database read per update, not one per client.
    return total, standings, Names((s.member_id for s in standings), viewer_id=None)


async def _read_cause(cause_id: int) -> CauseProgress:
    cause = await causes_catalog.get_cause(cause_id)
    if cause is None:
        raise NotFound("No such cause", code=ErrorCode.CAUSE_NOT_FOUND, field="causeId")
    return CauseProgress.of(causes_impact.progress_of(cause))


# --- the root type ---------------------------------------------------------------------------


@strawberry.type
class RealtimeSubscriptions:
    @strawberry.subscription(
        description="Your points, now and after every change. Members only: the stream is "
        "the signed-in member's own."
    )
    async def points_changed(self, info: Info) -> AsyncGenerator[PointsChange, None]:
        actor = member_of(info)
        async with feed_of(info).subscribe(realtime.member_channel(actor.id)) as notices:
            latest = await realtime.points_state(actor.id)
            yield PointsChange.of(latest)
            async for notice in notices:
                if notice.topic is not Topic.POINTS_CHANGED or notice.version <= latest.version:
                    continue  # an older state than the one already sent
                latest = realtime.PointsState(
                    actor.id, int(notice.data["balance"]), int(notice.data["held"]), notice.version
                )
                yield PointsChange.of(latest)

    @strawberry.subscription(description="Your tier changed (members only; your own).")
    async def tier_changed(self, info: Info) -> AsyncGenerator[TierUpdate, None]:
        async for change in _member_topic(info, Topic.TIER_CHANGED, _tier_update):
            yield change

    @strawberry.subscription(description="Progress on your challenges (members only).")
    async def challenge_progress(self, info: Info) -> AsyncGenerator[ChallengeProgressUpdate, None]:
        async for update in _member_topic(info, Topic.CHALLENGE_PROGRESS, _challenge_progress):
            yield update

    @strawberry.subscription(description="Badges you are awarded (members only).")
    async def badge_awarded(self, info: Info) -> AsyncGenerator[BadgeAward, None]:
        async for award in _member_topic(info, Topic.BADGE_AWARDED, _badge_award):
            yield award

    @strawberry.subscription(
        description="The top `top` of a board, now and after changes, at most one message per "
        "board per second (the latest). Any signed-in caller; not the friends board."
    )
    async def leaderboard_changed(
        self,
        info: Info,
        board: Annotated[str, strawberry.argument(description=BOARD_DESCRIPTION)] = "points",
        period: LeaderboardPeriod = keys.Period.ALL_TIME,  # type: ignore[valid-type]
        top: int = 10,
    ) -> AsyncGenerator[LeaderboardUpdate, None]:
        actor = info.context.require_actor()
        settings = info.context.settings
        if not 1 <= top <= settings.realtime_leaderboard_top_max:
            raise InvalidInput(
                f"top must be between 1 and {settings.realtime_leaderboard_top_max}", field="top"
            )
        name = domain_board(board)
        if name == keys.FRIENDS_BOARD:
            raise reads.UnknownBoard(
                "The friends board has no live updates: read `leaderboard`", field="board"
            )
        period = keys.Period(period)
        await reads.open_board(info.context.redis, name, period, member_id=None)  # checks
        viewer_id = actor.id if actor.is_person else None
        channel = realtime.leaderboard_channel(name, period.value)
        interval = settings.realtime_leaderboard_interval_seconds
        async with feed_of(info).subscribe(channel, coalesce_seconds=interval) as notices:
            version = 0
            # The first state is this subscriber's own read; updates are read once per process.
            read = await _read_top(info.context, name, period)
            while True:
                total, standings, names = read
                yield LeaderboardUpdate(
                    version=version,
                    board=board,
                    period=period,
                    total=total,
                    top=[
                        LeaderboardEntryType(
                            rank=s.rank,
                            score=s.points,
                            is_me=s.member_id == viewer_id,
                            member_pk=s.member_id,
                            names=names,
                        )
                        for s in standings[:top]
                    ],
                )
                version = (await anext(notices)).version
                read = await _shared.get(
                    (channel, version), lambda: _read_top(info.context, name, period)
                )

    @strawberry.subscription(
        description="What a cause has raised, now and after every donation. Any signed-in caller."
    )
    async def cause_progress(
        self, info: Info, cause_id: strawberry.ID
    ) -> AsyncGenerator[CauseProgressUpdate, None]:
        info.context.require_actor()
        pk = pk_of(cause_id, "Cause", field="causeId")
        await _read_cause(pk)  # NotFound before subscribing
        channel = realtime.cause_channel(pk)
        async with feed_of(info).subscribe(channel) as notices:
            version, progress = 0, await _read_cause(pk)
            while True:
                yield CauseProgressUpdate(version=version, cause_id=cause_id, progress=progress)
                version = (await anext(notices)).version
                progress = await _shared.get((channel, version), lambda: _read_cause(pk))
