"""Redemption tokens: what the member's app shows as a QR code for a kiosk or a till.

A token is four dot-separated fields, about 54 characters:

    1.<id>.<expiry>.<signature>

- `1`, the format's version;
- `<id>`, the `RedemptionToken` row's 16-byte id in base64url (22 characters, no padding);
- `<expiry>`, the row's `expires_at` in whole Unix seconds, in base36 (lower case);
- `<signature>`, the first 128 bits of HMAC-SHA256, in base64url, over the program's identity
  (`LOYALTY_JWT_ISSUER` and the API audience with a `:redeem` suffix) and the first three
  fields, with a key derived from `LOYALTY_JWT_SECRET` and a label of its own. Access and
  device tokens are JWTs signed with the secret itself, so neither kind can ever pass for the
  other, and a token of another program (another secret, issuer or audience) never verifies.

Nothing else is in the token: the member, and what it is for, are read from the row when the
token is used. A token has one purpose, named when the member makes it: a reward (a kiosk
redeems it), an amount of points (a kiosk redeems it, or a till holds up to it), or a cause and
an amount of points (a kiosk donates them). Presented for another purpose it is refused
(TOKEN_WRONG_PURPOSE) and stays usable. Using it up is the member's consent
(`gamification.ledger.consent.by_one_time_code`) for the debit in the same transaction.

The signature and the expiry are checked before any database access; then the device that
presents the token marks the row used with one conditional `UPDATE … RETURNING` (`used_at IS
NULL AND expires_at > now`) in the same transaction as the redemption or the hold it pays for,
and that statement returns what the row names. Of ten kiosks scanning one code at once, one
commits; the others find the row used (TOKEN_USED). If the redemption itself fails (too few
points, out of stock), the mark rolls back with it and the token stays usable until it expires.

The QR image (`qr_data_url`) is made only when a client asks for it: a short token is a
version-4 QR code (33×33 modules) instead of the version 12–13 a JWT needed, and costs a few
milliseconds of CPU (~3 ms measured) instead of ~14 ms.

Long because the token's format, its issuing and checking, and the three uses it pays for (a
redemption, a hold, a donation) follow the one spec above and share the one conditional
`UPDATE` that uses a token up.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import segno
from tortoise.backends.base.client import BaseDBAsyncClient

from channels.policies import store_action_origin
from gamification import idempotency, sql
from gamification.actors import Actor
from gamification.causes import donations as causes_donations
from gamification.causes.models import Cause, Donation
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from gamification.ledger import consent
from gamification.ledger.entries import MAX_POINTS_PER_ENTRY
from gamification.ledger.models import IdempotencyKey
from gamification.rewards import holds, redemptions
from gamification.rewards.models import PointsHold, Redemption, RedemptionToken, Reward
from gamification.stores.models import Channel
from server.settings import Settings

REDEEM: Final = "redeem"
VERSION: Final = "1"
# The key is derived from the service's secret for this use only: a MAC made with it is no
# JWT signature, and no JWT signature is one of these.
_KEY_LABEL: Final = b"loyalty-platform/redemption-token/v1"
_SIGNATURE_BYTES: Final = 16  # 128 bits
_TOKEN: Final = re.compile(r"(1\.[A-Za-z0-9_-]{22}\.[0-9a-z]{1,7})\.([A-Za-z0-9_-]{22})")
# A scanner may add a line break; anything longer than a token is not one.
_MAX_TOKEN_LENGTH: Final = 128
_BASE36: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime
    token_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class RedemptionClaims:
    """What a well-signed redemption token says: which row, and until when. Its expiry is
    checked when it is used."""

    token_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class UsedToken:
    """What the row of a token just used names: its member, and a reward or an amount."""

    member_id: int
    reward_id: int | None
    points: int | None
    cause_id: int | None = None


def redemption_audience(settings: Settings) -> str:
    return f"{settings.jwt_audience}:{REDEEM}"


def qr_data_url(text: str) -> str:
    """`text` as a QR code (medium error correction), an SVG image in a `data:` URL."""
    return str(segno.make_qr(text, error="m").svg_data_uri(scale=4))


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _token_invalid(message: str = "This code is not valid") -> Refused:
    return Refused(message, code=ErrorCode.TOKEN_INVALID, field="token")


def _token_expired() -> Refused:
    return Refused(
        "This code has expired: ask for a new one", code=ErrorCode.TOKEN_EXPIRED, field="token"
    )


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
        if not number:
            return digits


def _signature(body: str, settings: Settings) -> str:
    secret = settings.jwt_secret.get_secret_value().encode()
    key = hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()
    signed = "\n".join((settings.jwt_issuer, redemption_audience(settings), body))
    mac = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    return _b64(mac[:_SIGNATURE_BYTES])


def sign_redemption_token(token_id: uuid.UUID, expires_at: datetime, settings: Settings) -> str:
    """The token for the row `token_id`, which expires at `expires_at` (whole seconds)."""
    body = f"{VERSION}.{_b64(token_id.bytes)}.{_base36(int(expires_at.timestamp()))}"
    return f"{body}.{_signature(body, settings)}"


async def create_redemption_token(
    *,
    actor: Actor,
    reward_id: int | None,
    points: int | None,
    settings: Settings,
    cause_id: int | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """A one-time token for the signed-in person to show at a kiosk or till: for a reward, for
    an amount of points, or for donating an amount of points to a cause. Its QR image is
    `qr_data_url(token)`, made only when asked for.

    Raises Refused for devices, InvalidInput (unless exactly one of reward and points is given,
    and points with a cause; INVALID_AMOUNT for points out of range), NotFound(REWARD_NOT_FOUND,
    CAUSE_NOT_FOUND), Refused(REWARD_INACTIVE, REWARD_NOT_AVAILABLE, WRONG_CHANNEL) for a reward
    kiosks do not offer now, Refused(CAUSE_CLOSED, CAUSE_NOT_OPEN) and InvalidInput
    (BELOW_MINIMUM_DONATION, INVALID_INCREMENT) for a donation the cause would refuse.
    """
    if not actor.is_person:
        raise Refused("Only members show redemption codes")
    if (reward_id is None) == (points is None):
        raise InvalidInput("Give either a reward or an amount of points", field="rewardId")
    if cause_id is not None and points is None:
        raise InvalidInput("Name the points to donate to the cause", field="points")
    now = now or _utcnow()
    if cause_id is not None:
        assert points is not None
        cause = await Cause.get_or_none(id=cause_id) if 0 < cause_id < 2**31 else None
        if cause is None:
            raise NotFound("No such cause", code=ErrorCode.CAUSE_NOT_FOUND, field="causeId")
        causes_donations.check_points_range(points)
        causes_donations.check_donation_amount(cause, points)
        causes_donations.check_cause_open(cause, now)
    elif reward_id is not None:
        reward = await Reward.get_or_none(id=reward_id) if 0 < reward_id < 2**31 else None
        if reward is None:
            raise NotFound("No such reward", code=ErrorCode.REWARD_NOT_FOUND, field="rewardId")
        redemptions.check_reward_offered(reward, Channel.KIOSK, now)
    elif points is not None and not 0 < points <= MAX_POINTS_PER_ENTRY:
        raise InvalidInput(
            f"points must be between 1 and {MAX_POINTS_PER_ENTRY}",
            code=ErrorCode.INVALID_AMOUNT,
            field="points",
        )
    # Whole seconds, so that the row and the token's expiry say the same instant.
    expires_at = now.replace(microsecond=0) + timedelta(
        seconds=settings.redemption_token_ttl_seconds
    )
    row = await RedemptionToken.create(
        id=uuid.uuid4(),
        member_id=actor.id,
        reward_id=reward_id,
        points=points,
        cause_id=cause_id,
        expires_at=expires_at,
    )
    return IssuedToken(
        token=sign_redemption_token(row.id, expires_at, settings),
        expires_at=expires_at,
        token_id=row.id,
    )


def read_redemption_token(token: str, settings: Settings) -> RedemptionClaims:
    """Which row a redemption token signed by this program names, and its expiry (not checked
    here: see `check_current`). No database access.

    Raises Refused(TOKEN_INVALID) for anything else: a forged, altered or truncated token, a
    token of another program, an access token or any other JWT.
    """
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_LENGTH:
        raise _token_invalid()
    matched = _TOKEN.fullmatch(token.strip())
    if matched is None:
        raise _token_invalid()
    body, signature = matched.groups()
    if not hmac.compare_digest(signature, _signature(body, settings)):
        raise _token_invalid()
    _, encoded_id, expiry = body.split(".")
    token_id = uuid.UUID(bytes=base64.urlsafe_b64decode(encoded_id + "=="))
    return RedemptionClaims(token_id, datetime.fromtimestamp(int(expiry, 36), UTC))


def check_current(claims: RedemptionClaims, now: datetime) -> None:
    """Raises Refused(TOKEN_EXPIRED) once the token's expiry has passed."""
    if now >= claims.expires_at:
        raise _token_expired()


