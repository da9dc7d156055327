"""What each subscriber costs: a subscription's queue is a list and a future made only while it
waits (not an asyncio.Queue, ~3 KiB each), and `loyalty serve` keeps no compression state per
WebSocket and bounds the messages a client may send."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from gamification.events.realtime import Notice, Topic
from server import cli
from server.pubsub import Broker, Subscription
from server.settings import Settings
from tests.factories import create_member, member_token
from tests.server.conftest import LiveServer, _free_port, _wait_until_ready
from tests.server.helpers import NS

PROTOCOL = "graphql-transport-ws"
MAX_MESSAGE_BYTES = 4_000
MESSAGE_TOO_BIG = 1009
_TIMEOUT_SECONDS = 5


def _notice(version: int) -> Notice:
    return Notice(f"{NS}test:memory", Topic.POINTS_CHANGED, version, {"balance": version})


async def test_a_subscribers_queue_costs_little_memory(app: Starlette) -> None:
    broker: Broker = app.state.broker
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        async with contextlib.AsyncExitStack() as stack:
            subscriptions = [
                await stack.enter_async_context(broker.subscribe(f"{NS}test:memory"))
                for _ in range(1000)
            ]
            per_subscription = (tracemalloc.get_traced_memory()[0] - before) / 1000
            assert len(subscriptions) == 1000
    finally:
        tracemalloc.stop()

    # about 1,100 bytes: the subscription, its context manager, its place in the channel's set;
    # an asyncio.Queue alone would add over 3,000
    assert per_subscription < 2_000, per_subscription


async def test_a_waiting_subscriber_gets_the_notice_and_a_cancelled_one_loses_none() -> None:
    # given: a subscriber waiting for its next notice
    subscription = Subscription(f"{NS}test:memory", maxsize=3)
    waiting = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)

    # when
    subscription.offer(_notice(1))

    # then
    assert (await asyncio.wait_for(waiting, 1)).version == 1
    # a wait cancelled (the socket dropped) leaves the queue as it was
    cancelled = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    for version in range(2, 7):
        subscription.offer(_notice(version))
    assert subscription.queued == 3
    assert [(await anext(subscription)).version for _ in range(3)] == [4, 5, 6]
    assert subscription.dropped == 2


def test_serve_passes_the_websocket_settings_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **options: calls.append(options))
    args = Namespace(host="127.0.0.1", port=0, workers=1, log_level="info", access_log=False)

    for deflate, size in ((False, 100_000), (True, 2_000)):
        settings = Settings(ws_per_message_deflate=deflate, ws_max_message_bytes=size)
        assert cli.cmd_serve(args, settings) == 0

    assert [(c["ws_per_message_deflate"], c["ws_max_size"]) for c in calls] == [
        (False, 100_000),
        (True, 2_000),
    ]


@pytest.fixture(scope="module")
def served(app: Starlette, service_env: dict[str, str]) -> Iterator[LiveServer]:
    """The server as operators run it: `loyalty serve`, with a small message limit."""
    server = LiveServer(host="127.0.0.1", port=_free_port())
    env = {**service_env, "LOYALTY_WS_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES)}
    command = [sys.executable, "-m", "server.cli", "serve", "--port", str(server.port)]
    with tempfile.NamedTemporaryFile(prefix="loyalty-serve-", suffix=".log") as log:
        process = subprocess.Popen(
            [*command, "--no-access-log", "--log-level", "warning"],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_ready(process, server.http_url, Path(log.name))
            yield server
        finally:
            process.terminate()
            process.wait(timeout=10)


async def test_the_server_declines_compression_and_refuses_oversized_messages(
    served: LiveServer, settings: Settings
) -> None:
    member = await create_member()
    token = member_token(member, settings)
    # the client offers permessage-deflate, as browsers do
    async with connect(served.graphql_ws_url, subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        assert socket.response is not None
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
        # a message under the limit is read
        padding = "x" * (MAX_MESSAGE_BYTES - 500)
        init = {"authorization": f"Bearer {token}", "padding": padding}
        await socket.send(json.dumps({"type": "connection_init", "payload": init}))
        async with asyncio.timeout(_TIMEOUT_SECONDS):
            assert json.loads(await socket.recv()) == {"type": "connection_ack"}

        # when: one over it
        query = "{ __typename }" + " " * MAX_MESSAGE_BYTES
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": query}}
        await socket.send(json.dumps(subscribe))

        # then
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(_TIMEOUT_SECONDS):
                await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == MESSAGE_TOO_BIG
