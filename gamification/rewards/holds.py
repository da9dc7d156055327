"""Till two-phase spending: a device holds a member's points, then captures (up to the held
amount) or releases them; a hold nobody settles expires and is released.

Every operation is one transaction that locks in the ledger's order — the member's account,
then the hold row — and re-reads the hold's status under those locks, so a hold is settled
exactly once however a capture, a release and the expiry run race. The ledger side goes
through `movements.place_hold` / `movements.settle_hold`; nothing here touches a balance directly.

How the member is identified (a redemption token the app shows) is the channels' business:
they call `place_hold_in` inside their own transaction, after consuming the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification.actors import Actor
from gamification.errors import ErrorCode, InvalidInput, NotFound, Refused
from gamification.idempotency import run_once
from gamification.ledger import accounts, consent, movements
from gamification.ledger.entries import MAX_POINTS_PER_ENTRY, Origin, Reference
from gamification.rewards.models import HoldStatus, PointsHold
from gamification.stores.models import Channel

# A hold reserves points the member cannot spend elsewhere: a day is the longest a till may
# keep them waiting (the expiry run releases it then).
MAX_HOLD_TTL_SECONDS: Final = 24 * 3600
MAX_REFERENCE_LENGTH: Final = 128
# Channels whose devices may hold points: in-store kiosks and tills, not the web shop.
HOLD_CHANNELS: Final = frozenset({Channel.POS, Channel.KIOSK})
_MAX_HOLD_ID: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class HoldRequest:
    member_id: int
    points: int
    reference: str  # the till's own id for the sale, stripped
    ttl_seconds: int


def device_origin(actor: Actor) -> tuple[Channel, int]:
    """The (channel, store) of a kiosk or till.

    Raises Refused(CHANNEL_MISMATCH) for anyone else (people, web-shop servers).
    """
    if (
        not actor.is_device
        or actor.channel not in HOLD_CHANNELS
        or actor.store_id is None
        or actor.channel is None
    ):
        raise Refused(
            "Only kiosks and tills hold points", code=ErrorCode.CHANNEL_MISMATCH, field="channel"
        )
    return actor.channel, actor.store_id


def check_hold_request(request: HoldRequest) -> HoldRequest:
    """The request with its reference stripped.

    Raises InvalidInput (INVALID_AMOUNT for points, or for the reference or ttlSeconds).
    """
    if not 0 < request.points <= MAX_POINTS_PER_ENTRY:
        raise InvalidInput(
            f"points must be between 1 and {MAX_POINTS_PER_ENTRY}",
            code=ErrorCode.INVALID_AMOUNT,
            field="points",
        )
    reference = request.reference.strip()
    if not reference or len(reference) > MAX_REFERENCE_LENGTH:
        raise InvalidInput(
            f"reference must have 1 to {MAX_REFERENCE_LENGTH} characters", field="reference"
        )
    if not 0 < request.ttl_seconds <= MAX_HOLD_TTL_SECONDS:
        raise InvalidInput(
            f"ttlSeconds must be between 1 and {MAX_HOLD_TTL_SECONDS}", field="ttlSeconds"
        )
    return HoldRequest(request.member_id, request.points, reference, request.ttl_seconds)


async def place_hold_in(
    conn: BaseDBAsyncClient,
    actor: Actor,
    request: HoldRequest,
    now: datetime,
    member_consent: consent.MemberConsent,
) -> PointsHold:
    """Hold the member's points inside the caller's transaction, with their consent (the
    one-time code used up in this transaction).

    Raises Refused(CHANNEL_MISMATCH, MEMBER_PROOF_REQUIRED), InvalidInput,
    NotFound(UNKNOWN_MEMBER), InsufficientPoints (nothing is written then).
    """
    channel, store_id = device_origin(actor)
    request = check_hold_request(request)
    account = await accounts.lock_member_account(request.member_id, conn, now)
    hold = await PointsHold.create(
        member_id=request.member_id,
        points=request.points,
        reference=request.reference,
        device_id=actor.id,
        store_id=store_id,
        channel=channel,
        expires_at=now + timedelta(seconds=request.ttl_seconds),
        created_at=now,
        using_db=conn,
    )
    await movements.place_hold(
        account,
        request.points,
        origin=Origin.of(actor, channel),
        reference=Reference("hold", str(hold.id), request.reference),
        consent=member_consent,
    )
    await accounts.save_account(account)
    return hold


async def place_hold(
    *,
    actor: Actor,
    member_consent: consent.MemberConsent,
    points: int,
    reference: str,
    ttl_seconds: int,
    idempotency_key: str,
) -> tuple[PointsHold, bool]:
    """Hold points of the member whose consent the caller holds; return (hold, replayed).

    Raises what `place_hold_in` raises, and Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    device_origin(actor)
    member_id = member_consent.member_id
    request = check_hold_request(HoldRequest(member_id, points, reference, ttl_seconds))

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        hold = await place_hold_in(conn, actor, request, datetime.now(UTC), member_consent)
        return {"hold_id": hold.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="holdPoints",
        request={
            "member": member_id,
            "points": request.points,
            "reference": request.reference,
            "ttl": ttl_seconds,
        },
        work=work,
    )
    return await PointsHold.get(id=answer["hold_id"]), replayed


async def _find_store_hold(actor: Actor, hold_id: int) -> PointsHold:
    """The hold, when it belongs to the device's store. Raises NotFound otherwise (a hold of
    another store reads as one that does not exist)."""
    _, store_id = device_origin(actor)
    hold = await PointsHold.get_or_none(id=hold_id) if 0 < hold_id <= _MAX_HOLD_ID else None
    if hold is None or hold.store_id != store_id:
        raise NotFound("No such hold", field="holdId")
    return hold


