"""Leaderboards on Redis sorted sets. The ledger (PostgreSQL) stays the source of truth: every
board is rebuilt from it exactly, and Redis may vanish at any time without losing a point.

What counts
- Board `points`, points earned: a member's EARN and BONUS entries, minus REFUND and CLAWBACK
  entries (what refunds took back). An outstanding clawback lowers the board when it is repaid,
  because only then is there an entry, with a time, to rebuild it from. ADJUST (an admin's
  goodwill credit or correction), spending, holds, donations and expiry do not count, as for
  `lifetimeEarned`: the all-time score is `lifetimeEarned + clawbackOutstanding`.
- Board `cause:<id>`, points donated to one cause: DONATE entries to the cause's account minus
  the donations an admin reversed (REVERSAL from that account). Brand matches are not the
  member's gift and do not count. All time only.
- Board `friends`: the `points` board restricted to a member and those they follow.
- Board `challenge:<id>`, progress in one challenge: recomputed from the `challenge_progress`
  table, not the ledger (see "challenge boards" near the end of this module). All time only.
- Periods: ALL_TIME; WEEK, the ISO week from Monday 00:00 UTC to the next Monday; MONTH, from
  the 1st 00:00 UTC. UTC for everyone, so a week is the same week for every member wherever
  they live. An entry counts in the period of its `created_at`: a refund this week of last
  week's purchase lowers this week's score (which may then be negative).
- Only positive scores are ranked. A member at 0 or below is not on the board (rank null);
  their score is still kept and still shown to them.
- A week's or month's keys expire `leaderboard_period_margin_days` after the period ends: late
  updates still land and final standings can be read, then Redis drops them on its own.

Order
- Higher score first. Equal scores: whoever got there first ranks higher, i.e. the member whose
  last counting entry on that board (in that period) is older; within one millisecond, the
  lower member id. Being a maximum of entry times, `reached` comes out the same whatever order
  updates arrive in, and the rebuild reads the very same value from the ledger.

Redis layout (shard = member id >> 10: 1024 members per shard)
- `lb:{board}:{bucket}:z`, a ZSET: score = points (integers; exact below 2^53, which the
  ledger's per-entry cap keeps far away), member = a tag
  `{10^13 - reached_ms:013d}:{10^10 - member_id:010d}`. Fixed width, so among equal scores
  ZREVRANGE's reverse lexicographic order gives the earliest `reached`, then the lowest id.
- `lb:{board}:{bucket}:s:{shard}`, a HASH: member id -> `points:reached_ms`, for every member
  with a counting entry, ranked or not (the tag to remove on the next change comes from here).
- `lb:seq:{shard}`, a HASH: member id -> the last `seq` of the member's ledger account applied.
  Buckets: `all`, `week:2026-W48`, `month:2026-11`.

Updates, after commit
- The GraphQL layer collects the entries a mutation wrote (`gamification.ledger.written`) and, once
  its transactions have committed, calls `record_committed`. Per member, one Lua script run
  (atomic, one round trip): read the applied seq and the current states, add the deltas, move
  the seq (which fails the EXEC of a rebuild WATCHing that shard, so the rebuild retries).
  An account's entries get consecutive `seq`s in commit order (the row lock orders them),
  so an update is applied exactly once: seqs already applied are skipped
  (a repeat); the next seqs are added. A gap (an earlier request of the member's still on its
  way, an update lost while Redis was down, a transaction written outside GraphQL such as the
  expiry run) is filled from the ledger: the entries between the applied seq and ours, read
  by (account, seq) in one statement, are added with ours. Only when that fails too is the
  member recomputed from the ledger.
- Redis errors on this path are logged and counted (`missed_updates()`), never raised: earning
  and spending never wait for Redis. The member's next update, or `loyalty
  rebuild-leaderboards`, repairs what was missed.

Rebuild and check, shard by shard
- WATCH the shard's `lb:seq` key, read its members from the ledger (each account up to its
  `entry_count`, which its entries reach once committed: a consistent snapshot), compare with
  Redis, write the differences in one MULTI/EXEC. Because WATCH comes before the read, a live
  update landing in between aborts the EXEC and the shard is read again: the rebuild is exact
  while the service runs. Then a sweep removes sorted-set members that no state accounts for.
"""

from __future__ import annotations

import abc
import enum
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError, RedisError, WatchError
from tortoise.functions import Max, Sum
from tortoise.transactions import in_transaction

from gamification import sql
from gamification.causes.models import Cause
from gamification.challenges import engine as challenges
from gamification.challenges.models import (
    Challenge,
    ChallengeCompletion,
    ChallengeProgress,
    ChallengeStatus,
)
from gamification.errors import ErrorCode, InvalidInput, LoyaltyError
from gamification.events import committed
from gamification.events.progress import ProgressUpdates
from gamification.ledger import books as ledger
from gamification.ledger.models import AccountKind, EntryKind, LedgerAccount, LedgerEntry
from gamification.members import follows
from gamification.members.models import Member
from server.settings import get_settings

logger = logging.getLogger("loyalty.leaderboards")

POINTS_BOARD: Final = "points"
FRIENDS_BOARD: Final = "friends"
# A cause's ledger account code (`gamification.causes.donations.cause_account_code`) doubles
# as the name of its board: the entries name their counter account, so no lookup is needed.
CAUSE_PREFIX: Final = "cause:"
# A challenge's board: its members' progress (see "Challenge boards" below).
CHALLENGE_PREFIX: Final = "challenge:"
HIDDEN_NAME: Final = "Hidden member"

