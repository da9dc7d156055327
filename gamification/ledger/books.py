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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Sum

from gamification import program_cache, sql
from gamification.actors import Actor
from gamification.errors import ErrorCode, NotFound, Refused
from gamification.ledger import written as events
from gamification.ledger.consent import (
    Correction,
    MemberConsent,
    MemberProofRequired,
    check_consent,
)
from gamification.ledger.models import AccountKind, EntryKind, LedgerAccount, LedgerEntry, PointsLot
from gamification.members.models import Member
from gamification.stores.models import Channel

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
    """Drop ids and program configuration cached per process (tests empty the tables between
    cases)."""
    global _program_account_id
    _program_account_id = None
    program_cache.invalidate()


async def lock_member_account(
    member_id: int, conn: BaseDBAsyncClient, now: datetime | None = None
) -> LockedAccount:
    """Lock the member's account row for this transaction, opening it on first use.

    Raises NotFound when there is no such member.
    """
    await sql.flush(conn)  # the transaction may have held back a write to this very row
    query = LedgerAccount.filter(code=member_account_code(member_id)).select_for_update()
    row = await query.using_db(conn).first()
    if row is None:
        if not await Member.filter(id=member_id).using_db(conn).exists():
            raise NotFound("Member not found", code=ErrorCode.UNKNOWN_MEMBER, field="memberId")
        await open_member_account(member_id, conn)
        row = await query.using_db(conn).get()
    return LockedAccount(row=row, conn=conn, now=now or datetime.now(UTC))


_SAVE_ACCOUNT: Final = """
UPDATE "ledger_account" SET "balance" = $1, "held" = $2, "lifetime_earned" = $3,
    "clawback_outstanding" = $4, "entry_count" = $5, "head_hash" = $6
WHERE "id" = $7
"""


