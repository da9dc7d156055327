"""Reward mutations: the admins' catalog, members' redemptions and cancellations, and the
devices that take vouchers. Redeeming and cancelling take an `idempotencyKey`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from channels.policies import self_service_redemption_channel
from gamification.ledger import consent
from gamification.rewards import catalog as rewards
from gamification.rewards import models as rewards_models
from gamification.rewards import redemptions
from gamification.stores import models as stores_models
from schema.context import Info
from schema.partial_updates import Converters, changes_of, input_of
from schema.payloads import payload_of, payload_type
from schema.permissions import IsAdmin, IsDevice, IsPerson
from schema.relay import pk_of
from schema.rewards.types import LimitPeriod, RedemptionType, RewardKind, RewardType
from schema.stores.types import Channel


@strawberry.input
class CreateRewardInput:
    name: str
    kind: RewardKind  # type: ignore[valid-type]
    cost_points: int
    description: str = ""
    image_url: str = ""
    category: str = ""
    stock: int | None = strawberry.field(default=None, description="Null: unlimited.")
    per_member_limit: int | None = strawberry.field(default=None, description="Null: no limit.")
    limit_period: LimitPeriod = rewards_models.LimitPeriod.EVER  # type: ignore[valid-type]
    channels: list[Channel] = strawberry.field(  # type: ignore[valid-type]
        default_factory=list, description="Where it is offered; empty: every channel."
    )
    store_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="The stores whose devices take its vouchers (`useVoucher`); empty: every "
        "store.",
    )
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    min_tier: str | None = None
    voucher_valid_days: int = 30
    active: bool = True


@strawberry.input(description="Only the fields given change; null clears a nullable one.")
class UpdateRewardInput:
    name: str | None = strawberry.UNSET
    kind: RewardKind | None = strawberry.UNSET  # type: ignore[valid-type]
    cost_points: int | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    image_url: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    stock: int | None = strawberry.UNSET
    per_member_limit: int | None = strawberry.UNSET
    limit_period: LimitPeriod | None = strawberry.UNSET  # type: ignore[valid-type]
    channels: list[Channel] | None = strawberry.UNSET  # type: ignore[valid-type]
    store_ids: list[strawberry.ID] | None = strawberry.UNSET
    valid_from: datetime | None = strawberry.UNSET
    valid_to: datetime | None = strawberry.UNSET
    min_tier: str | None = strawberry.UNSET
    voucher_valid_days: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


# Fields that null clears; any other field given as null is a mistake.
_NULLABLE = frozenset({"stock", "per_member_limit", "valid_from", "valid_to", "min_tier"})


def _store_pks(store_ids: list[strawberry.ID]) -> tuple[int, ...]:
    return tuple(pk_of(store_id, "Store", field="storeIds") for store_id in store_ids)


# From GraphQL's values to the domain's, for create and update alike.
_CONVERT: Converters = {
    "kind": rewards_models.RewardKind,
    "limit_period": rewards_models.LimitPeriod,
    "channels": lambda value: tuple(stores_models.Channel(c) for c in value),
    "store_ids": _store_pks,
}


def _changes_of(input: UpdateRewardInput) -> rewards.RewardChanges:
    """Raises InvalidInput when a field that cannot be empty is given as null."""
    return changes_of(input, rewards.RewardChanges, nullable=_NULLABLE, convert=_CONVERT)


RewardPayload = payload_type("RewardPayload", reward=RewardType)
RedeemRewardPayload = payload_type("RedeemRewardPayload", redemption=RedemptionType, replayed=True)
CancelRedemptionPayload = payload_type(
    "CancelRedemptionPayload", redemption=RedemptionType, replayed=True
)
UseVoucherPayload = payload_type("UseVoucherPayload", redemption=RedemptionType)


@strawberry.type
class RewardMutations:
    @strawberry.mutation(permission_classes=[IsAdmin], description="Add a reward.")
    async def create_reward(self, info: Info, input: CreateRewardInput) -> RewardPayload:  # type: ignore[valid-type]
        async def create() -> RewardPayload:  # type: ignore[valid-type]
            data = input_of(input, rewards.RewardInput, convert=_CONVERT)
            return RewardPayload(reward=RewardType.from_model(await rewards.create_reward(data)))

        return await payload_of(RewardPayload, create)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Change some of a reward.")
    async def update_reward(
        self, info: Info, reward_id: strawberry.ID, input: UpdateRewardInput
    ) -> RewardPayload:  # type: ignore[valid-type]
        async def update() -> RewardPayload:  # type: ignore[valid-type]
            reward = await rewards.update_reward(
                pk_of(reward_id, "Reward", field="rewardId"), _changes_of(input)
            )
            return RewardPayload(reward=RewardType.from_model(reward))

        return await payload_of(RewardPayload, update)

    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Spend the caller's points on a reward in the app or on the web.",
    )
    async def redeem_reward(
        self,
        info: Info,
        reward_id: strawberry.ID,
        idempotency_key: str,
        channel: Channel = stores_models.Channel.APP,  # type: ignore[valid-type]
    ) -> RedeemRewardPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def redeem() -> RedeemRewardPayload:  # type: ignore[valid-type]
            redemption, replayed = await redemptions.redeem(
                actor=actor,
                request=redemptions.RedemptionRequest(
                    consent=consent.by_access_token(actor),
                    channel=self_service_redemption_channel(stores_models.Channel(channel)),
                    reward_id=pk_of(reward_id, "Reward", field="rewardId"),
                ),
                idempotency_key=idempotency_key,
                operation="redeemReward",
            )
            return RedeemRewardPayload(
                redemption=await RedemptionType.load(redemption), replayed=replayed
            )

        return await payload_of(RedeemRewardPayload, redeem)

    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Give a redemption's points and stock back: members their own before "
        "use, staff in their store, admins any.",
    )
    async def cancel_redemption(
        self, info: Info, redemption_id: strawberry.ID, idempotency_key: str, reason: str = ""
    ) -> CancelRedemptionPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def cancel() -> CancelRedemptionPayload:  # type: ignore[valid-type]
            redemption, replayed = await redemptions.cancel_redemption(
                actor=actor,
                redemption_id=pk_of(redemption_id, "Redemption", field="redemptionId"),
                idempotency_key=idempotency_key,
                reason=reason,
            )
            return CancelRedemptionPayload(
                redemption=await RedemptionType.load(redemption), replayed=replayed
            )

        return await payload_of(CancelRedemptionPayload, cancel)

    @strawberry.mutation(
        permission_classes=[IsDevice], description="Take a voucher at a till, kiosk or checkout."
    )
    async def use_voucher(self, info: Info, code: str) -> UseVoucherPayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def use() -> UseVoucherPayload:  # type: ignore[valid-type]
            redemption = await redemptions.use_voucher(actor=actor, code=code)
            return UseVoucherPayload(redemption=await RedemptionType.load(redemption))

        return await payload_of(UseVoucherPayload, use)