POINTS_KINDS: Final = frozenset(
    {EntryKind.EARN, EntryKind.BONUS, EntryKind.REFUND, EntryKind.CLAWBACK}
)
DONATION_KINDS: Final = frozenset({EntryKind.DONATE, EntryKind.REVERSAL})
SCORING_KINDS: Final = POINTS_KINDS | DONATION_KINDS

KEY_PREFIX: Final = "lb:"
SHARD_BITS: Final = 10
_TAG_TIME_BASE: Final = 10**13  # ms timestamps stay below it until the year 2286
_TAG_MEMBER_BASE: Final = 10**10  # member ids are 32-bit
_MAX_CAUSE_ID: Final = 2**31 - 1
_MAX_MEMBER_ID: Final = 2**31 - 1  # a 32-bit column: PostgreSQL refuses larger numbers
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
# Optimistic transactions retried this often before giving up (counted as missed).
_ATTEMPTS: Final = 20


class LeaderboardsUnavailable(LoyaltyError):
    """Redis cannot be reached: the boards cannot be read now (the points are safe)."""

    code = ErrorCode.UNAVAILABLE


class UnknownBoard(InvalidInput):
    code = ErrorCode.UNKNOWN_BOARD


class UnknownPeriod(InvalidInput):
    code = ErrorCode.UNKNOWN_PERIOD


class Period(enum.StrEnum):
    ALL_TIME = "ALL_TIME"
    WEEK = "WEEK"
    MONTH = "MONTH"


# --- boards, periods and keys -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class BoardKey:
    """One board in one period (a bucket): its Redis keys, and when the period ends (None for
    all-time buckets, which never expire)."""

    board: str
    bucket: str
    starts_at: datetime | None = field(default=None, compare=False)
    ends_at: datetime | None = field(default=None, compare=False)

    @property
    def zset(self) -> str:
        return f"{KEY_PREFIX}{self.board}:{self.bucket}:z"

    def states(self, shard: int) -> str:
        return f"{KEY_PREFIX}{self.board}:{self.bucket}:s:{shard}"

    def expires_at(self, margin: timedelta) -> datetime | None:
        return None if self.ends_at is None else self.ends_at + margin

    def alive(self, now: datetime, margin: timedelta) -> bool:
        """Whether Redis keeps this bucket at `now` (period buckets expire after their end)."""
        expires_at = self.expires_at(margin)
        return expires_at is None or expires_at > now


def _week_start(at: datetime) -> datetime:
    day = at.astimezone(UTC).date() - timedelta(days=at.astimezone(UTC).weekday())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def board_key(board: str, period: Period, at: datetime) -> BoardKey:
    """The bucket of `board` that holds the period containing `at` (UTC boundaries)."""
    if period is Period.ALL_TIME:
        return BoardKey(board, "all")
    if period is Period.WEEK:
        start = _week_start(at)
        year, week, _ = start.isocalendar()
        return BoardKey(board, f"week:{year}-W{week:02d}", start, start + timedelta(days=7))
    start = _month_start(at)
    return BoardKey(board, f"month:{start.year}-{start.month:02d}", start, _next_month(start))


def _periods_of(board: str) -> tuple[Period, ...]:
    return tuple(Period) if board == POINTS_BOARD else (Period.ALL_TIME,)


def _alive_keys(board: str, now: datetime, margin: timedelta) -> list[BoardKey]:
    """Every bucket of `board` that Redis still keeps at `now`: the current periods and those
    that ended less than `margin` ago."""
    keys = []
    for period in _periods_of(board):
        key = board_key(board, period, now)
        while key.alive(now, margin):
            keys.append(key)
            if key.starts_at is None:
                break
            key = board_key(board, period, key.starts_at - _ONE_MS)
    return keys


def _parse_key(name: str) -> tuple[BoardKey, int | None] | None:
    """The bucket a Redis key belongs to and its shard (None for the sorted set); None for
    keys that are not a board's."""
    if not name.startswith(KEY_PREFIX):
        return None
    rest, shard = name.removeprefix(KEY_PREFIX), None
    if rest.endswith(":z"):
        rest = rest.removesuffix(":z")
    else:
        rest, found, tail = rest.rpartition(":s:")
        if not found or not tail.isdigit():
            return None
        shard = int(tail)
    try:
        if rest.endswith(":all"):
            key = BoardKey(rest.removesuffix(":all"), "all")
        else:
            board, kind, label = rest.rsplit(":", 2)
            if kind == "week":
                year, week = label.split("-W")
                start = datetime.fromisocalendar(int(year), int(week), 1).replace(tzinfo=UTC)
            elif kind == "month":
                year, month = label.split("-")
                start = datetime(int(year), int(month), 1, tzinfo=UTC)
            else:
                return None
            key = board_key(board, Period.WEEK if kind == "week" else Period.MONTH, start)
    except ValueError:
        return None
    if key.board != POINTS_BOARD and _cause_id(key.board) is None:
        return None
    return key, shard


def _cause_id(board: str) -> int | None:
    raw = board.removeprefix(CAUSE_PREFIX)
    if raw == board or not (raw.isascii() and raw.isdigit()) or raw.startswith("0"):
        return None
    cause_id = int(raw)
    return cause_id if cause_id <= _MAX_CAUSE_ID else None


def cause_id_of(board: str) -> int | None:
    """The cause a board (or a cause's ledger account code) is named after; None otherwise."""
    return _cause_id(board)


