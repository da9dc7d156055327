"""Limits on HTTP requests, before GraphQL sees them.

- The request timeout: an HTTP request that runs longer than the configured time is cancelled
  (its transaction rolls back, unless it had committed just before) and answered 504 with an
  UNAVAILABLE error, `retryable: true`, `reason: TIMEOUT`: a retry with the same idempotency
  key tells which. A WebSocket is long-lived
  by design and is not timed as a whole; each query or mutation on it is
  (schema/limits.py, WebSocketOperationTimeout).
- The body size: a body larger than the configured size is refused 413 before it is decoded
  (as JSON, by Strawberry), from its Content-Length when it has one, else as soon as more has
  arrived than allowed.

The same wrapper answers 503 UNAVAILABLE (retryable) when the database is lost outside GraphQL
execution, where Strawberry would let the exception become a bare 500."""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.errors import UNAVAILABLE_MESSAGE, is_unavailable
from schema.limits import TIMED_OUT_EXTENSIONS, TIMED_OUT_MESSAGE

logger = logging.getLogger("loyalty")

_TIMED_OUT = json.dumps(
    {"data": None, "errors": [{"message": TIMED_OUT_MESSAGE, "extensions": TIMED_OUT_EXTENSIONS}]}
).encode()
_UNAVAILABLE = json.dumps(
    {
        "data": None,
        "errors": [
            {
                "message": UNAVAILABLE_MESSAGE,
                "extensions": {"code": "UNAVAILABLE", "retryable": True},
            }
        ],
    }
).encode()


def _too_large(max_bytes: int) -> bytes:
    return json.dumps(
        {
            "data": None,
            "errors": [
                {
                    "message": f"The request body is larger than {max_bytes} bytes.",
                    "extensions": {"code": "REQUEST_TOO_LARGE", "retryable": False},
                }
            ],
        }
    ).encode()


async def _answer(send: Send, status: int, body: bytes, *, retry_after: bool = False) -> None:
    headers = [(b"content-type", b"application/json")]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestTimeout:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, send_tracking)
        except TimeoutError:
            logger.warning("request to %s timed out after %ss", scope.get("path"), self.seconds)
            if started:
                # Too late for a status: the client sees a cut-off response.
                return
            await _answer(send, 504, _TIMED_OUT)
        except Exception as error:
            # Outside GraphQL's own error handling (authenticating the caller reads the
            # database): a lost database is a 503 the client may retry, not a bare 500.
            if started or not is_unavailable(error):
                raise
            logger.warning("database unavailable for %s: %r", scope.get("path"), error)
            await _answer(send, 503, _UNAVAILABLE, retry_after=True)


class RequestBodyLimit:
    """Refuses request bodies over `max_bytes` (413) before the app reads them. The body is
    read here, up to the limit, and handed on whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._refusal = _too_large(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await _answer(send, 413, self._refusal)
                    return
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see it as it would have.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _answer(send, 413, self._refusal)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives `messages` first, then what the client sends next."""
    pending = list(messages)

    async def replaying() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying
