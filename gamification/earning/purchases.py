"""Purchases from any channel: recording them (points earned) and refunding them (points back).

One transaction per use case: idempotency claim → member account lock → purchase row → ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from gamification import deferred_writes, program_cache, program_settings
from gamification.actors import Actor
from gamification.earning import rules as earning
from gamification.earning.models import Purchase
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from gamification.events import engine_state
from gamification.events import facts as domain_events
from gamification.idempotency import run_once
from gamification.ledger import accounts, movements
from gamification.ledger.entries import MAX_POINTS_PER_ENTRY, Origin, Reference
from gamification.ledger.models import EntryKind
from gamification.members.models import Member
from gamification.stores.models import Channel, Store


@dataclass(frozen=True, slots=True)
class PurchaseInput:
    member_id: int | None
    card_number: str | None
    amount: Decimal
    currency: str
    channel: Channel
    store_id: int
    external_id: str
    occurred_at: datetime
    line_items: tuple[earning.LineItem, ...] = ()


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    purchase_id: int
    points_earned: int
    balance: int
    replayed: bool
    purchase: Purchase | None = None  # the row as written (not on a replay: read it by id)


@dataclass(frozen=True, slots=True)
class RefundResult:
    purchase_id: int
    points_clawed_back: int
    points_outstanding: int
    balance: int
    replayed: bool


async def find_member(member_id: int | None, card_number: str | None) -> Member:
    """The member named by id or by card/QR identity. Raises NotFound(UNKNOWN_MEMBER)."""
    member = None
    if member_id is not None:
        member = await Member.get_or_none(id=member_id)
    elif card_number:
        member = await Member.get_or_none(card_number=card_number.strip()[:20])
    if member is None:
        raise NotFound("No such member", code=ErrorCode.UNKNOWN_MEMBER, field="member")
    return member


def _check_external_id(external_id: str) -> str:
    external_id = external_id.strip()
    if not external_id or len(external_id) > 128:
        raise InvalidInput("externalId must have 1 to 128 characters", field="externalId")
    return external_id


def _check_occurred_at(occurred_at: datetime, now: datetime) -> datetime:
    if occurred_at.tzinfo is None:
        raise InvalidInput("occurredAt needs a timezone", field="occurredAt")
    skew = timedelta(seconds=program_settings.current().purchase_clock_skew_seconds)
    if occurred_at > now + skew:
        raise InvalidInput(
            "occurredAt is in the future",
            code=ErrorCode.PURCHASE_IN_FUTURE,
            field="occurredAt",
        )
    return occurred_at.astimezone(UTC)


def _same_purchase(existing: Purchase, data: PurchaseInput, member_id: int) -> PurchaseResult:
    """A purchase that was recorded before: the same answer, or PURCHASE_CONFLICT."""
    if (
        Decimal(existing.amount) != data.amount
        or existing.currency != data.currency
        or existing.member_id != member_id  # type: ignore[attr-defined]
    ):
        raise Conflict(
            "This purchase id was recorded with a different amount or member",
            code=ErrorCode.PURCHASE_CONFLICT,
            field="externalId",
        )
    return PurchaseResult(existing.id, existing.points_earned, existing.balance_after, True)


async def record_purchase(
    *, actor: Actor, data: PurchaseInput, idempotency_key: str, now: datetime | None = None
) -> PurchaseResult:
    """Record a purchase and credit the points it earns. `now` stamps the ledger entries (the
    demo seed replays weeks of history; callers serving a request leave it to the clock).

    Raises InvalidInput (amount, currency, date, ids; INVALID_AMOUNT also when the points
    would exceed what one ledger entry may carry), NotFound (member, store),
    Refused(SELF_PURCHASE) when staff record their own purchase, Conflict(PURCHASE_CONFLICT)
    for a known purchase id with another amount, Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    now = now or datetime.now(UTC)
    amount = earning.check_amount(data.amount)
    lines = earning.check_line_items(list(data.line_items), amount)
    external_id = _check_external_id(data.external_id)
    occurred_at = _check_occurred_at(data.occurred_at, now)
    # By id, the member is checked when its account is locked (no extra round trip).
    member_id = (
        data.member_id
        if data.member_id is not None
        else (await find_member(None, data.card_number)).id
    )
    if actor.is_person and actor.id == member_id:
        raise Refused(
            "Purchases are recorded by the store, not by the buyer",
            code=ErrorCode.SELF_PURCHASE,
            field="member",
        )
    await _check_store(data.store_id)
    rule = await earning.rule_for(data.currency)
    # A purchase recorded before (same channel, store and external id) is found when its row
    # cannot be inserted again: see the IntegrityError below.
    written: list[Purchase] = []

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        account = await accounts.lock_member_account(member_id, conn, now)
        points = earning.points_for(
            rule=rule,
            amount=amount,
            line_items=lines,
            promotion=await earning.best_promotion(data.channel, occurred_at, conn),
            tier=await engine_state.earn_multiplier(account),
        )
        if points > MAX_POINTS_PER_ENTRY:
            # Only reachable when large multipliers stack on a large amount; the ledger would
            # refuse the credit with a bare ValueError.
            raise InvalidInput(
                f"This purchase would earn more than {MAX_POINTS_PER_ENTRY} points",
                code=ErrorCode.INVALID_AMOUNT,
                field="amount",
            )
        purchase = await Purchase.create(
            member_id=member_id,
            channel=data.channel,
            store_id=data.store_id,
            external_id=external_id,
            amount=amount,
            currency=data.currency,
            line_items=[
                {"category": i.category, "amount": str(i.amount), "sku": i.sku} for i in lines
            ],
            occurred_at=occurred_at,
            points_earned=points,
            entry_id=0,
            recorded_by=f"{actor.kind.value}:{actor.id}",
            using_db=conn,
        )
        if points > 0:
            entry = await movements.credit(
                account,
                points,
                kind=EntryKind.EARN,
                origin=Origin.of(actor, data.channel),
                reference=Reference("purchase", str(purchase.id)),
                expires_at=earning.points_expiry(now),
            )
            purchase.entry_id = entry.id
        await domain_events.purchase_recorded(account, purchase)
        purchase.balance_after = account.row.balance
        await deferred_writes.hold_back_write(
            conn,
            ("purchase", purchase.id),
            'UPDATE "purchase" SET "entry_id" = $1, "balance_after" = $2 WHERE "id" = $3',
            purchase.entry_id,
            purchase.balance_after,
            purchase.id,
        )
        await accounts.save_account(account)
        written.append(purchase)
        return {"purchase_id": purchase.id, "points": points, "balance": account.row.balance}

    request = {
        "member": member_id,
        "amount": str(amount),
        "currency": data.currency,
        "channel": data.channel.value,
        "store": data.store_id,
        "external_id": external_id,
    }
    try:
        answer, replayed = await run_once(
            actor=actor, key=idempotency_key, operation="recordPurchase", request=request, work=work
        )
    except IntegrityError:
        # The same purchase was recorded before (or concurrently) under another key.
        existing = await Purchase.get_or_none(
            channel=data.channel, store_id=data.store_id, external_id=external_id
        )
        if existing is None:
            raise
        return _same_purchase(existing, data, member_id)
    return PurchaseResult(
        answer["purchase_id"],
        answer["points"],
        answer["balance"],
        replayed,
        purchase=None if replayed else written[-1],
    )


