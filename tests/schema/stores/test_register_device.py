from __future__ import annotations

import httpx
from starlette.applications import Starlette

from gamification.members.models import Member, Role
from gamification.stores.models import Device
from schema.relay import to_global_id
from tests.factories import bearer, create_device, create_member, create_store, execute

REGISTER_DEVICE = """
mutation RegisterDevice($storeId: ID!, $channel: Channel!, $name: String!) {
  registerDevice(storeId: $storeId, channel: $channel, name: $name) {
    device { id name storeId channel revokedAt }
    credential
    errors { code field }
  }
}
"""

DEVICE_NODE = "query Device($id: ID!) { node(id: $id) { id ... on Device { name channel } } }"


async def test_an_admin_registers_a_device_whose_credential_authenticates_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    store = await create_store()

    # when
    result = await execute(
        app,
        REGISTER_DEVICE,
        {"storeId": to_global_id("Store", store.id), "channel": "POS", "name": "Till 1"},
        as_=admin,
    )

    # then
    assert result.errors is None
    payload = result.data["registerDevice"]
    assert payload["errors"] == []
    assert payload["device"]["name"] == "Till 1"
    assert payload["device"]["storeId"] == to_global_id("Store", store.id)
    assert payload["device"]["channel"] == "POS"
    assert payload["device"]["revokedAt"] is None
    response = await client.post(
        "/graphql",
        json={"query": DEVICE_NODE, "variables": {"id": payload["device"]["id"]}},
        headers=bearer(payload["credential"]),
    )
    assert response.json() == {
        "data": {"node": {"id": payload["device"]["id"], "name": "Till 1", "channel": "POS"}}
    }


async def test_a_device_cannot_act_for_the_app_channel(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    store = await create_store()

    result = await execute(
        app,
        REGISTER_DEVICE,
        {"storeId": to_global_id("Store", store.id), "channel": "APP", "name": "Phone"},
        as_=admin,
    )

    assert result.data["registerDevice"] == {
        "device": None,
        "credential": None,
        "errors": [{"code": "INVALID_CHANNEL", "field": "channel"}],
    }
    assert await Device.all().count() == 0


async def test_a_device_needs_an_existing_store(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        REGISTER_DEVICE,
        {"storeId": to_global_id("Store", 4242), "channel": "KIOSK", "name": "Kiosk"},
        as_=admin,
    )

    assert result.data["registerDevice"]["errors"] == [{"code": "NOT_FOUND", "field": "storeId"}]
    assert await Device.all().count() == 0


async def test_a_device_needs_a_store_id(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        REGISTER_DEVICE,
        {"storeId": to_global_id("Member", admin.id), "channel": "KIOSK", "name": "Kiosk"},
        as_=admin,
    )

    assert result.data["registerDevice"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "storeId"}
    ]
    assert await Device.all().count() == 0


async def test_only_admins_register_devices(app: Starlette) -> None:
    store = await create_store()
    callers: list[Member | Device] = [
        await create_member(),
        await create_member(role=Role.STAFF, store=store),
        await create_device(store=store),
    ]

    for caller in callers:
        result = await execute(
            app,
            REGISTER_DEVICE,
            {"storeId": to_global_id("Store", store.id), "channel": "KIOSK", "name": "Mine"},
            as_=caller,
        )

        assert result.data is None
        assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await Device.all().count() == 1
