"""The redemption fields of `Member`. Only the member and admins reach them, because only they
can reach the `Member` object (see `schema.members.types`)."""

from __future__ import annotations

import strawberry

from gamification.rewards import catalog as rewards
from gamification.rewards import models as rewards_models
from schema.context import Info
from schema.relay import MAX_PK, Connection, page_args
from schema.rewards.types import RedemptionStatus, RedemptionType


@strawberry.type
class MemberRewardFields:
    pk: strawberry.Private[int]

    @strawberry.field(description="The member's redemptions, newest first.")
    async def redemptions(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        status: RedemptionStatus | None = None,  # type: ignore[valid-type]
    ) -> Connection[RedemptionType]:
        first, before_id = page_args(info, first, after, max_pk=MAX_PK)  # 64-bit ids
        page = await rewards.member_redemptions(
            self.pk,
            first=first,
            before_id=before_id,
            status=rewards_models.RedemptionStatus(status) if status else None,
        )
        return Connection[RedemptionType].of(page, RedemptionType.from_model)