_USE: Final = (
    'UPDATE "redemption_token" SET "used_at" = $1 '
    'WHERE "id" = $2 AND "used_at" IS NULL AND "expires_at" > $1'
)
_RETURNING: Final = ' RETURNING "member_id", "reward_id", "points", "cause_id"'
_USE_FOR_REDEMPTION: Final = f'{_USE} AND "cause_id" IS NULL{_RETURNING}'
_USE_FOR_HOLD: Final = (
    f'{_USE} AND "reward_id" IS NULL AND "cause_id" IS NULL AND "points" >= $3{_RETURNING}'
)
_USE_FOR_DONATION: Final = f'{_USE} AND "cause_id" IS NOT NULL{_RETURNING}'


class Purpose(enum.Enum):
    REDEEM = "redeem"
    HOLD = "hold"
    DONATE = "donate"


async def consume_token(
    conn: BaseDBAsyncClient,
    claims: RedemptionClaims,
    now: datetime,
    *,
    purpose: Purpose = Purpose.REDEEM,
    hold_points: int | None = None,
) -> UsedToken:
    """Mark the token used, inside the caller's transaction, and return what its row names; the
    caller's effect must follow in the same transaction. The token must have been made for
    `purpose`; for HOLD, for an amount of points of at least `hold_points`.

    One conditional UPDATE … RETURNING: of concurrent presenters, one changes the row and the
    others (who wait on its row lock on PostgreSQL, or on the database lock on SQLite) change
    nothing. Raises Refused(TOKEN_EXPIRED, TOKEN_USED, TOKEN_INVALID when no row matches,
    TOKEN_WRONG_PURPOSE for a token made for something else; HOLD_EXCEEDS_TOKEN for more points
    than it authorises).
    """
    check_current(claims, now)
    # The token row is written by its one consumer only, so taking its lock before the
    # member's account cannot deadlock, and the losers of a race leave before queueing there.
    token_id: Any = claims.token_id if sql.is_postgres(conn) else str(claims.token_id)
    if purpose is Purpose.HOLD:
        rows = await sql.fetch(conn, _USE_FOR_HOLD, now, token_id, hold_points or 0)
    elif purpose is Purpose.DONATE:
        rows = await sql.fetch(conn, _USE_FOR_DONATION, now, token_id)
    else:
        rows = await sql.fetch(conn, _USE_FOR_REDEMPTION, now, token_id)
    if rows:
        (row,) = rows
        return UsedToken(
            member_id=int(row["member_id"]),
            reward_id=None if row["reward_id"] is None else int(row["reward_id"]),
            points=None if row["points"] is None else int(row["points"]),
            cause_id=None if row["cause_id"] is None else int(row["cause_id"]),
        )
    await _why_unusable(conn, claims, now, purpose, hold_points)
    raise _token_invalid()  # the row matched nothing above: cannot happen


