"""Erasing a member: nothing left that names the person, the books still whole.

One transaction, in the ledger's lock order (the member's account, then their holds: see
docs/ledger.md#lock-order):
1. open holds released (RELEASE entries), then every point left forfeited to the program (one
   FORFEIT entry: docs/privacy.md#forfeiture);
2. every table of `gamification.privacy.registry` handled as it says: free text blanked
   (entry reasons with their salts, so the hash chain still verifies; hold references,
   reversal reasons), follows, unused codes and retry keys deleted, the rest kept;
   the account is closed: nothing is credited to it any more (MEMBER_ERASED);
3. consents still given are withdrawn (new records), the card number retired (its SHA-256 kept
   so it is never issued again), the member row anonymised and marked erased;
4. an `ErasureRecord` written: the proof, and what makes erasing again a no-op.

What lives outside the database is the caller's, after commit: pending kiosk requests are
declined and their Redis state removed (`channels.redemption_requests.forget_member`), the
member's kept home-screen responses deleted (`forget_cached_views`); the
member's access tokens stop working in this process at once and in others within
`LOYALTY_ERASED_MEMBER_CACHE_SECONDS` (`gamification.privacy.revocations`). Leaderboards hold
member ids and scores only, and show an erased member as hidden.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from gamification import redis_keys
from gamification.actors import Actor, ActorKind
from gamification.errors import ErrorCode, NotFound, Refused
from gamification.ledger import accounts, movements
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import LedgerAccount, LedgerEntry
from gamification.members import profiles
from gamification.members.models import Member, RetiredCardNumber, Role
from gamification.outbox import catalog
from gamification.outbox.emit import emit
from gamification.outbox.models import OutboxEvent
from gamification.privacy import consents
from gamification.privacy.models import ErasureRecord
from gamification.privacy.registry import TABLES, Erasure, member_filter
from gamification.privacy.revocations import erased_members
from gamification.rewards.models import HoldStatus, PointsHold
from gamification.stores.models import Channel

ERASED_NAME: Final = "Erased member"
ERASED_EMAIL_DOMAIN: Final = "erased.invalid"  # RFC 2606: never a real address
MAX_REASON: Final = 500
# The operator at the command line (`loyalty erase-member`): an admin who is no member.
OPERATOR: Final = Actor(kind=ActorKind.ADMIN, id=0)


@dataclass(frozen=True, slots=True)
class ErasureResult:
    record: ErasureRecord
    already_erased: bool
    entries: list[LedgerEntry]


def erased_email(member_id: int) -> str:
    return f"erased-{member_id}@{ERASED_EMAIL_DOMAIN}"


def erased_card_number(member_id: int) -> str:
    """Not a 16-digit card number, so no card lookup ever finds it."""
    return f"X{member_id}"


def card_digest(card_number: str) -> str:
    return hashlib.sha256(card_number.encode()).hexdigest()


def _who(actor: Actor, member_id: int, reason: str) -> tuple[str, int | None, str]:
    """Who erases: the member themselves, or an admin with a reason.

    Raises Refused(FORBIDDEN-like ERASURE_REFUSED) for anyone else."""
    if actor.kind is ActorKind.ADMIN:
        reason = reason.strip()
        if not reason:
            raise Refused(
                "An admin's erasure needs a reason", code=ErrorCode.REASON_REQUIRED, field="reason"
            )
        if actor == OPERATOR:
            return "operator", None, reason[:MAX_REASON]
        return "admin", actor.id, reason[:MAX_REASON]
    if actor.kind is ActorKind.MEMBER and actor.id == member_id:
        return "member", None, ""
    raise Refused("Only the member or an admin erases a member", code=ErrorCode.ERASURE_REFUSED)


async def _blank_json(
    rows: QuerySet[Model], keys: tuple[tuple[str, str], ...], conn: BaseDBAsyncClient
) -> None:
    """Empty the given keys inside JSON columns, row by row (erasure is rare; the dialects'
    JSON functions differ)."""
    for row in await rows:
        changed = []
        for column, key in keys:
            value = getattr(row, column)
            if isinstance(row, OutboxEvent) and not catalog.is_free_text(row.type, key):
                continue  # a `reason` that is one of a set of values (tier.changed's) stays
            if isinstance(value, dict) and value.get(key):
                value[key] = ""
                changed.append(column)
        if changed:
            await row.save(using_db=conn, update_fields=changed)


async def erase_member(*, actor: Actor, member_id: int, reason: str = "") -> ErasureResult:
    """Erase the member (see the module's docstring). Idempotent: erasing an erased member
    returns the first erasure's record (`already_erased`).

    Raises NotFound for no such member, Refused(ERASURE_REFUSED) for a caller who is neither
    the member nor an admin, or for staff and admin accounts (they are removed by other means),
    Refused(REASON_REQUIRED) for an admin without a reason."""
    requested_by, admin_id, reason = _who(actor, member_id, reason)
    written: list[LedgerEntry] = []
    async with in_transaction() as conn:
        now = datetime.now(UTC)
        # The ledger's lock order: the member's account first (it serialises two erasures of
        # one member, and any movement of their points), then their holds.
        account = await accounts.lock_member_account(member_id, conn, now)
        member = await Member.filter(id=member_id).using_db(conn).get()
        existing = await ErasureRecord.filter(member_id=member_id).using_db(conn).first()
        if existing is not None:
            return ErasureResult(existing, True, [])
        if member.role is not Role.MEMBER:
            raise Refused(
                "Staff and admin accounts are not erased here", code=ErrorCode.ERASURE_REFUSED
            )
        origin = Origin.system() if actor == OPERATOR else Origin.of(actor, Channel.SYSTEM)
        holds = (
            await PointsHold.filter(member_id=member_id, status=HoldStatus.ACTIVE)
            .select_for_update()
            .order_by("id")
            .using_db(conn)
        )
        for hold in holds:
            written += await movements.settle_hold(
                account, hold.points, 0, origin=origin, reference=Reference("hold", str(hold.id))
            )
            hold.status, hold.settled_at = HoldStatus.RELEASED, now
            await hold.save(using_db=conn, update_fields=["status", "settled_at"])
        forfeited = await movements.forfeit(
            account, origin=origin, reference=Reference("erasure", str(member_id))
        )
        if forfeited is not None:
            written.append(forfeited)
        await accounts.save_account(account)
        await LedgerAccount.filter(id=account.row.id).using_db(conn).update(closed_at=now)
        for table in TABLES:
            for path in table.member_paths:
                rows = table.model.filter(**member_filter(table, path, member_id)).using_db(conn)
                if table.erasure is Erasure.DELETE:
                    await rows.delete()
                elif table.erasure is Erasure.BLANK:
                    if table.blank:
                        await rows.update(**dict.fromkeys(table.blank, ""))
                    if table.blank_json:
                        await _blank_json(rows, table.blank_json, conn)
        await consents.withdraw_all(conn, member_id, now=now)
        await RetiredCardNumber.bulk_create(
            [RetiredCardNumber(digest=card_digest(member.card_number))],
            ignore_conflicts=True,
            using_db=conn,
        )
        await (
            Member.filter(id=member_id)
            .using_db(conn)
            .update(
                email=erased_email(member_id),
                password_hash=None,
                external_subject=None,
                display_name=ERASED_NAME,
                birthday=None,
                timezone="UTC",
                marketing_consent=False,
                leaderboard_visible=False,
                card_number=erased_card_number(member_id),
                erased_at=now,
                updated_at=now,
            )
        )
        record = await ErasureRecord.create(
            member_id=member_id,
            requested_by=requested_by,
            admin_id=admin_id,
            reason=reason,
            forfeited_points=-forfeited.points if forfeited else 0,
            released_holds=len(holds),
            erased_at=now,
            using_db=conn,
        )
        # The brand's other systems (CRM, e-mail provider) hold the member too: they are told,
        # by id only, to erase what they keep.
        await emit(
            conn,
            type="member.erased",
            member_id=member_id,
            data={
                "memberId": member_id,
                "requestedBy": requested_by,
                "forfeitedPoints": record.forfeited_points,
                "erasedAt": now.isoformat(),
            },
            occurred_at=now,
        )
    erased_members.add(member_id)
    return ErasureResult(record, False, written)


FRESH_SIGN_IN_SECONDS: Final = 300


async def delete_own_account(
    *,
    actor: Actor,
    password: str | None,
    signed_in_at: datetime | None = None,
    now: datetime | None = None,
) -> ErasureResult:
    """The member erases their own account, with proof that the signed-in person is the
    account's owner (not someone holding their unlocked phone): their password re-entered, or,
    for an account without one (an external identity provider signs them in), a token issued
    in the last `FRESH_SIGN_IN_SECONDS` (`signed_in_at`, its `iat`): they sign in again first.

    Raises Refused(INVALID_CREDENTIALS) for a wrong password, a password-less account without a
    fresh sign-in, or no proof at all; Refused(ERASURE_REFUSED) for staff, admins and devices."""
    if actor.kind is not ActorKind.MEMBER:
        raise Refused("Only members delete their account here", code=ErrorCode.ERASURE_REFUSED)
    member = await Member.get_or_none(id=actor.id)
    if member is None or member.erased_at is not None:
        existing = await ErasureRecord.get_or_none(member_id=actor.id)
        if existing is not None:
            return ErasureResult(existing, True, [])
        raise NotFound("Member not found", field="memberId")
    if member.password_hash is not None or password is not None:
        await profiles.authenticate(email=member.email, password=password or "")
    else:
        age = ((now or datetime.now(UTC)) - signed_in_at).total_seconds() if signed_in_at else None
        if age is None or not 0 <= age <= FRESH_SIGN_IN_SECONDS:
            raise Refused(
                "Sign in again, then delete your account within 5 minutes",
                code=ErrorCode.INVALID_CREDENTIALS,
            )
    return await erase_member(actor=actor, member_id=actor.id)


async def forget_cached_views(redis: Redis, member_id: int) -> int:
    """After an erasure committed: delete the member's kept home-screen responses and view
    version (`server.response_cache`'s `{view}` keys), which hold their name and card number
    until they expire otherwise. Returns the keys deleted."""
    names = [redis_keys.member_view_version(member_id)]
    pattern = redis_keys.home_response(member_id, "*")
    names += [key async for key in redis.scan_iter(match=pattern, count=1000)]
    return int(await redis.delete(*names))


async def is_erased(member_id: int) -> bool:
    return await Member.filter(id=member_id, erased_at__isnull=False).exists()


async def require_not_erased(member_id: int) -> None:
    """Raises NotFound(MEMBER_ERASED) for an erased member."""
    if await is_erased(member_id):
        raise NotFound("This member was erased", code=ErrorCode.MEMBER_ERASED, field="memberId")