def cause_board(cause_id: int) -> str:
    return f"{CAUSE_PREFIX}{cause_id}"


def _seq_key(shard: int) -> str:
    return f"{KEY_PREFIX}seq:{shard}"


def _shard(member_id: int) -> int:
    return member_id >> SHARD_BITS


def _margin() -> timedelta:
    return timedelta(days=get_settings().leaderboard_period_margin_days)


# --- scores ------------------------------------------------------------------------------------


def _ms(at: datetime) -> int:
    return (at - _EPOCH) // _ONE_MS


def member_tag(member_id: int, reached_ms: int) -> str:
    """The sorted-set member for a member who reached their score at `reached_ms`."""
    return f"{_TAG_TIME_BASE - reached_ms:013d}:{_TAG_MEMBER_BASE - member_id:010d}"


def member_of_tag(tag: str) -> int:
    return _TAG_MEMBER_BASE - int(tag.rpartition(":")[2])


@dataclass(frozen=True, slots=True)
class Score:
    """A member's score on one bucket and when they reached it (their last counting entry)."""

    points: int
    reached_ms: int

    @property
    def ranked(self) -> bool:
        return self.points > 0

    def plus(self, other: Score) -> Score:
        return Score(self.points + other.points, max(self.reached_ms, other.reached_ms))

    def tag(self, member_id: int) -> str:
        return member_tag(member_id, self.reached_ms)

    def encode(self) -> str:
        return f"{self.points}:{self.reached_ms}"

    @classmethod
    def decode(cls, raw: str) -> Score:
        points, _, reached = raw.partition(":")
        return cls(int(points), int(reached))

    def __str__(self) -> str:
        reached = (_EPOCH + self.reached_ms * _ONE_MS).isoformat(timespec="milliseconds")
        return f"{self.points} (reached {reached})"


def _counted(kind: Any, points: int, counter_code: str) -> tuple[str, int] | None:
    """The board an entry counts on and by how much, or None."""
    kind = EntryKind(kind)
    if kind in POINTS_KINDS:
        return POINTS_BOARD, points
    if kind in DONATION_KINDS and counter_code.startswith(CAUSE_PREFIX):
        return counter_code, -points  # a donation leaves the member's account: a gift
    return None


def _add(
    scores: dict[BoardKey, Score],
    board: str,
    delta: int,
    at: datetime,
    now: datetime,
    margin: timedelta,
) -> None:
    """Count `delta`, reached at `at`, on the board's buckets still kept at `now`."""
    for period in _periods_of(board):
        key = board_key(board, period, at)
        if key.alive(now, margin):
            _add_score(scores, key, Score(delta, _ms(at)))


def _add_score(scores: dict[BoardKey, Score], key: BoardKey, score: Score) -> None:
    scores[key] = scores[key].plus(score) if key in scores else score


# --- after-commit updates ----------------------------------------------------------------------

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
    # One read, shared with the real-time notices (see gamification.events.committed).
    by_member: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in await committed.committed_entries(entries):
        if row.member_id is not None:
            by_member[row.member_id].append(
                (row.seq, row.kind, row.points, row.counter_code, row.created_at)
            )
    now = now or datetime.now(UTC)
    margin = _margin()
    for member_id in sorted(by_member):
        try:
            await _apply(redis, member_id, by_member[member_id], now, margin)
        except RedisError as error:
            _missed(member_id, error)


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
    await reconcile_member(redis, member_id, now=now)


def _deltas(
    rows: Iterable[tuple[Any, ...]], now: datetime, margin: timedelta
) -> dict[BoardKey, Score]:
    deltas: dict[BoardKey, Score] = {}
    for _, kind, points, counter_code, at in rows:
        counted = _counted(kind, points, counter_code)
        if counted is not None:
            _add(deltas, *counted, at, now, margin)
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
        LedgerEntry._meta.db, _ENTRIES_BETWEEN, ledger.member_account_code(member_id), after, up_to
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


# Adds a member's next entries to their buckets in one round trip, atomically (what `_write`
# does for one bucket, for each). KEYS: the shard's seq hash, then per bucket its states hash
# and its sorted set. ARGV: member id, first and last seq, the member part of the tag, then per
# bucket the delta, the time it was reached (ms) and the bucket's expiry (unix s, 0: never).
# Returns -1 when applied (or applied already), else the seq Redis had applied (not first - 1).
# Scores stay exact: Lua numbers are doubles, exact below 2^53, like the sorted sets' scores.
_APPLY_SCRIPT: Final = """
local member = ARGV[1]
local applied = tonumber(redis.call('HGET', KEYS[1], member) or '0')
if applied >= tonumber(ARGV[3]) then return -1 end
if applied ~= tonumber(ARGV[2]) - 1 then return applied end
for i = 0, (#KEYS - 1) / 2 - 1 do
  local states, zset = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local points, reached = tonumber(ARGV[5 + 3 * i]), tonumber(ARGV[6 + 3 * i])
  local expire = tonumber(ARGV[7 + 3 * i])
  local old = redis.call('HGET', states, member)
  local old_tag = nil
  if old then
    local colon = string.find(old, ':', 1, true)
    local old_reached = tonumber(string.sub(old, colon + 1))
    points = points + tonumber(string.sub(old, 1, colon - 1))
    if old_reached > reached then reached = old_reached end
    old_tag = string.format('%013d', 10000000000000 - old_reached) .. ARGV[4]
  end
  local tag = string.format('%013d', 10000000000000 - reached) .. ARGV[4]
  redis.call('HSET', states, member, string.format('%d:%d', points, reached))
  if old_tag and (old_tag ~= tag or points <= 0) then redis.call('ZREM', zset, old_tag) end
  if points > 0 then redis.call('ZADD', zset, string.format('%d', points), tag) end
  if expire > 0 then
    redis.call('EXPIREAT', zset, expire)
    redis.call('EXPIREAT', states, expire)
  end
end
redis.call('HSET', KEYS[1], member, ARGV[3])
return -1
"""


