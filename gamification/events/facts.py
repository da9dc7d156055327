"""Domain events: the business facts that move tiers, challenges and badges.

Exactly once, without an outbox: the use case that writes a fact (a purchase, a refund, a
redemption, a donation, an eco action, a check-in) calls `record` inside its own transaction,
with the member's ledger account already locked. The event row has a unique `source_key` derived
from the fact (`purchase:12`, `checkin:7:2026-11-23`, ...), and progress is applied right there,
in the same transaction: the fact, its event, the progress and any reward commit or roll back
together. So do the member's qualifying-point totals (`gamification.tiers.qualifying`): every
change of an event's `qualifying_points` goes through `record` or `add_qualifying`, which add it
to the totals. A retried request replays the fact's stored answer (idempotency keys, unique external
ids) and never reaches `record` again; a concurrent one waits on the member's lock.

Processing order inside `record`: challenges (which may credit bonuses), then milestone badges,
then tiers (an upgrade records a TIER_REACHED event, processed the same way).

Few round trips: what the engine needs to know about the member is read once per transaction
(`gamification.members.state`), program configuration comes from per-process caches, and
writes nothing reads back in the transaction are held back until its last statement
(`gamification.deferred_writes`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from gamification import deferred_writes, sql
from gamification.badges import awards as badges
from gamification.challenges import progress as challenges
from gamification.challenges import refunds as challenge_refunds
from gamification.earning.models import Purchase
from gamification.events import engine_state
from gamification.events import progress as progress_updates
from gamification.events.models import DomainEvent, EventKind
from gamification.ledger import accounts
from gamification.members import state as member_state
from gamification.members.models import Member
from gamification.outbox.emit import emit
from gamification.stores.models import Channel
from gamification.tiers import ladder as tiers
from gamification.tiers import qualifying


def zone_of(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


async def member_timezone(member_id: int, conn: BaseDBAsyncClient | None = None) -> str:
    if conn is not None:
        state = member_state.cached(conn, member_id)
        if state is not None:
            return state.timezone
    member = await Member.filter(id=member_id).using_db(conn).only("id", "timezone").first()
    return member.timezone if member is not None else "UTC"


def local_date_of(moment: datetime, timezone: str) -> date:
    return moment.astimezone(zone_of(timezone)).date()


@dataclass(frozen=True, slots=True)
class Fact:
    """What the use case knows about the fact; `record` turns it into an event."""

    kind: EventKind
    source_key: str
    occurred_at: datetime
    channel: Channel
    amount: Decimal = Decimal(0)
    quantity: int = 1
    store_id: int | None = None
    categories: Sequence[str] = field(default_factory=tuple)
    subject: str = ""
    qualifying_points: int = 0


# The event and its dedupe in one statement: nothing comes back when the key was recorded before.
_INSERT_EVENT: Final = """
INSERT INTO "domain_event" ("member_id", "kind", "source_key", "occurred_at", "local_date",
    "amount", "quantity", "channel", "store_id", "categories", "subject", "qualifying_points",
    "created_at")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT ("source_key") DO NOTHING