def _wrong_purpose(message: str) -> Refused:
    return Refused(message, code=ErrorCode.TOKEN_WRONG_PURPOSE, field="token")


async def _why_unusable(
    conn: BaseDBAsyncClient,
    claims: RedemptionClaims,
    now: datetime,
    purpose: Purpose,
    hold_points: int | None,
) -> None:
    """Raises the reason the token's row could not be used."""
    row = await RedemptionToken.filter(id=claims.token_id).using_db(conn).first()
    if row is None:
        raise _token_invalid()
    if row.used_at is not None:
        raise Refused("This code was already used", code=ErrorCode.TOKEN_USED, field="token")
    if row.expires_at <= now:
        raise _token_expired()
    if row.cause_id is not None and purpose is not Purpose.DONATE:
        raise _wrong_purpose("This code is for a donation: donate it at a kiosk")
    if row.cause_id is None and purpose is Purpose.DONATE:
        raise _wrong_purpose("This code is not for a donation")
    if purpose is Purpose.HOLD and hold_points is not None:
        if row.points is None:
            raise _wrong_purpose("This code is for a reward: scan it at a kiosk")
        if hold_points > row.points:
            raise Refused(
                f"The member's code authorises at most {row.points} points",
                code=ErrorCode.HOLD_EXCEEDS_TOKEN,
                field="points",
            )


