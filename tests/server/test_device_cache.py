"""Active devices remembered per process, with revocation still immediate: in the revoking
process at once, in every other one on hearing the revocation on Redis, and within the TTL
when a process hears nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from channels.credentials import InvalidCredential, authenticate_bearer, issue_device_token
from gamification.stores import device_cache, registry
from gamification.stores.device_cache import ActiveDevices, active_devices
from gamification.stores.models import Channel, Device
from gamification.stores.registry import ActiveDevice
from server.settings import Settings
from tests.factories import OverrideSettings, create_device


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The device ids read from the database, in order."""
    seen: list[int] = []
    read = registry._read_active_device

    async def counted(device_id: int, credential_id: uuid.UUID) -> ActiveDevice | None:
        seen.append(device_id)
        return await read(device_id, credential_id)

    monkeypatch.setattr(registry, "_read_active_device", counted)
    return seen


async def _revoke_behind_this_process(device: Device) -> None:
    """What another process's revokeDevice leaves in the database (this process not told)."""
    await Device.filter(id=device.id).update(revoked_at=datetime.now(UTC))


async def test_a_cached_device_skips_the_database(settings: Settings, reads: list[int]) -> None:
    # given
    device = await create_device()
    token = issue_device_token(device, settings)

    # when
    first = await authenticate_bearer(token, settings)
    second = await authenticate_bearer(token, settings)

    # then
    assert first == second
    assert reads == [device.id]


async def test_a_revoked_device_is_refused_on_its_next_request(
    settings: Settings, reads: list[int]
) -> None:
    # given: the device is cached
    device = await create_device()
    token = issue_device_token(device, settings)
    await authenticate_bearer(token, settings)

    # when
    await registry.revoke_device(device.id)

    # then
    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, settings)
    assert reads == [device.id, device.id]


async def test_a_revocation_published_by_another_process_evicts_here(
    app: Starlette, redis: Redis, settings: Settings
) -> None:
    # given: the device is cached, and another process revokes it
    device = await create_device()
    token = issue_device_token(device, settings)
    await authenticate_bearer(token, settings)
    await _revoke_behind_this_process(device)
    assert await authenticate_bearer(token, settings)  # still remembered here

    # when: that process publishes the revocation
    assert await device_cache.publish_revocation(redis, device.id)

    # then: this process's broker hears it and forgets the device
    for _ in range(500):
        if not active_devices:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, settings)


async def test_an_entry_expires_after_the_ttl(
    override_settings: OverrideSettings, reads: list[int]
) -> None:
    # given
    override_settings(device_cache_seconds=30)
    device = await create_device(channel=Channel.POS)
    credential = device.credential_id

    # when
    assert await registry.active_device(device.id, credential, now=1000.0)
    assert await registry.active_device(device.id, credential, now=1029.9)
    await _revoke_behind_this_process(device)
    remembered = await registry.active_device(device.id, credential, now=1029.9)
    expired = await registry.active_device(device.id, credential, now=1030.0)

    # then: the TTL bounds how long a revocation this process did not hear goes unseen
    assert remembered is not None
    assert expired is None
    assert reads == [device.id, device.id]


async def test_with_the_cache_disabled_every_request_reads_the_database(
    override_settings: OverrideSettings, reads: list[int]
) -> None:
    # given
    settings = override_settings(device_cache_seconds=0)
    device = await create_device()
    token = issue_device_token(device, settings)

    # when
    for _ in range(3):
        await authenticate_bearer(token, settings)

    # then
    assert reads == [device.id] * 3
    assert not active_devices


def test_an_answer_read_before_an_eviction_is_not_remembered() -> None:
    # given: a read in flight while the device is revoked
    cache = ActiveDevices()
    key = (7, uuid.uuid4())
    read_after = cache.evictions
    cache.evict(7)

    # when: the read's answer (from before the revocation) arrives
    cache.put(key, ActiveDevice(7, 1, Channel.KIOSK), 100.0, read_after=read_after)

    # then
    assert cache.get(key, 0.0) is None


def test_the_cache_is_bounded() -> None:
    cache = ActiveDevices(size=2)
    keys = [(n, uuid.uuid4()) for n in (1, 2, 3)]
    for n, key in enumerate(keys, start=1):
        cache.put(key, ActiveDevice(n, 1, Channel.KIOSK), 100.0, read_after=cache.evictions)

    assert len(cache) == 2
    assert cache.get(keys[0], 0.0) is None
