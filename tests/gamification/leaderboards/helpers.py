"""Helpers shared by the leaderboards' tests."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from gamification.leaderboards import updates
from gamification.ledger import movements
from gamification.ledger.accounts import lock_member_account, save_account
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import EntryKind
from gamification.ledger.written import WrittenEntries, collect_written_entries
from gamification.members.models import Member

NOW = datetime(2037, 11, 25, 12, 0, tzinfo=UTC)
T = TypeVar("T")

# A Wednesday: ISO week 2037-W48 runs from Monday 23 November 00:00 UTC. In the future, so that
# the keys of its periods expire (a margin after the period) after the test, whenever it runs.


def dead_redis() -> Redis:
    """A client for a port nobody listens on: every command fails at once."""
    return Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)


async def after_commit(redis: Redis, action: Awaitable[T], *, now: datetime | None = None) -> T:
    """Run a use case as the GraphQL layer does: collect what it wrote, update after commit."""
    with collect_written_entries() as written:
        result = await action
    await updates.record_committed(redis, written.entries, now=now)
    return result


async def bonus(member: Member, points: int, *, at: datetime) -> WrittenEntries:
    """A bonus written at `at`; returns what it wrote, not yet applied to the boards."""
    with collect_written_entries() as written:
        await credit(member, points, at=at)
    return written


async def credit(member: Member, points: int, *, at: datetime, fail: bool = False) -> None:
    """A bonus written at `at` (a time the test controls); with `fail`, rolled back."""
    async with in_transaction() as conn:
        account = await lock_member_account(member.id, conn, at)
        await movements.credit(
            account,
            points,
            kind=EntryKind.BONUS,
            origin=Origin.system(),
            reference=Reference("test", "", "bonus"),
            expires_at=at + timedelta(days=400),
        )
        await save_account(account)
        if fail:
            raise RuntimeError("the use case fails after writing")
