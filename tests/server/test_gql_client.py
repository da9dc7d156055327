"""A third-party client: `gql` runs a query and a mutation against a real server process, over
HTTP and over its WebSocket transport (graphql-transport-ws), and follows a subscription."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from starlette.applications import Starlette

from gamification.members import profiles as members
from gamification.stores.models import Channel
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    bearer,
    create_device,
    create_earn_rule,
    create_member,
    device_token,
    member_token,
)
from tests.server.conftest import LiveServer
from tests.server.graphql_ws import ProgramServer, server_with_program_account


@pytest.fixture(scope="module")
async def program_server(
    app: Starlette, service_env: dict[str, str]
) -> AsyncIterator[ProgramServer]:
    async with server_with_program_account(service_env) as started:
        yield started


@pytest.fixture
async def live_server(program_server: ProgramServer) -> LiveServer:
    """This module's own server, whose cached program account is kept valid between tests
    (see `tests.server.graphql_ws.server_with_program_account`)."""
    await program_server.pin_program_account()
    return program_server.server


ME = gql("query Me { me { id displayName } }")
RENAME = GraphQLRequest(
    """
    mutation Rename($name: String!) {
      updateProfile(displayName: $name) { member { displayName } errors { code } }
    }
    """,
    variable_values={"name": "Renamed"},
)


async def test_gql_over_http(live_server: LiveServer, settings: Settings) -> None:
    # given
    member = await create_member(display_name="Ada")
    transport = HTTPXAsyncTransport(
        url=f"{live_server.http_url}/graphql",
        headers={"Authorization": f"Bearer {member_token(member, settings)}"},
    )

    # when
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        me = await session.execute(ME)
        renamed = await session.execute(RENAME)

    # then
    assert me == {"me": {"id": to_global_id("Member", member.id), "displayName": "Ada"}}
    assert renamed == {"updateProfile": {"member": {"displayName": "Renamed"}, "errors": []}}
    assert (await members.get_member(member.id)).display_name == "Renamed"


async def test_gql_over_websockets(live_server: LiveServer, settings: Settings) -> None:
    # given
    member = await create_member(display_name="Grace")
    transport = WebsocketsTransport(
        url=live_server.graphql_ws_url,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"authorization": f"Bearer {member_token(member, settings)}"},
    )

    # when
    async with Client(transport=transport) as session:
        me = await session.execute(ME)
        renamed = await session.execute(RENAME)

    # then
    assert me["me"]["displayName"] == "Grace"
    assert renamed == {"updateProfile": {"member": {"displayName": "Renamed"}, "errors": []}}


async def test_gql_sees_typed_errors(live_server: LiveServer) -> None:
    transport = HTTPXAsyncTransport(url=f"{live_server.http_url}/graphql")

    async with Client(transport=transport) as session:
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(ME)

    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


POINTS_CHANGED = gql("subscription { pointsChanged { balance held available } }")
RECORD_PURCHASE = """
mutation Record($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) { pointsEarned errors { code } }
}
"""


async def test_gql_subscribes_to_points_changed(
    live_server: LiveServer, settings: Settings
) -> None:
    # given: a member subscribed with gql, and a till that will record their purchase
    await create_earn_rule()
    member = await create_member()
    till = await create_device(channel=Channel.POS)
    transport = WebsocketsTransport(
        url=live_server.graphql_ws_url,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"authorization": f"Bearer {member_token(member, settings)}"},
    )
    async with Client(transport=transport) as session:
        stream = session.subscribe(POINTS_CHANGED)
        first = await asyncio.wait_for(anext(stream), 10)

        # when
        async with httpx.AsyncClient(base_url=live_server.http_url) as http:
            answer = await http.post(
                "/graphql",
                headers=bearer(device_token(till, settings)),
                json={
                    "query": RECORD_PURCHASE,
                    "variables": {
                        "key": "gql-subscription-1",
                        "input": {
                            "memberId": to_global_id("Member", member.id),
                            "amount": "12.00",
                            "currency": "EUR",
                            "externalId": "gql-subscription-1",
                            "occurredAt": datetime.now(UTC).isoformat(),
                        },
                    },
                },
            )
        second = await asyncio.wait_for(anext(stream), 10)
        await stream.aclose()  # sends `complete`: the server ends the operation

    # then
    assert answer.json()["data"]["recordPurchase"]["pointsEarned"] == 12
    assert first == {"pointsChanged": {"balance": 0, "held": 0, "available": 0}}
    assert second == {"pointsChanged": {"balance": 12, "held": 0, "available": 12}}
