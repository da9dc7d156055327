"""The request body limit: a body over `LOYALTY_REQUEST_MAX_BYTES` is refused (413) before it is
decoded, whether or not it says its length up front."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.app import create_app
from server.settings import Settings

MAX_BYTES = 2_000
TOO_LARGE = {
    "data": None,
    "errors": [
        {
            "message": f"The request body is larger than {MAX_BYTES} bytes.",
            "extensions": {"code": "REQUEST_TOO_LARGE", "retryable": False},
        }
    ],
}


@pytest.fixture
def application(app: Starlette) -> Starlette:
    settings: Settings = app.state.settings.model_copy(update={"request_max_bytes": MAX_BYTES})
    limited = create_app(settings)
    limited.state.redis = app.state.redis
    return limited


@pytest.fixture
async def http(application: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _body(size: int) -> bytes:
    """A JSON request of exactly `size` bytes: `{ __typename }` padded with spaces."""
    body = json.dumps({"query": "{ __typename }", "variables": {}}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_body_over_the_limit_is_refused_by_its_length(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", content=_body(MAX_BYTES + 1), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_a_streamed_body_over_the_limit_is_refused(http: httpx.AsyncClient) -> None:
    # given: a body sent in pieces, without a Content-Length
    body = _body(MAX_BYTES * 3)

    # when
    response = await http.post(
        "/graphql", content=_chunks(body, 500), headers={"Content-Type": "application/json"}
    )

    # then
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


@pytest.mark.parametrize("streamed", [False, True], ids=["with-length", "streamed"])
async def test_a_body_at_the_limit_is_served(http: httpx.AsyncClient, streamed: bool) -> None:
    body = _body(MAX_BYTES)
    content: Any = _chunks(body, 500) if streamed else body

    response = await http.post(
        "/graphql", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_malformed_content_length_is_refused(application: Starlette) -> None:
    transport = httpx.ASGITransport(app=application)
    request = httpx.Request(
        "POST",
        "http://testserver/graphql",
        content=_body(100),
        headers={"Content-Type": "application/json", "Content-Length": "-5"},
    )

    response = await transport.handle_async_request(request)
    await response.aread()

    assert response.status_code == 413
