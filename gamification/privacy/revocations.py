"""Erased members, known per process, so that their access tokens stop working.

A member's access token is verified from its signature alone (no database read per request),
so erasing the member must reach every process: `channels.credentials.authenticate_bearer`
refuses a token whose subject is in `erased_members`. The erasing process adds the member at
once; every process reloads the list when it is older than `LOYALTY_ERASED_MEMBER_CACHE_SECONDS`
(one indexed query, read on the next request after that), so another process refuses an erased
member's token within that many seconds. Erasure is final: nothing is ever removed.
"""

from __future__ import annotations

import time

from gamification import program_settings
from gamification.members.models import Member


class ErasedMembers:
    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._loaded_at: float | None = None

    def add(self, member_id: int) -> None:
        self._ids.add(member_id)

    def clear(self) -> None:
        self._ids.clear()
        self._loaded_at = None

    async def is_erased(self, member_id: int, *, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        ttl = program_settings.current().erased_member_cache_seconds
        if self._loaded_at is None or now - self._loaded_at >= ttl:
            ids = await Member.filter(erased_at__isnull=False).values_list("id", flat=True)
            self._ids.update(int(str(i)) for i in ids)
            self._loaded_at = now
        return member_id in self._ids


erased_members = ErasedMembers()
