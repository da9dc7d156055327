"""Kiosk asks, member confirms: a kiosk asks a member (by card number or member id) to redeem a
reward or an amount of points, or to donate an amount of points to a cause; the member's app
shows the request and the member approves or declines it; the kiosk watches its status until
APPROVED (with the redemption or the donation), DECLINED, EXPIRED (no answer within
`redemption_request_timeout_seconds`) or FAILED (approved, but refused: too few points, out of
stock, the cause closed …). The approval, made with the member's own token, is their consent
(`gamification.ledger.consent.by_app_approval`); the kiosk's ask moves nothing.

State lives in Redis, not in the database: a request is short-lived and only its redemption or
donation is a business fact (that goes through `gamification.rewards.redemptions.redeem` or
`gamification.causes.donations.donate_points`, like every channel).

Keys (names in `gamification.redis_keys`; this module alone reads and writes them), all under
the hash tag `{rr}` because a new request's hash and the member's index are written in one
MULTI/EXEC (one slot on a Redis Cluster):
- `{rr}:<id>`, a HASH: the request and its `status`, `version` (+1 per change); it expires
  `RETENTION` after its deadline, so the kiosk can still read the outcome for a while.
- `{rr}:ref:<device id>:<reference>`: the request a kiosk's own reference made, so a kiosk
  that retries gets its first request back (same TTL).
- `{rr}:member:<member id>`, a ZSET of the member's requests by deadline (what a newly opened
  app shows).

Every change of status is one WATCH/MULTI/EXEC on the request's hash that checks the status it
read is still there: of an approval and an expiry racing at the deadline, exactly one commits
and the other reads the outcome. An approval moves PENDING to APPROVING first, then redeems
with an idempotency key derived from the request id, then records APPROVED: if the process
dies in between, approving again finishes the same redemption, never a second one.

Long because a request's life in Redis (ask, approve, decline, expire, watch) is one state
machine over the keys above, each change one WATCH/MULTI/EXEC: split, its transitions would be
read apart from the keys and statuses they share.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import WatchError

from channels.policies import store_action_origin
from gamification import redis_keys
from gamification.actors import Actor, ActorKind
from gamification.causes import donations as causes_donations
from gamification.causes.models import Cause
from gamification.errors import Conflict, ErrorCode, InvalidInput, LoyaltyError, NotFound, Refused
from gamification.events import realtime
from gamification.ledger import consent
from gamification.ledger.entries import MAX_POINTS_PER_ENTRY
from gamification.members.models import Member
from gamification.rewards import redemptions
from gamification.rewards.models import Reward
from gamification.stores.models import Channel
from server.settings import Settings

RETENTION: Final = timedelta(hours=1)
MAX_REFERENCE: Final = 64
_ATTEMPTS: Final = 50


class RequestStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVING = "APPROVING"  # approved; the redemption is being made
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"  # approved, but the redemption was refused

    @property
    def final(self) -> bool:
        return self not in (RequestStatus.PENDING, RequestStatus.APPROVING)


@dataclass(frozen=True, slots=True)
class RedemptionRequest:
    id: str
    member_id: int
    device_id: int
    store_id: int
    reward_id: int | None
    reward_name: str
    points: int  # the reward's cost, or the amount of points asked for
    reference: str
    status: RequestStatus
    version: int
    created_at: datetime
    expires_at: datetime
    redemption_id: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    cause_id: int | None = None  # a donation to this cause, of `points`
    cause_name: str = ""
    donation_id: int | None = None

    def encode(self) -> dict[Any, Any]:  # str -> str; Any for redis-py's Mapping types
        return {
            name: (
                value.isoformat()
                if isinstance(value, datetime)
                else ""
                if value is None
                else str(value)
            )
            for name, value in asdict(self).items()
        }

    @classmethod
    def decode(cls, raw: dict[str, str]) -> RedemptionRequest:
        def number(name: str) -> int | None:
            return int(raw[name]) if raw.get(name) else None

        return cls(
            id=raw["id"],
            member_id=int(raw["member_id"]),
            device_id=int(raw["device_id"]),
            store_id=int(raw["store_id"]),
            reward_id=number("reward_id"),
            reward_name=raw.get("reward_name", ""),
            points=int(raw["points"]),
            reference=raw["reference"],
            status=RequestStatus(raw["status"]),
            version=int(raw["version"]),
            created_at=datetime.fromisoformat(raw["created_at"]),
            expires_at=datetime.fromisoformat(raw["expires_at"]),
            redemption_id=number("redemption_id"),
            error_code=raw.get("error_code") or None,
            error_message=raw.get("error_message") or None,
            cause_id=number("cause_id"),
            cause_name=raw.get("cause_name", ""),
            donation_id=number("donation_id"),
        )

    def notices(self) -> list[realtime.Notice]:
        """For the member's app (their own stream) and for the kiosk (the request's channel)."""
        data = self.encode()
        return [
            realtime.member_notice(
                self.member_id, realtime.Topic.REDEMPTION_REQUEST, self.version, data
            ),
            realtime.Notice(
                realtime.request_channel(self.id), realtime.Topic.REQUEST_STATUS, self.version, data
            ),
        ]


def _valid_id(request_id: str) -> bool:
    try:
        return uuid.UUID(request_id).hex == request_id
    except (ValueError, AttributeError, TypeError):
        return False


async def get_request(redis: Redis, request_id: str) -> RedemptionRequest | None:
    if not _valid_id(request_id):
        return None
    raw: Any = await redis.hgetall(redis_keys.request(request_id))
    return RedemptionRequest.decode(raw) if raw else None


async def _find_member(card_number: str | None, member_id: int | None) -> Member:
    if (card_number is None) == (member_id is None):
        raise InvalidInput("Name the member by card number or by member ID", field="cardNumber")
    if card_number is not None:
        number = card_number.strip().replace(" ", "")
        member = await Member.get_or_none(card_number=number) if 0 < len(number) <= 20 else None
    else:
        member = await Member.get_or_none(id=member_id) if 0 < (member_id or 0) < 2**31 else None
    if member is None:
        raise NotFound("No such member", code=ErrorCode.UNKNOWN_MEMBER, field="cardNumber")
    return member


async def _what(reward_id: int | None, points: int | None, now: datetime) -> tuple[str, int]:
    """The reward's name and cost, or ("", points). Raises InvalidInput, NotFound, Refused."""
    if (reward_id is None) == (points is None):
        raise InvalidInput("Give either a reward or an amount of points", field="rewardId")
    if reward_id is None:
        assert points is not None
        if not 0 < points <= MAX_POINTS_PER_ENTRY:
            raise InvalidInput(
                f"points must be between 1 and {MAX_POINTS_PER_ENTRY}",
                code=ErrorCode.INVALID_AMOUNT,
                field="points",
            )
        return "", points
    reward = await Reward.get_or_none(id=reward_id) if 0 < reward_id < 2**31 else None
    if reward is None:
        raise NotFound("No such reward", code=ErrorCode.REWARD_NOT_FOUND, field="rewardId")
    redemptions.check_reward_offered(reward, Channel.KIOSK, now)
    return reward.name, reward.cost_points


