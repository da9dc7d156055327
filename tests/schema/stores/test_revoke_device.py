from __future__ import annotations

import httpx
from starlette.applications import Starlette

from gamification.members.models import Member, Role
from gamification.stores.models import Device
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    bearer,
    create_device,
    create_member,
    create_store,
    device_token,
    execute,
)

REVOKE_DEVICE = """
mutation RevokeDevice($deviceId: ID!) {
  revokeDevice(deviceId: $deviceId) {
    device { id revokedAt }
    errors { code field }
  }
}
"""

DEVICE_NODE = "query Device($id: ID!) { node(id: $id) { id } }"

CREATE_STORE = """
mutation { createStore(code: "CITY", name: "City Centre") { store { id } errors { code } } }
"""

REGISTER_DEVICE = """
mutation RegisterDevice($storeId: ID!) {
  registerDevice(storeId: $storeId, channel: KIOSK, name: "Kiosk 1") {
    device { id }
    credential
    errors { code }
  }
}
"""


async def test_the_device_lifecycle_from_store_to_revocation(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    # given: an admin opens a store and registers a kiosk in it
    admin = await create_member(role=Role.ADMIN)
    store = await execute(app, CREATE_STORE, as_=admin)
    registered = await execute(
        app,
        REGISTER_DEVICE,
        {"storeId": store.data["createStore"]["store"]["id"]},
        as_=admin,
    )
    device_id = registered.data["registerDevice"]["device"]["id"]
    credential = registered.data["registerDevice"]["credential"]
    query = {"query": DEVICE_NODE, "variables": {"id": device_id}}
    working = await client.post("/graphql", json=query, headers=bearer(credential))
    assert working.json() == {"data": {"node": {"id": device_id}}}

    # when
    revoked = await execute(app, REVOKE_DEVICE, {"deviceId": device_id}, as_=admin)

    # then
    assert revoked.data["revokeDevice"]["errors"] == []
    refused = await client.post("/graphql", json=query, headers=bearer(credential))
    assert refused.json()["data"] == {"node": None}
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["UNAUTHENTICATED"]


async def test_a_revoked_device_credential_is_refused_afterwards(
    app: Starlette, client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: a kiosk whose credential works
    admin = await create_member(role=Role.ADMIN)
    kiosk = await create_device()
    credential = device_token(kiosk, settings)
    query = {"query": DEVICE_NODE, "variables": {"id": to_global_id("Device", kiosk.id)}}
    before = await client.post("/graphql", json=query, headers=bearer(credential))
    assert before.json()["data"]["node"] is not None

    # when
    result = await execute(
        app, REVOKE_DEVICE, {"deviceId": to_global_id("Device", kiosk.id)}, as_=admin
    )

    # then
    assert result.errors is None
    assert result.data["revokeDevice"]["errors"] == []
    assert result.data["revokeDevice"]["device"]["revokedAt"] is not None
    after = await client.post("/graphql", json=query, headers=bearer(credential))
    assert [e["extensions"]["code"] for e in after.json()["errors"]] == ["UNAUTHENTICATED"]


async def test_revoking_twice_keeps_the_first_revocation_time(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    kiosk = await create_device()
    variables = {"deviceId": to_global_id("Device", kiosk.id)}

    first = await execute(app, REVOKE_DEVICE, variables, as_=admin)
    second = await execute(app, REVOKE_DEVICE, variables, as_=admin)

    assert second.data["revokeDevice"]["errors"] == []
    assert (
        second.data["revokeDevice"]["device"]["revokedAt"]
        == first.data["revokeDevice"]["device"]["revokedAt"]
    )


async def test_revoking_an_unknown_device_is_a_typed_error(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app, REVOKE_DEVICE, {"deviceId": to_global_id("Device", 4242)}, as_=admin
    )

    assert result.data["revokeDevice"] == {
        "device": None,
        "errors": [{"code": "NOT_FOUND", "field": "deviceId"}],
    }


async def test_revoking_needs_a_device_id(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    store = await create_store()

    result = await execute(
        app, REVOKE_DEVICE, {"deviceId": to_global_id("Store", store.id)}, as_=admin
    )

    assert result.data["revokeDevice"]["errors"] == [{"code": "INVALID_INPUT", "field": "deviceId"}]


async def test_only_admins_revoke_devices(app: Starlette) -> None:
    store = await create_store()
    kiosk = await create_device(store=store)
    callers: list[Member | Device] = [
        await create_member(),
        await create_member(role=Role.STAFF, store=store),
        kiosk,
    ]

    for caller in callers:
        result = await execute(
            app, REVOKE_DEVICE, {"deviceId": to_global_id("Device", kiosk.id)}, as_=caller
        )

        assert result.data is None
        assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert (await Device.get(id=kiosk.id)).revoked_at is None
