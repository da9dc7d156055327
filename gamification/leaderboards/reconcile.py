"""Check and rebuild the boards from the ledger, shard by shard, with the service running; and
the live path's last resort, one member recomputed (`reconcile_member`).

- WATCH the shard's `{lb}:seq` key, read its members from the ledger (each account up to its
  `entry_count`, which its entries reach once committed: a consistent snapshot), compare with
  Redis, write the differences in one MULTI/EXEC. Because WATCH comes before the read, a live
  update landing in between aborts the EXEC and the shard is read again: the rebuild is exact
  while the service runs. Then a sweep removes sorted-set members that no state accounts for.
- Challenge boards are compared with the progress table the same way (`challenge_boards`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from tortoise.functions import Max, Sum
from tortoise.transactions import in_transaction

from gamification import redis_keys
from gamification.leaderboards import challenge_boards, store
from gamification.leaderboards.differences import (
    Difference,
    LedgerView,
    differences,
    redis_states,
    sweep,
    write_fixes,
)
from gamification.leaderboards.keys import (
    POINTS_BOARD,
    POINTS_KINDS,
    SCORING_KINDS,
    SHARD_BITS,
    BoardKey,
    Period,
    Score,
    add_score,
    alive_keys,
    board_key,
    counted,
    margin,
    ms,
    parse_key,
    shard_of,
)
from gamification.ledger.models import AccountKind, LedgerAccount, LedgerEntry


@dataclass
class ReconcileReport:
    """What a rebuild fixed, or what a check found."""

    members: int = 0  # member accounts read from the ledger
    differences: list[Difference] = field(default_factory=list)
    challenge_boards: int = 0  # challenge boards compared with the progress table
    stale_keys: list[str] = field(default_factory=list)  # buckets past their expiry

    @property
    def clean(self) -> bool:
        return not self.differences and not self.stale_keys


async def rebuild(
    redis: Redis,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReconcileReport:
    """Make every board equal what the ledger says, with the service running. Returns what
    was fixed. Raises RedisError when Redis cannot be reached."""
    return await _reconcile_all(redis, write=True, now=now, progress=progress)


async def check(
    redis: Redis,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReconcileReport:
    """Compare every board with the ledger; change nothing. Updates that are in flight while
    it runs may show as differences: check again. Raises RedisError when Redis is unreachable."""
    return await _reconcile_all(redis, write=False, now=now, progress=progress)


async def reconcile_member(redis: Redis, member_id: int, *, now: datetime | None = None) -> None:
    """Recompute one member's places from the ledger (the live path's repair after a gap)."""
    await _reconcile_shard(
        redis,
        shard_of(member_id),
        only={member_id},
        extra_keys=(),
        now=now or datetime.now(UTC),
        margin=margin(),
        write=True,
    )


async def _ledger_views(
    shard: int, only: Collection[int] | None, now: datetime, margin: timedelta
) -> dict[int, LedgerView]:
    """The members of a shard (or just `only`) as the ledger has them, read in one snapshot and
    summed by the database (all time, and each period Redis still keeps), so that a member with
    a million entries costs a few aggregate queries, not a million rows."""
    async with in_transaction() as conn:
        if conn.capabilities.dialect == "postgres":
            # One snapshot for the queries below (SQLite's read transaction is one already):
            # the account's seq and the sums must describe the same moment.
            await conn.execute_script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        accounts = LedgerAccount.filter(
            kind=AccountKind.MEMBER,
            member_id__gte=shard << SHARD_BITS,
            member_id__lt=(shard + 1) << SHARD_BITS,
        )
        if only is not None:
            accounts = accounts.filter(member_id__in=list(only))
        owners: dict[int, int] = {}
        views: dict[int, LedgerView] = {}
        for account_id, member_id, entry_count in await accounts.using_db(conn).values_list(
            "id", "member_id", "entry_count"
        ):
            owners[account_id] = member_id
            views[member_id] = LedgerView(seq=entry_count)
        if not owners:
            return views
        counting = LedgerEntry.filter(account_id__in=list(owners), kind__in=list(SCORING_KINDS))
        totals = await (
            counting.annotate(total=Sum("points"), last=Max("created_at"))
            .group_by("account_id", "kind", "counter_account_id")
            .using_db(conn)
            .values_list("account_id", "kind", "counter_account_id", "total", "last")
        )
        # Each period Redis still keeps, summed in the database too.
        periods = [key for key in alive_keys(POINTS_BOARD, now, margin) if key.starts_at]
        sums_by_period = [
            await counting.filter(
                kind__in=list(POINTS_KINDS),
                created_at__gte=key.starts_at,
                created_at__lt=key.ends_at,
            )
            .annotate(total=Sum("points"), last=Max("created_at"))
            .group_by("account_id")
            .using_db(conn)
            .values_list("account_id", "total", "last")
            for key in periods
        ]
        codes = dict(
            await LedgerAccount.filter(id__in={row[2] for row in totals})
            .using_db(conn)
            .values_list("id", "code")
        )
    for account_id, kind, counter_id, total, last in totals:
        found = counted(kind, int(total), codes[counter_id])
        if found is not None:
            board, delta = found
            key = board_key(board, Period.ALL_TIME, now)
            add_score(views[owners[account_id]].scores, key, Score(delta, ms(last)))
    for key, sums in zip(periods, sums_by_period, strict=True):
        for account_id, total, last in sums:
            add_score(views[owners[account_id]].scores, key, Score(int(total), ms(last)))
    return views


async def _reconcile_shard(
    redis: Redis,
    shard: int,
    *,
    only: Collection[int] | None,
    extra_keys: Collection[BoardKey],
    now: datetime,
    margin: timedelta,
    write: bool,
) -> tuple[dict[int, LedgerView], list[Difference]]:
    """Compare a shard's members (or just `only`) with the ledger; with `write`, make Redis
    agree. Returns the ledger's view and the differences (fixed when writing)."""

    async def attempt() -> tuple[tuple[dict[int, LedgerView], list[Difference]], store.Writes]:
        # Read after the WATCH (see the module's docstring).
        views = await _ledger_views(shard, only, now, margin)
        keys = sorted(
            set(alive_keys(POINTS_BOARD, now, margin))
            | {key for view in views.values() for key in view.scores}
            | set(extra_keys)
        )
        wanted = sorted(only) if only is not None else None
        [seq_fields] = await store.hash_fields(redis, [(redis_keys.board_seq(shard), wanted)])
        seqs = {member: int(raw) for member, raw in seq_fields.items()}
        found = await redis_states(redis, shard, keys, only)
        members = set(views) | set(seqs)
        for states in found.values():
            members |= set(states)
        found_differences = await differences(redis, keys, members, views, found)
        writes = store.Writes()
        for member in sorted(members):
            seq = views[member].seq if member in views else None
            if seqs.get(member) != seq:
                writes.set_seq(shard, member, seq)
        write_fixes(writes, found_differences, margin)
        return (views, found_differences), writes

    return await store.optimistic(
        redis,
        [redis_keys.board_seq(shard)],
        attempt,
        write=write,
        contended=f"shard {shard}: the boards kept changing",
    )


