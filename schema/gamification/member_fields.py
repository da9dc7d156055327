"""The gamification fields of `Member`: tier, challenges and badges. Only the member and admins
reach them, because only they can reach the `Member` object (see `schema.members.types`)."""

from __future__ import annotations

import strawberry

from gamification.badges import awards as badges
from gamification.challenges import models as challenges_models
from gamification.tiers import ladder as tiers
from schema.context import Info
from schema.gamification.queries import challenge_connection
from schema.gamification.types import (
    BadgeType,
    ChallengeStatus,
    ChallengeType,
    HeldBadge,
    MemberTier,
)
from schema.relay import Connection


@strawberry.type
class MemberGamificationFields:
    pk: strawberry.Private[int]

    @strawberry.field(description="The tier held, the next one, progress and history.")
    async def tier(self) -> MemberTier:
        return MemberTier.of(self.pk, await tiers.progress(self.pk))

    @strawberry.field(description="Challenges the member can see, with their progress.")
    async def challenges(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        status: ChallengeStatus = challenges_models.ChallengeStatus.ACTIVE,  # type: ignore[valid-type]
    ) -> Connection[ChallengeType]:
        return await challenge_connection(info, self.pk, first, after, status, as_admin=False)

    @strawberry.field(description="The badges the member holds, newest first.")
    async def badges(self) -> list[HeldBadge]:
        return [
            HeldBadge(badge=BadgeType.of(h.badge), level=h.level, awarded_at=h.awarded_at)
            for h in await badges.held(self.pk)
        ]
