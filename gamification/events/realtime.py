"""Real-time notices: what happened, on which channel, for the subscriptions to deliver.

A notice is published to a Redis pub/sub channel after the transaction that caused it has
committed; every server process reads the channels its clients subscribe to (one Redis
connection per process, `server.pubsub`) and fans the notice out to them. Delivery is
at-most-once: each notice carries a `version` that increases along its stream (for points, the
id of the ledger entry that left the balance where it is), so a client that sees a jump, or
reconnects, refetches.

Channels (names in `gamification.redis_keys`, each after `rt:<namespace>:`, the namespace
being `LOYALTY_REDIS_CHANNEL_NAMESPACE`: see `_namespace`)
- `member:<member id>`: the member's own stream; `topic` says what it is about
  (pointsChanged, tierChanged, challengeProgress, badgeAwarded, redemptionRequest,
  notification).
- `lb:<board>:<period>`: a board changed (the notice carries no standings: subscribers
  read the top once per process, at most once per `realtime_leaderboard_interval_seconds`).
- `cause:<cause id>`: a cause's totals changed.
- `rr:<request id>`: a kiosk's redemption request changed status.

For other modules (tiers, challenges, badges): once a use case's transaction has committed
(after its `in_transaction` block), call `announce(member_notice(...))`; the GraphQL layer
publishes what was announced when the mutation's resolvers have returned. Work that runs
outside a mutation (a scheduled job) calls `publish` itself after its commit.
"""

from __future__ import annotations

import enum
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gamification import program_settings, redis_keys
from gamification.challenges import definitions as challenges_definitions
from gamification.challenges import views as challenges_views
from gamification.challenges import windows as challenges_windows
from gamification.challenges.models import Challenge, ChallengeCompletion, ChallengeStatus
from gamification.events import committed_entries
from gamification.events.models import DomainEvent
from gamification.events.progress import EntryKey, ProgressChange, ProgressUpdates, Snapshot
from gamification.leaderboards import keys as leaderboards
from gamification.ledger import accounts
from gamification.ledger.models import LedgerAccount, LedgerEntry

logger = logging.getLogger("loyalty.realtime")


class Topic(enum.StrEnum):
    POINTS_CHANGED = "pointsChanged"
    TIER_CHANGED = "tierChanged"
    CHALLENGE_PROGRESS = "challengeProgress"
    BADGE_AWARDED = "badgeAwarded"
    REDEMPTION_REQUEST = "redemptionRequest"
    LEADERBOARD_CHANGED = "leaderboardChanged"
    CAUSE_PROGRESS = "causeProgress"
    REQUEST_STATUS = "redemptionRequestStatus"
    NOTIFICATION = "notification"


@lru_cache(maxsize=1)
def _namespace() -> str:
    """Redis pub/sub channels are shared by every database of a Redis server: this deployment's
    carry its namespace, so that two deployments (or test runs) on one Redis never hear each
    other."""
    return program_settings.current().redis_channel_namespace


def member_channel(member_id: int) -> str:
    return redis_keys.member_channel(_namespace(), member_id)


def leaderboard_channel(board: str, period: str) -> str:
    return redis_keys.leaderboard_channel(_namespace(), board, period)


def cause_channel(cause_id: int) -> str:
    return redis_keys.cause_channel(_namespace(), cause_id)


def request_channel(request_id: str) -> str:
    return redis_keys.request_channel(_namespace(), request_id)


