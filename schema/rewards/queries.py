"""The reward catalog, as the caller may see it; a signed-out app sees what members do."""

from __future__ import annotations

import strawberry

from gamification.rewards import catalog as rewards
from gamification.stores import models as stores_models
from schema.context import Info
from schema.permissions import AuthenticationFailed
from schema.rate_limits import AnonymousReadLimit
from schema.relay import Connection, page_args
from schema.rewards.types import RewardType
from schema.stores.types import Channel


@strawberry.type
class RewardQueries:
    @strawberry.field(
        description="Rewards, oldest first. Members see what is active and valid now; admins "
        "see everything; devices see what is offered on their channel. Without a token: what "
        "members see (`affordable` needs one).",
        extensions=[AnonymousReadLimit()],
    )
    async def rewards(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        channel: Channel | None = None,  # type: ignore[valid-type]
        affordable: bool = False,
        category: str | None = None,
    ) -> Connection[RewardType]:
        viewer = info.context.actor
        if viewer is None and affordable:
            raise AuthenticationFailed()  # affordability is member data
        first, after_id = page_args(info, first, after)
        page = await rewards.list_rewards(
            viewer,
            first=first,
            after_id=after_id,
            channel=stores_models.Channel(channel) if channel else None,
            affordable=affordable,
            category=category,
        )
        return Connection[RewardType].of(page, RewardType.from_model)
