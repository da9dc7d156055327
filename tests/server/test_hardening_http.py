"""Hardening at the HTTP layer: no batching, no mutations over GET, a request timeout, CORS and
WebSocket origins from settings, and the IDE off in production."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from gamification.members import profiles as members
from schema.errors import UNAVAILABLE_MESSAGE
from server import graphql_app
from server.app import create_app
from server.settings import Environment, Settings
from tests.factories import TEST_JWT_SECRET, bearer, create_member, execute, member_token

ME = "{ me { id } }"


def _app(base: Starlette, **changes: Any) -> Starlette:
    """An app with other settings, sharing the running app's database and Redis."""
    settings: Settings = base.state.settings.model_copy(update=changes)
    application = create_app(settings)
    application.state.redis = base.state.redis
    return application


async def _client(application: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_a_batch_of_operations_is_refused(client: httpx.AsyncClient) -> None:
    # when: two mutations in one request, the way batching clients send them
    response = await client.post(
        "/graphql",
        json=[
            {"query": 'mutation { logIn(email: "a@example.com", password: "x") { token } }'},
            {"query": 'mutation { logIn(email: "a@example.com", password: "y") { token } }'},
        ],
    )

    # then
    assert response.status_code == 400
    assert "batch" in response.text.lower()


async def test_a_mutation_over_get_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": 'mutation { logIn(email: "a@example.com", password: "x") { token } }'},
    )

    assert response.status_code == 400
    assert "mutations are not allowed when using get" in response.text.lower()


async def test_a_request_over_the_time_limit_is_cut_off(
    app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a member lookup that hangs, and a 0.2 s limit
    member = await create_member()

    async def hang(member_ids: object) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(members, "members_by_id", hang)
    application = _app(app, request_timeout_seconds=0.2)

    # when
    async for http in _client(application):
        response = await http.post(
            "/graphql", json={"query": ME}, headers=bearer(member_token(member, settings))
        )

    # then
    assert response.status_code == 504
    assert response.json()["errors"][0]["extensions"] == {
        "code": "UNAVAILABLE",
        "retryable": True,
        "reason": "TIMEOUT",
    }


async def test_cors_allows_the_configured_origins_only(app: Starlette) -> None:
    application = _app(app, allowed_origins=["https://app.example.com"])
    preflight = {"Access-Control-Request-Method": "POST"}

    async for http in _client(application):
        allowed = await http.options(
            "/graphql", headers={"Origin": "https://app.example.com", **preflight}
        )
        refused = await http.options(
            "/graphql", headers={"Origin": "https://evil.example.com", **preflight}
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def _websocket_handshake(application: Starlette, origin: str) -> bool:
    """Whether a browser at `origin` may open the GraphQL WebSocket (raw ASGI: the app's first
    answer to the handshake is an accept, or a refusal)."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"origin", origin.encode())],
        "subprotocols": ["graphql-transport-ws"],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await incoming.put({"type": "websocket.connect"})
    answers: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        answers.append(message)
        await incoming.put({"type": "websocket.disconnect", "code": 1000})

    async def receive() -> Any:
        return await incoming.get()

    async with asyncio.timeout(5):
        await application(scope, receive, send)
    return answers[0]["type"] == "websocket.accept"


async def test_websocket_origins_come_from_settings(app: Starlette) -> None:
    # given
    application = _app(app, allowed_origins=["https://app.example.com"])

    # then
    assert await _websocket_handshake(application, "https://app.example.com")
    assert not await _websocket_handshake(application, "https://evil.example.com")


async def test_production_has_no_ide(app: Starlette) -> None:
    application = _app(
        app,
        environment=Environment.PRODUCTION,
        jwt_secret=SecretStr(TEST_JWT_SECRET),
        graphiql=True,
    )

    async for http in _client(application):
        response = await http.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


async def test_an_over_long_document_is_refused_over_http(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{" + " " * 20_000 + "__typename }"})

    assert response.json()["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_LONG",
        "retryable": False,
    }


async def test_a_lost_database_while_authenticating_is_a_retryable_503(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the credential check cannot reach the database
    async def refused(token: str, settings: Settings) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('10.0.0.5', 5432)")

    monkeypatch.setattr(graphql_app, "authenticate_bearer", refused)

    # when
    response = await client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": "Bearer x.y.z"}
    )

    # then
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAVAILABLE", "retryable": True}
    assert "5432" not in response.text


async def test_a_lost_database_in_a_resolver_is_a_retryable_error(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    member = await create_member()

    async def shutting_down(member_ids: object) -> None:
        raise asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator")

    monkeypatch.setattr(members, "members_by_id", shutting_down)

    # when
    result = await execute(app, ME, as_=member)

    # then
    assert [e.message for e in result.errors] == [UNAVAILABLE_MESSAGE]
    assert result.errors[0].extensions == {"code": "UNAVAILABLE", "retryable": True}
