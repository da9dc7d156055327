"""The privacy mutations and `me { consents }` through the API (docs/privacy.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis

from channels.credentials import issue_member_token
from gamification.members.models import Member, Role
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import bearer, create_member, member_token
from tests.gamification.privacy.helpers import busy_member

REQUEST_MY_DATA = """
mutation { requestMyData { export { document truncated } errors { code } } }
"""
SET_CONSENT = """
mutation($given: Boolean!) {
  setConsent(kind: MARKETING, channel: EMAIL, given: $given, textVersion: "2026-11") {
    consent { kind channel given textVersion source }
    errors { code field }
  }
}
"""
MY_CONSENTS = """
{ me { marketingConsent consents { kind channel given textVersion }
       consentHistory { given textVersion } } }
"""
DELETE_MY_ACCOUNT = """
mutation($password: String) {
  deleteMyAccount(password: $password) {
    erasure { forfeitedPoints releasedHolds alreadyErased }
    errors { code }
  }
}
"""
ERASE_MEMBER = """
mutation($memberId: ID!, $reason: String!) {
  eraseMember(memberId: $memberId, reason: $reason) {
    erasure { forfeitedPoints alreadyErased }
    errors { code field }
  }
}
"""
EXPORT_MEMBER = """
mutation($memberId: ID!) { exportMember(memberId: $memberId) {
  export { document truncated } errors { code } } }
"""
ME = "{ me { email } }"


async def _post(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=bearer(token)
    )
    body: dict[str, Any] = response.json()
    return body


async def test_request_my_data_returns_the_caller_s_document(
    client: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    # given
    member, secrets = await busy_member(redis, settings, n=41)

    # when
    body = await _post(client, member_token(member, settings), REQUEST_MY_DATA)

    # then
    export = body["data"]["requestMyData"]["export"]
    assert export["truncated"] == []
    assert export["document"]["memberId"] == member.id
    assert export["document"]["tables"]["profile"][0]["email"] == secrets.email
    assert export["document"]["tables"]["consents"]


async def test_consents_are_set_and_read_with_their_history(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given
    member = await create_member()
    token = member_token(member, settings)

    # when
    given = await _post(client, token, SET_CONSENT, {"given": True})
    await _post(client, token, SET_CONSENT, {"given": False})
    read = await _post(client, token, MY_CONSENTS)

    # then
    assert given["data"]["setConsent"]["consent"] == {
        "kind": "MARKETING",
        "channel": "EMAIL",
        "given": True,
        "textVersion": "2026-11",
        "source": "APP",
    }
    me = read["data"]["me"]
    assert me["marketingConsent"] is False
    email = next(c for c in me["consents"] if (c["kind"], c["channel"]) == ("MARKETING", "EMAIL"))
    assert (email["given"], email["textVersion"]) == (False, "2026-11")
    assert [h["given"] for h in me["consentHistory"]] == [False, True]


async def test_delete_my_account_needs_the_password_and_then_the_token_stops_working(
    client: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    # given
    member, secrets = await busy_member(redis, settings, n=42)
    token = member_token(member, settings)

    # when: the wrong password
    wrong = await _post(client, token, DELETE_MY_ACCOUNT, {"password": "not my password 1"})
    # then: refused, nothing erased
    assert wrong["data"]["deleteMyAccount"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    assert (await Member.get(id=member.id)).email == secrets.email

    # when: the right one
    done = await _post(client, token, DELETE_MY_ACCOUNT, {"password": "correct horse battery"})
    after = await _post(client, token, ME)

    # then
    erasure = done["data"]["deleteMyAccount"]["erasure"]
    assert erasure["releasedHolds"] == 1
    assert erasure["forfeitedPoints"] > 0
    assert erasure["alreadyErased"] is False
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_admin_erases_a_member_and_the_export_then_says_erased(
    client: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    # given
    member, secrets = await busy_member(redis, settings, n=43)
    admin = await create_member(role=Role.ADMIN)
    token = member_token(admin, settings)
    member_id = to_global_id("Member", member.id)

    # when
    no_reason = await _post(client, token, ERASE_MEMBER, {"memberId": member_id, "reason": " "})
    first = await _post(client, token, ERASE_MEMBER, {"memberId": member_id, "reason": "asked"})
    second = await _post(client, token, ERASE_MEMBER, {"memberId": member_id, "reason": "asked"})
    exported = await _post(client, token, EXPORT_MEMBER, {"memberId": member_id})

    # then
    assert no_reason["data"]["eraseMember"]["errors"][0]["code"] == "REASON_REQUIRED"
    assert first["data"]["eraseMember"]["erasure"]["alreadyErased"] is False
    assert second["data"]["eraseMember"]["erasure"] == {
        "forfeitedPoints": first["data"]["eraseMember"]["erasure"]["forfeitedPoints"],
        "alreadyErased": True,
    }
    document = exported["data"]["exportMember"]["export"]["document"]
    assert document["erased"] is True
    assert not secrets.found_in(str(document))


async def test_an_account_without_a_password_is_deleted_only_right_after_signing_in(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: a member an identity provider signs in (no password here)
    member = await create_member(display_name="Ext Ernal", email="ext@example.com")
    await Member.filter(id=member.id).update(password_hash=None)
    stale = issue_member_token(
        member, settings, issued_at=datetime.now(UTC) - timedelta(minutes=10)
    )

    # when: signed in ten minutes ago
    refused = await _post(client, stale, DELETE_MY_ACCOUNT, {})
    # then: refused, nothing erased
    assert refused["data"]["deleteMyAccount"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    assert (await Member.get(id=member.id)).email == "ext@example.com"

    # when: signed in just now
    done = await _post(client, member_token(member, settings), DELETE_MY_ACCOUNT, {})

    # then
    assert done["data"]["deleteMyAccount"]["errors"] == []
    assert done["data"]["deleteMyAccount"]["erasure"]["alreadyErased"] is False
    assert (await Member.get(id=member.id)).erased_at is not None


async def test_an_account_with_a_password_needs_it_even_right_after_signing_in(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(email="has-password@example.com")

    refused = await _post(client, member_token(member, settings), DELETE_MY_ACCOUNT, {})

    assert refused["data"]["deleteMyAccount"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    assert (await Member.get(id=member.id)).erased_at is None
