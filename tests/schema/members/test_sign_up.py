from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gamification.members.models import Member
from tests.factories import bearer, create_member, execute

SIGN_UP = """
mutation SignUp(
  $email: String!
  $password: String!
  $displayName: String!
  $birthday: Date
  $timezone: String! = "UTC"
  $marketingConsent: Boolean! = false
) {
  signUp(
    email: $email
    password: $password
    displayName: $displayName
    birthday: $birthday
    timezone: $timezone
    marketingConsent: $marketingConsent
  ) {
    token
    member {
      id
      email
      displayName
      birthday
      timezone
      marketingConsent
      leaderboardVisible
      role
      cardNumber
    }
    errors { code field message }
  }
}
"""

ME = "{ me { id email displayName } }"


def _sign_up_variables(**overrides: Any) -> dict[str, Any]:
    return {
        "email": "maya@example.com",
        "password": "a long and private phrase",
        "displayName": "Maya Green",
        **overrides,
    }


async def _assert_refused(
    app: Starlette, variables: dict[str, Any], *, code: str, field: str
) -> None:
    members_before = await Member.all().count()

    result = await execute(app, SIGN_UP, variables)

    assert result.errors is None
    payload = result.data["signUp"]
    assert payload["token"] is None
    assert payload["member"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert await Member.all().count() == members_before


async def test_sign_up_creates_a_member_and_returns_a_working_token(app: Starlette) -> None:
    # given
    variables = _sign_up_variables(
        email="Maya@Example.com",
        birthday="1990-04-12",
        timezone="Europe/Paris",
        marketingConsent=True,
    )

    # when
    result = await execute(app, SIGN_UP, variables)

    # then
    assert result.errors is None
    payload = result.data["signUp"]
    assert payload["errors"] == []
    assert payload["member"]["email"] == "maya@example.com"
    assert payload["member"]["displayName"] == "Maya Green"
    assert payload["member"]["birthday"] == "1990-04-12"
    assert payload["member"]["timezone"] == "Europe/Paris"
    assert payload["member"]["marketingConsent"] is True
    assert payload["member"]["leaderboardVisible"] is True
    assert payload["member"]["role"] == "MEMBER"
    assert len(payload["member"]["cardNumber"]) == 16
    stored = await Member.get(email="maya@example.com")
    assert stored.display_name == "Maya Green"
    assert await Member.all().count() == 1


async def test_the_sign_up_token_authenticates_the_new_member(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    # given
    result = await execute(app, SIGN_UP, _sign_up_variables())
    token = result.data["signUp"]["token"]

    # when
    response = await client.post("/graphql", json={"query": ME}, headers=bearer(token))

    # then
    assert response.json() == {
        "data": {
            "me": {
                "id": result.data["signUp"]["member"]["id"],
                "email": "maya@example.com",
                "displayName": "Maya Green",
            }
        }
    }


@pytest.mark.parametrize(
    "email", ["not-an-email", "maya@", "@example.com", "maya@example", "maya example@example.com"]
)
async def test_sign_up_refuses_a_malformed_email(app: Starlette, email: str) -> None:
    await _assert_refused(app, _sign_up_variables(email=email), code="INVALID_EMAIL", field="email")


async def test_sign_up_refuses_an_overlong_email(app: Starlette) -> None:
    email = "m" * 64 + "@" + ".".join(["d" * 60] * 4) + ".com"

    await _assert_refused(app, _sign_up_variables(email=email), code="INVALID_EMAIL", field="email")


async def test_sign_up_refuses_a_short_password(app: Starlette) -> None:
    await _assert_refused(
        app, _sign_up_variables(password="Sh0rt!pw"), code="WEAK_PASSWORD", field="password"
    )


async def test_sign_up_refuses_a_common_password(app: Starlette) -> None:
    await _assert_refused(
        app, _sign_up_variables(password="Password123"), code="WEAK_PASSWORD", field="password"
    )


async def test_sign_up_refuses_a_password_containing_the_email_local_part(
    app: Starlette,
) -> None:
    await _assert_refused(
        app,
        _sign_up_variables(email="maya.green@example.com", password="my name is MAYA.GREEN!"),
        code="WEAK_PASSWORD",
        field="password",
    )


async def test_sign_up_refuses_an_overlong_password(app: Starlette) -> None:
    await _assert_refused(
        app,
        _sign_up_variables(password="a private phrase " * 8),  # 136 characters
        code="PASSWORD_TOO_LONG",
        field="password",
    )


async def test_sign_up_accepts_a_password_of_exactly_the_maximum_length(app: Starlette) -> None:
    result = await execute(app, SIGN_UP, _sign_up_variables(password="x7-q" * 32))

    assert result.data["signUp"]["errors"] == []
    assert result.data["signUp"]["token"] is not None


async def test_sign_up_refuses_an_email_registered_in_another_case(app: Starlette) -> None:
    # given
    await create_member(email="maya@example.com")

    # then
    await _assert_refused(
        app, _sign_up_variables(email="Maya@Example.com"), code="EMAIL_TAKEN", field="email"
    )


async def test_sign_up_refuses_an_overlong_display_name(app: Starlette) -> None:
    await _assert_refused(
        app,
        _sign_up_variables(displayName="M" * 41),
        code="INVALID_DISPLAY_NAME",
        field="displayName",
    )


@pytest.mark.parametrize("display_name", ["", "   ", "\t"])
async def test_sign_up_refuses_an_empty_display_name(app: Starlette, display_name: str) -> None:
    await _assert_refused(
        app,
        _sign_up_variables(displayName=display_name),
        code="INVALID_DISPLAY_NAME",
        field="displayName",
    )


async def test_sign_up_refuses_control_characters_in_the_display_name(app: Starlette) -> None:
    await _assert_refused(
        app,
        _sign_up_variables(displayName="Maya\u0007Green"),  # BEL (NUL is refused earlier)
        code="INVALID_DISPLAY_NAME",
        field="displayName",
    )


@pytest.mark.parametrize(
    "timezone", ["Mars/Olympus_Mons", "europe/paris", "Europe", "../../etc/passwd", "localtime"]
)
async def test_sign_up_refuses_an_unknown_timezone(app: Starlette, timezone: str) -> None:
    await _assert_refused(
        app, _sign_up_variables(timezone=timezone), code="INVALID_TIMEZONE", field="timezone"
    )


async def test_sign_up_refuses_a_birthday_in_the_future(app: Starlette) -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=2)

    await _assert_refused(
        app,
        _sign_up_variables(birthday=tomorrow.isoformat()),
        code="INVALID_BIRTHDAY",
        field="birthday",
    )


async def test_sign_up_refuses_a_birthday_before_1900(app: Starlette) -> None:
    await _assert_refused(
        app,
        _sign_up_variables(birthday=date(1899, 12, 31).isoformat()),
        code="INVALID_BIRTHDAY",
        field="birthday",
    )
