"""Points use cases beyond purchases — admin adjustments, the expiry run — and the member's views
of their points: balance, what expires soon, the history and its proof."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Subquery
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from gamification import program_settings
from gamification.actors import Actor
from gamification.earning import rules as earning
from gamification.errors import ErrorCode, InvalidInput
from gamification.idempotency import run_once
from gamification.ledger import accounts, consent, movements
from gamification.ledger.entries import (
    GENESIS_HASH,
    ChainCheck,
    Origin,
    Reference,
    verify_account_chain,
)
from gamification.ledger.models import AccountKind, EntryKind, LedgerAccount, LedgerEntry, PointsLot
from gamification.pagination import Page
from gamification.stores.models import Channel

MAX_ADJUSTMENT = 1_000_000


@dataclass(frozen=True, slots=True)
class PointsSummary:
    balance: int
    held: int
    lifetime_earned: int
    clawback_outstanding: int

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(frozen=True, slots=True)
class ExpiringPoints:
    expires_at: datetime
    points: int


@dataclass(frozen=True, slots=True)
class AdjustResult:
    entry_id: int
    balance: int
    replayed: bool
    entry: LedgerEntry | None = None  # the entry as written (not on a replay: read it by id)


async def summary(member_id: int) -> PointsSummary:
    row = await LedgerAccount.get_or_none(code=accounts.member_account_code(member_id))
    if row is None:
        return PointsSummary(0, 0, 0, 0)
    return PointsSummary(row.balance, row.held, row.lifetime_earned, row.clawback_outstanding)


async def expiring_soon(
    member_id: int, *, days: int, now: datetime | None = None
) -> list[ExpiringPoints]:
    """What will expire in the next `days` days, grouped by expiry. Raises InvalidInput when
    `days` is below 1 or beyond the furthest expiry a lot can have."""
    # Points earned early in a month expire `points_expiry_months` + 1 months later (see
    # earning.expiry_for): a shorter limit would hide the lots earned this month.
    max_days = 31 * (program_settings.current().points_expiry_months + 1)
    if days < 1 or days > max_days:
        raise InvalidInput(f"days must be between 1 and {max_days}", field="days")
    now = now or datetime.now(UTC)
    rows = (
        await PointsLot.filter(
            account__code=accounts.member_account_code(member_id),
            remaining__gt=0,
            expires_at__lte=now + timedelta(days=days),
        )
        .group_by("expires_at")
        .annotate(total=Sum("remaining"))
        .order_by("expires_at")
        .values("expires_at", "total")
    )
    return [ExpiringPoints(r["expires_at"], int(r["total"])) for r in rows]


async def adjust_points(
    *, actor: Actor, member_id: int, points: int, reason: str, idempotency_key: str
) -> AdjustResult:
    """An admin's goodwill credit or correction. A negative adjustment never takes more than is
    available.

    Raises InvalidInput (zero or absurd points, REASON_REQUIRED), NotFound(UNKNOWN_MEMBER),
    InsufficientPoints, Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise InvalidInput(
            f"points must be non-zero and at most {MAX_ADJUSTMENT} either way",
            code=ErrorCode.INVALID_AMOUNT,
            field="points",
        )
    reason = reason.strip()
    if not reason:
        raise InvalidInput("A reason is required", code=ErrorCode.REASON_REQUIRED, field="reason")
    written: list[LedgerEntry] = []
    correction = consent.correction_by(actor)

    # An unknown member is refused when its account is locked (NotFound(UNKNOWN_MEMBER)).
    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        now = datetime.now(UTC)
        account = await accounts.lock_member_account(member_id, conn, now)
        origin = Origin.of(actor, Channel.SYSTEM)
        reference = Reference("adjustment", "", reason[:500])
        if points > 0:
            entry = await movements.credit(
                account,
                points,
                kind=EntryKind.ADJUST,
                origin=origin,
                reference=reference,
                expires_at=earning.points_expiry(now),
                counts_as_earned=False,
            )
        else:
            entry = await movements.debit(
                account,
                -points,
                kind=EntryKind.ADJUST,
                origin=origin,
                reference=reference,
                consent=correction,
            )
        await accounts.save_account(account)
        written.append(entry)
        return {"entry_id": entry.id, "balance": account.row.balance}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="adjustPoints",
        request={"member": member_id, "points": points, "reason": reason},
        work=work,
    )
    return AdjustResult(
        answer["entry_id"], answer["balance"], replayed, entry=None if replayed else written[-1]
    )


