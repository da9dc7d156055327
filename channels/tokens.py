"""Redemption tokens: what the member's app shows as a QR code for a kiosk or a till.

A token is a short-lived JWT (HS256, the service's secret) naming one `RedemptionToken` row
(`jti`), its member (`sub`) and either a reward or an amount of points. Its audience is the
API's audience with a `:redeem` suffix and its `typ` is `redeem`, so an access token is never
accepted as a redemption token, nor a redemption token as a bearer credential.

A token works once: the device that presents it marks the row used with a conditional UPDATE
(`used_at IS NULL`) in the same transaction as the redemption or the hold it pays for. Of ten
kiosks scanning one code at once, one commits; the others find the row used (TOKEN_USED). If
the redemption itself fails (too few points, out of stock), the mark rolls back with it and the
token stays usable until it expires.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
import segno
from tortoise.backends.base.client import BaseDBAsyncClient

from channels.policies import store_action_origin
from gamification import holds, ledger, redemptions
from gamification.actors import Actor
from gamification.errors import ErrorCode, InvalidInput, NotFound, Refused
from gamification.idempotency import run_once
from gamification.models import Channel, PointsHold, Redemption, RedemptionToken, Reward
from server.settings import Settings

REDEEM: Final = "redeem"
# Our own tokens, checked by us alone: the algorithm is fixed here, never read from a token.
ALGORITHM: Final = "HS256"
_REQUIRED_CLAIMS: Final = ["exp", "iat", "sub", "iss", "aud", "jti", "typ"]
_MAX_TOKEN_LENGTH: Final = 2048


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    qr_code: str  # the token as an SVG QR code in a data: URL
    expires_at: datetime
    token_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class RedemptionClaims:
    """What a well-signed redemption token says (its expiry is checked when it is used)."""

    token_id: uuid.UUID
    member_id: int
    reward_id: int | None
    points: int | None
    expires_at: datetime


def redemption_audience(settings: Settings) -> str:
    return f"{settings.jwt_audience}:{REDEEM}"


def qr_data_url(text: str) -> str:
    """`text` as a QR code (medium error correction), an SVG image in a `data:` URL."""
    return str(segno.make_qr(text, error="m").svg_data_uri(scale=4))


def _token_invalid(message: str = "This code is not valid") -> Refused:
    return Refused(message, code=ErrorCode.TOKEN_INVALID, field="token")


async def create_redemption_token(
    *,
    actor: Actor,
    reward_id: int | None,
    points: int | None,
    settings: Settings,
    now: datetime | None = None,
) -> IssuedToken:
    """A one-time token for the signed-in person to show at a kiosk or till: for a reward, or
    for an amount of points.

    Raises Refused for devices, InvalidInput (unless exactly one of reward and points is given;
    INVALID_AMOUNT for points out of range), NotFound(REWARD_NOT_FOUND), Refused(REWARD_INACTIVE,
    REWARD_NOT_AVAILABLE, WRONG_CHANNEL) for a reward kiosks do not offer now.
    """
    if not actor.is_person:
        raise Refused("Only members show redemption codes")
    if (reward_id is None) == (points is None):
        raise InvalidInput("Give either a reward or an amount of points", field="rewardId")
    now = now or datetime.now(UTC)
    if reward_id is not None:
        reward = await Reward.get_or_none(id=reward_id) if 0 < reward_id < 2**31 else None
        if reward is None:
            raise NotFound("No such reward", code=ErrorCode.REWARD_NOT_FOUND, field="rewardId")
        redemptions.check_reward_offered(reward, Channel.KIOSK, now)
    elif points is not None and not 0 < points <= ledger.MAX_POINTS_PER_ENTRY:
        raise InvalidInput(
            f"points must be between 1 and {ledger.MAX_POINTS_PER_ENTRY}",
            code=ErrorCode.INVALID_AMOUNT,
            field="points",
        )
    # Whole seconds, so that the row and the token's `exp` say the same instant.
    expires_at = now.replace(microsecond=0) + timedelta(
        seconds=settings.redemption_token_ttl_seconds
    )
    row = await RedemptionToken.create(
        id=uuid.uuid4(),
        member_id=actor.id,
        reward_id=reward_id,
        points=points,
        expires_at=expires_at,
    )
    claims: dict[str, Any] = {
        "typ": REDEEM,
        "jti": str(row.id),
        "sub": str(actor.id),
        "iss": settings.jwt_issuer,
        "aud": redemption_audience(settings),
        "iat": now,
        "exp": expires_at,
    }
    if reward_id is not None:
        claims["reward"] = reward_id
    else:
        claims["points"] = points
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
    return IssuedToken(
        token=token, qr_code=qr_data_url(token), expires_at=expires_at, token_id=row.id
    )


def _int_claim(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _token_invalid()
    return value


def read_redemption_token(token: str, settings: Settings) -> RedemptionClaims:
    """The claims of a redemption token signed by this service, whatever its expiry.

    The expiry is left to the transaction that uses the token (`check_current`), so that a
    device retrying with its idempotency key gets the first answer even after the token has
    expired. Raises Refused(TOKEN_INVALID) for anything else: a forged, altered or truncated
    token, an access token, a token for another audience.
    """
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_LENGTH:
        raise _token_invalid()
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=redemption_audience(settings),
            issuer=settings.jwt_issuer,
            options={"require": _REQUIRED_CLAIMS, "verify_exp": False},
        )
    except jwt.InvalidTokenError:
        raise _token_invalid() from None
    if claims.get("typ") != REDEEM:
        raise _token_invalid()
    try:
        token_id = uuid.UUID(str(claims["jti"]))
        member_id = int(str(claims["sub"]))
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (TypeError, ValueError, OverflowError):
        raise _token_invalid() from None
    reward_id, points = _int_claim(claims, "reward"), _int_claim(claims, "points")
    if (reward_id is None) == (points is None):
        raise _token_invalid()
    return RedemptionClaims(token_id, member_id, reward_id, points, expires_at)


def check_current(claims: RedemptionClaims, now: datetime) -> None:
    """Raises Refused(TOKEN_EXPIRED) once the token's expiry has passed."""
    if now >= claims.expires_at:
        raise Refused(
            "This code has expired: ask for a new one", code=ErrorCode.TOKEN_EXPIRED, field="token"
        )


