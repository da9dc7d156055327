"""The donation fields of `Member`: receipts and lifetime impact. Only the member and admins
reach them, because only they can reach the `Member` object (see `schema.members.types`)."""

from __future__ import annotations

import strawberry

from gamification.causes import donations as causes_donations
from gamification.causes import impact as causes_impact
from schema.causes.types import DonationType, ImpactType
from schema.context import Info
from schema.relay import MAX_PK, Connection, page_args


@strawberry.type
class MemberCauseFields:
    pk: strawberry.Private[int]

    @strawberry.field(description="The member's donation receipts, newest first.")
    async def donations(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[DonationType]:
        first, before_id = page_args(info, first, after, max_pk=MAX_PK)  # 64-bit ids
        page = await causes_donations.member_donations(self.pk, first=first, before_id=before_id)
        types = await DonationType.many(page.items)
        return Connection[DonationType].of(page, lambda donation: types[donation.id])

    @strawberry.field(
        description="What the member's own donated points achieved, per impact unit (points / "
        "the cause's pointsPerUnit, rounded down to 4 decimals per cause, summed over causes "
        "sharing a unit). Reversed donations do not count, nor do the brand's matched points: "
        "they count toward the cause's `progress`, and a receipt's `impactUnits` includes them."
    )
    async def impact(self) -> list[ImpactType]:
        return [
            ImpactType(unit=total.unit, units=total.units)
            for total in await causes_impact.lifetime_impact(self.pk)
        ]
