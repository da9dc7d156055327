"""What the gamification engine knows about one member inside one transaction, read once.

Tiers, challenges and badges all need the member's timezone, their tier row, their qualifying
points in the current window, the badges they hold and how many purchases they made. The first
caller in a transaction (the earn multiplier of a purchase, or the first event recorded) reads
all of it in one statement, under the member's ledger lock; the engine then keeps the copy up to
date as the transaction records events, upgrades tiers and awards badges, so later steps of the
same transaction cost no further reads. The copy belongs to the transaction object and goes away
with it; nothing else writes these rows while the member's ledger account is locked (every
writer of tier rows, events and badges takes that lock first), so the copy stays exact.

This module knows the state's shape and how to read it; what to read is given to `load` (where
the qualification window begins, how many purchases to count). The engine's `state_of`
(`gamification.events.engine_state`) gives it from the tiers' window and the badge catalog, so
tiers and badges depend on the state, and the state on neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final
from weakref import WeakKeyDictionary

from tortoise.backends.base.client import BaseDBAsyncClient

from gamification import sql
from gamification.events.models import DomainEvent, EventKind
from gamification.tiers import qualifying
from gamification.tiers.models import MemberTier


@dataclass
class TierStatus:
    """The member's tier row as this transaction leaves it (`exists`: the row is in the
    database or queued to be written)."""

    tier_id: int | None
    floor_tier_id: int | None
    period_starts_at: datetime
    period_ends_at: datetime


@dataclass
class MemberState:
    member_id: int
    timezone: str
    status: TierStatus | None
    # Qualifying points of the events with since <= occurred_at < until (not clamped at 0).
    since: datetime
    until: datetime
    qualifying: int
    badges: dict[int, int] = field(default_factory=dict)  # badge id -> level held
    # The member's purchase events, counted up to `purchase_cap` (a count equal to the cap
    # means "at least the cap": no PURCHASE_COUNT badge needs more).
    purchases: int = 0
    purchase_cap: int = 0

    def counts_for_tier(self, occurred_at: datetime) -> bool:
        return self.since <= occurred_at < self.until

    def add_qualifying(self, occurred_at: datetime, points: int) -> None:
        if points and self.counts_for_tier(occurred_at):
            self.qualifying += points

    def purchase_recorded(self) -> None:
        if self.purchases < self.purchase_cap:
            self.purchases += 1


_states: WeakKeyDictionary[BaseDBAsyncClient, MemberState] = WeakKeyDictionary()

# The member's timezone, tier row, qualifying points (from the maintained totals, a bounded
# number of rows whatever the history) and capped purchase count, then the badges they hold:
# one statement.
_LOAD: Final = (
    "SELECT 'member' AS part, m.timezone AS timezone, t.id AS status_id, t.tier_id AS a, "
    "t.floor_tier_id AS b, t.period_starts_at AS starts_at, t.period_ends_at AS ends_at, "
    f"{qualifying.window_sum_sql(1, 4)} AS qualifying, "
    "(SELECT COUNT(*) FROM (SELECT 1 FROM domain_event p WHERE p.member_id = $1 "
    "AND p.kind = $2 LIMIT $3) AS capped) AS purchases "
    "FROM member m LEFT JOIN member_tier t ON t.member_id = m.id WHERE m.id = $1 "
    "UNION ALL SELECT 'badge', NULL, NULL, badge_id, level, NULL, NULL, NULL, NULL "
    "FROM member_badge WHERE member_id = $1"
)


def cached(conn: BaseDBAsyncClient, member_id: int) -> MemberState | None:
    state = _states.get(conn)
    return state if state is not None and state.member_id == member_id else None


async def load(
    conn: BaseDBAsyncClient, member_id: int, now: datetime, *, since: datetime, purchase_cap: int
) -> MemberState:
    """The member's state in this transaction: read on first use, then the copy. Caller holds
    the member's ledger lock."""
    state = cached(conn, member_id)
    if state is not None:
        return state
    until = now + timedelta(seconds=1)
    # Another member's state may have replaced this one's copy after bucket writes were held.
    await qualifying.flush_pending(conn, member_id)
    rows = await sql.fetch(
        conn,
        _LOAD,
        member_id,
        EventKind.PURCHASE_RECORDED.value,
        purchase_cap,
        *qualifying.Window.of(since, until).values,
    )
    fields = MemberTier._meta.fields_map
    state = MemberState(member_id, "UTC", None, since, until, 0, purchase_cap=purchase_cap)
    for row in rows:
        if row["part"] == "badge":
            state.badges[int(row["a"])] = int(row["b"])
            continue
        state.timezone = row["timezone"] or "UTC"
        state.qualifying = int(row["qualifying"] or 0)
        state.purchases = int(row["purchases"] or 0)
        if row["status_id"] is not None:
            state.status = TierStatus(
                tier_id=row["a"],
                floor_tier_id=row["b"],
                period_starts_at=fields["period_starts_at"].to_python_value(row["starts_at"]),
                period_ends_at=fields["period_ends_at"].to_python_value(row["ends_at"]),
            )
    _states[conn] = state
    return state


async def count_purchases(conn: BaseDBAsyncClient, member_id: int) -> int:
    """Every purchase event of the member (for a badge whose threshold the capped count in
    the state does not reach)."""
    return await (
        DomainEvent.filter(member_id=member_id, kind=EventKind.PURCHASE_RECORDED)
        .using_db(conn)
        .count()
    )
