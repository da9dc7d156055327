"""Bearer credentials over HTTP: every refused credential reads the same to the client."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from gamification.members.models import Member
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    TEST_JWT_SECRET,
    bearer,
    create_device,
    create_member,
    device_token,
    member_token,
)

ME = "{ me { id } }"
DEVICE_NODE = "query Device($id: ID!) { node(id: $id) { id ... on Device { name } } }"

# Words that would tell an attacker why a credential was refused.
_LEAKY_WORDS = ("expired", "signature", "audience", "issuer", "algorithm", "revoked", "decode")

_OMIT = object()


def _claims(member: Member, settings: Settings, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(member.id),
        "typ": "access",
        "role": "member",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not _OMIT}


def _signed(claims: dict[str, Any], *, key: str = TEST_JWT_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).decode().rstrip("=")


async def _me(client: httpx.AsyncClient, headers: dict[str, Any]) -> httpx.Response:
    return await client.post("/graphql", json={"query": ME}, headers=headers)


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 200
    body = response.json()
    assert not any((body["data"] or {}).values())
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert body["errors"][0]["message"] == "Authentication required"
    text = response.text.lower()
    assert not [word for word in _LEAKY_WORDS if word in text]


async def test_a_valid_member_token_is_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member()

    response = await _me(client, bearer(member_token(member, settings)))

    assert response.json() == {"data": {"me": {"id": to_global_id("Member", member.id)}}}


async def test_no_token_is_unauthenticated(client: httpx.AsyncClient) -> None:
    response = await _me(client, {})

    _assert_unauthenticated(response)


async def test_an_unsigned_alg_none_token_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: a token that claims to need no signature
    member = await create_member()
    claims = _claims(member, settings, iat=0, exp=2_000_000_000)
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."

    # when
    response = await _me(client, bearer(token))

    # then
    _assert_unauthenticated(response)


async def test_a_token_with_a_wrong_signature_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member()
    token = _signed(_claims(member, settings), key="another-secret-of-at-least-32-bytes!!")

    response = await _me(client, bearer(token))

    _assert_unauthenticated(response)


async def test_a_token_whose_claims_were_changed_after_signing_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: a genuine member token whose payload is swapped for one claiming the admin role
    member = await create_member()
    header, _, signature = member_token(member, settings).split(".")
    forged = _b64(_claims(member, settings, role="admin", iat=0, exp=2_000_000_000))

    # when
    response = await _me(client, bearer(f"{header}.{forged}.{signature}"))

    # then
    _assert_unauthenticated(response)


async def test_an_algorithm_outside_the_allow_list_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: HS512 with the right secret, while only HS256 is allowed
    assert settings.jwt_algorithms == ["HS256"]
    member = await create_member()
    with warnings.catch_warnings():
        # PyJWT asks for a 64-byte key for HS512; the point here is the algorithm.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        token = _signed(_claims(member, settings), alg="HS512")

    # when
    response = await _me(client, bearer(token))

    # then
    _assert_unauthenticated(response)


_AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"iat": _AN_HOUR_AGO, "exp": _AN_HOUR_AGO}, id="expired"),
        pytest.param({"aud": "another-api"}, id="for another audience"),
        pytest.param({"iss": "someone-else"}, id="from another issuer"),
        pytest.param({"role": "superuser"}, id="with an unknown role"),
        pytest.param({"sub": "maya"}, id="with a non-numeric subject"),
    ],
)
async def test_a_token_with_a_claim_the_service_does_not_accept_is_refused(
    client: httpx.AsyncClient, settings: Settings, claims: dict[str, Any]
) -> None:
    member = await create_member()
    token = _signed(_claims(member, settings, **claims))

    response = await _me(client, bearer(token))

    _assert_unauthenticated(response)


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "iss", "aud", "typ"])
async def test_a_token_missing_a_required_claim_is_refused(
    client: httpx.AsyncClient, settings: Settings, claim: str
) -> None:
    member = await create_member()
    token = _signed(_claims(member, settings, **{claim: _OMIT}))

    response = await _me(client, bearer(token))

    _assert_unauthenticated(response)


async def test_an_external_token_is_refused_when_no_provider_is_configured(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: an RS256 token, while the service trusts no identity provider
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    member = await create_member()
    token = _signed(_claims(member, settings), key=pem, alg="RS256")

    # when
    response = await _me(client, bearer(token))

    # then
    _assert_unauthenticated(response)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer \u00e9\u00e9.\u00e9\u00e9.\u00e9\u00e9".encode(),
        "Basic bWF5YTpwYXNzd29yZA==",
        "eyJhbGciOiJIUzI1NiJ9",
        "Token abc",
    ],
)
async def test_a_garbage_authorization_header_is_unauthenticated(
    client: httpx.AsyncClient, header: str | bytes
) -> None:
    response = await _me(client, {"Authorization": header})

    _assert_unauthenticated(response)


async def test_a_device_credential_is_forbidden_where_a_person_is_needed(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given
    device = await create_device()

    # when
    response = await _me(client, bearer(device_token(device, settings)))

    # then
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_a_device_credential_authenticates_the_device(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given
    device = await create_device()
    device_id = to_global_id("Device", device.id)

    # when
    response = await client.post(
        "/graphql",
        json={"query": DEVICE_NODE, "variables": {"id": device_id}},
        headers=bearer(device_token(device, settings)),
    )

    # then
    assert response.json() == {"data": {"node": {"id": device_id, "name": device.name}}}


async def test_a_revoked_device_credential_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given
    device = await create_device(revoked=True)
    device_id = to_global_id("Device", device.id)

    # when
    on_node = await client.post(
        "/graphql",
        json={"query": DEVICE_NODE, "variables": {"id": device_id}},
        headers=bearer(device_token(device, settings)),
    )
    on_me = await _me(client, bearer(device_token(device, settings)))

    # then
    _assert_unauthenticated(on_node)
    _assert_unauthenticated(on_me)


async def test_a_device_token_naming_another_credential_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: a device credential re-issued with a made-up credential id
    device = await create_device()
    claims = jwt.decode(
        device_token(device, settings),
        TEST_JWT_SECRET,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
    )
    claims["jti"] = "00000000-0000-4000-8000-000000000000"

    # when
    response = await _me(client, bearer(_signed(claims)))

    # then
    _assert_unauthenticated(response)
