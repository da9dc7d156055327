"""Qualifying points as maintained totals, so that no write reads the member's history.

A member's qualifying points in a window are Σ `DomainEvent.qualifying_points` of the events
with since <= occurred_at < until. Summing the events costs as much as the member's history;
instead, every change of an event's qualifying points (recording it, a challenge bonus, what a
refund takes back: `gamification.events.facts`) adds the same points to two buckets of the
member, the UTC day and the UTC month of the event's `occurred_at`
(`QualifyingPointsBucket`), in the transaction of the change. The window is then

    the whole months strictly between since's month and until's month (at most 11 rows for
    the rolling 12 months, 12 for a calendar year)
  + the days of since's month from since's day, and of until's month up to until's day (at
    most two months of day rows; one range when both are in the same month)
  − the events of since's day before `since` and of until's day from `until` on (the window
    does not start or end at midnight: at most two days of events, usually none at the end)

a bounded number of rows whatever the history. The bucket writes are held back like the
transaction's other writes (`gamification.deferred_writes`): the changes of one member in a
transaction fold into one upsert, sent with the transaction's last statement.

`differences` recomputes every bucket from the events (`loyalty verify-ledger` reports them);
`rebuild` rewrites one member's buckets from their events (for histories bulk-loaded in SQL).
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from weakref import WeakKeyDictionary

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification import deferred_writes, sql
from gamification.tiers.models import BucketSpan

# Per transaction: the member's bucket changes not flushed yet, by (span, starts_on).
_pending: WeakKeyDictionary[BaseDBAsyncClient, dict[int, Counter[tuple[BucketSpan, date]]]] = (
    WeakKeyDictionary()
)


def _held_key(member_id: int) -> tuple[str, int]:
    return ("qualifying_points_bucket", member_id)


def _upsert(member_id: int, changes: Counter[tuple[BucketSpan, date]]) -> tuple[str, list[Any]]:
    rows: list[str] = []
    values: list[Any] = [member_id]
    for (span, starts_on), points in sorted(changes.items()):
        rows.append(f"($1, ${len(values) + 1}, ${len(values) + 2}, ${len(values) + 3})")
        values.extend((span.value, starts_on, points))
    statement = (
        "INSERT INTO qualifying_points_bucket (member_id, span, starts_on, points) VALUES "
        + ", ".join(rows)
        + " ON CONFLICT (member_id, span, starts_on) DO UPDATE "
        "SET points = qualifying_points_bucket.points + EXCLUDED.points"
    )
    return statement, values


def _day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


async def add(conn: BaseDBAsyncClient, member_id: int, occurred_at: datetime, points: int) -> None:
    """Count `points` more (or fewer) qualifying points for the member at `occurred_at`, in the
    caller's transaction (held back until its last statement). Caller holds the member's ledger
    lock, like every writer of the member's events."""
    if not points:
        return
    key = _held_key(member_id)
    by_member = _pending.setdefault(conn, {})
    if not deferred_writes.is_held(conn, key):
        by_member.pop(member_id, None)  # flushed since (or nothing is held back): start afresh
    changes = by_member.setdefault(member_id, Counter())
    day = _day_of(occurred_at)
    changes[(BucketSpan.DAY, day)] += points
    changes[(BucketSpan.MONTH, day.replace(day=1))] += points
    statement, values = _upsert(member_id, changes)
    await deferred_writes.hold_back_write(conn, key, statement, *values)


async def flush_pending(conn: BaseDBAsyncClient, member_id: int) -> None:
    """Send the member's held-back bucket changes (and the rest of the held writes) before a
    read of the buckets in the same transaction."""
    if deferred_writes.is_held(conn, _held_key(member_id)):
        await deferred_writes.flush_held_writes(conn)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass(frozen=True, slots=True)
class Window:
    """The rows that make up the qualifying points of since <= occurred_at < until."""

    months_after: date  # whole months: after this one ...
    months_before: date  # ... and before this one
    head: tuple[date, date]  # day buckets, inclusive
    tail: tuple[date, date]  # day buckets, inclusive (empty when it starts after it ends)
    before_since: tuple[datetime, datetime]  # events to take off: since's day before since
    from_until: tuple[datetime, datetime]  # and until's day from until on

    @classmethod
    def of(cls, since: datetime, until: datetime) -> Window:
        first, last = _day_of(since), _day_of(until)
        first_month, last_month = first.replace(day=1), last.replace(day=1)
        if first_month == last_month:
            head, tail = (first, last), (last + timedelta(days=1), last)
        else:
            head, tail = (first, _month_end(first)), (last_month, last)
        return cls(
            months_after=first_month,
            months_before=last_month,
            head=head,
            tail=tail,
            before_since=(_midnight(first), since),
            from_until=(until, _midnight(last + timedelta(days=1))),
        )

    @property
    def values(self) -> list[Any]:
        return [
            self.months_after,
            self.months_before,
            *self.head,
            *self.tail,
            *self.before_since,
            *self.from_until,
        ]


