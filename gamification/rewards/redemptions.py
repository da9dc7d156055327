"""The one redemption core every channel goes through: app, web, kiosk (QR token) and till.

It knows channels only by name. One transaction per redemption, locks in the ledger's order:
member account, then the reward row. The checks run again under the locks, so a reward with
stock 5 gives exactly 5 redemptions however many members race for it.

Cancelled redemptions give the points back in a new lot that expires at the latest expiry of
the lots they were taken from, but never sooner than `RETURN_GRACE` from the cancellation, so
that a member never loses points to an expiry that happened while they were spent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from gamification.actors import Actor, ActorKind
from gamification.errors import ErrorCode, NotFound, Refused
from gamification.events import facts as domain_events
from gamification.idempotency import run_once
from gamification.ledger import accounts, movements
from gamification.ledger.consent import MemberConsent
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import EntryKind, LedgerEntry, PointsLot
from gamification.rewards.models import LimitPeriod, Redemption, RedemptionStatus, Reward
from gamification.stores.models import Channel
from gamification.tiers import ladder as tiers

RETURN_GRACE: Final = timedelta(days=30)
POINTS_VOUCHER_VALID: Final = timedelta(days=1)
_VOUCHER_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_voucher_code() -> str:
    """16 characters from a 32-letter alphabet: 80 random bits, unguessable."""
    return "".join(secrets.choice(_VOUCHER_ALPHABET) for _ in range(16))


@dataclass(frozen=True, slots=True)
class RedemptionRequest:
    consent: MemberConsent  # whose points, and the proof they gave (gamification.ledger.consent)
    channel: Channel
    reward_id: int | None = None  # a reward, or
    points: int | None = None  # an amount of points (kiosk tokens)
    store_id: int | None = None
    device_id: int | None = None

    @property
    def member_id(self) -> int:
        return self.consent.member_id


async def member_tier_allows(member_id: int, min_tier: str | None, conn: BaseDBAsyncClient) -> bool:
    """Whether the member's tier ranks at least as high as `min_tier` (an unknown tier: no)."""
    return await tiers.tier_at_least(member_id, min_tier, conn)


def _period_start(period: LimitPeriod, now: datetime) -> datetime | None:
    if period is LimitPeriod.EVER:
        return None
    if period is LimitPeriod.DAY:
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is LimitPeriod.WEEK:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=day.weekday())
    if period is LimitPeriod.MONTH:
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def check_reward_offered(reward: Reward, channel: Channel, now: datetime) -> None:
    """Raises Refused when the reward cannot be redeemed on this channel now."""
    if not reward.active:
        raise Refused(
            "This reward is not offered any more", code=ErrorCode.REWARD_INACTIVE, field="rewardId"
        )
    if (reward.valid_from and now < reward.valid_from) or (
        reward.valid_to and now >= reward.valid_to
    ):
        raise Refused(
            "This reward is not available now",
            code=ErrorCode.REWARD_NOT_AVAILABLE,
            field="rewardId",
        )
    if reward.channels and channel.value not in reward.channels:
        raise Refused(
            "This reward is not offered on this channel",
            code=ErrorCode.WRONG_CHANNEL,
            field="rewardId",
        )


