"""Requests to /graphql refused before any operation runs are answered as GraphQL response
documents (`errors[].extensions.code`, a JSON content type) with the matching HTTP status, so
that any GraphQL client can show why."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

JSON = {"Content-Type": "application/json"}


def _refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    assert set(document) == {"errors"}  # a request error: no `data`, nothing was executed
    [error] = document["errors"]
    assert error["message"]
    return error


async def test_malformed_json_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", content=b'{"query": "{ __typename }"', headers=JSON)

    assert response.status_code == 400
    assert _refusal(response) == {
        "message": "Unable to parse request body as JSON",
        "extensions": {"code": "BAD_REQUEST", "retryable": False},
    }


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {}],
    ids=["text", "form", "none"],
)
async def test_a_body_that_is_not_json_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/graphql", content=b"{ __typename }", headers=headers)

    assert response.status_code == 415
    assert _refusal(response)["extensions"] == {
        "code": "UNSUPPORTED_MEDIA_TYPE",
        "retryable": False,
    }


async def test_json_with_a_charset_is_served(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_batch_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    )

    assert response.status_code == 400
    assert _refusal(response) == {
        "message": "Batching is not enabled",
        "extensions": {"code": "BAD_REQUEST", "retryable": False},
    }


@pytest.mark.parametrize(
    "body", [{}, {"variables": {}}, {"query": 42}], ids=["empty", "no-query", "not-a-string"]
)
async def test_a_missing_query_is_a_bad_request(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/graphql", json=body)

    assert response.status_code == 400
    assert _refusal(response)["extensions"] == {"code": "BAD_REQUEST", "retryable": False}


async def test_a_get_without_a_query_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "application/json"})

    assert response.status_code == 400
    assert _refusal(response) == {
        "message": "No GraphQL query found in the request",
        "extensions": {"code": "BAD_REQUEST", "retryable": False},
    }


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_not_allowed(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(
        method, "/graphql", content=b'{"query": "{ __typename }"}', headers=JSON
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert _refusal(response)["extensions"] == {"code": "METHOD_NOT_ALLOWED", "retryable": False}


async def test_a_mutation_over_get_is_a_bad_request_document(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": "mutation { __typename }"}, headers={"Accept": "*/*"}
    )

    assert response.status_code == 400
    assert _refusal(response)["extensions"] == {"code": "BAD_REQUEST", "retryable": False}
