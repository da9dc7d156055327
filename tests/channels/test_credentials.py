"""Bearer credentials checked directly: our own tokens and an external identity provider's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from channels import credentials
from channels.credentials import (
    InvalidCredential,
    authenticate_bearer,
    issue_device_token,
    issue_member_token,
)
from gamification.actors import Actor, ActorKind
from gamification.members.models import Member, Role
from gamification.stores.models import Channel
from server.settings import Settings
from tests.factories import create_device, create_member, create_store

EXTERNAL_ISSUER = "https://id.example.com/"


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def provider_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def external_settings(settings: Settings, provider_key: rsa.RSAPrivateKey) -> Settings:
    return settings.model_copy(
        update={
            "jwt_algorithms": ["HS256", "RS256"],
            "jwt_public_key": SecretStr(_public_pem(provider_key)),
            "external_jwt_issuer": EXTERNAL_ISSUER,
        }
    )


def _external_token(key: rsa.RSAPrivateKey, settings: Settings, **overrides: Any) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "idp|4242",
        "email": "Leo@Example.com",
        "name": "Leo Rivers",
        "iss": EXTERNAL_ISSUER,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        **overrides,
    }
    return jwt.encode(claims, _private_pem(key), algorithm="RS256")


async def test_a_member_token_stands_for_the_member(settings: Settings) -> None:
    # given
    store = await create_store()
    cashier = await create_member(role=Role.STAFF, store=store)

    # when
    actor = await authenticate_bearer(issue_member_token(cashier, settings), settings)

    # then
    assert actor == Actor(kind=ActorKind.STAFF, id=cashier.id, store_id=store.id)


async def test_a_device_credential_stands_for_the_device(settings: Settings) -> None:
    # given
    device = await create_device(channel=Channel.POS)

    # when
    actor = await authenticate_bearer(issue_device_token(device, settings), settings)

    # then
    assert actor == Actor(
        kind=ActorKind.DEVICE,
        id=device.id,
        store_id=device.store_id,  # type: ignore[attr-defined]
        channel=Channel.POS,
    )


async def test_a_revoked_device_credential_is_refused(settings: Settings) -> None:
    device = await create_device(revoked=True)

    with pytest.raises(InvalidCredential):
        await authenticate_bearer(issue_device_token(device, settings), settings)


async def test_an_external_token_creates_a_member_on_first_use(
    external_settings: Settings, provider_key: rsa.RSAPrivateKey
) -> None:
    # given
    token = _external_token(provider_key, external_settings)

    # when
    actor = await authenticate_bearer(token, external_settings)

    # then
    member = await Member.get(id=actor.id)
    assert actor.kind is ActorKind.MEMBER
    assert member.external_subject == "idp|4242"
    assert member.email == "leo@example.com"
    assert member.display_name == "Leo Rivers"
    assert member.password_hash is None


async def test_an_external_identity_seen_again_is_the_same_member(
    external_settings: Settings, provider_key: rsa.RSAPrivateKey
) -> None:
    # given
    first = await authenticate_bearer(
        _external_token(provider_key, external_settings), external_settings
    )

    # when: a later token for the same subject, even with another email and name
    second = await authenticate_bearer(
        _external_token(provider_key, external_settings, email="new@example.com", name="L."),
        external_settings,
    )

    # then
    assert second == first
    assert await Member.all().count() == 1


async def test_an_external_token_is_refused_when_no_provider_is_configured(
    settings: Settings, provider_key: rsa.RSAPrivateKey
) -> None:
    token = _external_token(provider_key, settings)

    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, settings)
    assert await Member.all().count() == 0


async def test_an_external_token_is_refused_when_rs256_is_allowed_without_a_key(
    settings: Settings, provider_key: rsa.RSAPrivateKey
) -> None:
    # given: the algorithm allowed, but no provider key nor issuer configured
    half_configured = settings.model_copy(update={"jwt_algorithms": ["HS256", "RS256"]})

    # then
    with pytest.raises(InvalidCredential):
        await authenticate_bearer(_external_token(provider_key, settings), half_configured)
    assert await Member.all().count() == 0


async def test_an_external_token_signed_with_another_key_is_refused(
    external_settings: Settings,
) -> None:
    intruder_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(InvalidCredential):
        await authenticate_bearer(
            _external_token(intruder_key, external_settings), external_settings
        )
    assert await Member.all().count() == 0


async def test_an_external_token_from_another_issuer_is_refused(
    external_settings: Settings, provider_key: rsa.RSAPrivateKey
) -> None:
    # given: the provider's key, but our own issuer name (which only HS tokens may carry)
    token = _external_token(provider_key, external_settings, iss=external_settings.jwt_issuer)

    # then
    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, external_settings)


async def test_an_hs256_token_keyed_with_the_providers_public_key_is_refused(
    external_settings: Settings, provider_key: rsa.RSAPrivateKey
) -> None:
    # given: the classic algorithm confusion, an HMAC made with the (public) RSA key as secret
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": "1",
        "typ": "access",
        "role": "admin",
        "iss": external_settings.jwt_issuer,
        "aud": external_settings.jwt_audience,
        "iat": now,
        "exp": now + 300,
    }
    signing_input = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "HS256", "typ": "JWT"}, claims)
    )
    mac = hmac.new(
        _public_pem(provider_key).encode(), signing_input.encode(), hashlib.sha256
    ).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"

    # then
    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, external_settings)


async def test_an_external_identity_never_takes_over_a_password_account(
    external_settings: Settings, provider_key: rsa.RSAPrivateKey
) -> None:
    # given: a member who signed up with a password, and a provider vouching for that email
    await create_member(email="leo@example.com")

    # then
    with pytest.raises(InvalidCredential):
        await authenticate_bearer(
            _external_token(provider_key, external_settings), external_settings
        )
    assert await Member.filter(external_subject__isnull=False).count() == 0


@pytest.mark.parametrize("email", [None, "", "not an email", 42, ["leo@example.com"]])
async def test_a_first_seen_external_identity_without_a_usable_email_is_refused(
    external_settings: Settings, provider_key: rsa.RSAPrivateKey, email: object
) -> None:
    token = _external_token(provider_key, external_settings, email=email)

    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, external_settings)
    assert await Member.all().count() == 0


@pytest.mark.parametrize("name", [None, "", "   ", 42, "x" * 80, "Leo\u0000Rivers"])
async def test_an_unusable_external_display_name_falls_back_to_the_email(
    external_settings: Settings, provider_key: rsa.RSAPrivateKey, name: object
) -> None:
    token = _external_token(provider_key, external_settings, name=name)

    actor = await authenticate_bearer(token, external_settings)

    member = await Member.get(id=actor.id)
    assert member.display_name == ("x" * 40 if name == "x" * 80 else "leo")


@pytest.mark.parametrize("subject", ["", "s" * 256])
async def test_an_external_subject_that_cannot_be_stored_is_refused(
    external_settings: Settings, provider_key: rsa.RSAPrivateKey, subject: str
) -> None:
    token = _external_token(provider_key, external_settings, sub=subject)

    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, external_settings)
    assert await Member.all().count() == 0


async def test_a_token_is_verified_once_until_it_expires(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a member's token, and a count of full verifications
    member = await create_member()
    token = issue_member_token(member, settings)
    verified: list[str] = []
    verify = credentials._verify

    def counting(token: str, settings: Settings) -> dict[str, Any]:
        verified.append(token)
        return verify(token, settings)

    monkeypatch.setattr(credentials, "_verify", counting)

    # when: three requests carry it
    for _ in range(3):
        assert (await authenticate_bearer(token, settings)).id == member.id

    # then: one verification
    assert verified == [token]


async def test_a_remembered_token_is_verified_again_once_past_its_expiry(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a token verified and remembered
    member = await create_member()
    token = issue_member_token(member, settings)
    expires = credentials.decode_token(token, settings)["exp"]
    verified: list[str] = []

    def refuse(token: str, settings: Settings) -> dict[str, Any]:
        verified.append(token)
        raise InvalidCredential("expired")

    monkeypatch.setattr(credentials, "_verify", refuse)

    # when: it comes back after its expiry (the clock as the cache sees it)
    with pytest.raises(InvalidCredential):
        credentials.decode_token(token, settings, now=expires + 1)

    # then: the memory was not trusted past the expiry
    assert verified == [token]


async def test_a_remembered_token_is_not_accepted_under_other_keys(settings: Settings) -> None:
    member = await create_member()
    token = issue_member_token(member, settings)
    credentials.decode_token(token, settings)
    rotated = settings.model_copy(
        update={"jwt_secret": SecretStr("another-secret-of-at-least-32-bytes!!")}
    )

    with pytest.raises(InvalidCredential):
        credentials.decode_token(token, rotated)