_known_stores = program_cache.KnownIds()


async def _check_store(store_id: int) -> None:
    """Raises NotFound(UNKNOWN_STORE). Stores are never deleted: a known id is not re-read."""
    if store_id in _known_stores:
        return
    if not await Store.filter(id=store_id).exists():
        raise NotFound("No such store", code=ErrorCode.UNKNOWN_STORE, field="storeId")
    _known_stores.add(store_id)


async def refund_purchase(
    *, actor: Actor, purchase_id: int, amount: Decimal, reason: str, idempotency_key: str
) -> RefundResult:
    """Refund part or all of a purchase and claw back the proportional points.

    Points are computed on the cumulative refunded amount, so partial refunds add up exactly
    to a full one. What the member's available balance cannot cover is recorded as an
    outstanding clawback, repaid first from later earnings. The purchase's challenge progress
    is taken back in the same transaction (`gamification.challenges.refunds`).

    Raises NotFound for an unknown purchase, InvalidInput(INVALID_AMOUNT), Refused
    (REFUND_EXCEEDS_PURCHASE, STORE_MISMATCH), Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    amount = earning.check_amount(amount)
    purchase = await Purchase.get_or_none(id=purchase_id)
    if purchase is None:
        raise NotFound("No such purchase", field="purchaseId")
    if actor.store_id is not None and not actor.is_admin and actor.store_id != purchase.store_id:  # type: ignore[attr-defined]
        raise Refused(
            "This purchase belongs to another store",
            code=ErrorCode.STORE_MISMATCH,
            field="purchaseId",
        )
    member_id: int = purchase.member_id  # type: ignore[attr-defined]

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        now = datetime.now(UTC)
        account = await accounts.lock_member_account(member_id, conn, now)
        locked = await Purchase.filter(id=purchase_id).select_for_update().using_db(conn).get()
        total = Decimal(locked.amount)
        refunded = Decimal(locked.refunded_amount) + amount
        if refunded > total:
            raise Refused(
                f"Only {total - Decimal(locked.refunded_amount)} is left to refund",
                code=ErrorCode.REFUND_EXCEEDS_PURCHASE,
                field="amount",
            )
        due_total = int(
            (Decimal(locked.points_earned) * refunded / total).to_integral_value(ROUND_FLOOR)
        )
        due = due_total - locked.points_refunded
        taken, owed = 0, 0
        if due > 0:
            entry, owed = await movements.claw_back(
                account,
                due,
                origin=Origin.of(actor, locked.channel),
                reference=Reference("purchase", str(locked.id), reason[:500]),
            )
            taken = -entry.points if entry else 0
        await domain_events.purchase_refunded(
            account, locked, amount, max(due, 0), refunded_total=refunded
        )
        locked.refunded_amount = refunded
        locked.points_refunded = due_total
        await locked.save(using_db=conn, update_fields=["refunded_amount", "points_refunded"])
        await accounts.save_account(account)
        return {"taken": taken, "owed": owed, "balance": account.row.balance}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="refundPurchase",
        request={"purchase": purchase_id, "amount": str(amount)},
        work=work,
    )
    return RefundResult(purchase_id, answer["taken"], answer["owed"], answer["balance"], replayed)
