"""Leaderboard updates after commit, for every mutation of every domain.

A mutation's use cases own their transactions and have committed them by the time its resolvers
return. This extension listens for the ledger entries written while the mutation executes
(`gamification.events`) and then hands them to the leaderboards, before the response is sent, so
a member sees their new rank as soon as the mutation answers. Purchases, refunds, adjustments,
donations, redemptions and kiosk operations are all covered without any of them knowing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gamification import events, leaderboards

logger = logging.getLogger("loyalty.leaderboards")


class LeaderboardUpdates(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        if self.execution_context.operation_type is not OperationType.MUTATION:
            yield
            return
        with events.collect_written_entries() as written:
            yield
        if not written:
            return
        try:
            await leaderboards.record_committed(
                self.execution_context.context.redis, written.entries
            )
        except Exception:
            # The points are committed and the answer is ready: a failure here is the boards'
            # problem (repaired by the member's next update or a rebuild), not the caller's.
            logger.exception("leaderboard update after commit failed")
