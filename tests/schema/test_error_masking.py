from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette

from gamification.members import profiles as members
from server.settings import Settings
from tests.factories import bearer, create_member, execute, member_token

ME = "{ me { id displayName } }"

_SECRETS = ("secret internals", "/etc/passwd", "SELECT", "RuntimeError", "Traceback")


async def _explode(*_: object) -> None:
    raise RuntimeError("secret internals /etc/passwd SELECT * FROM member")


async def test_an_unexpected_error_is_masked(
    app: Starlette, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    member = await create_member()
    monkeypatch.setattr(members, "members_by_id", _explode)

    # when
    with caplog.at_level(logging.ERROR, logger="loyalty.graphql"):
        result = await execute(app, ME, as_=member)

    # then
    assert result.data is None
    assert [e.message for e in result.errors] == ["Unexpected error."]
    assert result.errors[0].extensions == {"code": "INTERNAL", "retryable": False}
    formatted = str(result.errors[0].formatted)
    assert not [text for text in _SECRETS if text in formatted]
    # ... while the operators still get the whole story in the logs
    assert "secret internals" in caplog.text


async def test_an_unexpected_error_is_masked_over_http(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await create_member()
    monkeypatch.setattr(members, "members_by_id", _explode)

    response = await client.post(
        "/graphql", json={"query": ME}, headers=bearer(member_token(member, settings))
    )

    assert response.status_code == 200
    assert [e["message"] for e in response.json()["errors"]] == ["Unexpected error."]
    assert not [text for text in _SECRETS if text in response.text]


async def test_a_domain_error_in_a_query_keeps_its_code(app: Starlette) -> None:
    # given: a valid credential for a member that no longer exists
    member = await create_member()
    await member.delete()

    # when
    result = await execute(app, ME, as_=member)

    # then
    assert result.data is None
    assert [e.message for e in result.errors] == ["Member not found"]
    assert result.errors[0].extensions == {
        "code": "NOT_FOUND",
        "field": "memberId",
        "retryable": False,
    }


async def test_errors_about_the_request_itself_are_not_masked(app: Starlette) -> None:
    result = await execute(app, "{ me { noSuchField } }")

    assert result.errors is not None
    assert "noSuchField" in result.errors[0].message
