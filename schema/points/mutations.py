"""Points mutations: purchases from stores and the web shop, refunds, admin adjustments and
earn rules. Each takes an `idempotencyKey`; a retry with the same key returns the first answer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from channels.policies import store_action_origin
from gamification.earning import purchases
from gamification.earning import rules as earning
from gamification.earning.models import EarnRule, Purchase
from gamification.ledger import points as points_service
from gamification.ledger.models import LedgerEntry
from gamification.stores.models import Channel
from schema.context import Info
from schema.payloads import payload_of, payload_type
from schema.permissions import IsAdmin, IsStaffOrDevice
from schema.points.types import LedgerEntryType, PurchaseType
from schema.relay import pk_of
from schema.stores.types import Channel as ChannelEnum


@strawberry.input
class LineItemInput:
    category: str
    amount: Decimal
    sku: str = ""


@strawberry.input
class RecordPurchaseInput:
    member_id: strawberry.ID | None = strawberry.field(
        default=None, description="The member, by ID. Or give `cardNumber`."
    )
    card_number: str | None = strawberry.field(
        default=None, description="What the member card or the app's identity QR carries."
    )
    amount: Decimal
    currency: str
    external_id: str = strawberry.field(description="The shop's own id for this purchase.")
    occurred_at: datetime
    channel: ChannelEnum | None = None  # type: ignore[valid-type]
    store_id: strawberry.ID | None = None
    line_items: list[LineItemInput] = strawberry.field(default_factory=list)


RecordPurchasePayload = payload_type(
    "RecordPurchasePayload",
    purchase=PurchaseType,
    points_earned=int,
    balance=(int, "The member's balance after."),
    replayed=True,
)
RefundPurchasePayload = payload_type(
    "RefundPurchasePayload",
    purchase=PurchaseType,
    points_clawed_back=int,
    points_outstanding=int,
    replayed=True,
)
AdjustPointsPayload = payload_type(
    "AdjustPointsPayload", entry=LedgerEntryType, balance=int, replayed=True
)


@strawberry.type
class EarnRuleType:
    currency: str
    points_per_unit: Decimal
    minimum_spend: Decimal


EarnRulePayload = payload_type("EarnRulePayload", rule=EarnRuleType)


@strawberry.type
class EarnPromotionType:
    name: str
    channel: ChannelEnum  # type: ignore[valid-type]
    multiplier: Decimal
    starts_at: datetime
    ends_at: datetime


EarnPromotionPayload = payload_type("EarnPromotionPayload", promotion=EarnPromotionType)


@strawberry.input
class CategoryMultiplierInput:
    category: str
    multiplier: Decimal


@strawberry.type
class PointsMutations:
    @strawberry.mutation(
        permission_classes=[IsStaffOrDevice],
        description="Record a purchase from a kiosk, till, staff member or the web shop server.",
    )
    async def record_purchase(
        self, info: Info, input: RecordPurchaseInput, idempotency_key: str
    ) -> RecordPurchasePayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def record() -> RecordPurchasePayload:  # type: ignore[valid-type]
            channel, store_id = store_action_origin(
                actor,
                channel=Channel(input.channel) if input.channel else None,
                store_id=pk_of(input.store_id, "Store", field="storeId")
                if input.store_id
                else None,
            )
            result = await purchases.record_purchase(
                actor=actor,
                data=purchases.PurchaseInput(
                    member_id=pk_of(input.member_id, "Member", field="memberId")
                    if input.member_id
                    else None,
                    card_number=input.card_number,
                    amount=input.amount,
                    currency=input.currency,
                    channel=channel,
                    store_id=store_id,
                    external_id=input.external_id,
                    occurred_at=input.occurred_at,
                    line_items=tuple(
                        earning.LineItem(category=li.category, amount=li.amount, sku=li.sku)
                        for li in input.line_items
                    ),
                ),
                idempotency_key=idempotency_key,
            )
            purchase = result.purchase or await Purchase.get(id=result.purchase_id)
            return RecordPurchasePayload(
                purchase=PurchaseType.from_model(purchase),
                points_earned=result.points_earned,
                balance=result.balance,
                replayed=result.replayed,
            )

        return await payload_of(RecordPurchasePayload, record)

    @strawberry.mutation(permission_classes=[IsStaffOrDevice])
    async def refund_purchase(
        self,
        info: Info,
        purchase_id: strawberry.ID,
        amount: Decimal,
        idempotency_key: str,
        reason: str = "",
    ) -> RefundPurchasePayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def refund() -> RefundPurchasePayload:  # type: ignore[valid-type]
            result = await purchases.refund_purchase(
                actor=actor,
                purchase_id=pk_of(purchase_id, "Purchase", field="purchaseId"),
                amount=amount,
                reason=reason,
                idempotency_key=idempotency_key,
            )
            return RefundPurchasePayload(
                purchase=PurchaseType.from_model(await Purchase.get(id=result.purchase_id)),
                points_clawed_back=result.points_clawed_back,
                points_outstanding=result.points_outstanding,
                replayed=result.replayed,
            )

        return await payload_of(RefundPurchasePayload, refund)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Goodwill or correction.")
    async def adjust_points(
        self, info: Info, member_id: strawberry.ID, points: int, reason: str, idempotency_key: str
    ) -> AdjustPointsPayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def adjust() -> AdjustPointsPayload:  # type: ignore[valid-type]
            result = await points_service.adjust_points(
                actor=actor,
                member_id=pk_of(member_id, "Member", field="memberId"),
                points=points,
                reason=reason,
                idempotency_key=idempotency_key,
            )
            entry = result.entry or await LedgerEntry.get(id=result.entry_id)
            return AdjustPointsPayload(
                entry=LedgerEntryType.from_model(entry),
                balance=result.balance,
                replayed=result.replayed,
            )

        return await payload_of(AdjustPointsPayload, adjust)

    @strawberry.mutation(permission_classes=[IsAdmin], description="How a currency earns.")
    async def set_earn_rule(
        self,
        info: Info,
        currency: str,
        points_per_unit: Decimal,
        minimum_spend: Decimal = Decimal(0),
        category_multipliers: list[CategoryMultiplierInput] | None = None,
    ) -> EarnRulePayload:  # type: ignore[valid-type]
        async def save() -> EarnRulePayload:  # type: ignore[valid-type]
            rule = await earning.set_earn_rule(
                currency=currency,
                points_per_unit=points_per_unit,
                minimum_spend=minimum_spend,
                category_multipliers={
                    c.category: c.multiplier for c in (category_multipliers or [])
                },
            )
            return EarnRulePayload(rule=_rule(rule))

        return await payload_of(EarnRulePayload, save)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Extra points on a channel.")
    async def create_earn_promotion(
        self,
        info: Info,
        name: str,
        channel: ChannelEnum,  # type: ignore[valid-type]
        multiplier: Decimal,
        starts_at: datetime,
        ends_at: datetime,
    ) -> EarnPromotionPayload:  # type: ignore[valid-type]
        async def create() -> EarnPromotionPayload:  # type: ignore[valid-type]
            promotion = await earning.create_promotion(
                name=name,
                channel=Channel(channel),
                multiplier=multiplier,
                starts_at=starts_at,
                ends_at=ends_at,
            )
            return EarnPromotionPayload(
                promotion=EarnPromotionType(
                    name=promotion.name,
                    channel=promotion.channel,
                    multiplier=Decimal(promotion.multiplier),
                    starts_at=promotion.starts_at,
                    ends_at=promotion.ends_at,
                )
            )

        return await payload_of(EarnPromotionPayload, create)


def _rule(rule: EarnRule) -> EarnRuleType:
    return EarnRuleType(
        currency=rule.currency,
        points_per_unit=Decimal(rule.points_per_unit),
        minimum_spend=Decimal(rule.minimum_spend),
    )
