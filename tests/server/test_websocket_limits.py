"""Limits on operations sent over graphql-transport-ws: the request timeout (a query or mutation
running too long is answered TIMEOUT, rolled back, and the socket stays usable; subscriptions
are not timed) and the document limits (answered as the operation's errors, not a bare
`complete`).

The app runs in this process (raw ASGI messages), so that a test can make an operation slow."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gamification.members import profiles as members
from gamification.members.models import Member, Role
from schema.relay import to_global_id
from server.app import create_app
from server.settings import Settings
from tests.factories import bearer, create_member, member_token

PROTOCOL = "graphql-transport-ws"
RECEIVE_TIMEOUT_SECONDS = 5
OPERATION_TIMEOUT_SECONDS = 0.3

ME = "{ me { id } }"
RENAME = 'mutation { updateProfile(displayName: "Renamed") { member { displayName } } }'
POINTS_CHANGED = "subscription { pointsChanged { balance } }"
ADJUST_POINTS = """
mutation Adjust($memberId: ID!) {
  adjustPoints(memberId: $memberId, points: 5, reason: "goodwill", idempotencyKey: "ws-limit-1") {
    errors { code }
  }
}
"""
TIMED_OUT = [
    {
        "message": "Request timed out; retry with the same idempotency key.",
        "extensions": {"code": "UNAVAILABLE", "retryable": True, "reason": "TIMEOUT"},
    }
]


def _app(base: Starlette, **changes: Any) -> Starlette:
    """An app with other settings, sharing the running app's database, Redis and fan-out."""
    settings: Settings = base.state.settings.model_copy(update=changes)
    application = create_app(settings)
    application.state.redis = base.state.redis
    application.state.broker = base.state.broker
    return application


class Socket:
    """One graphql-transport-ws connection to an app in this process."""

    def __init__(self, application: Starlette) -> None:
        self.application = application
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def open(self, token: str) -> None:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
            "subprotocols": [PROTOCOL],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await self.incoming.put({"type": "websocket.connect"})
        self.task = asyncio.create_task(
            self.application(scope, self.incoming.get, self.outgoing.put)  # type: ignore[arg-type]
        )
        accepted = await self._next_event()
        assert accepted["type"] == "websocket.accept", accepted
        await self.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert await self.receive() == {"type": "connection_ack"}

    async def close(self) -> None:
        await self.incoming.put({"type": "websocket.disconnect", "code": 1000})
        if self.task is not None:
            async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
                await self.task

    async def send(self, message: dict[str, Any]) -> None:
        await self.incoming.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def subscribe(self, operation_id: str, query: str, **variables: Any) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def _next_event(self) -> dict[str, Any]:
        async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
            return await self.outgoing.get()

    async def receive(self) -> dict[str, Any]:
        event = await self._next_event()
        assert event["type"] == "websocket.send", f"the socket was closed: {event}"
        message: dict[str, Any] = json.loads(event["text"])
        return message

    async def event(self) -> dict[str, Any]:
        """The next ASGI event, a message or a close."""
        return await self._next_event()


@asynccontextmanager
async def _socket(application: Starlette, token: str) -> AsyncIterator[Socket]:
    socket = Socket(application)
    await socket.open(token)
    try:
        yield socket
    finally:
        await socket.close()


async def test_a_slow_query_times_out_and_the_socket_stays_usable(
    app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a member lookup that hangs, and a short timeout
    member = await create_member()
    real_members_by_id = members.members_by_id

    async def hang(member_ids: object) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(members, "members_by_id", hang)
    application = _app(app, request_timeout_seconds=OPERATION_TIMEOUT_SECONDS)

    async with _socket(application, member_token(member, settings)) as socket:
        # when
        started = time.perf_counter()
        await socket.subscribe("1", ME)
        answer = await socket.receive()
        waited = time.perf_counter() - started

        # then: a typed error, at the timeout
        assert answer == {"id": "1", "type": "error", "payload": TIMED_OUT}
        assert OPERATION_TIMEOUT_SECONDS <= waited < OPERATION_TIMEOUT_SECONDS + 2

        # and: the same connection serves the next operation
        monkeypatch.setattr(members, "members_by_id", real_members_by_id)
        await socket.subscribe("2", ME)
        assert await socket.receive() == {
            "id": "2",
            "type": "next",
            "payload": {"data": {"me": {"id": to_global_id("Member", member.id)}}},
        }
        assert await socket.receive() == {"id": "2", "type": "complete"}


async def test_a_slow_mutation_times_out_and_rolls_back(
    app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a profile update that hangs after writing, inside its transaction
    member = await create_member(display_name="Before")
    real_save = Member.save

    async def save_then_hang(self: Member, *args: Any, **kwargs: Any) -> None:
        await real_save(self, *args, **kwargs)
        await asyncio.sleep(30)

    monkeypatch.setattr(Member, "save", save_then_hang)
    application = _app(app, request_timeout_seconds=OPERATION_TIMEOUT_SECONDS)

    async with _socket(application, member_token(member, settings)) as socket:
        # when
        await socket.subscribe("1", RENAME)
        answer = await socket.receive()

    # then
    assert answer == {"id": "1", "type": "error", "payload": TIMED_OUT}
    monkeypatch.setattr(Member, "save", real_save)
    assert (await members.get_member(member.id)).display_name == "Before"


async def test_a_subscription_outlives_the_timeout(app: Starlette, settings: Settings) -> None:
    # given: a member following their points on a socket with a short timeout
    member = await create_member()
    admin = await create_member(role=Role.ADMIN)
    application = _app(app, request_timeout_seconds=OPERATION_TIMEOUT_SECONDS)

    async with _socket(application, member_token(member, settings)) as socket:
        await socket.subscribe("1", POINTS_CHANGED)
        first = await socket.receive()
        await asyncio.sleep(OPERATION_TIMEOUT_SECONDS * 2)

        # when: their points change after the timeout has passed
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            adjusted = await http.post(
                "/graphql",
                json={
                    "query": ADJUST_POINTS,
                    "variables": {"memberId": to_global_id("Member", member.id)},
                },
                headers=bearer(member_token(admin, settings)),
            )
        second = await socket.receive()

    # then: the subscription was still there
    assert adjusted.json() == {"data": {"adjustPoints": {"errors": []}}}
    assert first == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"pointsChanged": {"balance": 0}}},
    }
    assert second == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"pointsChanged": {"balance": 5}}},
    }


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("{ " + " " * 10_001 + "__typename }", "QUERY_TOO_LONG"),
        ("{ " + "a " * 1_001 + "}", "QUERY_TOO_MANY_TOKENS"),
    ],
    ids=["length", "tokens"],
)
async def test_a_document_over_a_limit_is_answered_with_its_error(
    app: Starlette, settings: Settings, document: str, code: str
) -> None:
    member = await create_member()

    async with _socket(app, member_token(member, settings)) as socket:
        await socket.subscribe("1", document)
        refused = await socket.receive()
        # and the connection goes on
        await socket.subscribe("2", "{ __typename }")
        after = await socket.receive()

    assert refused["type"] == "error"
    assert [error["extensions"]["code"] for error in refused["payload"]] == [code]
    assert after == {"id": "2", "type": "next", "payload": {"data": {"__typename": "Query"}}}


async def test_a_syntax_error_closes_the_socket_with_4400(
    app: Starlette, settings: Settings
) -> None:
    member = await create_member()
    socket = Socket(app)
    await socket.open(member_token(member, settings))

    await socket.subscribe("1", "{ me { id }")
    closed = await socket.event()
    await socket.close()

    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4400