async def _cause_asked(cause_id: int, points: int, now: datetime) -> str:
    """The cause's name. Raises NotFound(CAUSE_NOT_FOUND), InvalidInput, Refused for a
    donation the cause would refuse now."""
    causes_donations.check_points_range(points)
    cause = await Cause.get_or_none(id=cause_id) if 0 < cause_id < 2**31 else None
    if cause is None:
        raise NotFound("No such cause", code=ErrorCode.CAUSE_NOT_FOUND, field="causeId")
    causes_donations.check_donation_amount(cause, points)
    causes_donations.check_cause_open(cause, now)
    return cause.name


def _kiosk_store(actor: Actor) -> int:
    """Raises Refused(CHANNEL_MISMATCH) for anything but a kiosk."""
    if actor.kind is not ActorKind.DEVICE or actor.channel is not Channel.KIOSK:
        raise Refused("Only kiosks ask members", code=ErrorCode.CHANNEL_MISMATCH, field="channel")
    return store_action_origin(actor, channel=Channel.KIOSK, store_id=None)[1]


def _checked_reference(reference: str) -> str:
    reference = reference.strip()
    if not 0 < len(reference) <= MAX_REFERENCE:
        raise InvalidInput(f"reference must be 1 to {MAX_REFERENCE} characters", field="reference")
    return reference


