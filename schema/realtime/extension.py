"""Real-time notices after commit, for every mutation of every domain.

Like the leaderboards' extension (and listed before it, so that it runs after it: the boards
are already up to date when a `leaderboardChanged` notice goes out), this one collects the
ledger entries a mutation writes, the challenge progress it moves and the notices its use cases
announce, and publishes them once the resolvers have returned, i.e. after their transactions
committed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gamification.events import progress as progress_updates
from gamification.events import realtime
from gamification.ledger.written import collect_written_entries

logger = logging.getLogger("loyalty.realtime")


class RealtimeNotices(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        if self.execution_context.operation_type is not OperationType.MUTATION:
            yield
            return
        with (
            collect_written_entries() as written,
            realtime.collect_announced_notices() as announced,
            progress_updates.collect_progress_updates() as progress,
        ):
            yield
        if not written and not announced and not progress:
            return
        try:
            notices = [*announced, *await realtime.committed_entry_notices(written.entries)]
            notices += await realtime.challenge_progress_notices(progress.changes)
            # Tier upgrades and badges are reported by the transactions that made them.
            notices += await realtime.gamification_notices(progress)
            await realtime.publish(self.execution_context.context.redis, notices)
        except Exception:
            # Committed already: subscribers catch up through the versions, never the caller.
            logger.exception("real-time notices after commit failed")