async def redeem_in(
    conn: BaseDBAsyncClient, actor: Actor, request: RedemptionRequest, now: datetime
) -> Redemption:
    """The core, inside the caller's transaction: check, debit, take stock, record.

    Raises NotFound(REWARD_NOT_FOUND), Refused(REWARD_INACTIVE, REWARD_NOT_AVAILABLE,
    WRONG_CHANNEL, TIER_TOO_LOW, OUT_OF_STOCK, MEMBER_LIMIT_REACHED), InsufficientPoints.
    """
    account = await accounts.lock_member_account(request.member_id, conn, now)
    reward = None
    if request.reward_id is not None:
        # Not locked: redemptions of one reward must not queue behind each other. The member's
        # account lock (taken first) serialises the member's own redemptions, so the
        # per-member limit counts exactly; the stock is taken by a conditional UPDATE below,
        # which never goes under zero (and locks the row only for limited rewards).
        reward = await Reward.filter(id=request.reward_id).using_db(conn).first()
        if reward is None:
            raise NotFound("No such reward", code=ErrorCode.REWARD_NOT_FOUND, field="rewardId")
        check_reward_offered(reward, request.channel, now)
        if not await member_tier_allows(request.member_id, reward.min_tier, conn):
            raise Refused(
                "Your tier cannot redeem this reward yet",
                code=ErrorCode.TIER_TOO_LOW,
                field="rewardId",
            )
        if reward.stock is not None and reward.stock <= 0:
            raise Refused("Out of stock", code=ErrorCode.OUT_OF_STOCK, field="rewardId")
        if reward.per_member_limit is not None:
            taken = Redemption.filter(
                member_id=request.member_id,
                reward_id=reward.id,
                status__not=RedemptionStatus.CANCELLED,
            )
            since = _period_start(reward.limit_period, now)
            if since is not None:
                taken = taken.filter(created_at__gte=since)
            if await taken.using_db(conn).count() >= reward.per_member_limit:
                raise Refused(
                    "You have reached this reward's limit",
                    code=ErrorCode.MEMBER_LIMIT_REACHED,
                    field="rewardId",
                )
        points = reward.cost_points
        valid_for = timedelta(days=reward.voucher_valid_days)
    else:
        if request.points is None or request.points <= 0:
            raise Refused("Name a reward or a positive amount of points", field="points")
        points = request.points
        valid_for = POINTS_VOUCHER_VALID
    entry = await movements.debit(
        account,
        points,
        kind=EntryKind.REDEEM,
        origin=Origin.of(actor, request.channel),
        reference=Reference("reward", str(reward.id) if reward else "points"),
        consent=request.consent,
    )
    if reward is not None and reward.stock is not None:
        # Conditional, so stock can never go below zero even without the row lock (SQLite).
        taken_stock = (
            await Reward.filter(id=reward.id, stock__gt=0)
            .using_db(conn)
            .update(stock=F("stock") - 1)
        )
        if not taken_stock:
            raise Refused("Out of stock", code=ErrorCode.OUT_OF_STOCK, field="rewardId")
    redemption = await Redemption.create(
        member_id=request.member_id,
        reward_id=reward.id if reward else None,
        points=points,
        channel=request.channel,
        store_id=request.store_id,
        device_id=request.device_id,
        voucher_code=new_voucher_code(),
        valid_until=now + valid_for,
        entry_id=entry.id,
        created_at=now,
        using_db=conn,
    )
    redemption.reward = reward  # the answer is built from this row: no read after commit
    await domain_events.reward_redeemed(
        account, redemption.id, request.member_id, points, request.channel, request.store_id
    )
    await accounts.save_account(account)
    return redemption


async def redeem(
    *, actor: Actor, request: RedemptionRequest, idempotency_key: str, operation: str = "redeem"
) -> tuple[Redemption, bool]:
    """Redeem in one transaction guarded by the idempotency key; return (redemption, replayed).

    Raises what `redeem_in` raises, and Conflict(IDEMPOTENCY_KEY_REUSED).
    """

    written: list[Redemption] = []

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        redemption = await redeem_in(conn, actor, request, datetime.now(UTC))
        written.append(redemption)
        return {"redemption_id": redemption.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation=operation,
        request={
            "member": request.member_id,
            "reward": request.reward_id,
            "points": request.points,
            "channel": request.channel.value,
        },
        work=work,
    )
    if not replayed:
        return written[-1], replayed  # the row as written: no need to read it back
    return await Redemption.get(id=answer["redemption_id"]), replayed


def _may_cancel(actor: Actor, redemption: Redemption) -> bool:
    if actor.is_admin:
        return True
    if actor.kind is ActorKind.STAFF:
        return actor.store_id is not None and actor.store_id == redemption.store_id
    return actor.is_person and actor.id == redemption.member_id  # type: ignore[attr-defined]