def _what_is_asked(request: RedemptionRequest) -> tuple[int, int | None, int | None, int | None]:
    """What a reference stands for: the member, and the reward, points or cause asked for."""
    points = request.points if request.reward_id is None else None
    return request.member_id, request.reward_id, points, request.cause_id


async def request_redemption(
    *,
    redis: Redis,
    actor: Actor,
    card_number: str | None,
    member_id: int | None,
    reward_id: int | None,
    points: int | None,
    reference: str,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[RedemptionRequest, bool]:
    """A kiosk asks a member to approve a redemption; return (request, replayed). The same
    kiosk with the same `reference` gets its first request back.

    Raises Refused(CHANNEL_MISMATCH) for anything but a kiosk, InvalidInput, NotFound
    (UNKNOWN_MEMBER, REWARD_NOT_FOUND), Refused (REWARD_INACTIVE, REWARD_NOT_AVAILABLE,
    WRONG_CHANNEL), Conflict(IDEMPOTENCY_KEY_REUSED) for a reference reused for another ask.
    """
    store_id = _kiosk_store(actor)
    reference = _checked_reference(reference)
    now = now or datetime.now(UTC)
    member = await _find_member(card_number, member_id)
    reward_name, cost = await _what(reward_id, points, now)
    asked = _pending(actor, store_id, member.id, reference, now, settings)
    return await _ask(
        redis, replace(asked, reward_id=reward_id, reward_name=reward_name, points=cost)
    )


async def request_donation(
    *,
    redis: Redis,
    actor: Actor,
    card_number: str | None,
    member_id: int | None,
    cause_id: int,
    points: int,
    reference: str,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[RedemptionRequest, bool]:
    """A kiosk asks a member to approve donating `points` to a cause; return (request,
    replayed). The same kiosk with the same `reference` gets its first request back.

    Raises Refused(CHANNEL_MISMATCH) for anything but a kiosk, InvalidInput (INVALID_AMOUNT,
    BELOW_MINIMUM_DONATION, INVALID_INCREMENT), NotFound(UNKNOWN_MEMBER, CAUSE_NOT_FOUND),
    Refused(CAUSE_CLOSED, CAUSE_NOT_OPEN), Conflict(IDEMPOTENCY_KEY_REUSED) for a reference
    reused for another ask.
    """
    store_id = _kiosk_store(actor)
    reference = _checked_reference(reference)
    now = now or datetime.now(UTC)
    member = await _find_member(card_number, member_id)
    cause_name = await _cause_asked(cause_id, points, now)
    asked = _pending(actor, store_id, member.id, reference, now, settings)
    return await _ask(
        redis, replace(asked, points=points, cause_id=cause_id, cause_name=cause_name)
    )


def _pending(
    actor: Actor, store_id: int, member_id: int, reference: str, now: datetime, settings: Settings
) -> RedemptionRequest:
    """A new request of this kiosk to the member, before what it asks for is filled in."""
    return RedemptionRequest(
        id=uuid.uuid4().hex,
        member_id=member_id,
        device_id=actor.id,
        store_id=store_id,
        reward_id=None,
        reward_name="",
        points=0,
        reference=reference,
        status=RequestStatus.PENDING,
        version=1,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.redemption_request_timeout_seconds),
    )


async def _ask(redis: Redis, request: RedemptionRequest) -> tuple[RedemptionRequest, bool]:
    """Store a new request and tell the member's app and the kiosk; or, for a reference the
    kiosk used before, return that first request (replayed).

    Raises Conflict(IDEMPOTENCY_KEY_REUSED) when the reference was used for another ask."""
    keep_until = request.expires_at + RETENTION
    reference_key = redis_keys.request_reference(request.device_id, request.reference)
    claimed = await redis.set(reference_key, request.id, nx=True, exat=keep_until)
    if not claimed:
        first_id = await redis.get(reference_key)
        first = await get_request(redis, str(first_id)) if first_id else None
        if first is None:
            raise Conflict("This reference was used already", field="reference")
        if _what_is_asked(first) != _what_is_asked(request):
            raise Conflict(
                "This reference was used for another request",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                field="reference",
            )
        return first, True
    member_key = redis_keys.member_requests(request.member_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(redis_keys.request(request.id), mapping=request.encode())
        pipe.expireat(redis_keys.request(request.id), keep_until)
        pipe.zadd(member_key, {request.id: request.expires_at.timestamp()})
        pipe.zremrangebyscore(member_key, "-inf", (request.created_at - RETENTION).timestamp())
        pipe.expireat(member_key, keep_until)
        await pipe.execute()
    await realtime.publish(redis, request.notices())
    return request, False


async def pending_requests(
    redis: Redis, member_id: int, *, now: datetime | None = None
) -> list[RedemptionRequest]:
    """The member's requests still waiting for an answer, oldest first."""
    now = now or datetime.now(UTC)
    ids: Any = await redis.zrangebyscore(
        redis_keys.member_requests(member_id), now.timestamp(), "+inf"
    )
    found = [await get_request(redis, request_id) for request_id in ids]
    return [r for r in found if r is not None and r.status is RequestStatus.PENDING]


async def _change(
    redis: Redis,
    request_id: str,
    decide: Callable[[RedemptionRequest], RedemptionRequest | None],
) -> tuple[RedemptionRequest, bool]:
    """Apply `decide` to the request as it is, atomically; return (request, changed).
    `decide` returns the new request, or None to leave it. Raises NotFound."""
    key = redis_keys.request(request_id)
    async with redis.pipeline(transaction=True) as pipe:
        for _ in range(_ATTEMPTS):
            try:
                await pipe.watch(key)
                raw: Any = await pipe.hgetall(key)
                if not raw:
                    raise NotFound(
                        "No such request", code=ErrorCode.REQUEST_NOT_FOUND, field="requestId"
                    )
                current = RedemptionRequest.decode(raw)
                changed = decide(current)
                if changed is None:
                    await pipe.unwatch()
                    return current, False
                changed = replace(changed, version=current.version + 1)
                pipe.multi()
                pipe.hset(key, mapping=changed.encode())
                await pipe.execute()
                await realtime.publish(redis, changed.notices())
                return changed, True
            except WatchError:
                continue
    raise WatchError(f"redemption request {request_id} kept changing")


async def expire_if_due(
    redis: Redis, request_id: str, *, now: datetime | None = None
) -> RedemptionRequest:
    """Mark a pending request past its deadline EXPIRED (once); return it as it now is."""
    now = now or datetime.now(UTC)

    def expire(current: RedemptionRequest) -> RedemptionRequest | None:
        if current.status is RequestStatus.PENDING and now >= current.expires_at:
            return replace(current, status=RequestStatus.EXPIRED)
        return None

    request, _ = await _change(redis, request_id, expire)
    return request


async def respond(
    *,
    redis: Redis,
    actor: Actor,
    request_id: str,
    approve: bool,
    now: datetime | None = None,
) -> RedemptionRequest:
    """The member answers their request. Approving redeems through the one redemption core,
    exactly once however often it is repeated; answering again the same way returns the
    outcome.

    Raises NotFound(REQUEST_NOT_FOUND) for a request that is not the caller's,
    Refused(REQUEST_EXPIRED) after the deadline, Refused(REQUEST_ANSWERED) once answered
    otherwise.
    """
    found = await get_request(redis, request_id)
    if found is None or actor.kind is ActorKind.DEVICE or found.member_id != actor.id:
        raise NotFound("No such request", code=ErrorCode.REQUEST_NOT_FOUND, field="requestId")
    now = now or datetime.now(UTC)

    def answer(current: RedemptionRequest) -> RedemptionRequest | None:
        if current.status is RequestStatus.PENDING:
            if now >= current.expires_at:
                return replace(current, status=RequestStatus.EXPIRED)
            status = RequestStatus.APPROVING if approve else RequestStatus.DECLINED
            return replace(current, status=status)
        return None

    request, _ = await _change(redis, request_id, answer)
    approving = {RequestStatus.APPROVING, RequestStatus.APPROVED, RequestStatus.FAILED}
    if approve and request.status in approving:
        if request.status is RequestStatus.APPROVING:
            return await _redeem(redis, actor, request)
        return request
    if not approve and request.status is RequestStatus.DECLINED:
        return request
    if request.status is RequestStatus.EXPIRED:
        raise Refused("This request has expired", code=ErrorCode.REQUEST_EXPIRED, field="requestId")
    raise Refused(
        f"This request was answered already ({request.status.value.lower()})",
        code=ErrorCode.REQUEST_ANSWERED,
        field="requestId",
    )


async def _redeem(redis: Redis, actor: Actor, request: RedemptionRequest) -> RedemptionRequest:
    """Make what the approved request asks for, exactly once (its key is the request's id),
    and record the outcome on the request."""
    outcome: dict[str, Any]
    approval = consent.by_app_approval(actor, request.member_id)
    try:
        if request.cause_id is not None:
            donated = await causes_donations.donate_points(
                actor=actor,
                member_consent=approval,
                cause_id=request.cause_id,
                points=request.points,
                channel=Channel.KIOSK,
                idempotency_key=f"donation-request:{request.id}",
            )
            made = {"donation_id": donated.donation.id}
        else:
            redemption, _ = await redemptions.redeem(
                actor=actor,
                request=redemptions.RedemptionRequest(
                    consent=approval,
                    channel=Channel.KIOSK,
                    reward_id=request.reward_id,
                    points=None if request.reward_id is not None else request.points,
                    store_id=request.store_id,
                    device_id=request.device_id,
                ),
                idempotency_key=f"redemption-request:{request.id}",
                operation="respondToRedemptionRequest",
            )
            made = {"redemption_id": redemption.id}
    except LoyaltyError as error:
        outcome = {
            "status": RequestStatus.FAILED,
            "error_code": str(error.code),
            "error_message": error.message,
        }
    else:
        outcome = {"status": RequestStatus.APPROVED, **made}

    def record(current: RedemptionRequest) -> RedemptionRequest | None:
        if current.status is not RequestStatus.APPROVING:
            return None  # recorded by an earlier attempt
        return replace(current, **outcome)

    done, _ = await _change(redis, request.id, record)
    return done


async def forget_member(redis: Redis, member_id: int) -> int:
    """At a member's erasure (after it committed): decline their pending requests (the kiosk
    hears it), then delete every request of theirs and its reference key from Redis, since a
    kiosk's reference is free text. Returns the requests declined."""

    def decline(current: RedemptionRequest) -> RedemptionRequest | None:
        if current.status is RequestStatus.PENDING:
            return replace(current, status=RequestStatus.DECLINED)
        return None

    member_key = redis_keys.member_requests(member_id)
    ids: Any = await redis.zrange(member_key, 0, -1)
    declined = 0
    for request_id in ids:
        found = await get_request(redis, str(request_id))
        if found is None:
            continue
        try:
            _, changed = await _change(redis, found.id, decline)
        except NotFound:
            continue
        declined += changed
        await redis.delete(
            redis_keys.request(found.id),
            redis_keys.request_reference(found.device_id, found.reference),
        )
    await redis.delete(member_key)
    return declined