async def _run_with_token(
    *,
    actor: Actor,
    claims: RedemptionClaims,
    key: str,
    operation: str,
    request: dict[str, Any],
    work: Callable[[BaseDBAsyncClient], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """`idempotency.run_once`, after the token's expiry: an expired token opens no transaction.

    A device that retries with its key after the token expired still gets the first answer
    (as `run_once` gives it after a failure). Raises TOKEN_EXPIRED,
    Conflict(IDEMPOTENCY_KEY_REUSED), InvalidInput(INVALID_IDEMPOTENCY_KEY) and what `work`
    raises.
    """
    idempotency.check_key(key)
    try:
        check_current(claims, _utcnow())
    except Refused:
        stored = await IdempotencyKey.get_or_none(scope=idempotency.scope_of(actor), key=key)
        if stored is None:
            raise
        if stored.request_hash != idempotency.request_hash(operation, request):
            raise Conflict(
                "This idempotency key was used for a different request",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                field="idempotencyKey",
            ) from None
        return dict(stored.response or {}), True
    return await idempotency.run_once(
        actor=actor, key=key, operation=operation, request=request, work=work
    )


W = TypeVar("W")

# What a token pays for, in the transaction that uses it up: what it wrote, and the answer
# stored with the idempotency key.
Effect = Callable[[BaseDBAsyncClient, UsedToken, datetime], Awaitable[tuple[W, dict[str, Any]]]]


async def _use_token(
    *,
    actor: Actor,
    claims: RedemptionClaims,
    key: str,
    operation: str,
    effect: Effect[W],
    purpose: Purpose = Purpose.REDEEM,
    hold_points: int | None = None,
    request: dict[str, Any] | None = None,
) -> tuple[W | None, dict[str, Any], bool]:
    """Use the token up for `purpose` and run `effect`, in one transaction, once per
    idempotency key (see `_run_with_token`). Return what `effect` wrote (None when the answer
    is a replay: read it back from the answer), the stored answer, and whether it is a replay.

    Raises what `consume_token`, `_run_with_token` and `effect` raise."""
    written: list[W] = []

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        now = _utcnow()
        used = await consume_token(conn, claims, now, purpose=purpose, hold_points=hold_points)
        made, answer = await effect(conn, used, now)
        written.append(made)
        return answer

    answer, replayed = await _run_with_token(
        actor=actor,
        claims=claims,
        key=key,
        operation=operation,
        request={"token": str(claims.token_id), **(request or {})},
        work=work,
    )
    return (None if replayed else written[-1]), answer, replayed


def _kiosk_origin(actor: Actor) -> int:
    """The store of a kiosk. Raises Refused(CHANNEL_MISMATCH / STORE_MISMATCH) otherwise."""
    channel = actor.channel if actor.is_device else None
    if channel is not Channel.KIOSK:
        raise Refused(
            "Redemption codes are scanned at kiosks (tills hold points instead)",
            code=ErrorCode.CHANNEL_MISMATCH,
            field="channel",
        )
    return store_action_origin(actor, channel=channel, store_id=None)[1]


async def redeem_with_token(
    *, actor: Actor, token: str, idempotency_key: str, settings: Settings
) -> tuple[Redemption, bool]:
    """A kiosk redeems what the member's token names (that reward, or that amount of points),
    through the one redemption core; return (redemption, replayed).

    Raises Refused(CHANNEL_MISMATCH for anything but a kiosk, TOKEN_INVALID, TOKEN_EXPIRED,
    TOKEN_USED), what `redemptions.redeem_in` raises, and Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    store_id = _kiosk_origin(actor)
    claims = read_redemption_token(token, settings)

    async def redeem(
        conn: BaseDBAsyncClient, used: UsedToken, now: datetime
    ) -> tuple[Redemption, dict[str, Any]]:
        redemption = await redemptions.redeem_in(
            conn,
            actor,
            redemptions.RedemptionRequest(
                consent=consent.by_one_time_code(used.member_id),
                channel=Channel.KIOSK,
                reward_id=used.reward_id,
                points=used.points,
                store_id=store_id,
                device_id=actor.id,
            ),
            now,
        )
        return redemption, {"redemption_id": redemption.id}

    written, answer, replayed = await _use_token(
        actor=actor, claims=claims, key=idempotency_key, operation="redeemWithToken", effect=redeem
    )
    if written is not None:
        return written, replayed  # as written, its reward loaded: nothing to read back
    return await Redemption.get(id=answer["redemption_id"]), replayed


async def donate_with_token(
    *, actor: Actor, token: str, idempotency_key: str, settings: Settings
) -> causes_donations.DonationResult:
    """A kiosk donates the points the member's donation code names to its cause: the code is
    the member's consent, used up in the donation's transaction.

    Raises Refused(CHANNEL_MISMATCH for anything but a kiosk, TOKEN_INVALID, TOKEN_EXPIRED,
    TOKEN_USED, TOKEN_WRONG_PURPOSE), what `gamification.causes.donations.donate_in` raises, and
    Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    _kiosk_origin(actor)
    claims = read_redemption_token(token, settings)

    async def donate(
        conn: BaseDBAsyncClient, used: UsedToken, now: datetime
    ) -> tuple[Donation, dict[str, Any]]:
        assert used.cause_id is not None
        assert used.points is not None
        donation, balance = await causes_donations.donate_in(
            conn,
            actor=actor,
            member_consent=consent.by_one_time_code(used.member_id),
            cause_id=used.cause_id,
            points=used.points,
            channel=Channel.KIOSK,
            now=now,
        )
        return donation, {"donation_id": donation.id, "balance": balance}

    written, answer, replayed = await _use_token(
        actor=actor,
        claims=claims,
        key=idempotency_key,
        operation="donateWithToken",
        effect=donate,
        purpose=Purpose.DONATE,
    )
    return await causes_donations.donation_result(
        answer, replayed, [written] if written is not None else []
    )


async def hold_points_with_token(
    *,
    actor: Actor,
    token: str,
    points: int,
    reference: str,
    ttl_seconds: int,
    idempotency_key: str,
    settings: Settings,
) -> tuple[PointsHold, bool]:
    """A till (or kiosk) holds up to the amount of points the member's token authorises; the
    token is used up by the hold. Return (hold, replayed).

    Raises Refused(CHANNEL_MISMATCH, TOKEN_INVALID, TOKEN_WRONG_PURPOSE, TOKEN_EXPIRED,
    TOKEN_USED, HOLD_EXCEEDS_TOKEN), InvalidInput, InsufficientPoints,
    Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    holds.device_origin(actor)
    claims = read_redemption_token(token, settings)
    # The member comes from the token's row, read when the token is used.
    request = holds.check_hold_request(holds.HoldRequest(0, points, reference, ttl_seconds))

    async def hold(
        conn: BaseDBAsyncClient, used: UsedToken, now: datetime
    ) -> tuple[PointsHold, dict[str, Any]]:
        placed = await holds.place_hold_in(
            conn,
            actor,
            replace(request, member_id=used.member_id),
            now,
            consent.by_one_time_code(used.member_id),
        )
        return placed, {"hold_id": placed.id}

    written, answer, replayed = await _use_token(
        actor=actor,
        claims=claims,
        key=idempotency_key,
        operation="holdPoints",
        effect=hold,
        purpose=Purpose.HOLD,
        hold_points=request.points,
        request={
            "points": request.points,
            "reference": request.reference,
            "ttl": request.ttl_seconds,
        },
    )
    if written is not None:
        return written, replayed
    return await PointsHold.get(id=answer["hold_id"]), replayed
