from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from server.app import StartupFailureReport, create_app
from server.backends import BackendUnavailable
from server.settings import Environment, Settings
from tests.factories import bearer, create_member, member_token


async def test_healthz_answers_while_the_process_lives(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "redis": True}


async def test_readyz_is_503_when_redis_is_unreachable(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    # given: a Redis client pointed at a port nobody listens on
    live = app.state.redis
    app.state.redis = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        # when
        response = await client.get("/readyz")
    finally:
        await app.state.redis.aclose()
        app.state.redis = live

    # then
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "redis": False}


async def test_graphql_answers_post(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __typename }"})

    assert response.json() == {"data": {"__typename": "Query"}}


async def test_graphql_answers_queries_over_get(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await create_member(display_name="Getter")

    response = await client.get(
        "/graphql",
        params={"query": "{ me { displayName } }"},
        headers=bearer(member_token(member, settings)),
    )

    assert response.json() == {"data": {"me": {"displayName": "Getter"}}}


async def test_mutations_are_refused_over_get(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": 'mutation { logIn(email: "a@b.co", password: "x") { token } }'}
    )

    assert response.status_code == 400
    assert "mutations are not allowed" in response.text.lower()


async def test_graphiql_is_served_in_development(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


@pytest.fixture
def production_app(app: Starlette) -> Starlette:
    # The session app's lifespan already opened the database and Redis; share them.
    production = create_app(
        Settings(
            environment=Environment.PRODUCTION,
            jwt_secret="a-production-secret-of-at-least-32-bytes",  # type: ignore[arg-type]
        )
    )
    production.state.redis = app.state.redis
    return production


async def test_production_serves_no_graphiql(production_app: Starlette) -> None:
    transport = httpx.ASGITransport(app=production_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://prod") as http:
        response = await http.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 404


async def test_production_refuses_introspection(production_app: Starlette) -> None:
    transport = httpx.ASGITransport(app=production_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://prod") as http:
        response = await http.post("/graphql", json={"query": "{ __schema { types { name } } }"})

    body = response.json()
    assert body.get("data") is None
    assert "introspection" in body["errors"][0]["message"].lower()


_TRACEBACK = "Traceback (most recent call last):\n  ...\nserver.backends.BackendUnavailable: ..."


async def _startup_failure_sent(failure: Exception, *, traceback: bool) -> list[Message]:
    """What StartupFailureReport sends the server when the app's start-up raises `failure`
    after Starlette has sent its traceback."""

    async def failing_app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": _TRACEBACK})
        raise failure

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    report = StartupFailureReport(failing_app, traceback=traceback)
    with pytest.raises(type(failure)):
        await report({"type": "lifespan"}, receive, send)
    return sent


async def test_an_unreachable_backend_is_reported_in_its_one_line() -> None:
    failure = BackendUnavailable(
        setting="LOYALTY_REDIS_URL", backend="Redis", target="127.0.0.1:6999", cause="refused"
    )

    sent = await _startup_failure_sent(failure, traceback=False)

    assert sent == [
        {
            "type": "lifespan.startup.failed",
            "message": "LOYALTY_REDIS_URL: cannot use Redis at 127.0.0.1:6999: refused",
        }
    ]


async def test_debug_keeps_the_traceback_of_an_unreachable_backend() -> None:
    failure = BackendUnavailable(setting="S", backend="Redis", target="h:1", cause="refused")

    sent = await _startup_failure_sent(failure, traceback=True)

    assert sent == [{"type": "lifespan.startup.failed", "message": _TRACEBACK}]


async def test_an_unexpected_startup_error_keeps_its_traceback() -> None:
    sent = await _startup_failure_sent(RuntimeError("a bug"), traceback=False)

    assert sent == [{"type": "lifespan.startup.failed", "message": _TRACEBACK}]
