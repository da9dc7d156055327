"""The points ledger: the one module through which every point is earned, held, spent, donated
or expired. Rewards, tiers, challenges and causes only call it.

Design, in short:
- Every change is an append-only `LedgerEntry` moving points between the owner account and a
  counter account (usually the program), so the books of the program balance by construction.
- Member accounts cache `balance`, `held`, `lifetime_earned` and the hash-chain head; the cache
  changes only in the transaction that writes the entry, under the account's row lock.
- The program account has no cached balance (it would be a hot row every transaction locks);
  its balance is derived from the entries when asked.
- Earnings create `PointsLot`s with an expiry; spending consumes lots earliest expiry first.
  Σ remaining lots == balance at all times. Held points stay in the balance but are not
  available (available = balance − held); lots are consumed when a hold is captured.
- Each entry's hash covers its content and the previous entry's hash for that account; the
  previous hash is read under the same row lock that orders the account's entries.

Lock order, everywhere (deadlocks otherwise): member ledger accounts by ascending id, then holds,
then reward rows, then cause/campaign rows. Functions here expect to run inside the caller's
transaction (`conn`) with the member's account locked by `lock_member_account`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Sum

from gamification import events
from gamification.actors import Actor
from gamification.errors import ErrorCode, NotFound, Refused
from gamification.models import (
    AccountKind,
    Channel,
    EntryKind,
    LedgerAccount,
    LedgerEntry,
    Member,
    PointsLot,
)

GENESIS_HASH: Final = "0" * 64
PROGRAM_ACCOUNT_CODE: Final = "program"
# Beyond this, a single movement is a mistake, not a purchase (and stays far below 2^53).
MAX_POINTS_PER_ENTRY: Final = 100_000_000
_LOT_BATCH: Final = 64

_program_account_id: int | None = None


class InsufficientPoints(Refused):
    code = ErrorCode.INSUFFICIENT_POINTS


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a movement comes from: the channel and the caller, recorded on the entry."""

    channel: Channel
    actor_kind: str
    actor_id: int | None

    @classmethod
    def of(cls, actor: Actor, channel: Channel) -> Origin:
        return cls(channel=channel, actor_kind=actor.kind.value, actor_id=actor.id)

    @classmethod
    def system(cls) -> Origin:
        return cls(channel=Channel.SYSTEM, actor_kind="system", actor_id=None)


@dataclass(frozen=True, slots=True)
class Reference:
    type: str = ""
    id: str = ""
    reason: str = ""


@dataclass
class LockedAccount:
    """A member account locked for the current transaction, with its pending changes."""

    row: LedgerAccount
    conn: BaseDBAsyncClient
    now: datetime
    entries: list[LedgerEntry] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.row.balance - self.row.held


def member_account_code(member_id: int) -> str:
    return f"member:{member_id}"


async def _create_account_once(
    kind: AccountKind, code: str, member_id: int | None, conn: BaseDBAsyncClient | None
) -> None:
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent opener neither fails nor aborts our
    # transaction (a caught unique violation would abort it on PostgreSQL).
    await LedgerAccount.bulk_create(
        [LedgerAccount(kind=kind, code=code, member_id=member_id)],
        ignore_conflicts=True,
        using_db=conn,
    )


async def open_member_account(member_id: int, conn: BaseDBAsyncClient | None = None) -> None:
    """Create the member's account if it does not exist yet (idempotent)."""
    await _create_account_once(AccountKind.MEMBER, member_account_code(member_id), member_id, conn)


async def program_account_id(conn: BaseDBAsyncClient | None = None) -> int:
    """The brand's account: the other side of earnings and spending. Created on first use."""
    global _program_account_id
    if _program_account_id is None:
        await _create_account_once(AccountKind.PROGRAM, PROGRAM_ACCOUNT_CODE, None, conn)
        account = await LedgerAccount.filter(code=PROGRAM_ACCOUNT_CODE).using_db(conn).get()
        _program_account_id = account.id
    return _program_account_id


def forget_cached_accounts() -> None:
    """Drop ids cached per process (tests empty the tables between cases)."""
    global _program_account_id
    _program_account_id = None


