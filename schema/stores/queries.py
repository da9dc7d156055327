"""Queries over stores and devices."""

from __future__ import annotations

import strawberry

from gamification.pagination import keyset_page
from gamification.stores.models import Device, Store
from schema.context import Info
from schema.permissions import IsAdmin
from schema.rate_limits import AnonymousReadLimit
from schema.relay import Connection, page_args
from schema.stores.types import DeviceType, StoreType


@strawberry.type
class StoreQueries:
    @strawberry.field(
        description="The program's stores. No token needed.",
        extensions=[AnonymousReadLimit()],
    )
    async def stores(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[StoreType]:
        first, after_id = page_args(info, first, after)
        page = await keyset_page(Store.all(), first=first, after_id=after_id)
        return Connection[StoreType].of(page, StoreType.from_model)

    @strawberry.field(permission_classes=[IsAdmin], description="Registered devices.")
    async def devices(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[DeviceType]:
        first, after_id = page_args(info, first, after)
        page = await keyset_page(Device.all(), first=first, after_id=after_id)
        return Connection[DeviceType].of(page, DeviceType.from_model)
