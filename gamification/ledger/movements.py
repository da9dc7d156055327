"""Movements of points on a locked member account: earning (`credit`), spending (`debit`),
giving back (`restore`), taking back after a refund (`claw_back`), holds (`place_hold`,
`settle_hold`), expiry (`expire_due_lots`) and an erased member's forfeiture (`forfeit`).
Rewards, tiers, challenges and causes only call
these; nothing else changes a balance.

Earnings create `PointsLot`s with an expiry; spending consumes lots earliest expiry first.
Σ remaining lots == balance at all times. Held points stay in the balance but are not available
(available = balance − held); lots are consumed when a hold is captured.

Each function appends its entries to the account (`gamification.ledger.entries.append_entry`);
the caller saves the account's figures (`gamification.ledger.accounts.save_account`) in the same
transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from gamification import deferred_writes
from gamification.errors import ErrorCode, NotFound, Refused
from gamification.ledger.accounts import LockedAccount
from gamification.ledger.consent import (
    Correction,
    MemberConsent,
    MemberProofRequired,
    check_consent,
)
from gamification.ledger.entries import MAX_POINTS_PER_ENTRY, Origin, Reference, append_entry
from gamification.ledger.models import EntryKind, LedgerEntry, PointsLot

_LOT_BATCH: Final = 64


class InsufficientPoints(Refused):
    code = ErrorCode.INSUFFICIENT_POINTS


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
        # Small first: most operations take from the first lot or two. Read after the flush:
        # lots written earlier in this transaction may still be held back.
        size = _LOT_BATCH if self.lots else _LOT_FIRST_PAGE
        if self.lots:
            last = self.lots[-1]
            rows = await deferred_writes.read_after_flush(
                conn, _LOTS_AFTER, self.account.row.id, last.expires_at, last.id, size
            )
        else:
            rows = await deferred_writes.read_after_flush(
                conn, _LOTS_FIRST, self.account.row.id, size
            )
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
        await deferred_writes.hold_back_write(
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
    """Add points in a new lot. Outstanding clawbacks are repaid from it first.

    Raises NotFound(MEMBER_ERASED) for a closed account (an erased member's)."""
    _check_amount(points)
    if account.row.closed_at is not None:
        raise NotFound("This member was erased", code=ErrorCode.MEMBER_ERASED, field="memberId")
    entry = await append_entry(
        account,
        kind=kind,
        points=points,
        origin=origin,
        reference=reference,
        counter_account_id=counter_account_id,
    )
    # Nothing reads the lot before the transaction ends, except a later spend, which flushes.
    await deferred_writes.hold_back_write(
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


async def forfeit(
    account: LockedAccount, *, origin: Origin, reference: Reference
) -> LedgerEntry | None:
    """Give every point left in an erased member's account back to the program (a FORFEIT
    entry consuming every lot; due lots expire first, as for a spend). Not a spend, so no
    member consent: erasure is the member's or an admin's decision, recorded with it
    (gamification.privacy.erasure). Returns None when nothing is left.

    Raises ValueError while points are held: holds are released before."""
    if account.row.held:
        raise ValueError("release the account's holds before forfeiting its points")
    plan = _LotPlan(account)
    await _expire(account, plan)
    left = account.available
    if left <= 0:
        await plan.write()
        return None
    lots = await plan.take(left)
    await plan.write()
    return await append_entry(
        account,
        kind=EntryKind.FORFEIT,
        points=-left,
        origin=origin,
        reference=reference,
        lots=lots,
    )
