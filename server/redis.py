"""Redis wiring. `memory://` gives an in-process stand-in (fakeredis) that behaves like Redis for
sorted sets, TTLs and pub/sub inside one process; any `redis://` URL gives a real client."""

from __future__ import annotations

import contextlib
from typing import Any

import redis.asyncio as aioredis

from server.backends import named_failures
from server.settings import Settings

MEMORY_SCHEME = "memory://"
REDIS_SETTING = "LOYALTY_REDIS_URL"

# Every stand-in client in this process shares one server, like clients of one real Redis.
_memory_server: Any = None


def create_redis(settings: Settings) -> aioredis.Redis:
    if settings.redis_url.startswith(MEMORY_SCHEME):
        import fakeredis

        global _memory_server
        if _memory_server is None:
            _memory_server = fakeredis.FakeServer()
        client: aioredis.Redis = fakeredis.FakeAsyncRedis(
            server=_memory_server, decode_responses=True
        )
        return client
    return aioredis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
    )


async def redis_is_reachable(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except Exception:
        return False


def redis_failures_named(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """Failures inside the block become BackendUnavailable naming LOYALTY_REDIS_URL."""
    return named_failures(setting=REDIS_SETTING, backend="Redis", url=settings.redis_url)


async def check_redis(client: aioredis.Redis, settings: Settings) -> None:
    """Raises BackendUnavailable, naming LOYALTY_REDIS_URL, when Redis does not answer."""
    with redis_failures_named(settings):
        await client.ping()