async def _add_in_order(
    redis: Redis,
    member_id: int,
    rows: Sequence[tuple[Any, ...]],
    now: datetime,
    margin: timedelta,
) -> int | None:
    """Apply the entries `rows` (consecutive seqs, in order) that Redis has not applied yet:
    None when done (or done already); on a gap before them, the last seq Redis has applied."""
    shard = _shard(member_id)
    member_part = f":{_TAG_MEMBER_BASE - member_id:010d}"
    for _ in range(_ATTEMPTS):
        first, last = rows[0][0], rows[-1][0]
        deltas = _deltas(rows, now, margin)
        keys = [_seq_key(shard)]
        args: list[str | int] = [str(member_id), first, last, member_part]
        for key in sorted(deltas):
            expires_at = key.expires_at(margin)
            keys += [key.states(shard), key.zset]
            args += [
                deltas[key].points,
                deltas[key].reached_ms,
                int(expires_at.timestamp()) if expires_at is not None else 0,
            ]
        applied = int(await _run_script(redis, _APPLY_SCRIPT, keys, args))
        if applied < 0:
            return None
        if applied < first - 1:
            return applied
        # Those up to `applied` arrived meanwhile (another request of the member's).
        rows = [row for row in rows if row[0] > applied]
    raise WatchError(f"member {member_id}: the board kept changing")


def _write(
    pipe: Pipeline,
    key: BoardKey,
    shard: int,
    member_id: int,
    new: Score | None,
    stale_tags: Iterable[str],
    margin: timedelta,
) -> None:
    """Queue the commands that make `new` the member's state on `key` (None: no state)."""
    states = key.states(shard)
    if new is None:
        pipe.hdel(states, str(member_id))
    else:
        pipe.hset(states, str(member_id), new.encode())
    keep = new.tag(member_id) if new is not None and new.ranked else None
    remove = sorted(tag for tag in set(stale_tags) if tag != keep)
    if remove:
        pipe.zrem(key.zset, *remove)
    if new is not None and keep is not None:
        pipe.zadd(key.zset, {keep: new.points})
    expires_at = key.expires_at(margin)
    if expires_at is not None:
        pipe.expireat(key.zset, expires_at)
        pipe.expireat(states, expires_at)


def _write_fixes(
    pipe: Pipeline, differences: Iterable[Difference], shard: int, margin: timedelta
) -> None:
    """Queue what makes each difference's bucket say what the source of truth says."""
    for difference in differences:
        stale = {
            score.tag(difference.member_id)
            for score in (difference.ledger, difference.board)
            if score is not None
        }
        _write(pipe, difference.key, shard, difference.member_id, difference.ledger, stale, margin)


# --- reconcile: rebuild, check, and the live path's repair ---------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    """A member whose place on a bucket differs from what the ledger says."""

    key: BoardKey
    member_id: int
    ledger: Score | None  # None: the member has no counting entry there
    board: Score | None  # None: Redis holds no state for the member there
    problem: str

    def __str__(self) -> str:
        # A challenge board's source of truth is the progress table (see challenge boards).
        source = "progress" if self.key.board.startswith(CHALLENGE_PREFIX) else "ledger"
        return (
            f"{self.key.board} {self.key.bucket} member {self.member_id}: {self.problem}; "
            f"{source} {self.ledger or 'nothing'}, board {self.board or 'nothing'}"
        )


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


@dataclass
class _LedgerView:
    """One member as the ledger has it: their account's last seq and their scores."""

    seq: int
    scores: dict[BoardKey, Score] = field(default_factory=dict)


async def _ledger_views(
    shard: int, only: Collection[int] | None, now: datetime, margin: timedelta
) -> dict[int, _LedgerView]:
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
        views: dict[int, _LedgerView] = {}
        for account_id, member_id, entry_count in await accounts.using_db(conn).values_list(
            "id", "member_id", "entry_count"
        ):
            owners[account_id] = member_id
            views[member_id] = _LedgerView(seq=entry_count)
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
        periods = [key for key in _alive_keys(POINTS_BOARD, now, margin) if key.starts_at]
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
        counted = _counted(kind, int(total), codes[counter_id])
        if counted is not None:
            board, delta = counted
            key = board_key(board, Period.ALL_TIME, now)
            _add_score(views[owners[account_id]].scores, key, Score(delta, _ms(last)))
    for key, sums in zip(periods, sums_by_period, strict=True):
        for account_id, total, last in sums:
            _add_score(views[owners[account_id]].scores, key, Score(int(total), _ms(last)))
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
) -> tuple[dict[int, _LedgerView], list[Difference]]:
    """Compare a shard's members (or just `only`) with the ledger; with `write`, make Redis
    agree. Returns the ledger's view and the differences (fixed when writing)."""
    seq_key = _seq_key(shard)
    async with redis.pipeline(transaction=True) as pipe:
        for _ in range(_ATTEMPTS):
            try:
                if write:
                    await pipe.watch(seq_key)  # before reading the ledger: see the docstring
                views = await _ledger_views(shard, only, now, margin)
                keys = sorted(
                    set(_alive_keys(POINTS_BOARD, now, margin))
                    | {key for view in views.values() for key in view.scores}
                    | set(extra_keys)
                )
                seqs, found = await _redis_states(redis, shard, keys, only)
                members = set(views) | set(seqs)
                for states in found.values():
                    members |= set(states)
                differences = await _differences(redis, keys, members, views, found)
                seq_fixes = {
                    member: views[member].seq if member in views else None
                    for member in members
                    if seqs.get(member) != (views[member].seq if member in views else None)
                }
                if not write or (not differences and not seq_fixes):
                    return views, differences
                pipe.multi()
                for member, seq in seq_fixes.items():
                    if seq is None:
                        pipe.hdel(seq_key, str(member))
                    else:
                        pipe.hset(seq_key, str(member), str(seq))
                _write_fixes(pipe, differences, shard, margin)
                await pipe.execute()
                return views, differences
            except WatchError:
                continue
    raise WatchError(f"shard {shard}: the boards kept changing")