async def lock_member_account(
    member_id: int, conn: BaseDBAsyncClient, now: datetime | None = None
) -> LockedAccount:
    """Lock the member's account row for this transaction, opening it on first use.

    Raises NotFound when there is no such member.
    """
    query = LedgerAccount.filter(code=member_account_code(member_id)).select_for_update()
    row = await query.using_db(conn).first()
    if row is None:
        if not await Member.filter(id=member_id).using_db(conn).exists():
            raise NotFound("Member not found", code=ErrorCode.UNKNOWN_MEMBER, field="memberId")
        await open_member_account(member_id, conn)
        row = await query.using_db(conn).get()
    return LockedAccount(row=row, conn=conn, now=now or datetime.now(UTC))


async def save_account(account: LockedAccount) -> None:
    """Write the account's cached figures, in the same transaction as its entries."""
    await account.row.save(
        using_db=account.conn,
        update_fields=[
            "balance",
            "held",
            "lifetime_earned",
            "clawback_outstanding",
            "entry_count",
            "head_hash",
        ],
    )


def entry_hash(prev_hash: str, content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()


def entry_content(entry: LedgerEntry) -> dict[str, Any]:
    """What an entry's hash covers: everything but its id and the hashes themselves."""
    created = (
        entry.created_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    )
    return {
        "account": entry.account_id,  # type: ignore[attr-defined]
        "counter": entry.counter_account_id,  # type: ignore[attr-defined]
        "seq": entry.seq,
        "kind": str(entry.kind),
        "points": entry.points,
        "held_change": entry.held_change,
        "channel": str(entry.channel),
        "actor": [entry.actor_kind, entry.actor_id],
        "reference": [entry.reference_type, entry.reference_id],
        "reason": entry.reason,
        "lots": entry.lots,
        "created_at": created,
    }


async def append_entry(
    account: LockedAccount,
    *,
    kind: EntryKind,
    points: int,
    origin: Origin,
    reference: Reference,
    counter_account_id: int | None = None,
    held_change: int = 0,
    lots: list[list[int]] | None = None,
) -> LedgerEntry:
    row = account.row
    now = account.now
    entry = LedgerEntry(
        account_id=row.id,
        counter_account_id=counter_account_id or await program_account_id(account.conn),
        seq=row.entry_count + 1,
        kind=kind,
        points=points,
        held_change=held_change,
        channel=origin.channel,
        actor_kind=origin.actor_kind,
        actor_id=origin.actor_id,
        reference_type=reference.type,
        reference_id=reference.id,
        reason=reference.reason,
        lots=lots or [],
        created_at=now,
        prev_hash=row.head_hash or GENESIS_HASH,
    )
    entry.hash = entry_hash(entry.prev_hash, entry_content(entry))
    await entry.save(using_db=account.conn)
    events.entry_written(entry)  # for after-commit work (leaderboards); see events.py
    row.entry_count += 1
    row.head_hash = entry.hash
    row.balance += points
    row.held += held_change
    account.entries.append(entry)
    return entry


async def _consume_lots(account: LockedAccount, points: int) -> list[list[int]]:
    """Take `points` from the account's lots, earliest expiry first; return [[lot, taken]]."""
    taken: list[list[int]] = []
    still_needed = points
    while still_needed > 0:
        lots = (
            await PointsLot.filter(account_id=account.row.id, remaining__gt=0)
            .order_by("expires_at", "id")
            .limit(_LOT_BATCH)
            .using_db(account.conn)
        )
        if not lots:
            raise RuntimeError(f"ledger account {account.row.id}: lots do not cover the balance")
        for lot in lots:
            take = min(lot.remaining, still_needed)
            await (
                PointsLot.filter(id=lot.id)
                .using_db(account.conn)
                .update(remaining=lot.remaining - take)
            )
            taken.append([lot.id, take])
            still_needed -= take
            if still_needed == 0:
                break
    return taken


def _check_amount(points: int) -> None:
    if not isinstance(points, int) or points <= 0 or points > MAX_POINTS_PER_ENTRY:
        raise ValueError(f"points must be a positive integer up to {MAX_POINTS_PER_ENTRY}")


async def credit(
    account: LockedAccount,
    points: int,
    *,
    kind: EntryKind,
    origin: Origin,
    reference: Reference,
    expires_at: datetime,
    counts_as_earned: bool = True,
    counter_account_id: int | None = None,
) -> LedgerEntry:
    """Add points in a new lot. Outstanding clawbacks are repaid from it first."""
    _check_amount(points)
    entry = await append_entry(
        account,
        kind=kind,
        points=points,
        origin=origin,
        reference=reference,
        counter_account_id=counter_account_id,
    )
    await PointsLot.create(
        account_id=account.row.id,
        entry_id=entry.id,
        points=points,
        remaining=points,
        expires_at=expires_at,
        created_at=account.now,
        using_db=account.conn,
    )
    if counts_as_earned:
        account.row.lifetime_earned += points
    owed = account.row.clawback_outstanding
    if owed > 0:
        repay = min(owed, account.available)
        if repay > 0:
            lots = await _consume_lots(account, repay)
            await append_entry(
                account,
                kind=EntryKind.CLAWBACK,
                points=-repay,
                origin=Origin.system(),
                reference=Reference("clawback", str(entry.id), "repays an earlier refund"),
                lots=lots,
            )
            account.row.clawback_outstanding -= repay
    return entry


async def debit(
    account: LockedAccount,
    points: int,
    *,
    kind: EntryKind,
    origin: Origin,
    reference: Reference,
    counter_account_id: int | None = None,
) -> LedgerEntry:
    """Spend available points, earliest-expiring lots first.

    Raises InsufficientPoints when fewer than `points` are available (nothing is written).
    """
    _check_amount(points)
    await expire_due_lots(account)
    if account.available < points:
        raise InsufficientPoints(
            f"{points} points needed, {max(account.available, 0)} available", field="points"
        )
    lots = await _consume_lots(account, points)
    return await append_entry(
        account,
        kind=kind,
        points=-points,
        origin=origin,
        reference=reference,
        counter_account_id=counter_account_id,
        lots=lots,
    )


async def restore(
    account: LockedAccount,
    points: int,
    *,
    kind: EntryKind,
    origin: Origin,
    reference: Reference,
    expires_at: datetime,
    counter_account_id: int | None = None,
) -> LedgerEntry:
    """Give back points that were spent (a cancellation or reversal): a new lot with the given
    expiry, not counted as newly earned. `counter_account_id` is where they come back from
    (the program unless given)."""
    return await credit(
        account,
        points,
        kind=kind,
        origin=origin,
        reference=reference,
        expires_at=expires_at,
        counts_as_earned=False,
        counter_account_id=counter_account_id,
    )


async def claw_back(
    account: LockedAccount, points: int, *, origin: Origin, reference: Reference
) -> tuple[LedgerEntry | None, int]:
    """Take back points earned by a refunded purchase. What the available balance cannot cover
    becomes an outstanding clawback that later earnings repay first. Returns the entry (if any
    points could be taken now) and the amount left outstanding."""
    _check_amount(points)
    await expire_due_lots(account)
    now_points = min(points, max(account.available, 0))
    entry = None
    if now_points > 0:
        lots = await _consume_lots(account, now_points)
        entry = await append_entry(
            account,
            kind=EntryKind.REFUND,
            points=-now_points,
            origin=origin,
            reference=reference,
            lots=lots,
        )
    owed = points - now_points
    account.row.clawback_outstanding += owed
    account.row.lifetime_earned -= points
    return entry, owed


async def place_hold(
    account: LockedAccount, points: int, *, origin: Origin, reference: Reference
) -> LedgerEntry:
    """Reserve available points. Raises InsufficientPoints when they are not available."""
    _check_amount(points)
    await expire_due_lots(account)
    if account.available < points:
        raise InsufficientPoints(
            f"{points} points needed, {max(account.available, 0)} available", field="points"
        )
    return await append_entry(
        account,
        kind=EntryKind.HOLD,
        points=0,
        held_change=points,
        origin=origin,
        reference=reference,
    )


async def settle_hold(
    account: LockedAccount,
    held: int,
    captured: int,
    *,
    origin: Origin,
    reference: Reference,
) -> list[LedgerEntry]:
    """Capture `captured` of a hold of `held` points and release the rest."""
    if captured < 0 or captured > held:
        raise ValueError("captured must be between 0 and the held amount")
    written = []
    if captured:
        lots = await _consume_lots(account, captured)
        written.append(
            await append_entry(
                account,
                kind=EntryKind.CAPTURE,
                points=-captured,
                held_change=-captured,
                origin=origin,
                reference=reference,
                lots=lots,
            )
        )
    if held - captured:
        written.append(
            await append_entry(
                account,
                kind=EntryKind.RELEASE,
                points=0,
                held_change=-(held - captured),
                origin=origin,
                reference=reference,
            )
        )
    return written


async def expire_due_lots(account: LockedAccount) -> LedgerEntry | None:
    """Expire the account's lots whose expiry has passed, exactly once (under the row lock).

    Held points are never expired: if a hold needs them, they wait until it is settled.
    """
    due = (
        await PointsLot.filter(
            account_id=account.row.id, remaining__gt=0, expires_at__lte=account.now
        )
        .order_by("expires_at", "id")
        .using_db(account.conn)
    )
    if not due:
        return None
    budget = account.available
    lots: list[list[int]] = []
    for lot in due:
        take = min(lot.remaining, budget)
        if take <= 0:
            break
        await (
            PointsLot.filter(id=lot.id)
            .using_db(account.conn)
            .update(remaining=lot.remaining - take)
        )
        lots.append([lot.id, take])
        budget -= take
    expired = sum(points for _, points in lots)
    if not expired:
        return None
    return await append_entry(
        account,
        kind=EntryKind.EXPIRE,
        points=-expired,
        origin=Origin.system(),
        reference=Reference("expiry", "", "points reached their expiry date"),
        lots=lots,
    )


async def derived_balances() -> dict[int, int]:
    """Every account's balance computed from the entries alone (the books, for checks)."""
    balances: dict[int, int] = {}
    owned = (
        await LedgerEntry.all()
        .group_by("account_id")
        .annotate(total=Sum("points"))
        .values("account_id", "total")
    )
    for row in owned:
        balances[row["account_id"]] = balances.get(row["account_id"], 0) + int(row["total"] or 0)
    countered = (
        await LedgerEntry.all()
        .group_by("counter_account_id")
        .annotate(total=Sum("points"))
        .values("counter_account_id", "total")
    )
    for row in countered:
        key = row["counter_account_id"]
        balances[key] = balances.get(key, 0) - int(row["total"] or 0)
    return balances


@dataclass(frozen=True, slots=True)
class ChainCheck:
    account_id: int
    ok: bool
    entries: int
    head_hash: str
    first_broken_entry_id: int | None = None
    problem: str = ""


async def verify_account_chain(account_id: int) -> ChainCheck:
    """Recompute the account's hash chain. Detects edited, inserted and deleted entries."""
    account = await LedgerAccount.get(id=account_id)
    prev = GENESIS_HASH
    expected_seq = 1
    last_id: int | None = None
    count = 0
    while True:
        query = LedgerEntry.filter(account_id=account_id)
        if last_id is not None:
            query = query.filter(id__gt=last_id)
        batch = await query.order_by("id").limit(1000)
        if not batch:
            break
        for entry in batch:
            count += 1
            if entry.seq != expected_seq:
                return ChainCheck(
                    account_id, False, count, account.head_hash, entry.id, "a missing entry"
                )
            if entry.prev_hash != prev:
                return ChainCheck(
                    account_id, False, count, account.head_hash, entry.id, "broken link"
                )
            if entry_hash(prev, entry_content(entry)) != entry.hash:
                return ChainCheck(
                    account_id, False, count, account.head_hash, entry.id, "edited content"
                )
            prev = entry.hash
            expected_seq += 1
            last_id = entry.id
    if count != account.entry_count or (count and prev != account.head_hash):
        return ChainCheck(
            account_id, False, count, account.head_hash, None, "missing latest entries"
        )
    return ChainCheck(account_id, True, count, account.head_hash)
