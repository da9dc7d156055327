"""Active devices remembered per process, and their revocation heard from every process.

A kiosk or till sends its credential with every request; reading the device row each time is a
database round trip per request. `active_device` remembers the answer here for at most
`LOYALTY_DEVICE_CACHE_SECONDS` (0: never), keyed by device id and credential id.

Revocation stays immediate:
- in the revoking process, `revoke_device` evicts the device once its transaction committed;
- every other process hears it on the Redis channel `device_revocations_channel` (published by
  `publish_revocation` after the commit; `server.pubsub.Broker` listens and calls
  `evict_published`).
Pub/sub is at-most-once: when Redis is down or a process's subscription is reconnecting, a
revocation published meanwhile is lost to that process, and the TTL bounds how long it may still
accept the device (at most `LOYALTY_DEVICE_CACHE_SECONDS`). Set it to 0 where that is too long.

A read racing a revocation cannot put a stale entry back: every eviction moves a counter, and an
answer read before the latest eviction is not remembered.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, TypeAlias

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gamification import program_settings, redis_keys

if TYPE_CHECKING:
    from gamification.stores.registry import ActiveDevice

logger = logging.getLogger("loyalty.devices")

_SIZE: Final = 10_000

Key: TypeAlias = tuple[int, uuid.UUID]


class ActiveDevices:
    """A bounded map (least recently used go first) of active devices, each until its expiry."""

    def __init__(self, size: int = _SIZE) -> None:
        self.size = size
        self._devices: OrderedDict[Key, tuple[float, ActiveDevice]] = OrderedDict()
        # Moves on every eviction: an answer read before it is not remembered.
        self.evictions = 0

    def get(self, key: Key, now: float) -> ActiveDevice | None:
        found = self._devices.get(key)
        if found is None:
            return None
        expires, device = found
        if now >= expires:
            del self._devices[key]
            return None
        self._devices.move_to_end(key)
        return device

    def put(self, key: Key, device: ActiveDevice, expires: float, *, read_after: int) -> None:
        """Remember `device` unless an eviction happened since `read_after` (`evictions` taken
        before the database was read)."""
        if read_after != self.evictions:
            return
        self._devices[key] = (expires, device)
        self._devices.move_to_end(key)
        while len(self._devices) > self.size:
            self._devices.popitem(last=False)

    def evict(self, device_id: int) -> None:
        """Forget every credential of the device. Linear, but revocations are rare."""
        self.evictions += 1
        for key in [key for key in self._devices if key[0] == device_id]:
            del self._devices[key]

    def clear(self) -> None:
        self.evictions += 1
        self._devices.clear()

    def __len__(self) -> int:
        return len(self._devices)


active_devices = ActiveDevices()


def revocations_channel() -> str:
    return redis_keys.device_revocations_channel(program_settings.current().redis_channel_namespace)


async def publish_revocation(redis: Redis, device_id: int) -> bool:
    """Tell every process that the device is revoked (after the revocation committed). Best
    effort: False when Redis failed, and then other processes forget it when their entry
    expires."""
    try:
        await redis.publish(revocations_channel(), str(device_id))
    except (RedisError, OSError):
        logger.exception("could not publish the revocation of device %s", device_id)
        return False
    return True


def evict_published(data: str | bytes) -> None:
    """A message heard on the revocations channel: the revoked device's id."""
    try:
        device_id = int(data)
    except ValueError:
        logger.warning("ignored a malformed device revocation %r", data)
        return
    active_devices.evict(device_id)