async def save_account(account: LockedAccount) -> None:
    """Write the account's cached figures, in the same transaction as its entries (held back
    until the transaction's last statement when the caller defers writes: see sql.write)."""
    row = account.row
    await sql.write(
        account.conn,
        ("ledger_account", row.id),
        _SAVE_ACCOUNT,
        row.balance,
        row.held,
        row.lifetime_earned,
        row.clawback_outstanding,
        row.entry_count,
        row.head_hash,
        row.id,
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


@dataclass(slots=True)
class _Lot:
    """What spending needs of an unspent lot (plain values: no ORM object per lot)."""

    id: int
    expires_at: datetime
    remaining: int


_LOT_FIRST_PAGE: Final = 8
_LOT_EXPIRES_AT: Final = PointsLot._meta.fields_map["expires_at"]
_LOT_COLUMNS: Final = 'SELECT "id", "expires_at", "remaining" FROM "points_lot" '
_LOTS_FIRST: Final = (
    _LOT_COLUMNS
    + 'WHERE "account_id" = $1 AND "remaining" > 0 ORDER BY "expires_at", "id" LIMIT $2'
)
_LOTS_AFTER: Final = (
    _LOT_COLUMNS + 'WHERE "account_id" = $1 AND "remaining" > 0 AND ("expires_at" > $2 OR '
    '("expires_at" = $2 AND "id" > $3)) ORDER BY "expires_at", "id" LIMIT $4'
)


class _LotPlan:
    """The account's unspent lots, earliest expiry first, read in pages as needed, with what this
    operation takes from them kept in memory and written back in one UPDATE (`write`).

    Safe because the account row is locked: nobody else changes this account's lots meanwhile.
    """

    def __init__(self, account: LockedAccount) -> None:
        self.account = account
        self.lots: list[_Lot] = []
        self._complete = False
        self._changed: dict[int, _Lot] = {}

    async def _load_more(self) -> bool:
        if self._complete:
            return False
        conn = self.account.conn
        await sql.flush(conn)  # lots written earlier in this transaction
        # Small first: most operations take from the first lot or two.
        size = _LOT_BATCH if self.lots else _LOT_FIRST_PAGE
        if self.lots:
            last = self.lots[-1]
            rows = await sql.fetch(
                conn, _LOTS_AFTER, self.account.row.id, last.expires_at, last.id, size
            )
        else:
            rows = await sql.fetch(conn, _LOTS_FIRST, self.account.row.id, size)
        to_time = _LOT_EXPIRES_AT.to_python_value
        page = [_Lot(int(r["id"]), to_time(r["expires_at"]), int(r["remaining"])) for r in rows]
        self._complete = len(page) < size
        self.lots.extend(page)
        return bool(page)

    async def _walk(self) -> AsyncIterator[_Lot]:
        """Lots with points left, in spending order; loads further pages when needed."""
        index = 0
        while True:
            if index == len(self.lots) and not await self._load_more():
                return
            lot = self.lots[index]
            index += 1
            if lot.remaining > 0:
                yield lot

    def _take(self, lot: _Lot, points: int) -> list[int]:
        lot.remaining -= points
        self._changed[lot.id] = lot
        return [lot.id, points]

    async def expire_due(self, budget: int) -> list[list[int]]:
        """Take up to `budget` points from lots whose expiry has passed."""
        taken: list[list[int]] = []
        async for lot in self._walk():
            if lot.expires_at > self.account.now or budget <= 0:
                break
            take = min(lot.remaining, budget)
            taken.append(self._take(lot, take))
            budget -= take
        return taken

    async def take(self, points: int) -> list[list[int]]:
        """Take `points`, earliest expiry first; return [[lot, taken]]."""
        taken: list[list[int]] = []
        still_needed = points
        async for lot in self._walk():
            take = min(lot.remaining, still_needed)
            taken.append(self._take(lot, take))
            still_needed -= take
            if still_needed == 0:
                return taken
        raise RuntimeError(f"ledger account {self.account.row.id}: lots do not cover the balance")

    async def write(self) -> None:
        """One UPDATE for every lot this plan took from (held back like `save_account`)."""
        changed = list(self._changed.values())
        self._changed.clear()
        if not changed:
            return
        # CASE rather than UPDATE ... FROM (VALUES ...): the same statement runs on SQLite.
        cases = " ".join(
            f"WHEN ${2 * i + 1} THEN CAST(${2 * i + 2} AS BIGINT)" for i in range(len(changed))
        )
        ids = ", ".join(f"${2 * i + 1}" for i in range(len(changed)))
        values = [value for lot in changed for value in (lot.id, lot.remaining)]
        await sql.write(
            self.account.conn,
            object(),
            f'UPDATE "points_lot" SET "remaining" = CASE "id" {cases} END WHERE "id" IN ({ids})',
            *values,
        )


async def _consume_lots(account: LockedAccount, points: int) -> list[list[int]]:
    """Take `points` from the account's lots, earliest expiry first; return [[lot, taken]]."""
    plan = _LotPlan(account)
    taken = await plan.take(points)
    await plan.write()
    return taken


def _check_amount(points: int) -> None:
    if not isinstance(points, int) or points <= 0 or points > MAX_POINTS_PER_ENTRY:
        raise ValueError(f"points must be a positive integer up to {MAX_POINTS_PER_ENTRY}")


_INSERT_LOT: Final = """
INSERT INTO "points_lot" ("account_id", "entry_id", "points", "remaining", "expires_at",
    "created_at")
VALUES ($1, $2, $3, $4, $5, $6)
"""


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
    # Nothing reads the lot before the transaction ends, except a later spend, which flushes.
    await sql.write(
        account.conn,
        object(),
        _INSERT_LOT,
        account.row.id,
        entry.id,
        points,
        points,
        expires_at.astimezone(UTC),  # stored as the ORM stores it (SQLite keeps text)
        account.now.astimezone(UTC),
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
    consent: MemberConsent | Correction,
    counter_account_id: int | None = None,
) -> LedgerEntry:
    """Spend available points, earliest-expiring lots first, with the owner's `consent` (an
    admin's `Correction` for ADJUST entries only: see `gamification.ledger.consent`).

    Raises MemberProofRequired for a consent that is not the owner's, InsufficientPoints when
    fewer than `points` are available. Lots already past their
    expiry are expired first either way, entry and lots together, so a caller that commits
    after the refusal still leaves consistent books (use cases roll back, writing nothing).
    """
    _check_amount(points)
    if isinstance(consent, Correction) and kind is not EntryKind.ADJUST:
        raise MemberProofRequired("A correction is not a spend")
    check_consent(consent, account.row.member_id)  # type: ignore[attr-defined]
    plan = _LotPlan(account)
    await _expire(account, plan)
    if account.available < points:
        await plan.write()
        raise InsufficientPoints(
            f"{points} points needed, {max(account.available, 0)} available", field="points"
        )
    lots = await plan.take(points)
    await plan.write()
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
    plan = _LotPlan(account)
    await _expire(account, plan)
    now_points = min(points, max(account.available, 0))
    entry = None
    if now_points > 0:
        lots = await plan.take(now_points)
        entry = await append_entry(
            account,
            kind=EntryKind.REFUND,
            points=-now_points,
            origin=origin,
            reference=reference,
            lots=lots,
        )
    await plan.write()
    owed = points - now_points
    account.row.clawback_outstanding += owed
    account.row.lifetime_earned -= points
    return entry, owed


async def place_hold(
    account: LockedAccount,
    points: int,
    *,
    origin: Origin,
    reference: Reference,
    consent: MemberConsent,
) -> LedgerEntry:
    """Reserve available points with the owner's `consent` (a one-time code).

    Raises MemberProofRequired for a consent that is not the owner's, InsufficientPoints when
    the points are not available."""
    _check_amount(points)
    check_consent(consent, account.row.member_id)  # type: ignore[attr-defined]
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
    consent: MemberConsent | None = None,
) -> list[LedgerEntry]:
    """Capture `captured` of a hold of `held` points and release the rest. Capturing needs the
    owner's `consent` (the hold's, `gamification.ledger.consent.by_hold`); releasing needs none.

    Raises MemberProofRequired when points are captured without the owner's consent."""
    if captured < 0 or captured > held:
        raise ValueError("captured must be between 0 and the held amount")
    written = []
    if captured:
        if consent is None:
            raise MemberProofRequired("Capturing points needs the hold's consent")
        check_consent(consent, account.row.member_id)  # type: ignore[attr-defined]
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
    plan = _LotPlan(account)
    entry = await _expire(account, plan)
    await plan.write()
    return entry


async def _expire(account: LockedAccount, plan: _LotPlan) -> LedgerEntry | None:
    """Expire what is due through `plan` (its lot changes are written by the caller)."""
    lots = await plan.expire_due(account.available)
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