RETURNING "id"
"""

_SET_QUALIFYING: Final = 'UPDATE "domain_event" SET "qualifying_points" = $1 WHERE "id" = $2'


async def _insert(
    conn: BaseDBAsyncClient, values: list[Any], read: challenges.ProgressRead | None
) -> tuple[int | None, list[dict[str, Any]]]:
    """Insert the event; with `read`, also read the member's progress rows it may move. On
    PostgreSQL both go in one statement (the read does not need the event), on SQLite one
    after the other."""
    if read is None:
        rows = await sql.fetch(conn, _INSERT_EVENT, *values)
        return (int(rows[0]["id"]) if rows else None), []
    if sql.is_postgres(conn):
        statement = (
            f"WITH ev AS ({_INSERT_EVENT}), r AS ({_renumbered(read.statement, len(values))}) "
            "SELECT (SELECT id FROM ev) AS event_id, r.* FROM (SELECT 1 AS one) AS o "
            "LEFT JOIN r ON TRUE"
        )
        rows = await sql.fetch(conn, statement, *values, *read.values)
        event_id = rows[0]["event_id"] if rows else None
        return (int(event_id) if event_id is not None else None), [
            row for row in rows if row["part"] is not None
        ]
    rows = await sql.fetch(conn, _INSERT_EVENT, *values)
    if not rows:
        return None, []
    return int(rows[0]["id"]), await sql.fetch(conn, read.statement, *read.values)


def _renumbered(statement: str, offset: int) -> str:
    return re.sub(r"\$(\d+)", lambda match: f"${int(match.group(1)) + offset}", statement)


async def record(account: accounts.LockedAccount, member_id: int, fact: Fact) -> DomainEvent | None:
    """Record the fact once and apply it to challenges, tiers and badges, in the caller's
    transaction. Returns None when the fact was recorded before (nothing is applied again).

    Round trips: the member's state (once per transaction), then the event's insert, which also
    reads the progress rows of the challenges it matches (challenge definitions, the tier
    ladder and the badge catalog are cached per process, and matching happens in Python); the
    progress, contributions and any tier row change are held back until the transaction's last
    statement. Completions, tier upgrades and new badges add a statement each.
    """
    conn = account.conn
    state = await engine_state.state_of(account)
    timezone = state.timezone
    zone = zone_of(timezone)
    event = DomainEvent(
        member_id=member_id,
        kind=fact.kind,
        source_key=fact.source_key,
        occurred_at=fact.occurred_at,
        local_date=local_date_of(fact.occurred_at, timezone),
        amount=fact.amount,
        quantity=fact.quantity,
        channel=fact.channel,
        store_id=fact.store_id,
        categories=sorted(set(fact.categories)),
        subject=fact.subject,
        qualifying_points=fact.qualifying_points,
        created_at=account.now,
    )
    plan = await challenges.plan_event(state, event, zone)
    event_id, rows = await _insert(
        conn,
        [
            member_id,
            fact.kind.value,
            fact.source_key,
            fact.occurred_at,
            event.local_date,
            fact.amount,
            fact.quantity,
            fact.channel.value,
            fact.store_id,
            json.dumps(event.categories, separators=(",", ":")),
            fact.subject,
            fact.qualifying_points,
            account.now,
        ],
        plan.read if plan else None,
    )
    if event_id is None:
        return None
    event.id = event_id
    await _emit_fact(conn, event)
    await qualifying.add(conn, member_id, event.occurred_at, event.qualifying_points)
    if fact.kind is EventKind.PURCHASE_RECORDED:
        state.purchase_recorded()
    state.add_qualifying(event.occurred_at, event.qualifying_points)
    outcome = (
        await challenges.apply_event(account, state, event, plan, rows)
        if plan
        else challenges.Outcome()
    )
    if outcome.qualifying_bonus:
        await add_qualifying(account, state, event, outcome.qualifying_bonus)
    await badges.apply_milestones(account, state, event, outcome.longest_streak)
    if event.qualifying_points > 0:
        upgrade = await tiers.apply_qualifying(account, state)
        if upgrade is not None:
            reached = await record(
                account,
                member_id,
                Fact(
                    kind=EventKind.TIER_REACHED,
                    source_key=f"tier:{member_id}:{upgrade.change_id}",
                    occurred_at=account.now,
                    channel=Channel.SYSTEM,
                    subject=upgrade.tier.name,
                ),
            )
            if reached is not None:
                await emit(
                    conn,
                    type="tier.changed",
                    member_id=member_id,
                    data={
                        "memberId": member_id,
                        "tier": upgrade.tier.name,
                        "previousTier": upgrade.previous.name if upgrade.previous else None,
                        "reason": "UPGRADE",
                    },
                    occurred_at=account.now,
                )
                progress_updates.tier_upgraded(
                    progress_updates.TierUpgrade(
                        member_id=member_id,
                        change_id=upgrade.change_id,
                        tier=upgrade.tier.name,
                        previous_tier=upgrade.previous.name if upgrade.previous else None,
                        event_id=reached.id,
                        source_key=reached.source_key,
                        ledger_entry=progress_updates.transaction_entry_key(account.entries),
                    )
                )
    return event


# The outbox event of each kind of fact (a tier reached is `tier.changed`, emitted with the
# tier it left).
_FACT_EVENTS: Final = {
    EventKind.PURCHASE_RECORDED: "purchase.recorded",
    EventKind.PURCHASE_REFUNDED: "purchase.refunded",
    EventKind.REWARD_REDEEMED: "reward.redeemed",
    EventKind.POINTS_DONATED: "donation.made",
    EventKind.ECO_ACTION_RECORDED: "eco_action.recorded",
    EventKind.CHECK_IN: "member.checked_in",
}


async def _emit_fact(conn: BaseDBAsyncClient, event: DomainEvent) -> None:
    event_type = _FACT_EVENTS.get(event.kind)
    if event_type is None:
        return
    member_id: int = event.member_id  # type: ignore[attr-defined]
    await emit(
        conn,
        type=event_type,
        member_id=member_id,
        data={
            "memberId": member_id,
            "domainEventId": event.id,
            "sourceKey": event.source_key,
            "occurredAt": event.occurred_at.isoformat(),
            "channel": str(event.channel),
            "storeId": event.store_id,
            "amount": str(event.amount),
            "quantity": event.quantity,
            "categories": list(event.categories),
            "subject": event.subject,
            "qualifyingPoints": event.qualifying_points,
        },
        occurred_at=event.created_at,
    )


async def add_qualifying(
    account: accounts.LockedAccount,
    state: member_state.MemberState,
    event: DomainEvent,
    points: int,
) -> None:
    """Change the event's qualifying points by `points` (a bonus, or what a refund took back):
    held back until the transaction's last statement, and counted in the running total."""
    event.qualifying_points += points
    state.add_qualifying(event.occurred_at, points)
    await qualifying.add(account.conn, state.member_id, event.occurred_at, points)
    await deferred_writes.hold_back_write(
        account.conn,
        ("domain_event", event.id),
        _SET_QUALIFYING,
        event.qualifying_points,
        event.id,
    )


