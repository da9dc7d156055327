"""Admin mutations: stores, device registration and revocation."""

from __future__ import annotations

import strawberry

from channels.credentials import issue_device_token
from gamification.stores import device_cache
from gamification.stores import registry as stores
from gamification.stores.models import Channel
from schema.context import Info
from schema.payloads import payload_of, payload_type
from schema.permissions import IsAdmin
from schema.relay import pk_of
from schema.stores.types import Channel as ChannelEnum
from schema.stores.types import DeviceType, StoreType

StorePayload = payload_type("StorePayload", store=StoreType)
DevicePayload = payload_type(
    "DevicePayload",
    device=DeviceType,
    credential=(
        str,
        "The device's long-lived bearer credential. Shown once, at registration.",
    ),
)


@strawberry.type
class StoreMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_store(
        self, info: Info, code: str, name: str, timezone: str = "UTC"
    ) -> StorePayload:  # type: ignore[valid-type]
        async def create() -> StorePayload:  # type: ignore[valid-type]
            store = await stores.create_store(code=code, name=name, timezone=timezone)
            return StorePayload(store=StoreType.from_model(store))

        return await payload_of(StorePayload, create)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def register_device(
        self,
        info: Info,
        store_id: strawberry.ID,
        channel: ChannelEnum,  # type: ignore[valid-type]
        name: str,
    ) -> DevicePayload:  # type: ignore[valid-type]
        async def register() -> DevicePayload:  # type: ignore[valid-type]
            device = await stores.register_device(
                store_id=pk_of(store_id, "Store", field="storeId"),
                channel=Channel(channel),
                name=name,
            )
            return DevicePayload(
                device=DeviceType.from_model(device),
                credential=issue_device_token(device, info.context.settings),
            )

        return await payload_of(DevicePayload, register)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def revoke_device(self, info: Info, device_id: strawberry.ID) -> DevicePayload:  # type: ignore[valid-type]
        async def revoke() -> DevicePayload:  # type: ignore[valid-type]
            device = await stores.revoke_device(pk_of(device_id, "Device", field="deviceId"))
            # Committed and forgotten here; every other process forgets it on hearing this.
            await device_cache.publish_revocation(info.context.redis, device.id)
            return DevicePayload(device=DeviceType.from_model(device))

        return await payload_of(DevicePayload, revoke)