async def expire_points(
    *, now: datetime | None = None, progress: Callable[[int, int], None] | None = None
) -> int:
    """Expire every lot past its date, one account per transaction. Exactly once however often
    it runs, even two at once: each account is locked and its lots re-read under the lock.
    Returns the points expired."""
    now = now or datetime.now(UTC)
    account_ids = await (
        PointsLot.filter(remaining__gt=0, expires_at__lte=now)
        .distinct()
        .values_list("account_id", flat=True)
    )
    member_codes = dict(
        await LedgerAccount.filter(id__in=list(account_ids), kind=AccountKind.MEMBER).values_list(
            "id", "member_id"
        )
    )
    expired_total = 0
    for done, account_id in enumerate(sorted(member_codes), start=1):
        async with in_transaction() as conn:
            account = await accounts.lock_member_account(member_codes[account_id], conn, now)
            entry = await movements.expire_due_lots(account)
            if entry is not None:
                await accounts.save_account(account)
                expired_total += -entry.points
        if progress:
            progress(done, len(member_codes))
    return expired_total


async def history(
    member_id: int,
    *,
    first: int,
    before_id: int | None,
    kinds: Sequence[EntryKind] = (),
    channels: Sequence[Channel] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[LedgerEntry]:
    """The member's entries, newest first, found by keyset (cost independent of depth)."""
    account_id = await LedgerAccount.filter(
        code=accounts.member_account_code(member_id)
    ).values_list("id", flat=True)
    if not account_id:
        return Page(items=[], has_next=False)
    query = LedgerEntry.filter(account_id=account_id[0])
    if kinds:
        query = query.filter(kind__in=list(kinds))
    if channels:
        query = query.filter(channel__in=list(channels))
    if since:
        query = query.filter(created_at__gte=since)
    if until:
        query = query.filter(created_at__lt=until)
    if kinds:
        # The (account, kind, id) index serves this order.
        if before_id is not None:
            query = query.filter(id__lt=before_id)
        rows = await query.order_by("-id").limit(first + 1)
    else:
        # By seq, which the (account, seq) index alone serves: ordered by id, PostgreSQL may
        # walk the primary key backwards past every newer entry of every other member when
        # this member owns many rows. Within an account, seq and id rise together (both are
        # given under the account's lock), so the order is the same and the id cursor maps to
        # a seq.
        if before_id is not None:
            # The newest of the member's entries before the cursor: one probe of the
            # (account, id) index; the page then starts at its seq.
            below = (
                LedgerEntry.filter(account_id=account_id[0], id__lt=before_id)
                .order_by("-id")
                .limit(1)
                .values("seq")
            )
            query = query.filter(seq__lte=Subquery(below))
        rows = await query.order_by("-seq").limit(first + 1)
    return Page(items=rows[:first], has_next=len(rows) > first, has_previous=before_id is not None)


async def proof(member_id: int) -> ChainCheck:
    account = await LedgerAccount.get_or_none(code=accounts.member_account_code(member_id))
    if account is None:
        return ChainCheck(0, True, 0, GENESIS_HASH)
    return await verify_account_chain(account.id)


async def verify_all(progress: Callable[[int, int], None] | None = None) -> list[ChainCheck]:
    """Check every account's chain; return the broken ones."""
    ids: list[int] = list(
        await LedgerAccount.filter(kind__not=AccountKind.PROGRAM)
        .order_by("id")
        .values_list("id", flat=True)  # type: ignore[arg-type]
    )
    broken = []
    for done, account_id in enumerate(ids, start=1):
        check = await verify_account_chain(account_id)
        if not check.ok:
            broken.append(check)
        if progress:
            progress(done, len(ids))
    return broken