def purchase_categories(purchase: Purchase) -> list[str]:
    return [str(item.get("category", "")) for item in purchase.line_items or [] if item]


async def purchase_recorded(account: accounts.LockedAccount, purchase: Purchase) -> None:
    await record(
        account,
        purchase.member_id,  # type: ignore[attr-defined]
        Fact(
            kind=EventKind.PURCHASE_RECORDED,
            source_key=f"purchase:{purchase.id}",
            occurred_at=purchase.occurred_at,
            channel=purchase.channel,
            amount=Decimal(purchase.amount),
            store_id=purchase.store_id,  # type: ignore[attr-defined]
            categories=purchase_categories(purchase),
            qualifying_points=purchase.points_earned,
        ),
    )


async def purchase_refunded(
    account: accounts.LockedAccount,
    purchase: Purchase,
    amount: Decimal,
    points_due: int,
    *,
    refunded_total: Decimal,
) -> None:
    """A refund of `amount` (`refunded_total` refunded so far, this one included) lowers
    qualifying points by the points it claws back (outstanding included), and takes back what
    the purchase added to challenges (`challenge_refunds`), revoking a completion it no longer
    reaches together with its bonus. Exactly once per refund: the event's key is the refund's
    number for this purchase, read under the member's lock."""
    refund_number = (
        await DomainEvent.filter(source_key__startswith=f"refund:{purchase.id}:")
        .using_db(account.conn)
        .count()
    )
    event = await record(
        account,
        purchase.member_id,  # type: ignore[attr-defined]
        Fact(
            kind=EventKind.PURCHASE_REFUNDED,
            source_key=f"refund:{purchase.id}:{refund_number + 1}",
            occurred_at=account.now,
            channel=purchase.channel,
            amount=amount,
            store_id=purchase.store_id,  # type: ignore[attr-defined]
            categories=purchase_categories(purchase),
            qualifying_points=-points_due,
        ),
    )
    if event is None:
        return
    reversal = await challenge_refunds.reverse_purchase(
        account, purchase.id, event, refunded=refunded_total, total=Decimal(purchase.amount)
    )
    if reversal.qualifying_points:
        state = await engine_state.state_of(account)
        await add_qualifying(account, state, event, -reversal.qualifying_points)


async def reward_redeemed(
    account: accounts.LockedAccount,
    redemption_id: int,
    member_id: int,
    points: int,
    channel: Channel,
    store_id: int | None,
) -> None:
    await record(
        account,
        member_id,
        Fact(
            kind=EventKind.REWARD_REDEEMED,
            source_key=f"redemption:{redemption_id}",
            occurred_at=account.now,
            channel=channel,
            amount=Decimal(points),
            store_id=store_id,
        ),
    )


async def points_donated(
    account: accounts.LockedAccount, donation_id: int, member_id: int, points: int, channel: Channel
) -> None:
    await record(
        account,
        member_id,
        Fact(
            kind=EventKind.POINTS_DONATED,
            source_key=f"donation:{donation_id}",
            occurred_at=account.now,
            channel=channel,
            amount=Decimal(points),
        ),
    )
