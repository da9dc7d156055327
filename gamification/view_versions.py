"""Versions of what members see: one per member, one for the program, kept in Redis.

A member's version changes whenever something of theirs that their own screens show changes
(points, holds, expiring lots, tier, challenge progress, badges); the program's version changes
whenever the program's configuration does (tiers, challenges, badges, earn rules: every admin
change that drops `program_cache`). A reader that remembers what it showed under a pair of
versions (the home-screen response cache, `server.response_cache`) may show it again for as
long as both are unchanged.

Versions are random tokens, not counters: a version key that Redis evicts or lets expire comes
back as a new token, so an answer remembered under an old token can never match again (a
counter restarting from zero could). Bumping a version is setting a new token.

The write paths report what changed, like the other after-commit work
(`gamification.ledger.written`, `gamification.events.progress`): the ledger reports the member
of every entry it writes, the tier job every member it evaluates, `program_cache.invalidate()`
every configuration change. Whoever owns the transaction opens `collect_changed_views()` around
it and calls `bump()` once it has committed: the GraphQL layer for every mutation
(`schema.view_versions`), before the mutation's response is sent, so that a member's next read
sees their own write; a scheduled job through `bumping()`. Reports of a transaction that then
rolled back bump too: a needless miss, never a stale read.

A process that dies between a commit and its bump leaves the old versions in place: readers
bound that by the time they keep an answer (`LOYALTY_HOME_CACHE_SECONDS`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gamification import redis_keys

logger = logging.getLogger("loyalty.view_versions")

T = TypeVar("T")

# A version key outlives by far every answer kept under it; when it does expire, the next
# reader starts a new token (see the module).
VERSION_TTL_SECONDS: Final = 24 * 3600


def new_version() -> str:
    return secrets.token_hex(8)


@dataclass
class ChangedViews:
    """What changed while the collector was open."""

    members: set[int] = field(default_factory=set)
    program: bool = False

    def __bool__(self) -> bool:
        return bool(self.members) or self.program


_collectors: ContextVar[tuple[ChangedViews, ...]] = ContextVar("changed_views", default=())


@contextmanager
def collect_changed_views() -> Iterator[ChangedViews]:
    """Collect the views changed in this context (and tasks started from it)."""
    changed = ChangedViews()
    token = _collectors.set((*_collectors.get(), changed))
    try:
        yield changed
    finally:
        _collectors.reset(token)


def member_view_changed(member_id: int | None) -> None:
    """Something the member sees changed (a no-op for None: not a member's account, and when
    nobody listens)."""
    if member_id is None:
        return
    for changed in _collectors.get():
        changed.members.add(member_id)


def program_changed() -> None:
    """The program's configuration changed (a no-op when nobody listens)."""
    for changed in _collectors.get():
        changed.program = True


async def bump(redis: Redis, members: Iterable[int] = (), *, program: bool = False) -> None:
    """New versions for these members (and the program), in one round trip. Best effort: the
    change is committed, so a Redis failure is logged, never raised (readers' answers expire
    on their own, see the module)."""
    keys = [redis_keys.member_view_version(member_id) for member_id in sorted(set(members))]
    if program:
        keys.append(redis_keys.program_view_version())
    if not keys:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, new_version(), ex=VERSION_TTL_SECONDS)
            await pipe.execute()
    except RedisError:
        logger.exception("bumping %s view versions failed", len(keys))


async def bump_changed(redis: Redis, changed: ChangedViews) -> None:
    await bump(redis, changed.members, program=changed.program)


async def bumping(redis: Redis, work: Awaitable[T]) -> T:
    """Run a scheduled job (expiry, tier evaluation, hold expiry), then bump the versions of
    what it changed, as a mutation does after its commit."""
    with collect_changed_views() as changed:
        try:
            return await work
        finally:
            # Also after a failure: the transactions committed before it are committed.
            await bump_changed(redis, changed)
