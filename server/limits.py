"""The request timeout: an HTTP request that runs longer than the configured time is cancelled
(its transaction rolls back) and answered 504 with a TIMEOUT error. WebSockets are long-lived
by design and are not timed (each operation on them has the query limits instead).

The same wrapper answers 503 UNAVAILABLE (retryable) when the database is lost outside GraphQL
execution, where Strawberry would let the exception become a bare 500."""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.errors import UNAVAILABLE_MESSAGE, is_unavailable

logger = logging.getLogger("loyalty")

_TIMED_OUT = json.dumps(
    {"data": None, "errors": [{"message": "Request timed out", "extensions": {"code": "TIMEOUT"}}]}
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