async def _lock_hold(
    conn: BaseDBAsyncClient, member_id: int, hold_id: int, now: datetime
) -> tuple[accounts.LockedAccount, PointsHold]:
    # The ledger's lock order: the member's account first, then the hold.
    account = await accounts.lock_member_account(member_id, conn, now)
    hold = await PointsHold.filter(id=hold_id).select_for_update().using_db(conn).get()
    return account, hold


async def _settle(
    account: accounts.LockedAccount,
    hold: PointsHold,
    *,
    captured: int,
    status: HoldStatus,
    origin: Origin,
) -> None:
    """Capture `captured` points of the locked, active hold, release the rest, and close it."""
    reason = "hold expired" if status is HoldStatus.EXPIRED else hold.reference
    hold_member: int = hold.member_id  # type: ignore[attr-defined]
    await movements.settle_hold(
        account,
        hold.points,
        captured,
        origin=origin,
        reference=Reference("hold", str(hold.id), reason),
        consent=consent.by_hold(hold_member) if captured else None,
    )
    hold.status = status
    hold.captured = captured
    hold.settled_at = account.now
    await hold.save(using_db=account.conn, update_fields=["status", "captured", "settled_at"])
    await accounts.save_account(account)


def _not_active(hold: PointsHold) -> Refused:
    return Refused(
        f"This hold is {hold.status.value.lower()}",
        code=ErrorCode.HOLD_NOT_ACTIVE,
        field="holdId",
    )


async def capture_hold(
    *, actor: Actor, hold_id: int, points: int, idempotency_key: str
) -> tuple[PointsHold, bool]:
    """Spend `points` of an active hold and release the rest; return (hold, replayed).

    A capture that arrives after the hold's expiry releases the hold instead (that outcome is
    committed and stored with the key) and raises Refused(HOLD_EXPIRED).

    Raises NotFound (no such hold in the device's store), Refused(CHANNEL_MISMATCH,
    HOLD_NOT_ACTIVE, HOLD_EXPIRED, CAPTURE_EXCEEDS_HOLD), InvalidInput(INVALID_AMOUNT),
    Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    if not 0 < points <= MAX_POINTS_PER_ENTRY:
        raise InvalidInput(
            "points must be positive (release the hold to capture nothing)",
            code=ErrorCode.INVALID_AMOUNT,
            field="points",
        )
    found = await _find_store_hold(actor, hold_id)
    member_id: int = found.member_id  # type: ignore[attr-defined]

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        account, hold = await _lock_hold(conn, member_id, hold_id, datetime.now(UTC))
        if hold.status is not HoldStatus.ACTIVE:
            raise _not_active(hold)
        if account.now >= hold.expires_at:
            await _settle(
                account, hold, captured=0, status=HoldStatus.EXPIRED, origin=Origin.system()
            )
            return {"hold_id": hold.id, "refused": ErrorCode.HOLD_EXPIRED.value}
        if points > hold.points:
            raise Refused(
                f"This hold is for {hold.points} points",
                code=ErrorCode.CAPTURE_EXCEEDS_HOLD,
                field="points",
            )
        await _settle(
            account,
            hold,
            captured=points,
            status=HoldStatus.CAPTURED,
            origin=Origin.of(actor, hold.channel),
        )
        return {"hold_id": hold.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="captureHold",
        request={"hold": hold_id, "points": points},
        work=work,
    )
    if answer.get("refused") == ErrorCode.HOLD_EXPIRED.value:
        raise Refused(
            "This hold expired and its points were released",
            code=ErrorCode.HOLD_EXPIRED,
            field="holdId",
        )
    return await PointsHold.get(id=answer["hold_id"]), replayed


async def release_hold(
    *, actor: Actor, hold_id: int, idempotency_key: str
) -> tuple[PointsHold, bool]:
    """Give all of an active hold's points back to the member; return (hold, replayed).

    Raises NotFound (no such hold in the device's store), Refused(CHANNEL_MISMATCH,
    HOLD_NOT_ACTIVE), Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    found = await _find_store_hold(actor, hold_id)
    member_id: int = found.member_id  # type: ignore[attr-defined]

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        account, hold = await _lock_hold(conn, member_id, hold_id, datetime.now(UTC))
        if hold.status is not HoldStatus.ACTIVE:
            raise _not_active(hold)
        # Past its expiry but not swept yet: releasing is what expiry would do anyway.
        await _settle(
            account,
            hold,
            captured=0,
            status=HoldStatus.RELEASED,
            origin=Origin.of(actor, hold.channel),
        )
        return {"hold_id": hold.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="releaseHold",
        request={"hold": hold_id},
        work=work,
    )
    return await PointsHold.get(id=answer["hold_id"]), replayed


async def expire_holds(now: datetime | None = None) -> int:
    """Release every active hold past its expiry, one hold per transaction; return how many.

    Exactly once however often it runs, even two at once or racing a capture: each hold's
    status is re-read under the member's account lock and the hold's row lock.
    """
    now = now or datetime.now(UTC)
    due = (
        await PointsHold.filter(status=HoldStatus.ACTIVE, expires_at__lte=now)
        .order_by("id")
        .values_list("id", "member_id")
    )
    expired = 0
    for hold_id, member_id in due:
        async with in_transaction() as conn:
            account, hold = await _lock_hold(conn, member_id, hold_id, now)
            if hold.status is not HoldStatus.ACTIVE or hold.expires_at > now:
                continue
            await _settle(
                account, hold, captured=0, status=HoldStatus.EXPIRED, origin=Origin.system()
            )
            expired += 1
    return expired
