"""Real-time notices: what happened, on which channel, for the subscriptions to deliver.

A notice is published to a Redis pub/sub channel after the transaction that caused it has
committed; every server process reads the channels its clients subscribe to (one Redis
connection per process, `server.pubsub`) and fans the notice out to them. Delivery is
at-most-once: each notice carries a `version` that increases along its stream (for points, the
id of the ledger entry that left the balance where it is), so a client that sees a jump, or
reconnects, refetches.

Channels (all names start with `CHANNEL_PREFIX`)
Names start with `rt:<namespace>:` (a hash of the database URL: see `_namespace`).
- `rt:member:<member id>`: the member's own stream; `topic` says what it is about
  (pointsChanged, tierChanged, challengeProgress, badgeAwarded, redemptionRequest).
- `rt:lb:<board>:<period>`: a board changed (the notice carries no standings: subscribers
  read the top once per process, at most once per `realtime_leaderboard_interval_seconds`).
- `rt:cause:<cause id>`: a cause's totals changed.
- `rt:rr:<request id>`: a kiosk's redemption request changed status.

For other modules (tiers, challenges, badges): once a use case's transaction has committed
(after its `in_transaction` block), call `announce(member_notice(...))`; the GraphQL layer
publishes what was announced when the mutation's resolvers have returned. Work that runs
outside a mutation (a scheduled job) calls `publish` itself after its commit.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gamification import leaderboards, ledger
from gamification.models import EntryKind, LedgerAccount, LedgerEntry, MemberBadge, Tier, TierChange
from server.settings import get_settings

logger = logging.getLogger("loyalty.realtime")

CHANNEL_PREFIX: Final = "rt:"


class Topic(enum.StrEnum):
    POINTS_CHANGED = "pointsChanged"
    TIER_CHANGED = "tierChanged"
    CHALLENGE_PROGRESS = "challengeProgress"
    BADGE_AWARDED = "badgeAwarded"
    REDEMPTION_REQUEST = "redemptionRequest"
    LEADERBOARD_CHANGED = "leaderboardChanged"
    CAUSE_PROGRESS = "causeProgress"
    REQUEST_STATUS = "redemptionRequestStatus"


@lru_cache(maxsize=1)
def _namespace() -> str:
    """Redis pub/sub channels are shared by every database of a Redis server: name them after
    this deployment's database, so that two deployments (or test runs) on one Redis never hear
    each other."""
    database_url = get_settings().database_url
    return f"{CHANNEL_PREFIX}{hashlib.sha256(database_url.encode()).hexdigest()[:12]}:"


def member_channel(member_id: int) -> str:
    return f"{_namespace()}member:{member_id}"


def leaderboard_channel(board: str, period: str) -> str:
    return f"{_namespace()}lb:{board}:{period}"


def cause_channel(cause_id: int) -> str:
    return f"{_namespace()}cause:{cause_id}"


def request_channel(request_id: str) -> str:
    return f"{_namespace()}rr:{request_id}"


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
    account = await LedgerAccount.get_or_none(code=ledger.member_account_code(member_id))
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
    rolled back are ignored (re-read by id, kept when the hash matches; see events.py)."""
    hashes = {entry.id: entry.hash for entry in entries}
    if not hashes:
        return []
    rows = await LedgerEntry.filter(id__in=list(hashes)).values_list(
        "id", "hash", "account__member_id", "account__code", "kind", "counter_account__code"
    )
    members: set[int] = set()
    boards: dict[str, int] = {}
    causes: dict[int, int] = {}
    for entry_id, entry_hash, member_id, code, kind, counter_code in rows:
        if hashes.get(entry_id) != entry_hash:
            continue
        kind = EntryKind(kind)
        for account_code in (code, counter_code):
            cause_id = leaderboards.cause_id_of(account_code)
            if cause_id is not None:
                causes[cause_id] = max(causes.get(cause_id, 0), entry_id)
        if member_id is None:
            continue
        members.add(member_id)
        if kind in leaderboards.POINTS_KINDS:
            for period in leaderboards.Period:
                channel = leaderboard_channel(leaderboards.POINTS_BOARD, period.value)
                boards[channel] = max(boards.get(channel, 0), entry_id)
        elif kind in leaderboards.DONATION_KINDS and counter_code.startswith(
            leaderboards.CAUSE_PREFIX
        ):
            channel = leaderboard_channel(counter_code, leaderboards.Period.ALL_TIME.value)
            boards[channel] = max(boards.get(channel, 0), entry_id)
    notices = [(await points_state(member_id)).notice() for member_id in sorted(members)]
    notices += [
        Notice(channel, Topic.LEADERBOARD_CHANGED, version) for channel, version in boards.items()
    ]
    notices += [
        Notice(cause_channel(cause_id), Topic.CAUSE_PROGRESS, version)
        for cause_id, version in sorted(causes.items())
    ]
    return notices


async def gamification_notices(member_ids: Iterable[int], since: datetime) -> list[Notice]:
    """Tier changes and badge awards of these members committed since `since`, as notices
    (version: the row's id). Read after the commit, so a rolled-back award is never announced.
    """
    members = sorted(set(member_ids))
    if not members:
        return []
    changes = await TierChange.filter(member_id__in=members, created_at__gte=since).values_list(
        "id", "member_id", "from_tier_id", "to_tier_id"
    )
    tier_ids = {t for _, _, a, b in changes for t in (a, b) if t is not None}
    names = dict(await Tier.filter(id__in=tier_ids).values_list("id", "name")) if tier_ids else {}
    notices = [
        member_notice(
            member_id,
            Topic.TIER_CHANGED,
            change_id,
            {"tier": names.get(to_id, ""), "previous_tier": names.get(from_id)},
        )
        for change_id, member_id, from_id, to_id in changes
    ]
    awards = await MemberBadge.filter(member_id__in=members, awarded_at__gte=since).values_list(
        "id", "member_id", "badge_id", "badge__name"
    )
    notices += [
        member_notice(
            member_id, Topic.BADGE_AWARDED, award_id, {"badge_id": badge_id, "name": name}
        )
        for award_id, member_id, badge_id, name in awards
    ]
    return notices


def members_of(notices: Iterable[Notice]) -> set[int]:
    """The members whose own streams these notices are on."""
    prefix = member_channel(0)[:-1]
    return {int(n.channel.removeprefix(prefix)) for n in notices if n.channel.startswith(prefix)}


# --- after commit ------------------------------------------------------------------------------

_announced: ContextVar[list[Notice] | None] = ContextVar("announced_notices", default=None)


@contextmanager
def collect_announced() -> Iterator[list[Notice]]:
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
