"""Leaderboard updates after commit, for every mutation of every domain.

A mutation's use cases own their transactions and have committed them by the time its resolvers
return. This extension listens for the ledger entries written (`gamification.ledger.written`) and
the challenge progress moved (`gamification.events.progress`) while the mutation executes, and then
hands them to the leaderboards, before the response is sent, so a member sees their new rank as
soon as the mutation answers. Purchases, refunds, adjustments, donations, redemptions, kiosk
operations, check-ins and eco actions are all covered without any of them knowing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gamification.events import progress as progress_updates
from gamification.leaderboards import updates
from gamification.ledger.written import collect_written_entries

logger = logging.getLogger("loyalty.leaderboards")


class LeaderboardUpdates(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        if self.execution_context.operation_type is not OperationType.MUTATION:
            yield
            return
        with (
            collect_written_entries() as written,
            progress_updates.collect_progress_updates() as progress,
        ):
            yield
        redis = self.execution_context.context.redis
        # The points and the progress are committed and the answer is ready: a failure here is
        # the boards' problem (repaired by the member's next update or a rebuild), not the
        # caller's.
        if written:
            try:
                await updates.record_committed(redis, written.entries)
            except Exception:
                logger.exception("leaderboard update after commit failed")
        if progress:
            try:
                await updates.record_challenge_progress(redis, progress)
            except Exception:
                logger.exception("challenge board update after commit failed")
