"""A real HTTP receiver for webhook tests: uvicorn on a free loopback port, in the test's event
loop. It verifies every request with the Standard Webhooks reference library (the receiver's side
of the spec), records what it accepted, and answers what the test tells it to: a status, a
redirect, a delay (past the sender's timeout), or nothing at all (stopped, the port refusing
connections) until started again on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def type(self) -> str:
        return str(self.body["type"])

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.body["data"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Receiver:
    secret: str = ""
    port: int = field(default_factory=free_port)
    # Every request, verified or not, in arrival order; `accepted`: those answered 2xx.
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    unverified: int = 0
    answer: Callable[[Received], int] = lambda received: 200
    delay: float = 0.0
    on_accept: Callable[[Received], object] | None = None  # told of each accepted request
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def _hook(self, request: Request) -> Response:
        body = (await request.body()).decode()
        headers = dict(request.headers)
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            self.unverified += 1
            return Response(status_code=401)
        received = Received(headers["webhook-id"], json.loads(body), headers)
        self.requests.append(received)
        self._arrived.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.answer(received)
        if 200 <= status < 300:
            self.accepted.append(received)
            if self.on_accept is not None:
                self.on_accept(received)
        if 300 <= status < 400:
            return Response(status_code=status, headers={"location": "http://127.0.0.1:1/"})
        return Response(status_code=status)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hooks", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        # The test runner keeps its own signal handlers.
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
        self._task = asyncio.create_task(self._server.serve())
        server = self._server

        async def started() -> bool:
            return server.started

        await eventually(started, within=10)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = None
        self._task = None

    async def wait_for(self, condition: Callable[[], bool], *, within: float = 15) -> None:
        """Until `condition()` holds (checked as requests arrive); fails after `within` s."""
        async with asyncio.timeout(within):
            while not condition():
                self._arrived.clear()
                try:
                    async with asyncio.timeout(0.2):
                        await self._arrived.wait()
                except TimeoutError:
                    pass


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 10) -> None:
    """Until `check()` holds, polled (for state in the database, which has no event to wait
    on); fails after `within` seconds. Only for something expected to happen, never to wait
    for nothing to."""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


def unique_ids(received: list[Received]) -> list[str]:
    """webhook-ids in first-seen order, once each (what a deduping receiver keeps)."""
    seen: dict[str, None] = {}
    for item in received:
        seen.setdefault(item.webhook_id, None)
    return list(seen)
