from __future__ import annotations

import httpx
from starlette.applications import Starlette

from gamification.members.models import Member
from tests.factories import PASSWORD, bearer, create_member, execute

LOG_IN = """
mutation LogIn($email: String!, $password: String!) {
  logIn(email: $email, password: $password) {
    token
    member { id email }
    errors { code field message }
  }
}
"""

SIGN_UP = """
mutation SignUp($email: String!, $password: String!) {
  signUp(email: $email, password: $password, displayName: "Maya") {
    errors { code }
  }
}
"""


async def test_log_in_returns_a_token_for_the_member(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    # given
    member = await create_member(email="maya@example.com")

    # when
    result = await execute(app, LOG_IN, {"email": "Maya@Example.com", "password": PASSWORD})

    # then
    assert result.errors is None
    payload = result.data["logIn"]
    assert payload["errors"] == []
    assert payload["member"]["email"] == "maya@example.com"
    response = await client.post(
        "/graphql", json={"query": "{ me { id email } }"}, headers=bearer(payload["token"])
    )
    assert response.json()["data"]["me"] == {"id": payload["member"]["id"], "email": member.email}


async def test_log_in_refuses_a_wrong_password(app: Starlette) -> None:
    # given
    await create_member(email="maya@example.com")

    # when
    result = await execute(
        app, LOG_IN, {"email": "maya@example.com", "password": "not the password"}
    )

    # then
    payload = result.data["logIn"]
    assert payload["token"] is None
    assert payload["member"] is None
    assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]


async def test_log_in_refuses_an_unknown_email(app: Starlette) -> None:
    result = await execute(app, LOG_IN, {"email": "nobody@example.com", "password": PASSWORD})

    payload = result.data["logIn"]
    assert payload["token"] is None
    assert payload["member"] is None
    assert [e["code"] for e in payload["errors"]] == ["INVALID_CREDENTIALS"]


async def test_wrong_password_and_unknown_email_cannot_be_told_apart(app: Starlette) -> None:
    # given
    await create_member(email="maya@example.com")

    # when
    wrong_password = await execute(
        app, LOG_IN, {"email": "maya@example.com", "password": "not the password"}
    )
    unknown_email = await execute(
        app, LOG_IN, {"email": "nobody@example.com", "password": "not the password"}
    )
    malformed_email = await execute(
        app, LOG_IN, {"email": "not an email", "password": "not the password"}
    )

    # then
    assert wrong_password.data == unknown_email.data == malformed_email.data


async def test_log_in_refuses_an_overlong_password_like_a_wrong_one(app: Starlette) -> None:
    # given
    await create_member(email="maya@example.com")

    # when
    result = await execute(app, LOG_IN, {"email": "maya@example.com", "password": PASSWORD * 10})

    # then
    assert [e["code"] for e in result.data["logIn"]["errors"]] == ["INVALID_CREDENTIALS"]


async def test_a_member_without_a_password_cannot_log_in(app: Starlette) -> None:
    # given: a member who signs in through an external identity provider only
    member = await create_member(email="sso@example.com")
    member.password_hash = None
    await member.save(update_fields=["password_hash"])

    # when
    result = await execute(app, LOG_IN, {"email": "sso@example.com", "password": PASSWORD})

    # then
    assert [e["code"] for e in result.data["logIn"]["errors"]] == ["INVALID_CREDENTIALS"]


async def test_the_password_is_stored_only_as_an_argon2_hash(app: Starlette) -> None:
    # given
    password = "a long and private phrase"

    # when
    result = await execute(app, SIGN_UP, {"email": "maya@example.com", "password": password})

    # then
    assert result.data["signUp"]["errors"] == []
    stored = await Member.get(email="maya@example.com")
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert password not in stored.password_hash
    logged_in = await execute(app, LOG_IN, {"email": "maya@example.com", "password": password})
    assert logged_in.data["logIn"]["errors"] == []