@dataclass(frozen=True, slots=True)
class Notice:
    """One message on one channel. `data` is JSON-serialisable and topic-specific."""

    channel: str
    topic: Topic
    version: int
    data: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps(
            {"topic": self.topic.value, "version": self.version, "data": self.data},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, channel: str, raw: str | bytes) -> Notice:
        """Raises ValueError for a message that is not a notice."""
        try:
            body = json.loads(raw)
            return cls(channel, Topic(body["topic"]), int(body["version"]), dict(body["data"]))
        except (KeyError, TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a notice: {raw!r}") from error


def member_notice(member_id: int, topic: Topic, version: int, data: dict[str, Any]) -> Notice:
    """A notice for one member's own stream (tierChanged, challengeProgress, badgeAwarded …)."""
    return Notice(member_channel(member_id), topic, version, data)


async def publish(redis: Redis, notices: Iterable[Notice]) -> int:
    """Publish after commit, best effort: a Redis failure is logged and never raised (the
    change is committed; clients catch up through the version). Returns how many went out."""
    notices = list(notices)
    if not notices:
        return 0
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for notice in notices:
                pipe.publish(notice.channel, notice.encode())
            await pipe.execute()
    except RedisError:
        logger.exception("publishing %s real-time notices failed", len(notices))
        return 0
    return len(notices)


# --- points, boards and causes, from the ledger ---------------------------------------------


@dataclass(frozen=True, slots=True)
class PointsState:
    """A member's points after their latest entry; `version` is that entry's id (0: none)."""

    member_id: int
    balance: int
    held: int
    version: int

    @property
    def available(self) -> int:
        return self.balance - self.held

    def notice(self) -> Notice:
        return member_notice(
            self.member_id,
            Topic.POINTS_CHANGED,
            self.version,
            {"balance": self.balance, "held": self.held},
        )


async def points_state(member_id: int) -> PointsState:
    """Balance, held and the entry that left them so, read consistently: an account's row
    counts exactly the entries numbered up to its `entry_count`, all committed with it."""
    account = await LedgerAccount.get_or_none(code=accounts.member_account_code(member_id))
    if account is None or not account.entry_count:
        return PointsState(member_id, 0, 0, 0)
    entry_id: Any = (
        await LedgerEntry.filter(account_id=account.id, seq=account.entry_count)
        .first()
        .values_list("id", flat=True)
    )
    return PointsState(member_id, account.balance, account.held, int(entry_id or 0))


async def committed_entry_notices(entries: Iterable[LedgerEntry]) -> list[Notice]:
    """What the ledger entries of committed transactions change for subscribers: each member's
    points, the boards they count on, the causes they gave to. Entries whose transaction
    rolled back are ignored. One read at most, shared with the leaderboards
    (`gamification.events.committed_entries`), which also gives each member's points as they now
    stand."""
    rows = await committed_entries.keep_committed(entries)
    if not rows:
        return []
    states: dict[int, PointsState] = {}
    boards: dict[str, int] = {}
    causes: dict[int, int] = {}
    for row in rows:
        entry_id = row.id
        for account_code in (row.account_code, row.counter_code):
            cause_id = leaderboards.cause_id_of(account_code)
            if cause_id is not None:
                causes[cause_id] = max(causes.get(cause_id, 0), entry_id)
        member_id = row.member_id
        if member_id is None:
            continue
        state = PointsState(member_id, row.balance, row.held, row.head_entry_id)
        if member_id not in states or states[member_id].version < state.version:
            states[member_id] = state
        if row.kind in leaderboards.POINTS_KINDS:
            for period in leaderboards.Period:
                channel = leaderboard_channel(leaderboards.POINTS_BOARD, period.value)
                boards[channel] = max(boards.get(channel, 0), entry_id)
        elif row.kind in leaderboards.DONATION_KINDS and row.counter_code.startswith(
            leaderboards.CAUSE_PREFIX
        ):
            channel = leaderboard_channel(row.counter_code, leaderboards.Period.ALL_TIME.value)
            boards[channel] = max(boards.get(channel, 0), entry_id)
    notices = [states[member_id].notice() for member_id in sorted(states)]
    notices += [
        Notice(channel, Topic.LEADERBOARD_CHANGED, version) for channel, version in boards.items()
    ]
    notices += [
        Notice(cause_channel(cause_id), Topic.CAUSE_PROGRESS, version)
        for cause_id, version in sorted(causes.items())
    ]
    return notices


class _Reported(Protocol):
    @property
    def event_id(self) -> int: ...

    @property
    def source_key(self) -> str: ...

    @property
    def ledger_entry(self) -> EntryKey | None: ...


async def _committed_events(reported: Iterable[_Reported]) -> set[tuple[int, str]]:
    """The (event id, source key) of the reported changes whose transaction committed: known
    from their ledger entry when this process has checked it
    (`gamification.events.committed_entries`), else read from the events table (one statement)."""
    known: set[tuple[int, str]] = set()
    unknown: set[tuple[int, str]] = set()
    for item in reported:
        pair = (item.event_id, item.source_key)
        verdict = committed_entries.is_committed(item.ledger_entry)
        if verdict is None:
            unknown.add(pair)
        elif verdict:
            known.add(pair)
    if unknown:
        found = await DomainEvent.filter(id__in={pair[0] for pair in unknown}).values_list(
            "id", "source_key"
        )
        known |= unknown & {(int(event_id), key) for event_id, key in found}
    return known


async def gamification_notices(updates: ProgressUpdates) -> list[Notice]:
    """Tier upgrades and new badges reported by committed transactions, as notices (version:
    the tier_change or member_badge row's id). Reported with the values their transaction
    wrote, so nothing is read but, at most, whether their event committed."""
    if not updates.awards and not updates.upgrades:
        return []
    committed_events = await _committed_events([*updates.upgrades, *updates.awards])
    notices = [
        member_notice(
            upgrade.member_id,
            Topic.TIER_CHANGED,
            upgrade.change_id,
            {"tier": upgrade.tier, "previous_tier": upgrade.previous_tier},
        )
        for upgrade in updates.upgrades
        if (upgrade.event_id, upgrade.source_key) in committed_events
    ]
    notices += [
        member_notice(
            award.member_id,
            Topic.BADGE_AWARDED,
            award.award_id,
            {"badge_id": award.badge_id, "name": award.name},
        )
        for award in updates.awards
        if (award.event_id, award.source_key) in committed_events
    ]
    return notices


async def challenge_progress_notices(
    changes: Iterable[ProgressChange], *, now: datetime | None = None
) -> list[Notice]:
    """What committed progress changes tell subscribers: for each member and challenge that
    moved, one `challengeProgress` notice with the member's progress in the challenge's current
    window (what `me { challenges { progress } }` shows), and one `leaderboardChanged` ping
    per challenge board.

    Version: the id of the domain event that moved the progress. A member's events are written
    under their account lock, so their ids increase in commit order along the member's stream;
    one event that moves several challenges sends one notice per challenge with the same
    version. Changes whose transaction rolled back are dropped. The progress shown is the one
    the transaction wrote (carried by the change), unless the change carries none or the
    challenge's current window is no longer the one it moved (then it is read); a hidden
    challenge, announced only to members who earned it and never on a board, is read too.
    """
    changes = list(changes)
    if not changes:
        return []
    committed_events = await _committed_events(changes)
    latest: dict[tuple[int, int], ProgressChange] = {}
    for change in changes:
        if (change.event_id, change.source_key) in committed_events:
            pair = (change.member_id, change.challenge_id)
            if pair not in latest or latest[pair].event_id < change.event_id:
                latest[pair] = change
    if not latest:
        return []
    now = now or datetime.now(UTC)
    found = {c.id: c for c in await challenges_definitions.catalog(ChallengeStatus.ACTIVE)}
    missing = {pair[1] for pair in latest} - set(found)
    if missing:  # archived, or created by another process since this one cached the catalog
        found |= {c.id: c for c in await Challenge.filter(id__in=missing)}
    hidden = [challenge_id for challenge_id, c in found.items() if c.hidden]
    earned = (
        set(
            await ChallengeCompletion.filter(
                member_id__in={pair[0] for pair in latest},
                challenge_id__in=[cid for cid in hidden if any(p[1] == cid for p in latest)],
                revoked_at__isnull=True,
            ).values_list("member_id", "challenge_id")
        )
        if any(pair[1] in hidden for pair in latest)
        else set()
    )
    views: dict[tuple[int, int], challenges_views.ChallengeView] = {}
    to_read: dict[int, list[Challenge]] = defaultdict(list)
    boards: dict[int, int] = {}
    for (member_id, challenge_id), change in sorted(latest.items()):
        challenge = found.get(challenge_id)
        if challenge is None:
            continue
        if not challenge.hidden:
            boards[challenge_id] = max(boards.get(challenge_id, 0), change.event_id)
        elif (member_id, challenge_id) not in earned:
            continue
        view = _view_from(challenge, change.snapshot, now)
        if view is not None:
            views[member_id, challenge_id] = view
        else:
            to_read[member_id].append(challenge)
    for member_id, member_challenges in to_read.items():
        for view in await challenges_views.views_for(member_id, member_challenges, now):
            views[member_id, view.challenge.id] = view
    notices = [
        member_notice(
            member_id,
            Topic.CHALLENGE_PROGRESS,
            latest[member_id, challenge_id].event_id,
            _progress_data(view),
        )
        for (member_id, challenge_id), view in sorted(views.items())
    ]
    notices += [
        Notice(
            leaderboard_channel(
                leaderboards.challenge_board(challenge_id), leaderboards.Period.ALL_TIME.value
            ),
            Topic.LEADERBOARD_CHANGED,
            version,
        )
        for challenge_id, version in sorted(boards.items())
    ]
    return notices


def _view_from(
    challenge: Challenge, snapshot: Snapshot | None, now: datetime
) -> challenges_views.ChallengeView | None:
    """The member's view of the challenge from the values their transaction wrote; None when
    those are not the current window's (the window moved on since the event, or a late event
    moved an earlier window)."""
    if snapshot is None:
        return None
    standing = challenges_views.ChallengeStanding(
        now=now,
        zone=challenges_windows.zone_of(snapshot.timezone),
        progress={
            (challenge.id, snapshot.window_key): challenges_views.WindowProgress(
                current=snapshot.current,
                completions=snapshot.completions,
                completed_at=snapshot.completed_at,
                streak=snapshot.streak,
                last_period=snapshot.last_period,
            )
        },
        joined=frozenset({challenge.id} if snapshot.joined else ()),
        earned=frozenset(),
    )
    local = now.astimezone(standing.zone)
    if challenges_windows.window_key(challenge.window_kind, local) != snapshot.window_key:
        return None
    [view] = challenges_views.views_of(standing, [challenge])
    return view


def _progress_data(view: challenges_views.ChallengeView) -> dict[str, Any]:
    challenge = view.challenge
    return {
        "challenge_id": challenge.id,
        "current": str(view.current),
        "target": str(view.target),
        "percent": view.percent,
        "completions": view.completions,
        "completed": view.completions >= challenge.max_completions,
        "completed_at": _iso(view.completed_at),
        "streak": view.streak,
        "ends_at": _iso(view.ends_at),
        "joined": view.joined,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def members_of(notices: Iterable[Notice]) -> set[int]:
    """The members whose own streams these notices are on."""
    prefix = member_channel(0)[:-1]
    return {int(n.channel.removeprefix(prefix)) for n in notices if n.channel.startswith(prefix)}


# --- after commit ------------------------------------------------------------------------------

_announced: ContextVar[list[Notice] | None] = ContextVar("announced_notices", default=None)


@contextmanager
def collect_announced_notices() -> Iterator[list[Notice]]:
    """Collect the notices announced in this context, to publish when its work is done. The
    GraphQL layer opens one around every mutation."""
    notices: list[Notice] = []
    token = _announced.set(notices)
    try:
        yield notices
    finally:
        _announced.reset(token)


def announce(notice: Notice) -> None:
    """Queue a notice for after the commit; dropped when nobody collects (a script, a test)."""
    collected = _announced.get()
    if collected is not None:
        collected.append(notice)


# --- subscribing -------------------------------------------------------------------------------


class Feed(Protocol):
    """What the GraphQL layer subscribes through (implemented by `server.pubsub.Broker`)."""

    def subscribe(
        self, channel: str, *, coalesce_seconds: float = 0.0
    ) -> AbstractAsyncContextManager[AsyncIterator[Notice]]:
        """The notices published on `channel` from now on, until the context exits."""
        ...
