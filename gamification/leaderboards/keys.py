"""Leaderboards on Redis sorted sets: the boards, their periods, their keys and how a score is
encoded. The ledger (PostgreSQL) stays the source of truth: every board is rebuilt from it
exactly (`reconcile`), and Redis may vanish at any time without losing a point.

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
  table, not the ledger (see `challenge_boards`). All time only.
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

Redis layout (shard = member id >> 10: 1024 members per shard; names in
`gamification.redis_keys`, all under the hash tag `{lb}`)
- `{lb}:{board}:{bucket}:z`, a ZSET: score = points (integers; exact below 2^53, which the
  ledger's per-entry cap keeps far away), member = a tag
  `{10^13 - reached_ms:013d}:{10^10 - member_id:010d}`. Fixed width, so among equal scores
  ZREVRANGE's reverse lexicographic order gives the earliest `reached`, then the lowest id.
- `{lb}:{board}:{bucket}:s:{shard}`, a HASH: member id -> `points:reached_ms`, for every
  member with a counting entry, ranked or not (the tag to remove on the next change comes
  from here).
- `{lb}:seq:{shard}`, a HASH: member id -> the last `seq` of the member's ledger account
  applied. Buckets: `all`, `week:2026-W48`, `month:2026-11`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from gamification import program_settings, redis_keys
from gamification.ledger.models import EntryKind
from gamification.limits import MAX_INT32

POINTS_BOARD: Final = "points"
FRIENDS_BOARD: Final = "friends"
# A cause's ledger account code (`gamification.causes.donations.cause_account_code`) doubles
# as the name of its board: the entries name their counter account, so no lookup is needed.
CAUSE_PREFIX: Final = "cause:"
# A challenge's board: its members' progress (see `challenge_boards`).
CHALLENGE_PREFIX: Final = "challenge:"

POINTS_KINDS: Final = frozenset(
    {EntryKind.EARN, EntryKind.BONUS, EntryKind.REFUND, EntryKind.CLAWBACK}
)
DONATION_KINDS: Final = frozenset({EntryKind.DONATE, EntryKind.REVERSAL})
SCORING_KINDS: Final = POINTS_KINDS | DONATION_KINDS

SHARD_BITS: Final = 10
_TAG_TIME_BASE: Final = 10**13  # ms timestamps stay below it until the year 2286
_TAG_MEMBER_BASE: Final = 10**10  # member ids are 32-bit
_MAX_BOARD_ID: Final = MAX_INT32  # cause and challenge ids are 32-bit columns
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)


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
        return redis_keys.board_zset(self.board, self.bucket)

    def states(self, shard: int) -> str:
        return redis_keys.board_states(self.board, self.bucket, shard)

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


def periods_of(board: str) -> tuple[Period, ...]:
    return tuple(Period) if board == POINTS_BOARD else (Period.ALL_TIME,)


def alive_keys(board: str, now: datetime, margin: timedelta) -> list[BoardKey]:
    """Every bucket of `board` that Redis still keeps at `now`: the current periods and those
    that ended less than `margin` ago."""
    keys = []
    for period in periods_of(board):
        key = board_key(board, period, now)
        while key.alive(now, margin):
            keys.append(key)
            if key.starts_at is None:
                break
            key = board_key(board, period, key.starts_at - _ONE_MS)
    return keys


def parse_key(name: str) -> tuple[BoardKey, int | None] | None:
    """The bucket a Redis key belongs to and its shard (None for the sorted set); None for
    keys that are not a points or cause board's."""
    if not name.startswith(redis_keys.BOARDS_PREFIX):
        return None
    rest, shard = name.removeprefix(redis_keys.BOARDS_PREFIX), None
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
    if key.board != POINTS_BOARD and cause_id_of(key.board) is None:
        return None
    return key, shard


def _id_after(prefix: str, board: str) -> int | None:
    raw = board.removeprefix(prefix)
    if raw == board or not (raw.isascii() and raw.isdigit()) or raw.startswith("0"):
        return None
    found = int(raw)
    return found if found <= _MAX_BOARD_ID else None


def cause_id_of(board: str) -> int | None:
    """The cause a board (or a cause's ledger account code) is named after; None otherwise."""
    return _id_after(CAUSE_PREFIX, board)


def cause_board(cause_id: int) -> str:
    return f"{CAUSE_PREFIX}{cause_id}"


def challenge_board(challenge_id: int) -> str:
    return f"{CHALLENGE_PREFIX}{challenge_id}"


def challenge_id_of(board: str) -> int | None:
    """The challenge a board is named after; None otherwise."""
    return _id_after(CHALLENGE_PREFIX, board)


def challenge_board_key(challenge_id: int) -> BoardKey:
    return BoardKey(challenge_board(challenge_id), "all")


def shard_of(member_id: int) -> int:
    return member_id >> SHARD_BITS


def margin() -> timedelta:
    """How long a period's buckets are kept after the period ends."""
    return timedelta(days=program_settings.current().leaderboard_period_margin_days)


# --- scores ------------------------------------------------------------------------------------


def ms(at: datetime) -> int:
    """`at` in milliseconds since the epoch, as scores record when they were reached."""
    return (at - _EPOCH) // _ONE_MS


def member_tag(member_id: int, reached_ms: int) -> str:
    """The sorted-set member for a member who reached their score at `reached_ms`."""
    return f"{_TAG_TIME_BASE - reached_ms:013d}{member_tag_suffix(member_id)}"


def member_tag_suffix(member_id: int) -> str:
    """The part of a member's tag that does not depend on time (the Lua scripts add the rest)."""
    return f":{_TAG_MEMBER_BASE - member_id:010d}"


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


def counted(kind: Any, points: int, counter_code: str) -> tuple[str, int] | None:
    """The board a ledger entry counts on and by how much, or None."""
    kind = EntryKind(kind)
    if kind in POINTS_KINDS:
        return POINTS_BOARD, points
    if kind in DONATION_KINDS and counter_code.startswith(CAUSE_PREFIX):
        return counter_code, -points  # a donation leaves the member's account: a gift
    return None


def add_to_buckets(
    scores: dict[BoardKey, Score],
    board: str,
    delta: int,
    at: datetime,
    now: datetime,
    margin: timedelta,
) -> None:
    """Count `delta`, reached at `at`, on the board's buckets still kept at `now`."""
    for period in periods_of(board):
        key = board_key(board, period, at)
        if key.alive(now, margin):
            add_score(scores, key, Score(delta, ms(at)))


def add_score(scores: dict[BoardKey, Score], key: BoardKey, score: Score) -> None:
    scores[key] = scores[key].plus(score) if key in scores else score
