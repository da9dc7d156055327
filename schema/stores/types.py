"""GraphQL types for stores and their devices."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gamification.copies import copy_into
from gamification.stores import models as stores_models
from schema.context import Info
from schema.relay import Node, register_node, to_global_id

Channel = strawberry.enum(stores_models.Channel, name="Channel")


@strawberry.type(name="Store")
class StoreType(Node):
    code: str
    name: str
    timezone: str

    @classmethod
    def from_model(cls, store: stores_models.Store) -> StoreType:
        return copy_into(cls, store, id=to_global_id("Store", store.id))


@strawberry.type(name="Device", description="A kiosk, till or web-shop server. Admins only.")
class DeviceType(Node):
    name: str
    store_id: strawberry.ID
    channel: Channel  # type: ignore[valid-type]
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, device: stores_models.Device) -> DeviceType:
        return copy_into(
            cls,
            device,
            id=to_global_id("Device", device.id),
            store_id=to_global_id("Store", device.store_id),  # type: ignore[attr-defined]
        )


async def load_store_node(info: Info, pk: int) -> StoreType | None:
    if info.context.actor is None:
        return None
    store = await stores_models.Store.get_or_none(id=pk)
    return StoreType.from_model(store) if store else None


async def load_device_node(info: Info, pk: int) -> DeviceType | None:
    actor = info.context.actor
    if actor is None or not (actor.is_admin or (actor.is_device and actor.id == pk)):
        return None
    device = await stores_models.Device.get_or_none(id=pk)
    return DeviceType.from_model(device) if device else None


register_node("Store", load_store_node)
register_node("Device", load_device_node)
