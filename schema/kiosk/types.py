"""GraphQL types for kiosks and tills: redemption tokens and points holds."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gamification.copies import copy_into
from gamification.rewards import models as rewards_models
from schema.context import Info
from schema.relay import MAX_PK, Node, register_node, to_global_id
from schema.stores.types import Channel

HoldStatus = strawberry.enum(rewards_models.HoldStatus, name="HoldStatus")


@strawberry.type(
    name="PointsHold",
    description="Points a till reserved for a sale, then captured (up to the held amount) or "
    "released, exactly once. An active hold nobody settles expires and is released.",
)
class PointsHoldType(Node):
    member_id: strawberry.ID
    store_id: strawberry.ID
    points: int = strawberry.field(description="The points held.")
    captured: int = strawberry.field(description="The points spent when it was captured.")
    status: HoldStatus  # type: ignore[valid-type]
    reference: str = strawberry.field(description="The till's own id for the sale.")
    channel: Channel  # type: ignore[valid-type]
    expires_at: datetime
    created_at: datetime
    settled_at: datetime | None

    @classmethod
    def from_model(cls, hold: rewards_models.PointsHold) -> PointsHoldType:
        return copy_into(
            cls,
            hold,
            id=to_global_id("PointsHold", hold.id),
            member_id=to_global_id("Member", hold.member_id),  # type: ignore[attr-defined]
            store_id=to_global_id("Store", hold.store_id),
        )


async def load_hold_node(info: Info, pk: int) -> PointsHoldType | None:
    actor = info.context.actor
    hold = await rewards_models.PointsHold.get_or_none(id=pk) if actor else None
    if actor is None or hold is None:
        return None
    # The member, admins, and staff or devices of the store where it was placed.
    allowed = (
        actor.is_admin
        or (actor.is_person and actor.id == hold.member_id)  # type: ignore[attr-defined]
        or (actor.store_id is not None and actor.store_id == hold.store_id)
    )
    return PointsHoldType.from_model(hold) if allowed else None


register_node("PointsHold", load_hold_node, max_pk=MAX_PK)  # 64-bit ids
