from __future__ import annotations

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from server.app import create_app
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