async def _redis_states(
    redis: Redis, shard: int, keys: Sequence[BoardKey], only: Collection[int] | None
) -> tuple[dict[int, int], dict[BoardKey, dict[int, Score]]]:
    """The applied seqs and the states Redis holds for a shard (or just `only`)."""
    reads = redis.pipeline(transaction=False)
    wanted = sorted(only) if only is not None else None
    for name in [_seq_key(shard), *(key.states(shard) for key in keys)]:
        if wanted is None:
            reads.hgetall(name)
        else:
            reads.hmget(name, [str(member) for member in wanted])
    replies = await reads.execute()

    def as_dict(reply: Any) -> dict[int, str]:
        if wanted is None:
            return {int(member): raw for member, raw in reply.items()}
        return {m: raw for m, raw in zip(wanted, reply, strict=True) if raw is not None}

    seqs = {member: int(raw) for member, raw in as_dict(replies[0]).items()}
    found = {
        key: {member: Score.decode(raw) for member, raw in as_dict(reply).items()}
        for key, reply in zip(keys, replies[1:], strict=True)
    }
    return seqs, found


async def _differences(
    redis: Redis,
    keys: Sequence[BoardKey],
    members: Collection[int],
    views: dict[int, _LedgerView],
    found: dict[BoardKey, dict[int, Score]],
) -> list[Difference]:
    # Which tags each sorted set should hold, and which it might: ask for both at once.
    lookups: dict[BoardKey, list[str]] = {}
    for key in keys:
        tags = {
            score.tag(member)
            for member in members
            for score in (_ledger_score(views, member, key), found[key].get(member))
            if score is not None
        }
        if tags:
            lookups[key] = sorted(tags)
    reads = redis.pipeline(transaction=False)
    for key, wanted in lookups.items():
        reads.zmscore(key.zset, wanted)
    replies = await reads.execute()
    in_zset = {
        key: dict(zip(tags, reply, strict=True))
        for (key, tags), reply in zip(lookups.items(), replies, strict=True)
    }
    differences = []
    for key in keys:
        for member in sorted(members):
            want = _ledger_score(views, member, key)
            have = found[key].get(member)
            problem = _problem(member, want, have, in_zset.get(key, {}))
            if problem:
                differences.append(Difference(key, member, want, have, problem))
    return differences


def _ledger_score(views: dict[int, _LedgerView], member: int, key: BoardKey) -> Score | None:
    view = views.get(member)
    return view.scores.get(key) if view is not None else None


def _problem(
    member: int, want: Score | None, have: Score | None, zscores: dict[str, float | None]
) -> str:
    if want != have:
        if have is None:
            return "missing from the board"
        if want is None:
            return "not in the ledger"
        return "different score or time"
    if want is None:
        return ""
    # The state is right; the sorted set must hold its tag with its score, or nothing.
    score = zscores.get(want.tag(member))
    if want.ranked and (score is None or int(score) != want.points):
        return "sorted set out of step"
    if not want.ranked and score is not None:
        return "ranked while not positive"
    return ""


async def reconcile_member(redis: Redis, member_id: int, *, now: datetime | None = None) -> None:
    """Recompute one member's places from the ledger (the live path's repair after a gap)."""
    await _reconcile_shard(
        redis,
        _shard(member_id),
        only={member_id},
        extra_keys=(),
        now=now or datetime.now(UTC),
        margin=_margin(),
        write=True,
    )


async def _discover(redis: Redis) -> tuple[set[BoardKey], set[int], list[str]]:
    """Buckets and shards Redis holds, and the names of bucket keys past their expiry."""
    keys: set[BoardKey] = set()
    shards: set[int] = set()
    names: list[str] = []
    async for name in redis.scan_iter(match=f"{KEY_PREFIX}*", count=1000):
        if name.startswith(f"{KEY_PREFIX}seq:"):
            shard = name.removeprefix(f"{KEY_PREFIX}seq:")
            if shard.isdigit():
                shards.add(int(shard))
            continue
        parsed = _parse_key(name)
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
    margin = _margin()
    report = ReconcileReport()
    keys, shards, names = await _discover(redis)
    alive = {key for key in keys if key.alive(now, margin)}
    for name in names:
        parsed = _parse_key(name)
        if parsed is not None and parsed[0] not in alive:
            report.stale_keys.append(name)
    if write and report.stale_keys:
        await redis.unlink(*report.stale_keys)
    member_ids = await LedgerAccount.filter(kind=AccountKind.MEMBER).values_list(
        "member_id", flat=True
    )
    per_shard: dict[int, int] = defaultdict(int)
    for member_id in member_ids:
        per_shard[_shard(int(member_id))] += 1  # type: ignore[call-overload]
    total = len(member_ids)
    done = 0
    for shard in sorted(shards | set(per_shard)):
        views, differences = await _reconcile_shard(
            redis, shard, only=None, extra_keys=alive, now=now, margin=margin, write=write
        )
        report.members += len(views)
        report.differences.extend(differences)
        done += per_shard.get(shard, 0)
        if progress:
            progress(done, total)
        alive |= {key for view in views.values() for key in view.scores}
    for key in sorted(alive):
        report.differences.extend(await _sweep(redis, key, write=write))
    boards, differences = await _reconcile_challenge_boards(redis, write=write)
    report.challenge_boards = boards
    report.differences.extend(differences)
    return report