def window_sum_sql(member: int, first: int) -> str:
    """A scalar SQL expression: the member's qualifying points in a `Window`, with the member's
    id in placeholder `$member` and `Window.values` in `$first` ... `$first+9`."""
    m = f"${member}"
    p = [f"${first + offset}" for offset in range(10)]
    return (
        "(COALESCE((SELECT SUM(b.points) FROM qualifying_points_bucket b "
        f"WHERE b.member_id = {m} AND b.span = 'month' "
        f"AND b.starts_on > {p[0]} AND b.starts_on < {p[1]}), 0) "
        "+ COALESCE((SELECT SUM(b.points) FROM qualifying_points_bucket b "
        f"WHERE b.member_id = {m} AND b.span = 'day' "
        f"AND b.starts_on >= {p[2]} AND b.starts_on <= {p[3]}), 0) "
        "+ COALESCE((SELECT SUM(b.points) FROM qualifying_points_bucket b "
        f"WHERE b.member_id = {m} AND b.span = 'day' "
        f"AND b.starts_on >= {p[4]} AND b.starts_on <= {p[5]}), 0) "
        "- COALESCE((SELECT SUM(e.qualifying_points) FROM domain_event e "
        f"WHERE e.member_id = {m} AND e.occurred_at >= {p[6]} AND e.occurred_at < {p[7]}), 0) "
        "- COALESCE((SELECT SUM(e.qualifying_points) FROM domain_event e "
        f"WHERE e.member_id = {m} AND e.occurred_at >= {p[8]} AND e.occurred_at < {p[9]}), 0))"
    )


# The buckets as the events say they should be, per dialect ({where}: an optional filter).
_EXPECTED: Final = {
    "postgres": (
        "SELECT member_id, 'day' AS span, (occurred_at AT TIME ZONE 'UTC')::date AS starts_on, "
        "SUM(qualifying_points) AS points FROM domain_event "
        "WHERE qualifying_points <> 0 {where} GROUP BY 1, 2, 3 "
        "UNION ALL SELECT member_id, 'month', "
        "date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date, SUM(qualifying_points) "
        "FROM domain_event WHERE qualifying_points <> 0 {where} GROUP BY 1, 2, 3"
    ),
    "sqlite": (
        "SELECT member_id, 'day' AS span, date(occurred_at) AS starts_on, "
        "SUM(qualifying_points) AS points FROM domain_event "
        "WHERE qualifying_points <> 0 {where} GROUP BY 1, 2, 3 "
        "UNION ALL SELECT member_id, 'month', strftime('%Y-%m-01', occurred_at), "
        "SUM(qualifying_points) FROM domain_event WHERE qualifying_points <> 0 {where} "
        "GROUP BY 1, 2, 3"
    ),
}


def _expected_sql(conn: BaseDBAsyncClient, where: str = "") -> str:
    return _EXPECTED["postgres" if sql.is_postgres(conn) else "sqlite"].format(where=where)


def _conn() -> BaseDBAsyncClient:
    return connections.get("default")


@dataclass(frozen=True, slots=True)
class Difference:
    """A bucket whose maintained total is not what the member's events add up to."""

    member_id: int
    span: str
    starts_on: str
    kept: int
    events: int


def _by_bucket(rows: list[dict[str, Any]]) -> dict[tuple[int, str, str], int]:
    totals: dict[tuple[int, str, str], int] = {}
    for row in rows:
        key = (int(row["member_id"]), str(row["span"]), str(row["starts_on"])[:10])
        totals[key] = totals.get(key, 0) + int(row["points"] or 0)
    return totals


async def differences(conn: BaseDBAsyncClient | None = None) -> list[Difference]:
    """Every bucket whose total differs from a recomputation from `domain_event` (a missing
    bucket counts as 0), in member, span and day order."""
    conn = conn or _conn()
    expected = _by_bucket(await sql.fetch(conn, _expected_sql(conn)))
    kept = _by_bucket(
        await sql.fetch(
            conn, "SELECT member_id, span, starts_on, points FROM qualifying_points_bucket"
        )
    )
    return [
        Difference(member_id, span, starts_on, kept.get(key, 0), expected.get(key, 0))
        for key in sorted(expected.keys() | kept.keys())
        for member_id, span, starts_on in (key,)
        if kept.get(key, 0) != expected.get(key, 0)
    ]


async def rebuild(member_id: int) -> None:
    """Rewrite the member's buckets from their events, under no lock: for data loaded in bulk
    while nothing else writes the member (benchmarks), not for a live member."""
    async with in_transaction() as conn:
        await sql.fetch(
            conn, "DELETE FROM qualifying_points_bucket WHERE member_id = $1", member_id
        )
        await sql.fetch(
            conn,
            "INSERT INTO qualifying_points_bucket (member_id, span, starts_on, points) "
            + _expected_sql(conn, "AND member_id = $1"),
            member_id,
        )