async def consume_token(conn: BaseDBAsyncClient, claims: RedemptionClaims, now: datetime) -> None:
    """Mark the token used, inside the caller's transaction; the caller's effect must follow in
    the same transaction.

    One conditional UPDATE: of concurrent presenters, one changes the row and the others (who
    wait on its row lock on PostgreSQL, or on the database lock on SQLite) change nothing.
    Raises Refused(TOKEN_EXPIRED, TOKEN_USED, TOKEN_INVALID when no row matches the claims).
    """
    check_current(claims, now)
    # The token row is written by its one consumer only, so taking its lock before the
    # member's account cannot deadlock, and the losers of a race leave before queueing there.
    named = (
        {"reward_id": claims.reward_id, "points__isnull": True}
        if claims.reward_id is not None
        else {"points": claims.points, "reward_id__isnull": True}
    )
    marked = (
        await RedemptionToken.filter(
            id=claims.token_id,
            member_id=claims.member_id,
            used_at__isnull=True,
            expires_at__gt=now,
            **named,
        )
        .using_db(conn)
        .update(used_at=now)
    )
    if marked:
        return
    row = await RedemptionToken.filter(id=claims.token_id).using_db(conn).first()
    if row is None or row.member_id != claims.member_id:  # type: ignore[attr-defined]
        raise _token_invalid()
    if row.used_at is not None:
        raise Refused("This code was already used", code=ErrorCode.TOKEN_USED, field="token")
    if row.expires_at <= now:
        raise Refused(
            "This code has expired: ask for a new one", code=ErrorCode.TOKEN_EXPIRED, field="token"
        )
    raise _token_invalid()


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

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        now = datetime.now(UTC)
        await consume_token(conn, claims, now)
        redemption = await redemptions.redeem_in(
            conn,
            actor,
            redemptions.RedemptionRequest(
                member_id=claims.member_id,
                channel=Channel.KIOSK,
                reward_id=claims.reward_id,
                points=claims.points,
                store_id=store_id,
                device_id=actor.id,
            ),
            now,
        )
        return {"redemption_id": redemption.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="redeemWithToken",
        request={"token": str(claims.token_id)},
        work=work,
    )
    return await Redemption.get(id=answer["redemption_id"]), replayed


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

    Raises Refused(CHANNEL_MISMATCH, TOKEN_INVALID (a reward's token included), TOKEN_EXPIRED,
    TOKEN_USED, HOLD_EXCEEDS_TOKEN), InvalidInput, InsufficientPoints,
    Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    holds.device_origin(actor)
    claims = read_redemption_token(token, settings)
    request = holds.check_hold_request(
        holds.HoldRequest(claims.member_id, points, reference, ttl_seconds)
    )
    if claims.points is None:
        raise _token_invalid("This code is for a reward: scan it at a kiosk")
    if points > claims.points:
        raise Refused(
            f"The member's code authorises at most {claims.points} points",
            code=ErrorCode.HOLD_EXCEEDS_TOKEN,
            field="points",
        )

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        now = datetime.now(UTC)
        await consume_token(conn, claims, now)
        hold = await holds.place_hold_in(conn, actor, request, now)
        return {"hold_id": hold.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="holdPoints",
        request={
            "token": str(claims.token_id),
            "points": request.points,
            "reference": request.reference,
            "ttl": request.ttl_seconds,
        },
        work=work,
    )
    return await PointsHold.get(id=answer["hold_id"]), replayed
