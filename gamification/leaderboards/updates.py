"""Bring the boards up to date after commit: with the ledger entries a use case wrote
(`record_committed`) and with the challenge progress it changed (`record_challenge_progress`).

- The GraphQL layer collects the entries a mutation wrote (`gamification.ledger.written`) and,
  once its transactions have committed, calls `record_committed`. Per member, one Lua script
  run (atomic, one round trip, `store.add_entries`): read the applied seq and the current
  states, add the deltas, move the seq (which fails the EXEC of a rebuild WATCHing that shard,
  so the rebuild retries). An account's entries get consecutive `seq`s in commit order (the
  row lock orders them), so an update is applied exactly once: seqs already applied are
  skipped (a repeat); the next seqs are added. A gap (an earlier request of the member's still
  on its way, an update lost while Redis was down, a transaction written outside GraphQL such
  as the expiry run) is filled from the ledger: the entries between the applied seq and ours,
  read by (account, seq) in one statement, are added with ours. Only when that fails too is
  the member recomputed from the ledger (`reconcile.reconcile_member`).
- Redis errors on this path are logged and counted (`missed_updates()`), never raised: earning
  and spending never wait for Redis. The member's next update, or `loyalty
  rebuild-leaderboards`, repairs what was missed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from gamification import sql
from gamification.events import committed_entries
from gamification.events.progress import ProgressUpdates
from gamification.leaderboards import challenge_boards, reconcile, store
from gamification.leaderboards.keys import (
    BoardKey,
    Score,
    add_to_buckets,
    counted,
    margin,
    shard_of,
)
from gamification.ledger.accounts import member_account_code
from gamification.ledger.models import EntryKind, LedgerEntry

logger = logging.getLogger("loyalty.leaderboards")

_missed_updates = 0


def missed_updates() -> int:
    """Member updates this process could not apply (Redis unreachable): the boards are behind
    until the member's next update or a rebuild."""
    return _missed_updates


def _missed(member_id: int, error: BaseException) -> None:
    global _missed_updates
    _missed_updates += 1
    logger.warning(
        "leaderboard update for member %s missed (%s); %s missed in this process so far, "
        "repaired by the member's next update or `loyalty rebuild-leaderboards`",
        member_id,
        error,
        _missed_updates,
    )


async def record_committed(
    redis: Redis, entries: Sequence[LedgerEntry], *, now: datetime | None = None
) -> None:
    """Bring the boards up to date with ledger entries written by transactions that have
    committed (see `gamification.ledger.written`). Entries whose transaction rolled back are
    ignored.

    Redis errors are logged and counted, never raised: the points are already safe. Raises
    only what the database raises while the entries are read back.
    """
    if not entries:
        return
    # One read, shared with the real-time notices (see gamification.events.committed_entries).
    by_member: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in await committed_entries.keep_committed(entries):
        if row.member_id is not None:
            by_member[row.member_id].append(
                (row.seq, row.kind, row.points, row.counter_code, row.created_at)
            )
    now = now or datetime.now(UTC)
    kept_for = margin()
    for member_id in sorted(by_member):
        try:
            await _apply(redis, member_id, by_member[member_id], now, kept_for)
        except RedisError as error:
            _missed(member_id, error)


async def record_challenge_progress(redis: Redis, updates: ProgressUpdates) -> None:
    """Bring the challenge boards up to date with progress changed by transactions that have
    committed (see `gamification.events.progress`): each member's places on the boards of the
    challenges that moved, recomputed from the progress table; a redefined challenge's whole
    board. A change whose transaction rolled back recomputes to what is committed.

    Redis errors are logged and counted, never raised: the progress is already safe. Raises
    only what the database raises.
    """
    by_member: dict[int, set[int]] = defaultdict(set)
    for change in updates.changes:
        by_member[change.member_id].add(change.challenge_id)
    for member_id, challenge_ids in sorted(by_member.items()):
        try:
            await challenge_boards.reconcile_challenges(
                redis, shard_of(member_id), challenge_ids, only={member_id}, write=True
            )
        except RedisError as error:
            _missed(member_id, error)
    for challenge_id in sorted(updates.redefined):
        try:
            await challenge_boards.reconcile_challenge_boards(
                redis, write=True, only={challenge_id}
            )
        except RedisError as error:
            logger.warning(
                "challenge %s's board was not recomputed (%s); run `loyalty rebuild-leaderboards`",
                challenge_id,
                error,
            )