async def _discover(redis: Redis) -> tuple[set[BoardKey], set[int], list[str]]:
    """Buckets and shards Redis holds, and the names of bucket keys past their expiry."""
    keys: set[BoardKey] = set()
    shards: set[int] = set()
    names: list[str] = []
    async for name in store.board_key_names(redis):
        if name.startswith(redis_keys.BOARD_SEQ_PREFIX):
            shard = name.removeprefix(redis_keys.BOARD_SEQ_PREFIX)
            if shard.isdigit():
                shards.add(int(shard))
            continue
        parsed = parse_key(name)
        if parsed is None:
            continue
        key, shard_of_key = parsed
        keys.add(key)
        names.append(name)
        if shard_of_key is not None:
            shards.add(shard_of_key)
    return keys, shards, names


async def _reconcile_all(
    redis: Redis,
    *,
    write: bool,
    now: datetime | None,
    progress: Callable[[int, int], None] | None,
) -> ReconcileReport:
    now = now or datetime.now(UTC)
    kept_for = margin()
    report = ReconcileReport()
    keys, shards, names = await _discover(redis)
    alive = {key for key in keys if key.alive(now, kept_for)}
    for name in names:
        parsed = parse_key(name)
        if parsed is not None and parsed[0] not in alive:
            report.stale_keys.append(name)
    if write:
        await store.drop(redis, report.stale_keys)
    member_ids = await LedgerAccount.filter(kind=AccountKind.MEMBER).values_list(
        "member_id", flat=True
    )
    per_shard: dict[int, int] = defaultdict(int)
    for member_id in member_ids:
        per_shard[shard_of(int(member_id))] += 1  # type: ignore[call-overload]
    total = len(member_ids)
    done = 0
    for shard in sorted(shards | set(per_shard)):
        views, found = await _reconcile_shard(
            redis, shard, only=None, extra_keys=alive, now=now, margin=kept_for, write=write
        )
        report.members += len(views)
        report.differences.extend(found)
        done += per_shard.get(shard, 0)
        if progress:
            progress(done, total)
        alive |= {key for view in views.values() for key in view.scores}
    for key in sorted(alive):
        report.differences.extend(await sweep(redis, key, write=write))
    boards, found = await challenge_boards.reconcile_challenge_boards(redis, write=write)
    report.challenge_boards = boards
    report.differences.extend(found)
    return report
