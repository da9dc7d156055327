"""Stores and the devices registered in them (kiosks, tills, the web shop's server)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gamification import program_settings, sql
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound
from gamification.limits import MAX_INT32
from gamification.members.profiles import check_timezone
from gamification.stores.device_cache import active_devices
from gamification.stores.models import DEVICE_CHANNELS, Channel, Device, Store

_STORE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")


async def create_store(*, code: str, name: str, timezone: str = "UTC") -> Store:
    """Raises InvalidInput for a bad code, name or timezone; Conflict when the code is taken."""
    code = code.strip().upper()
    if not _STORE_CODE.match(code):
        raise InvalidInput("Store code must be 2-32 letters, digits, '-' or '_'", field="code")
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("Store name must have 1 to 120 characters", field="name")
    check_timezone(timezone)
    try:
        return await Store.create(code=code, name=name, timezone=timezone)
    except IntegrityError:
        raise Conflict("A store with this code exists", field="code") from None


async def get_store(store_id: int) -> Store:
    """Raises NotFound when no store has this id."""
    store = await Store.get_or_none(id=store_id) if 0 < store_id <= MAX_INT32 else None
    if store is None:
        raise NotFound("Store not found", field="storeId")
    return store


async def register_device(*, store_id: int, channel: Channel, name: str) -> Device:
    """Register a kiosk, till or web-shop server for one store and channel.

    Raises NotFound for an unknown store; InvalidInput for a channel devices cannot act for.
    """
    if channel not in DEVICE_CHANNELS:
        raise InvalidInput(
            f"Devices act for {', '.join(sorted(DEVICE_CHANNELS))}",
            code=ErrorCode.INVALID_CHANNEL,
            field="channel",
        )
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("Device name must have 1 to 120 characters", field="name")
    await get_store(store_id)
    return await Device.create(
        store_id=store_id, channel=channel, name=name, credential_id=uuid.uuid4()
    )


async def revoke_device(device_id: int) -> Device:
    """Revoke the device's credential for good. Revoking twice is harmless. This process forgets
    the device at once; the caller tells the others (`device_cache.publish_revocation`).

    Raises NotFound for an unknown device.
    """
    if not 0 < device_id <= MAX_INT32:
        raise NotFound("Device not found", field="deviceId")
    async with in_transaction():
        device = await Device.select_for_update().get_or_none(id=device_id)
        if device is None:
            raise NotFound("Device not found", field="deviceId")
        if device.revoked_at is None:
            device.revoked_at = datetime.now(UTC)
            await device.save(update_fields=["revoked_at"])
    active_devices.evict(device_id)
    return device


@dataclass(frozen=True, slots=True)
class ActiveDevice:
    id: int
    store_id: int
    channel: Channel


_ACTIVE_DEVICE: Final = (
    'SELECT "store_id", "channel" FROM "device" '
    'WHERE "id" = $1 AND "credential_id" = $2 AND "revoked_at" IS NULL'
)


async def active_device(
    device_id: int, credential_id: uuid.UUID, *, now: float | None = None
) -> ActiveDevice | None:
    """The device holding this credential, or None when it is unknown or revoked. Asked on
    every device request: an active device is remembered for `LOYALTY_DEVICE_CACHE_SECONDS`
    (`device_cache`: revocations evict it at once in every process that hears them; if Redis
    is down, the TTL bounds how long another process may still accept a revoked device).
    Read with one plain statement rather than an ORM object."""
    if not 0 < device_id <= MAX_INT32:
        return None
    ttl = program_settings.current().device_cache_seconds
    now = time.monotonic() if now is None else now
    key = (device_id, credential_id)
    if ttl > 0:
        remembered = active_devices.get(key, now)
        if remembered is not None:
            return remembered
    read_after = active_devices.evictions
    device = await _read_active_device(device_id, credential_id)
    if device is not None and ttl > 0:
        active_devices.put(key, device, now + ttl, read_after=read_after)
    return device


async def _read_active_device(device_id: int, credential_id: uuid.UUID) -> ActiveDevice | None:
    # The column's own conversion: a UUID on PostgreSQL, its text on SQLite.
    credential = Device._meta.fields_map["credential_id"].to_db_value(credential_id, Device)
    rows = await sql.fetch(Device._meta.db, _ACTIVE_DEVICE, device_id, credential)
    if not rows:
        return None
    return ActiveDevice(device_id, int(rows[0]["store_id"]), Channel(rows[0]["channel"]))