async def _apply(
    redis: Redis,
    member_id: int,
    rows: list[tuple[Any, ...]],
    now: datetime,
    margin: timedelta,
) -> None:
    """Add one member's committed entries (seq, kind, points, counter code, created_at).

    Requests for one member finish in any order: when an earlier entry of theirs has not
    reached Redis yet (a gap), the entries in between are read from the ledger (one indexed
    statement: they are committed, since each took the account lock after the one before)
    and applied together, in order. The full recomputation is the last resort."""
    rows = sorted(rows, key=lambda row: int(row[0]))
    seqs = [row[0] for row in rows]
    first, last = seqs[0], seqs[-1]
    if seqs == list(range(first, last + 1)):
        applied = await _add_in_order(redis, member_id, rows, now, margin)
        if applied is None:
            return
        missing = await _entries_between(member_id, applied, last)
        complete = [row[0] for row in missing] == list(range(applied + 1, last + 1))
        if complete and await _add_in_order(redis, member_id, missing, now, margin) is None:
            return
    await reconcile.reconcile_member(redis, member_id, now=now)


def _deltas(
    rows: Iterable[tuple[Any, ...]], now: datetime, margin: timedelta
) -> dict[BoardKey, Score]:
    deltas: dict[BoardKey, Score] = {}
    for _, kind, points, counter_code, at in rows:
        found = counted(kind, points, counter_code)
        if found is not None:
            add_to_buckets(deltas, *found, at, now, margin)
    return deltas


_ENTRIES_BETWEEN: Final = (
    "SELECT e.seq, e.kind, e.points, c.code AS counter_code, e.created_at "
    "FROM ledger_account a JOIN ledger_entry e ON e.account_id = a.id "
    "JOIN ledger_account c ON c.id = e.counter_account_id "
    "WHERE a.code = $1 AND e.seq > $2 AND e.seq <= $3 ORDER BY e.seq"
)


async def _entries_between(member_id: int, after: int, up_to: int) -> list[tuple[Any, ...]]:
    """The member's ledger entries with `after` < seq <= `up_to`, as `_apply` takes them."""
    created = LedgerEntry._meta.fields_map["created_at"]
    found = await sql.fetch(
        LedgerEntry._meta.db, _ENTRIES_BETWEEN, member_account_code(member_id), after, up_to
    )
    return [
        (
            int(row["seq"]),
            EntryKind(row["kind"]),
            int(row["points"]),
            row["counter_code"],
            created.to_python_value(row["created_at"]),
        )
        for row in found
    ]


async def _add_in_order(
    redis: Redis,
    member_id: int,
    rows: Sequence[tuple[Any, ...]],
    now: datetime,
    margin: timedelta,
) -> int | None:
    """Apply the entries `rows` (consecutive seqs, in order) that Redis has not applied yet:
    None when done (or done already); on a gap before them, the last seq Redis has applied."""
    for _ in range(store.ATTEMPTS):
        first, last = rows[0][0], rows[-1][0]
        applied = await store.add_entries(
            redis, member_id, first, last, _deltas(rows, now, margin), margin
        )
        if applied < 0:
            return None
        if applied < first - 1:
            return applied
        # Those up to `applied` arrived meanwhile (another request of the member's).
        rows = [row for row in rows if row[0] > applied]
    raise WatchError(f"member {member_id}: the board kept changing")
