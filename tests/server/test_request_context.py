"""The context each request gets: its loaders share reads within one HTTP request, and never
across the operations of a WebSocket connection, which keeps one context for its whole life."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.websockets import WebSocket

from server.graphql_app import LoyaltyGraphQL
from tests.factories import actor_of, create_member, credit_points

POINTS = "{ me { displayName points { balance } } }"


async def _unused(*_: Any) -> Any:
    raise AssertionError("the test never talks over this connection")


def _scope(app: Starlette, kind: str) -> dict[str, Any]:
    return {"type": kind, "app": app, "path": "/graphql", "headers": [], "query_string": b""}


async def test_operations_on_one_websocket_read_afresh(app: Starlette) -> None:
    # given: a connection's context, and a member with 10 points
    member = await create_member()
    await credit_points(member=member, points=10)
    view = LoyaltyGraphQL(app.state.settings)
    socket = WebSocket(_scope(app, "websocket"), receive=_unused, send=_unused)
    context = await view.get_context(socket, socket)
    context.actor = actor_of(member)
    first = await view.schema.execute(POINTS, context_value=context)

    # when: the points change between two operations on the connection
    await credit_points(member=member, points=5)
    second = await view.schema.execute(POINTS, context_value=context)

    # then
    assert (first.errors, second.errors) == (None, None)
    assert first.data is not None
    assert second.data is not None
    balances = [r["me"]["points"]["balance"] for r in (first.data, second.data)]
    assert balances == [10, 15]


async def test_one_http_request_reads_the_member_once(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    member = await create_member()
    view = LoyaltyGraphQL(app.state.settings)
    request = Request(_scope(app, "http"))
    context = await view.get_context(request, request)  # type: ignore[arg-type]
    context.actor = actor_of(member)

    # when: the member asked for twice in one request
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        result = await view.schema.execute(
            "{ me { displayName } again: me { email } }", context_value=context
        )

    # then
    assert result.errors is None, result.errors
    assert len([r for r in caplog.records if r.name == "tortoise.db_client"]) == 1
