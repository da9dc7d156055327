"""Tortoise's asyncpg backend with a bounded wait for a pooled connection.

Tortoise acquires pool connections without a timeout: with every connection busy (or PostgreSQL
refusing new ones) a request would queue until the request deadline cut it off mid-way. Here an
acquire waits at most `LOYALTY_DATABASE_POOL_TIMEOUT_SECONDS`, then raises TimeoutError, which
the GraphQL layer answers as UNAVAILABLE, retryable (`schema.errors.is_unavailable`). Named as
the connection's `engine` in `server.database`.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient


class _BoundedPool:
    """An asyncpg pool whose `acquire()` waits `timeout` seconds at most unless told."""

    def __init__(self, pool: asyncpg.Pool, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return self._pool.acquire(timeout=self._timeout if timeout is None else timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class BoundedAcquireClient(AsyncpgDBClient):
    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    async def create_pool(self, **kwargs: Any) -> Any:
        pool = await super().create_pool(**kwargs)
        if self._acquire_timeout is None:
            return pool
        return _BoundedPool(pool, self._acquire_timeout)


client_class = BoundedAcquireClient
