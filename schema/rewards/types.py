"""GraphQL types for the reward catalog and redemptions."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gamification.copies import copy_into
from gamification.rewards import catalog as rewards
from gamification.rewards import models as rewards_models
from gamification.stores import models as stores_models
from schema.context import Info
from schema.relay import MAX_PK, Node, register_node, to_global_id
from schema.stores.types import Channel

RewardKind = strawberry.enum(rewards_models.RewardKind, name="RewardKind")
LimitPeriod = strawberry.enum(
    rewards_models.LimitPeriod,
    name="LimitPeriod",
    description="The period a per-member limit counts over (UTC calendar days, weeks, ...).",
)
RedemptionStatus = strawberry.enum(rewards_models.RedemptionStatus, name="RedemptionStatus")


@strawberry.type(name="Reward", description="Something members spend points on.")
class RewardType(Node):
    name: str
    description: str
    image_url: str
    category: str
    kind: RewardKind  # type: ignore[valid-type]
    cost_points: int
    stock: int | None = strawberry.field(description="What is left; null means unlimited.")
    per_member_limit: int | None = strawberry.field(
        description="How often one member may redeem it per `limitPeriod`; null: no limit."
    )
    limit_period: LimitPeriod  # type: ignore[valid-type]
    channels: list[Channel] = strawberry.field(  # type: ignore[valid-type]
        description="Where it is offered; empty means every channel."
    )
    store_ids: list[strawberry.ID] = strawberry.field(
        description="The stores whose devices take its vouchers; empty means every store."
    )
    valid_from: datetime | None
    valid_to: datetime | None
    min_tier: str | None
    voucher_valid_days: int
    active: bool
    created_at: datetime

    @classmethod
    def from_model(cls, reward: rewards_models.Reward) -> RewardType:
        return copy_into(
            cls,
            reward,
            id=to_global_id("Reward", reward.id),
            channels=[stores_models.Channel(c) for c in reward.channels],
            store_ids=[to_global_id("Store", pk) for pk in reward.store_ids],
        )


@strawberry.type(name="Redemption", description="Points spent on a reward, on any channel.")
class RedemptionType(Node):
    status: RedemptionStatus  # type: ignore[valid-type]
    voucher_code: str = strawberry.field(description="What the member shows to claim it.")
    valid_until: datetime
    points: int
    channel: Channel  # type: ignore[valid-type]
    reward: RewardType | None = strawberry.field(
        description="Null when points were spent without a reward (a kiosk amount)."
    )
    created_at: datetime
    used_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def from_model(cls, redemption: rewards_models.Redemption) -> RedemptionType:
        """`redemption.reward` must have been fetched (see `gamification.rewards.catalog`)."""
        reward: rewards_models.Reward | None = redemption.reward
        return copy_into(
            cls,
            redemption,
            id=to_global_id("Redemption", redemption.id),
            reward=RewardType.from_model(reward) if reward is not None else None,
        )

    @classmethod
    async def load(cls, redemption: rewards_models.Redemption) -> RedemptionType:
        """From a redemption, fetching its reward unless the use case that wrote it set it
        (its answer then needs no read after the commit)."""
        if "_reward" not in vars(redemption):  # where Tortoise keeps a set or fetched relation
            await redemption.fetch_related("reward")
        return cls.from_model(redemption)


async def load_reward_node(info: Info, pk: int) -> RewardType | None:
    actor = info.context.actor
    reward = await rewards.visible_reward(actor, pk) if actor else None
    return RewardType.from_model(reward) if reward else None


async def load_redemption_node(info: Info, pk: int) -> RedemptionType | None:
    actor = info.context.actor
    redemption = await rewards.visible_redemption(actor, pk) if actor else None
    return RedemptionType.from_model(redemption) if redemption else None


register_node("Reward", load_reward_node)
register_node("Redemption", load_redemption_node, max_pk=MAX_PK)  # 64-bit ids