async def _sweep(
    redis: Redis, key: BoardKey, *, write: bool, watched: Callable[[int], str] = _seq_key
) -> list[Difference]:
    """Sorted-set members that no member's state accounts for (left by a bug or by hand).
    `watched(shard)` names the key every writer of the shard's states changes."""
    by_shard: dict[int, list[str]] = defaultdict(list)
    async for tag, _ in redis.zscan_iter(key.zset, count=1000):
        by_shard[_shard(member_of_tag(tag))].append(tag)
    strays: list[Difference] = []
    for shard, tags in sorted(by_shard.items()):
        async with redis.pipeline(transaction=True) as pipe:
            for _ in range(_ATTEMPTS):
                try:
                    if write:
                        await pipe.watch(watched(shard))
                    members = sorted({member_of_tag(tag) for tag in tags})
                    raw: list[Any] = await redis.hmget(key.states(shard), [str(m) for m in members])
                    states = {
                        member: Score.decode(value)
                        for member, value in zip(members, raw, strict=True)
                        if value is not None
                    }
                    stray_tags = [tag for tag in tags if not _accounted_for(tag, states)]
                    if write and stray_tags:
                        pipe.multi()
                        pipe.zrem(key.zset, *stray_tags)
                        await pipe.execute()
                    strays.extend(
                        Difference(
                            key,
                            member_of_tag(tag),
                            None,
                            states.get(member_of_tag(tag)),
                            f"stray sorted-set entry {tag}",
                        )
                        for tag in stray_tags
                    )
                    break
                except WatchError:
                    continue
            else:
                raise WatchError(f"shard {shard}: the boards kept changing")
    return strays


def _accounted_for(tag: str, states: dict[int, Score]) -> bool:
    """Whether the member's state on the board says the sorted set holds `tag`."""
    state = states.get(member_of_tag(tag))
    return state is not None and state.ranked and state.tag(member_of_tag(tag)) == tag


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


# --- reading the boards ----------------------------------------------------------------------


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


# A member's place and neighbours in one round trip. KEYS: the member's states hash, the sorted
# set; ARGV: member id, above, below. Replies {total}, unknown member; {total, state}, not
# ranked; {total, state, 0-based rank, 0-based rank of the window's first, window WITHSCORES}.
# The tag is built as `member_tag` builds it (fixed width, so the formats must match).
_POSITION_SCRIPT: Final = """
local total = redis.call('ZCARD', KEYS[2])
local state = redis.call('HGET', KEYS[1], ARGV[1])
if not state then return {total} end
local colon = string.find(state, ':', 1, true)
if tonumber(string.sub(state, 1, colon - 1)) <= 0 then return {total, state} end
local tag = string.format('%013d:%010d',
  10000000000000 - tonumber(string.sub(state, colon + 1)), 10000000000 - tonumber(ARGV[1]))
local rank = redis.call('ZREVRANK', KEYS[2], tag)
if not rank then return {total, state} end
local above, below = tonumber(ARGV[2]), tonumber(ARGV[3])
local first = math.max(0, rank - above)
local window = {}
if above + below > 0 then
  window = redis.call('ZREVRANGE', KEYS[2], first, rank + below, 'WITHSCORES')
end
return {total, state, rank, first, window}
"""
_SCRIPT_SHAS: Final[dict[str, str]] = {}


async def _run_script(
    redis: Redis, script: str, keys: Sequence[str], args: Sequence[str | int]
) -> Any:
    """EVALSHA, loading the script on first use (one round trip once Redis has it)."""
    sha = _SCRIPT_SHAS.get(script)
    if sha is None:
        sha = _SCRIPT_SHAS[script] = hashlib.sha1(
            script.encode(), usedforsecurity=False
        ).hexdigest()
    try:
        return await redis.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:  # a new or restarted Redis: EVAL sends it and Redis caches it
        return await redis.eval(script, len(keys), *keys, *args)


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
            if limit == 0:  # ZREVRANGE 0 -1 would be the whole set
                total: Any = await self.redis.zcard(self.key.zset)
                return int(total), []
            reads = self.redis.pipeline(transaction=False)
            reads.zcard(self.key.zset)
            reads.zrevrange(self.key.zset, offset, offset + limit - 1, withscores=True)
            total, replies = await reads.execute()
        return int(total), _standings(offset, replies)

    async def position(self, member_id: int, *, above: int = 0, below: int = 0) -> Position:
        # One round trip (a script) for the state, the total, the rank and the neighbours: they
        # are also consistent with each other, read at one instant.
        keys = (self.key.states(_shard(member_id)), self.key.zset)
        with _reading():
            reply: list[Any] = await _run_script(
                self.redis, _POSITION_SCRIPT, keys, (member_id, above, below)
            )
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
            replies: Any = await self.redis.zrevrange(
                self.key.zset, start, position.rank - 1 + below, withscores=True
            )
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
            by_shard[_shard(member)].append(member)
        with _reading():
            reads = redis.pipeline(transaction=False)
            for shard, members in by_shard.items():
                reads.hmget(key.states(shard), [str(m) for m in members])
            replies = await reads.execute()
        scores = {
            member: Score.decode(raw)
            for members, reply in zip(by_shard.values(), replies, strict=True)
            for member, raw in zip(members, reply, strict=True)
            if raw is not None
        }
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
    cause_id = _cause_id(board)
    if cause_id is None or not await Cause.filter(id=cause_id).exists():
        raise UnknownBoard(_BOARD_NAMES, field="board")
    if period is not Period.ALL_TIME:
        raise UnknownPeriod("A cause's board has only the ALL_TIME period", field="period")
    return RankedBoard(redis, board_key(board, Period.ALL_TIME, now), period)


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


