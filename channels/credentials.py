"""Bearer credentials: member access tokens, device credentials, external identity tokens.

Every token is a JWT. Ours are signed with the HS secret; an external identity provider's are
checked with its public key. The algorithm comes from the configured allow-list, never from the
token alone, and `exp`, `iat`, `sub`, `iss` and `aud` are required.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt

from gamification.actors import Actor, ActorKind
from gamification.errors import LoyaltyError
from gamification.members import profiles as members
from gamification.members.models import Member, Role
from gamification.privacy.revocations import erased_members
from gamification.stores import registry as stores
from gamification.stores.models import Device
from server.settings import Settings

ACCESS: Final = "access"
DEVICE: Final = "device"
_REQUIRED_CLAIMS: Final = ["exp", "iat", "sub", "iss", "aud"]


class InvalidCredential(Exception):
    """The bearer credential cannot be trusted. The reason is for logs, never for the client."""


def issue_member_token(
    member: Member, settings: Settings, *, issued_at: datetime | None = None
) -> str:
    now = issued_at or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(member.id),
        "typ": ACCESS,
        "role": member.role.value,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_seconds),
    }
    if member.store_id is not None:  # type: ignore[attr-defined]
        claims["store"] = member.store_id  # type: ignore[attr-defined]
    return _sign(claims, settings)


def issue_device_token(device: Device, settings: Settings) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(device.id),
        "typ": DEVICE,
        "jti": str(device.credential_id),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(days=settings.device_token_ttl_days),
    }
    return _sign(claims, settings)


def _sign(claims: dict[str, Any], settings: Settings) -> str:
    algorithm = next((alg for alg in settings.jwt_algorithms if alg.startswith("HS")), None)
    if algorithm is None:
        raise RuntimeError("No HS* algorithm in LOYALTY_JWT_ALGORITHMS: this service cannot sign")
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=algorithm)


class VerifiedTokens:
    """Claims of tokens verified already, until each one's `exp`: a client sends its token with
    every request, and verifying the signature and claims again costs more than the lookup.

    Keyed by the token and everything its verification depended on (the keys, issuers, audience
    and allowed algorithms), so that a token is never accepted under settings that would refuse
    it. Bounded: the least recently used go first. Expiry is checked on every hit.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._claims: OrderedDict[tuple[str, ...], tuple[float, dict[str, Any]]] = OrderedDict()

    @staticmethod
    def key(token: str, settings: Settings) -> tuple[str, ...]:
        public_key = settings.jwt_public_key
        return (
            token,
            settings.jwt_secret.get_secret_value(),
            public_key.get_secret_value() if public_key is not None else "",
            settings.jwt_issuer,
            settings.external_jwt_issuer or "",
            settings.jwt_audience,
            ",".join(settings.jwt_algorithms),
        )

    def get(self, key: tuple[str, ...], now: float) -> dict[str, Any] | None:
        found = self._claims.get(key)
        if found is None:
            return None
        expires, claims = found
        if now >= expires:
            del self._claims[key]
            return None
        self._claims.move_to_end(key)
        return dict(claims)

    def put(self, key: tuple[str, ...], claims: dict[str, Any]) -> None:
        self._claims[key] = (float(claims["exp"]), dict(claims))
        self._claims.move_to_end(key)
        while len(self._claims) > self.size:
            self._claims.popitem(last=False)

    def clear(self) -> None:
        self._claims.clear()


verified_tokens = VerifiedTokens()


def bearer_token(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None for anything else."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def decode_token(token: str, settings: Settings, *, now: float | None = None) -> dict[str, Any]:
    """The verified claims of `token` (remembered until it expires: `VerifiedTokens`).

    Raises InvalidCredential for anything but a well-signed, current token for this audience.
    """
    key = VerifiedTokens.key(token, settings)
    remembered = verified_tokens.get(key, time.time() if now is None else now)
    if remembered is not None:
        return remembered
    claims = _verify(token, settings)
    verified_tokens.put(key, claims)
    return claims


def _verify(token: str, settings: Settings) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise InvalidCredential(f"malformed token: {exc}") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in settings.jwt_algorithms:
        raise InvalidCredential(f"algorithm {algorithm!r} is not allowed")
    key: Any
    if algorithm.startswith("HS"):
        key, issuer = settings.jwt_secret.get_secret_value(), settings.jwt_issuer
    else:
        if settings.jwt_public_key is None or settings.external_jwt_issuer is None:
            raise InvalidCredential("no external identity provider is configured")
        key, issuer = settings.jwt_public_key.get_secret_value(), settings.external_jwt_issuer
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=issuer,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidCredential(f"rejected token: {exc}") from None
    claims["_external"] = not algorithm.startswith("HS")
    return claims


def _string_claim(claims: dict[str, Any], name: str) -> str | None:
    """A text claim; None when absent or of another JSON type."""
    value = claims.get(name)
    return value if isinstance(value, str) else None


async def authenticate_bearer(token: str, settings: Settings) -> Actor:
    """The caller a bearer token stands for.

    Raises InvalidCredential for a bad token, a revoked device, an erased member or an unknown
    identity.
    """
    claims = decode_token(token, settings)
    if claims["_external"]:
        try:
            member = await members.find_or_create_external_member(
                subject=str(claims["sub"]),
                email=_string_claim(claims, "email"),
                display_name=_string_claim(claims, "name"),
            )
        except LoyaltyError as exc:
            raise InvalidCredential(f"external identity refused: {exc.message}") from None
        return Actor.for_role(member.role, member.id, member.store_id)  # type: ignore[attr-defined]
    try:
        subject_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise InvalidCredential("subject is not an id") from None
    kind = claims.get("typ")
    if kind == ACCESS:
        try:
            role = Role(_string_claim(claims, "role") or "")
        except ValueError:
            raise InvalidCredential("unknown role") from None
        if await erased_members.is_erased(subject_id):
            raise InvalidCredential("member erased")
        store = claims.get("store")
        return Actor.for_role(role, subject_id, store if isinstance(store, int) else None)
    if kind == DEVICE:
        try:
            credential_id = uuid.UUID(str(claims.get("jti")))
        except ValueError:
            raise InvalidCredential("device credential without id") from None
        device = await stores.active_device(subject_id, credential_id)
        if device is None:
            raise InvalidCredential("device unknown or revoked")
        return Actor(
            kind=ActorKind.DEVICE,
            id=device.id,
            store_id=device.store_id,
            channel=device.channel,
        )
    raise InvalidCredential("unknown token type")
