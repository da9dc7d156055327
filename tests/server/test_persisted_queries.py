"""Persisted queries over HTTP: Apollo's automatic persisted queries (hash only, hash with the
document, GET), shared through Redis by every worker; and the allow-list mode, where only the
registered set runs, over HTTP and WebSockets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import parse, validate
from starlette.applications import Starlette

from schema.context import Context
from schema.persisted import OPERATIONS_DIR, document_hash, registered_set
from schema.schema import build_schema
from server.app import create_app
from server.settings import PersistedQueryMode, Settings
from tests.factories import create_member, member_token, schema_for

TYPENAME = "{ __typename }"
ME = "query Me { me { email } }"


def _apq(sha: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


def _app(base: Starlette, **changes: Any) -> Starlette:
    """Another app (another worker) with other settings, sharing the database and Redis."""
    settings: Settings = base.state.settings.model_copy(update=changes)
    application = create_app(settings)
    application.state.redis = base.state.redis
    return application


@pytest.fixture
async def worker(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app(app)), base_url="http://testserver"
    ) as http:
        yield http


@pytest.fixture
async def allowlist(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    application = _app(app, persisted_queries=PersistedQueryMode.ALLOWLIST)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver"
    ) as http:
        yield http


async def test_an_unknown_hash_asks_for_the_document(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"extensions": _apq(document_hash("{ __schema { queryType { name } } }"))}
    )

    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND", "retryable": True},
            }
        ]
    }


async def test_a_document_sent_once_runs_by_its_hash_on_every_worker(
    client: httpx.AsyncClient, worker: httpx.AsyncClient
) -> None:
    # given: a client sends the document with its hash once
    document = "query Typename { __typename }"
    sha = document_hash(document)
    first = await client.post("/graphql", json={"query": document, "extensions": _apq(sha)})

    # when: it (or another worker) gets the hash alone, by POST and by GET
    by_post = await worker.post("/graphql", json={"extensions": _apq(sha)})
    by_get = await worker.get(
        "/graphql", params={"extensions": json.dumps(_apq(sha))}, headers={"Accept": "*/*"}
    )

    # then
    assert first.json() == by_post.json() == by_get.json() == {"data": {"__typename": "Query"}}


async def test_a_hash_that_is_not_the_documents_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": TYPENAME, "extensions": _apq(document_hash(ME))}
    )
    unknown = await client.post("/graphql", json={"extensions": _apq(document_hash(ME))})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "PERSISTED_QUERY_HASH_MISMATCH",
        "retryable": False,
    }
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "extension",
    [{"version": 2, "sha256Hash": "0" * 64}, {"version": 1, "sha256Hash": "xyz"}, "hash"],
)
async def test_a_malformed_extension_is_refused(client: httpx.AsyncClient, extension: Any) -> None:
    response = await client.post(
        "/graphql", json={"query": TYPENAME, "extensions": {"persistedQuery": extension}}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {
        "code": "PERSISTED_QUERY_INVALID",
        "retryable": False,
    }


async def test_requests_without_the_extension_run_as_before(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": TYPENAME})

    assert response.json() == {"data": {"__typename": "Query"}}


async def test_every_registered_operation_is_valid_against_the_schema(settings: Settings) -> None:
    schema = schema_for(settings)._schema
    files = sorted(OPERATIONS_DIR.glob("*.graphql"))

    assert len(registered_set()) == len(files) > 0
    for path in files:
        assert validate(schema, parse(path.read_text())) == [], path.name


async def test_the_allowlist_runs_registered_operations_by_hash(
    app: Starlette, allowlist: httpx.AsyncClient, settings: Settings
) -> None:
    # given: the app's home screen, registered
    member = await create_member()
    home = (OPERATIONS_DIR / "HomeScreen.graphql").read_text()

    # when
    response = await allowlist.post(
        "/graphql",
        json={"extensions": _apq(document_hash(home))},
        headers={"Authorization": f"Bearer {member_token(member, settings)}"},
    )

    # then
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["me"]["points"]["balance"] == 0


async def test_the_allowlist_refuses_other_documents_and_registrations(
    allowlist: httpx.AsyncClient,
) -> None:
    as_text = await allowlist.post("/graphql", json={"query": TYPENAME})
    registering = await allowlist.post(
        "/graphql", json={"query": TYPENAME, "extensions": _apq(document_hash(TYPENAME))}
    )
    later = await allowlist.post("/graphql", json={"extensions": _apq(document_hash(TYPENAME))})

    for response in (as_text, registering, later):
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"] == {
            "code": "PERSISTED_QUERY_NOT_ALLOWED",
            "retryable": False,
        }


async def test_the_allowlist_is_enforced_by_the_schema_that_websockets_use(
    settings: Settings,
) -> None:
    # given: the schema an allow-list server builds (WebSocket operations run through it, with
    # no HTTP layer in between)
    allowed = build_schema(
        settings.model_copy(update={"persisted_queries": PersistedQueryMode.ALLOWLIST})
    )
    home = (OPERATIONS_DIR / "HomeScreen.graphql").read_text()

    # when
    context = Context(settings=settings, redis=None, actor=None)  # type: ignore[arg-type]
    refused = await allowed.execute(TYPENAME, context_value=context)
    registered = await allowed.execute(home, context_value=context)

    # then: the unregistered document is refused; the registered one runs (and asks for a token)
    assert refused.errors is not None
    assert refused.errors[0].extensions == {
        "code": "PERSISTED_QUERY_NOT_ALLOWED",
        "retryable": False,
    }
    assert registered.errors is not None
    assert registered.errors[0].extensions == {"code": "UNAUTHENTICATED", "retryable": False}