# --- challenge boards ------------------------------------------------------------------------
#
# Board `challenge:<id>`: members ranked by their progress in one challenge, ALL_TIME only. The
# source of truth is the `challenge_progress` table (as the ledger is for points), and a board
# is always recomputed from it, never incremented:
# - Score: the member's progress units over all their windows of the challenge: each
#   completion counts as the target, plus the progress towards the next one (none once the
#   window's last completion is reached: the challenge is done there). Units are the goal's:
#   events, days, streak length, or the summed amount rounded down to a whole unit. A streak
#   counts as it stood at the member's last event (a broken streak shows until they act again:
#   nothing is written when a day passes without activity). The score depends on the
#   challenge's target and maxCompletions: changing either recomputes the board.
# - Reached (the tie-break): the latest `updated_at` of the windows that score, i.e. when an
#   event last counted; for a finished challenge, its completion time.
# - Keys: `lb:challenge:<id>:all:z` and `...:all:s:<shard>`, as for the other boards; no seq.
#   After commit, a member's places are recomputed from the table under WATCH of the
#   challenges' states hashes of the member's shard, which every writer of those states
#   changes: a writer that read the table before another commit and would write an older
#   state fails its EXEC and reads again. So the live board equals a rebuild, whatever the
#   order in which concurrent updates land, and a missed update (Redis down) is repaired by
#   the member's next update on that board or by `loyalty rebuild-leaderboards`.
# - Hidden challenges: their board is unknown (UNKNOWN_BOARD, as for a challenge that does
#   not exist) to devices and to members who have not earned the challenge, and they get no
#   live `leaderboardChanged` updates; members who earned it and admins read it.

_BOARD_NAMES: Final = (
    'Boards are "points", "friends", "cause:<cause ID>" and "challenge:<challenge ID>"'
)


def challenge_board(challenge_id: int) -> str:
    return f"{CHALLENGE_PREFIX}{challenge_id}"


def challenge_id_of(board: str) -> int | None:
    """The challenge a board is named after; None otherwise."""
    raw = board.removeprefix(CHALLENGE_PREFIX)
    if raw == board or not (raw.isascii() and raw.isdigit()) or raw.startswith("0"):
        return None
    challenge_id = int(raw)
    return challenge_id if challenge_id <= _MAX_CAUSE_ID else None


def challenge_board_key(challenge_id: int) -> BoardKey:
    return BoardKey(challenge_board(challenge_id), "all")


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


def _progress_units(
    target: Decimal, max_completions: int, current: Decimal, completions: int
) -> Decimal:
    """One window's progress: each completion counts as the target, plus the progress towards
    the next completion (none once the window's last one is reached)."""
    units = target * completions
    return units + current if completions < max_completions else units


async def _goals(challenge_ids: Collection[int]) -> dict[int, tuple[Decimal, int]]:
    """Each challenge's target and completions per window: from the cached catalog of active
    challenges, read for the others (archived, or too new for this process's copy)."""
    wanted = set(challenge_ids)
    goals: dict[int, tuple[Decimal, int]] = {}
    for challenge in await challenges.catalog(ChallengeStatus.ACTIVE):
        if challenge.id in wanted:
            goals[challenge.id] = (Decimal(challenge.target), challenge.max_completions)
    missing = wanted - set(goals)
    if missing:
        for challenge_id, target, max_completions in await Challenge.filter(
            id__in=list(missing)
        ).values_list("id", "target", "max_completions"):
            goals[challenge_id] = (Decimal(target), int(max_completions))
    return goals


async def _challenge_scores(
    shard: int, challenge_ids: Collection[int], only: Collection[int] | None
) -> dict[BoardKey, dict[int, Score]]:
    """The scores of a shard's members (or just `only`) on these challenges' boards, from the
    progress table: two queries, whatever the number of challenges and windows."""
    goals = await _goals(challenge_ids)
    rows = ChallengeProgress.filter(
        challenge_id__in=list(goals),
        member_id__gte=shard << SHARD_BITS,
        member_id__lt=(shard + 1) << SHARD_BITS,
    )
    if only is not None:
        rows = rows.filter(member_id__in=list(only))
    units: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    reached: dict[tuple[int, int], tuple[bool, int]] = {}
    for challenge_id, member_id, current, completions, updated_at in await rows.values_list(
        "challenge_id", "member_id", "current", "completions", "updated_at"
    ):
        target, max_completions = goals[challenge_id]
        window = _progress_units(target, max_completions, Decimal(current), int(completions))
        pair = (challenge_id, member_id)
        units[pair] += window
        # The latest window that scores; the latest of all when none does.
        reached[pair] = max(reached.get(pair, (False, 0)), (window != 0, _ms(updated_at)))
    scores: dict[BoardKey, dict[int, Score]] = defaultdict(dict)
    for (challenge_id, member_id), total in units.items():
        points = int(total.to_integral_value(rounding=ROUND_FLOOR))
        key = challenge_board_key(challenge_id)
        scores[key][member_id] = Score(points, reached[challenge_id, member_id][1])
    return scores


