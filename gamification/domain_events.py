"""Domain events: the business facts that move tiers, challenges and badges.

Exactly once, without an outbox: the use case that writes a fact (a purchase, a refund, a
redemption, a donation, an eco action, a check-in) calls `record` inside its own transaction,
with the member's ledger account already locked. The event row has a unique `source_key` derived
from the fact (`purchase:12`, `checkin:7:2026-11-23`, ...), and progress is applied right there,
in the same transaction: the fact, its event, the progress and any reward commit or roll back
together. A retried request replays the fact's stored answer (idempotency keys, unique external
ids) and never reaches `record` again; a concurrent one waits on the member's lock.

Processing order inside `record`: challenges (which may credit bonuses), then tiers (an upgrade
records a TIER_REACHED event, processed the same way), then milestone badges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from gamification import badges, challenges, ledger, tiers
from gamification.models import Channel, DomainEvent, EventKind, Member, Purchase


def zone_of(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


async def member_timezone(member_id: int, conn: BaseDBAsyncClient | None = None) -> str:
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


async def record(account: ledger.LockedAccount, member_id: int, fact: Fact) -> DomainEvent | None:
    """Record the fact once and apply it to challenges, tiers and badges, in the caller's
    transaction. Returns None when the fact was recorded before (nothing is applied again)."""
    conn = account.conn
    if await DomainEvent.filter(source_key=fact.source_key).using_db(conn).exists():
        return None
    timezone = await member_timezone(member_id, conn)
    event = await DomainEvent.create(
        member_id=member_id,
        kind=fact.kind,
        source_key=fact.source_key,
        occurred_at=fact.occurred_at,
        local_date=local_date_of(fact.occurred_at, str(timezone)),
        amount=fact.amount,
        quantity=fact.quantity,
        channel=fact.channel,
        store_id=fact.store_id,
        categories=sorted(set(fact.categories)),
        subject=fact.subject,
        qualifying_points=fact.qualifying_points,
        created_at=account.now,
        using_db=conn,
    )
    outcome = await challenges.apply_event(account, event, zone_of(str(timezone)))
    if outcome.qualifying_bonus:
        event.qualifying_points += outcome.qualifying_bonus
        await event.save(using_db=conn, update_fields=["qualifying_points"])
    await badges.apply_milestones(conn, member_id, event, account.now, outcome.longest_streak)
    if event.qualifying_points > 0:
        upgrade = await tiers.apply_qualifying(conn, member_id, account.now)
        if upgrade is not None:
            change, tier = upgrade
            await record(
                account,
                member_id,
                Fact(
                    kind=EventKind.TIER_REACHED,
                    source_key=f"tier:{member_id}:{change.id}",
                    occurred_at=account.now,
                    channel=Channel.SYSTEM,
                    subject=tier.name,
                ),
            )
    return event


def purchase_categories(purchase: Purchase) -> list[str]:
    return [str(item.get("category", "")) for item in purchase.line_items or [] if item]


async def purchase_recorded(account: ledger.LockedAccount, purchase: Purchase) -> None:
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
    account: ledger.LockedAccount, purchase: Purchase, amount: Decimal, points_due: int
) -> None:
    """A refund lowers qualifying points by the points it claws back (outstanding included)."""
    refund_number = (
        await DomainEvent.filter(source_key__startswith=f"refund:{purchase.id}:")
        .using_db(account.conn)
        .count()
    )
    await record(
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


async def reward_redeemed(
    account: ledger.LockedAccount,
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
    account: ledger.LockedAccount, donation_id: int, member_id: int, points: int, channel: Channel
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
