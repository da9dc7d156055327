"""Admin mutations: stores, device registration and revocation."""

from __future__ import annotations

import strawberry

from channels.credentials import issue_device_token
from gamification.stores import device_cache
from gamification.stores import registry as stores
from gamification.stores.models import Channel
from schema.context import Info
from schema.errors import UserError, errors_of
from schema.permissions import IsAdmin
from schema.relay import pk_of
from schema.stores.types import Channel as ChannelEnum
from schema.stores.types import DeviceType, StoreType


@strawberry.type
class StorePayload:
    store: StoreType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DevicePayload:
    device: DeviceType | None = None
    credential: str | None = strawberry.field(
        default=None,
        description="The device's long-lived bearer credential. Shown once, at registration.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class StoreMutations:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_store(
        self, info: Info, code: str, name: str, timezone: str = "UTC"
    ) -> StorePayload:
        store, errors = await errors_of(
            lambda: stores.create_store(code=code, name=name, timezone=timezone)
        )
        return StorePayload(store=StoreType.from_model(store) if store else None, errors=errors)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def register_device(
        self,
        info: Info,
        store_id: strawberry.ID,
        channel: ChannelEnum,  # type: ignore[valid-type]
        name: str,
    ) -> DevicePayload:
        async def register() -> DevicePayload:
            device = await stores.register_device(
                store_id=pk_of(store_id, "Store", field="storeId"),
                channel=Channel(channel),
                name=name,
            )
            return DevicePayload(
                device=DeviceType.from_model(device),
                credential=issue_device_token(device, info.context.settings),
            )

        payload, errors = await errors_of(register)
        return payload or DevicePayload(errors=errors)

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def revoke_device(self, info: Info, device_id: strawberry.ID) -> DevicePayload:
        async def revoke() -> DeviceType:
            device = await stores.revoke_device(pk_of(device_id, "Device", field="deviceId"))
            # Committed and forgotten here; every other process forgets it on hearing this.
            await device_cache.publish_revocation(info.context.redis, device.id)
            return DeviceType.from_model(device)

        device, errors = await errors_of(revoke)
        return DevicePayload(device=device, errors=errors)