async def _reconcile_challenges(
    redis: Redis,
    shard: int,
    challenge_ids: Collection[int],
    *,
    only: Collection[int] | None,
    write: bool,
) -> list[Difference]:
    """Compare a shard's members (or just `only`) on these challenges' boards with the
    progress table; with `write`, make Redis agree (see "challenge boards" above for why the
    WATCH comes before the read). Returns the differences (fixed when writing)."""
    keys = [challenge_board_key(challenge_id) for challenge_id in sorted(set(challenge_ids))]
    if not keys:
        return []
    margin = _margin()
    async with redis.pipeline(transaction=True) as pipe:
        for _ in range(_ATTEMPTS):
            try:
                if write:
                    await pipe.watch(*(key.states(shard) for key in keys))
                scores = await _challenge_scores(
                    shard, [challenge_id_of(key.board) or 0 for key in keys], only
                )
                views: dict[int, _LedgerView] = defaultdict(lambda: _LedgerView(seq=0))
                for key, by_member in scores.items():
                    for member_id, score in by_member.items():
                        views[member_id].scores[key] = score
                found = await _challenge_states(redis, shard, keys, only)
                members = set(views)
                for states in found.values():
                    members |= set(states)
                differences = await _differences(redis, keys, members, dict(views), found)
                if not write or not differences:
                    return differences
                pipe.multi()
                _write_fixes(pipe, differences, shard, margin)
                await pipe.execute()
                return differences
            except WatchError:
                continue
    raise WatchError(f"shard {shard}: the challenge boards kept changing")


async def _challenge_states(
    redis: Redis, shard: int, keys: Sequence[BoardKey], only: Collection[int] | None
) -> dict[BoardKey, dict[int, Score]]:
    """The states Redis holds for a shard (or just `only`) on these boards."""
    wanted = sorted(only) if only is not None else None
    reads = redis.pipeline(transaction=False)
    for key in keys:
        if wanted is None:
            reads.hgetall(key.states(shard))
        else:
            reads.hmget(key.states(shard), [str(member) for member in wanted])
    found: dict[BoardKey, dict[int, Score]] = {}
    for key, reply in zip(keys, await reads.execute(), strict=True):
        pairs = reply.items() if wanted is None else zip(wanted, reply, strict=True)
        found[key] = {int(m): Score.decode(raw) for m, raw in pairs if raw is not None}
    return found


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
            await _reconcile_challenges(
                redis, _shard(member_id), challenge_ids, only={member_id}, write=True
            )
        except RedisError as error:
            _missed(member_id, error)
    for challenge_id in sorted(updates.redefined):
        try:
            await _reconcile_challenge_boards(redis, write=True, only={challenge_id})
        except RedisError as error:
            logger.warning(
                "challenge %s's board was not recomputed (%s); run `loyalty rebuild-leaderboards`",
                challenge_id,
                error,
            )


async def _reconcile_challenge_boards(
    redis: Redis, *, write: bool, only: Collection[int] | None = None
) -> tuple[int, list[Difference]]:
    """Compare every challenge board (or just those of `only`) with the progress table, shard
    by shard, then sweep their sorted sets; with `write`, make Redis agree. Returns how many
    boards there were and the differences. Raises RedisError."""
    progress = ChallengeProgress.all()
    if only is not None:
        progress = progress.filter(challenge_id__in=list(only))
    shards: dict[int, set[int]] = defaultdict(set)
    for challenge_id, member_id in await progress.distinct().values_list(
        "challenge_id", "member_id"
    ):
        shards[_shard(int(member_id))].add(int(challenge_id))
    boards = {challenge_id for challenge_ids in shards.values() for challenge_id in challenge_ids}
    async for name in redis.scan_iter(match=f"{KEY_PREFIX}{CHALLENGE_PREFIX}*", count=1000):
        rest = name.removeprefix(f"{KEY_PREFIX}{CHALLENGE_PREFIX}")
        raw_id, _, tail = rest.partition(":all:")
        challenge_id = challenge_id_of(f"{CHALLENGE_PREFIX}{raw_id}")
        if challenge_id is None or (only is not None and challenge_id not in only):
            continue
        boards.add(challenge_id)
        if tail.startswith("s:") and tail.removeprefix("s:").isdigit():
            shards[int(tail.removeprefix("s:"))].add(challenge_id)
    differences: list[Difference] = []
    for shard, challenge_ids in sorted(shards.items()):
        differences += await _reconcile_challenges(
            redis, shard, challenge_ids, only=None, write=write
        )
    for challenge_id in sorted(boards):
        key = challenge_board_key(challenge_id)
        differences += await _sweep(redis, key, write=write, watched=key.states)
    return len(boards), differences


async def rebuild_challenge_board(redis: Redis, challenge_id: int) -> list[Difference]:
    """Make one challenge's board equal the progress table. Returns what was fixed.
    Raises RedisError."""
    return (await _reconcile_challenge_boards(redis, write=True, only={challenge_id}))[1]
