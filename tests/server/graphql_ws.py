"""A small graphql-transport-ws client (over the `websockets` library) and an HTTP helper, for
tests against a real server process."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from tortoise import connections
from websockets.asyncio.client import ClientConnection, connect

from gamification.ledger import accounts
from gamification.ledger.models import LedgerAccount
from tests.process_caches import forget_process_caches
from tests.server.conftest import LiveServer, run_server

PROTOCOL = "graphql-transport-ws"
TIMEOUT_SECONDS = 10.0

_ids = itertools.count(1)


class Session:
    """One acknowledged connection; messages of every operation are read in order."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        operation_id = str(next(_ids))
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        await self.socket.send(
            json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})
        )
        return operation_id

    async def complete(self, operation_id: str) -> None:
        await self.socket.send(json.dumps({"id": operation_id, "type": "complete"}))

    async def receive(self, within: float = TIMEOUT_SECONDS) -> dict[str, Any]:
        async with asyncio.timeout(within):
            message: dict[str, Any] = json.loads(await self.socket.recv())
        return message

    async def next_data(self, operation_id: str, within: float = TIMEOUT_SECONDS) -> Any:
        """The data of the next `next` message of the operation. Fails on its errors."""
        while True:
            message = await self.receive(within)
            if message.get("id") != operation_id:
                continue
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            return message["payload"]["data"]

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await self.receive(seconds)
        except TimeoutError:
            return True
        return False


@asynccontextmanager
async def session(server: LiveServer, token: str) -> AsyncIterator[Session]:
    async with connect(server.graphql_ws_url, subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        opened = Session(socket)
        assert await opened.receive() == {"type": "connection_ack"}
        yield opened


async def http_graphql(
    server: LiveServer, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT_SECONDS) as http:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def realtime_stats(server: LiveServer) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT_SECONDS) as http:
        stats: dict[str, int] = (await http.get("/realtimez")).json()
    return stats


@asynccontextmanager
async def server_with_program_account(env: dict[str, str]) -> AsyncIterator[ProgramServer]:
    """A server process for one test module, and the id of the program's ledger account it
    has cached (`accounts.program_account_id`, read once at its start)."""
    program_pk = await accounts.program_account_id()
    # A small pool: PostgreSQL's connections are shared with the test process and other servers.
    with run_server({"LOYALTY_DATABASE_POOL_MAX": "5", **env}) as server:
        yield ProgramServer(server, program_pk)


@dataclass(frozen=True)
class ProgramServer:
    server: LiveServer
    program_pk: int

    async def pin_program_account(self) -> None:
        """Give the program's account, recreated by the cleanup between tests, the id the
        server has cached, which it never learns has changed."""
        program = await LedgerAccount.get(code=accounts.PROGRAM_ACCOUNT_CODE)
        if program.id != self.program_pk:
            table = LedgerAccount._meta.db_table
            await connections.get("default").execute_query(
                f'UPDATE "{table}" SET id = {int(self.program_pk)} WHERE id = {int(program.id)}'
            )
        forget_process_caches()
        await accounts.program_account_id()
