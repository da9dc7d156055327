"""Per-process caches of program configuration that the points write paths read on every
request but admins change rarely: earn rules, promotions, the ids of existing stores.

Each cached value is fetched at most once per `LOYALTY_PROGRAM_CACHE_SECONDS` (5 s by default)
per process, which saves the hot paths a database round trip each. Admin writes made through
the domain functions drop the cache of this process at once (`invalidate`); other processes
(uvicorn workers) see the change when their copy runs out, so a new earn rule or promotion may
take up to that many seconds to apply everywhere. Set it to 0 to read through every time.

Stores are never deleted, so a store id once seen stays valid; unknown ids are not cached.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from gamification import program_settings, view_versions

K = TypeVar("K")
V = TypeVar("V")


class _Cache(Protocol):
    def clear(self) -> None: ...


_CACHES: list[_Cache] = []


class TimedCache(Generic[K, V]):
    """Values by key, each kept for the configured number of seconds."""

    def __init__(self) -> None:
        self._values: dict[K, tuple[float, V]] = {}
        _CACHES.append(self)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        cached = self._values.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        # The deadline is taken before loading: a change committed while the load runs is
        # never hidden for longer than the configured time.
        deadline = now + program_settings.current().program_cache_seconds
        value = await load()
        self._values[key] = (deadline, value)
        return value

    def put(self, key: K, value: V) -> None:
        self._values[key] = (
            time.monotonic() + program_settings.current().program_cache_seconds,
            value,
        )

    def clear(self) -> None:
        self._values.clear()


class KnownIds:
    """Ids of rows that are never deleted: once seen, always valid."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        _CACHES.append(self)

    def __contains__(self, row_id: int) -> bool:
        return row_id in self._ids

    def add(self, row_id: int) -> None:
        if _enabled():
            self._ids.add(row_id)

    def clear(self) -> None:
        self._ids.clear()


def _enabled() -> bool:
    """`LOYALTY_PROGRAM_CACHE_SECONDS=0` reads through every time, the permanent maps included
    (a test server that outlives the tables it cached ids from runs so)."""
    return program_settings.current().program_cache_seconds > 0


def invalidate() -> None:
    """Forget everything cached in this process (after an admin change, or between tests);
    the program's view version changes after the caller's commit (gamification.view_versions)."""
    for cache in _CACHES:
        cache.clear()
    view_versions.program_changed()


class PermanentMap(Generic[K, V]):
    """Values that never change once the row exists (the ledger account id of a cause)."""

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        _CACHES.append(self)

    def get(self, key: K) -> V | None:
        return self._values.get(key)

    def put(self, key: K, value: V) -> None:
        if _enabled():
            self._values[key] = value

    def clear(self) -> None:
        self._values.clear()
