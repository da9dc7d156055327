"""The graphql-transport-ws handshake against a real uvicorn process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import create_device, create_member, device_token, member_token
from tests.server.conftest import LiveServer

PROTOCOL = "graphql-transport-ws"
# graphql-transport-ws closes with 4403 when `on_ws_connect` rejects the connection.
FORBIDDEN = 4403
_TIMEOUT_SECONDS = 5


async def _receive(socket: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(_TIMEOUT_SECONDS):
        message: dict[str, Any] = json.loads(await socket.recv())
    return message


async def _init(socket: ClientConnection, payload: dict[str, Any] | None) -> None:
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    await socket.send(json.dumps(message))


async def _close_code_after_init(live_server: LiveServer, payload: dict[str, Any] | None) -> int:
    async with connect(live_server.graphql_ws_url, subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        await _init(socket, payload)
        with pytest.raises(ConnectionClosed) as closed:
            await _receive(socket)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_a_member_token_is_acknowledged(live_server: LiveServer, settings: Settings) -> None:
    # given: a member in the database the server process reads
    member = await create_member(display_name="Socket Maya")

    async with connect(live_server.graphql_ws_url, subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        # when
        await _init(socket, {"authorization": f"Bearer {member_token(member, settings)}"})

        # then
        assert socket.subprotocol == PROTOCOL
        assert await _receive(socket) == {"type": "connection_ack"}


async def test_operations_on_an_acknowledged_connection_run_as_the_member(
    live_server: LiveServer, settings: Settings
) -> None:
    # given
    member = await create_member(display_name="Socket Maya")

    async with connect(live_server.graphql_ws_url, subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        await _init(socket, {"authorization": f"Bearer {member_token(member, settings)}"})
        assert (await _receive(socket))["type"] == "connection_ack"

        # when
        await socket.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": "{ me { id displayName } }"}}
            )
        )

        # then
        assert await _receive(socket) == {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {
                    "me": {"id": to_global_id("Member", member.id), "displayName": "Socket Maya"}
                }
            },
        }
        assert await _receive(socket) == {"id": "1", "type": "complete"}


async def test_a_device_credential_is_acknowledged(
    live_server: LiveServer, settings: Settings
) -> None:
    kiosk = await create_device()

    async with connect(live_server.graphql_ws_url, subprotocols=[PROTOCOL]) as socket:  # type: ignore[list-item]
        await _init(socket, {"authorization": f"Bearer {device_token(kiosk, settings)}"})

        assert await _receive(socket) == {"type": "connection_ack"}


async def test_connecting_without_a_token_is_closed_with_4403(live_server: LiveServer) -> None:
    assert await _close_code_after_init(live_server, {}) == FORBIDDEN


async def test_connecting_without_a_payload_is_closed_with_4403(live_server: LiveServer) -> None:
    assert await _close_code_after_init(live_server, None) == FORBIDDEN


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer ", "Basic bWF5YTpwYXNzd29yZA==", "not-a-jwt", 42, {"a": "b"}],
)
async def test_connecting_with_a_bad_token_is_closed_with_4403(
    live_server: LiveServer, authorization: object
) -> None:
    assert await _close_code_after_init(live_server, {"authorization": authorization}) == FORBIDDEN


async def test_connecting_with_a_revoked_device_credential_is_closed_with_4403(
    live_server: LiveServer, settings: Settings
) -> None:
    kiosk = await create_device(revoked=True)

    code = await _close_code_after_init(
        live_server, {"authorization": f"Bearer {device_token(kiosk, settings)}"}
    )

    assert code == FORBIDDEN


async def test_a_token_signed_with_another_secret_is_closed_with_4403(
    live_server: LiveServer, settings: Settings
) -> None:
    member = await create_member()
    forged = member_token(member, settings.model_copy(update={"jwt_secret": SecretStr("x" * 40)}))

    code = await _close_code_after_init(live_server, {"authorization": f"Bearer {forged}"})

    assert code == FORBIDDEN