async def cancel_redemption(
    *, actor: Actor, redemption_id: int, idempotency_key: str, reason: str = ""
) -> tuple[Redemption, bool]:
    """Give the points and the stock back, exactly once. Members cancel their own before use;
    staff (their store) and admins cancel any unused one.

    Raises NotFound, Refused(NOT_CANCELLABLE) for a used or cancelled redemption,
    Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    found = await Redemption.get_or_none(id=redemption_id)
    if found is None or not _may_cancel(actor, found):
        raise NotFound("No such redemption", field="redemptionId")
    member_id: int = found.member_id  # type: ignore[attr-defined]

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        now = datetime.now(UTC)
        account = await accounts.lock_member_account(member_id, conn, now)
        redemption = (
            await Redemption.filter(id=redemption_id).select_for_update().using_db(conn).get()
        )
        if redemption.status is not RedemptionStatus.ISSUED:
            raise Refused(
                f"This redemption is {redemption.status.value.lower()}",
                code=ErrorCode.NOT_CANCELLABLE,
                field="redemptionId",
            )
        spent = await LedgerEntry.filter(id=redemption.entry_id).using_db(conn).get()
        lot_ids = [lot_id for lot_id, _ in spent.lots]
        spent_lots = await PointsLot.filter(id__in=lot_ids).using_db(conn).only("id", "expires_at")
        latest = max((lot.expires_at for lot in spent_lots), default=now)
        await movements.restore(
            account,
            redemption.points,
            kind=EntryKind.REVERSAL,
            origin=Origin.of(actor, redemption.channel),
            reference=Reference("redemption", str(redemption.id), reason[:500]),
            expires_at=max(latest, now + RETURN_GRACE),
        )
        reward_id = redemption.reward_id  # type: ignore[attr-defined]
        if reward_id is not None:
            await (
                Reward.filter(id=reward_id, stock__isnull=False)
                .using_db(conn)
                .update(stock=F("stock") + 1)
            )
        redemption.status = RedemptionStatus.CANCELLED
        redemption.cancelled_at = now
        await redemption.save(using_db=conn, update_fields=["status", "cancelled_at"])
        await accounts.save_account(account)
        return {"redemption_id": redemption.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="cancelRedemption",
        request={"redemption": redemption_id},
        work=work,
    )
    return await Redemption.get(id=answer["redemption_id"]), replayed


# Where a voucher is taken: a reward offered in the app or on the web is shown at a store's
# till or kiosk, so APP and WEB rewards are taken on those channels too.
_TAKEN_ON: Final = {
    Channel.APP: frozenset({Channel.APP, Channel.POS, Channel.KIOSK}),
    Channel.WEB: frozenset({Channel.WEB, Channel.POS, Channel.KIOSK}),
    Channel.KIOSK: frozenset({Channel.KIOSK, Channel.POS}),
    Channel.POS: frozenset({Channel.POS, Channel.KIOSK}),
}


def _check_voucher_taken_here(redemption: Redemption, reward: Reward | None, actor: Actor) -> None:
    """Raises Refused(WRONG_CHANNEL / STORE_MISMATCH) unless the device taking the voucher is
    of a channel and a store the reward is offered on. A voucher for an amount of points (no
    reward) is taken in the store it was redeemed in."""
    if actor.kind is not ActorKind.DEVICE or actor.channel is None:
        raise Refused("Vouchers are taken by store devices", code=ErrorCode.WRONG_CHANNEL)
    if reward is None:
        if redemption.store_id is not None and redemption.store_id != actor.store_id:
            raise Refused(
                "This voucher is taken in the store it was issued in",
                code=ErrorCode.STORE_MISMATCH,
                field="code",
            )
        return
    if reward.channels:
        taken_on = frozenset().union(
            *(_TAKEN_ON.get(Channel(c), {Channel(c)}) for c in reward.channels)
        )
        if actor.channel not in taken_on:
            raise Refused(
                "This reward is not offered on this channel",
                code=ErrorCode.WRONG_CHANNEL,
                field="code",
            )
    if reward.store_ids and actor.store_id not in reward.store_ids:
        raise Refused(
            "This reward is not offered in this store", code=ErrorCode.STORE_MISMATCH, field="code"
        )


async def use_voucher(*, actor: Actor, code: str) -> Redemption:
    """A store device takes a voucher, once, and records which store and device took it.

    Raises NotFound(VOUCHER_NOT_FOUND), Refused(VOUCHER_USED, VOUCHER_EXPIRED, NOT_CANCELLABLE
    for a cancelled one; WRONG_CHANNEL, STORE_MISMATCH for a device of a channel or store the
    reward is not offered on).
    """
    code = code.strip().upper()
    redemption = await Redemption.get_or_none(voucher_code=code) if 0 < len(code) <= 32 else None
    if redemption is None:
        raise NotFound("No such voucher", code=ErrorCode.VOUCHER_NOT_FOUND, field="code")
    await redemption.fetch_related("reward")
    _check_voucher_taken_here(redemption, redemption.reward, actor)
    now = datetime.now(UTC)
    if redemption.status is RedemptionStatus.CANCELLED:
        raise Refused("This voucher was cancelled", code=ErrorCode.NOT_CANCELLABLE, field="code")
    if redemption.valid_until <= now:
        raise Refused("This voucher has expired", code=ErrorCode.VOUCHER_EXPIRED, field="code")
    # One conditional update: of two devices scanning at once, exactly one marks it used.
    marked = await Redemption.filter(id=redemption.id, status=RedemptionStatus.ISSUED).update(
        status=RedemptionStatus.USED,
        used_at=now,
        used_store_id=actor.store_id,
        used_device_id=actor.id,
    )
    if not marked:
        raise Refused("This voucher was already used", code=ErrorCode.VOUCHER_USED, field="code")
    redemption.status = RedemptionStatus.USED
    redemption.used_at = now
    redemption.used_store_id = actor.store_id
    redemption.used_device_id = actor.id
    return redemption  # as the update left it, its reward loaded: nothing to read back
