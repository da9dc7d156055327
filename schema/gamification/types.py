"""GraphQL types for tiers, challenges and badges."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from gamification.badges import awards as badges
from gamification.badges import models as badges_models
from gamification.challenges import models as challenges_models
from gamification.challenges import views as challenges_views
from gamification.copies import copy_into
from gamification.events import models as events_models
from gamification.tiers import ladder as tiers
from gamification.tiers import models as tiers_models
from schema.relay import Node, to_global_id
from schema.stores.types import Channel

GoalType = strawberry.enum(challenges_models.GoalType, name="GoalType")
WindowKind = strawberry.enum(
    challenges_models.WindowKind,
    name="WindowKind",
    description="FIXED runs from startsAt to endsAt; the others reset every local day, week "
    "(from Monday) or month of the member.",
)
EventKind = strawberry.enum(events_models.EventKind, name="EventKind")
ChallengeStatus = strawberry.enum(challenges_models.ChallengeStatus, name="ChallengeStatus")
BadgeRule = strawberry.enum(badges_models.BadgeRule, name="BadgeRule")
TierChangeReason = strawberry.enum(tiers_models.TierChangeReason, name="TierChangeReason")
_CENTS = Decimal("0.01")


@strawberry.type(name="Tier", description="A step of the tier ladder and its benefits.")
class TierType:
    name: str
    rank: int
    threshold: int = strawberry.field(description="Qualifying points needed in the window.")
    earn_multiplier: Decimal
    benefits: str
    benefit_flags: list[str] = strawberry.field(
        description="Machine-usable benefits: free_shipping, birthday_gift, early_access, ..."
    )

    @classmethod
    def from_model(cls, tier: tiers_models.Tier) -> TierType:
        return copy_into(
            cls,
            tier,
            earn_multiplier=Decimal(tier.earn_multiplier).quantize(Decimal("0.001")),
            benefit_flags=list(tier.benefit_flags),
        )


@strawberry.type
class TierProgress:
    qualifying_points: int
    points_to_next: int
    period_ends_at: datetime | None = strawberry.field(
        description="When the tier is next evaluated (a downgrade can only happen then)."
    )


@strawberry.type
class TierChangeType:
    from_tier: str | None
    to_tier: str | None
    reason: TierChangeReason  # type: ignore[valid-type]
    qualifying_points: int
    created_at: datetime


@strawberry.type
class MemberTier:
    member_id: strawberry.Private[int]
    current: TierType | None
    next: TierType | None
    floor: TierType | None
    progress: TierProgress

    @strawberry.field
    async def history(self) -> list[TierChangeType]:
        # Read only when asked for: the home screen shows the tier, not its history.
        names = {t.id: t.name for t in await tiers.program_ladder()}
        return [
            TierChangeType(
                from_tier=names.get(c.from_tier_id) if c.from_tier_id else None,
                to_tier=names.get(c.to_tier_id) if c.to_tier_id else None,
                reason=c.reason,
                qualifying_points=c.qualifying_points,
                created_at=c.created_at,
            )
            for c in await tiers.history(self.member_id)
        ]

    @classmethod
    def of(cls, member_id: int, found: tiers.TierProgress) -> MemberTier:
        def tier(t: tiers_models.Tier | None) -> TierType | None:
            return TierType.from_model(t) if t is not None else None

        return cls(
            member_id=member_id,
            current=tier(found.current),
            next=tier(found.next),
            floor=tier(found.floor),
            progress=TierProgress(
                qualifying_points=found.qualifying_points,
                points_to_next=found.points_to_next,
                period_ends_at=found.period_ends_at,
            ),
        )


@strawberry.type(description="The caller's progress in the current window of a challenge.")
class ChallengeProgress:
    joined: bool
    current: Decimal
    target: Decimal
    percent: int
    completions: int
    completed_at: datetime | None
    streak_length: int
    ends_at: datetime | None = strawberry.field(description="When the current window closes.")

    @classmethod
    def from_view(cls, view: challenges_views.ChallengeView) -> ChallengeProgress:
        return copy_into(
            cls,
            view,
            current=view.current.quantize(_CENTS),
            target=view.target.quantize(_CENTS),
            streak_length=view.streak,
        )


@strawberry.type(name="Challenge", description="A goal over the member's activity.")
class ChallengeType(Node):
    title: str
    description: str
    image_url: str
    goal_type: GoalType  # type: ignore[valid-type]
    target: Decimal
    event_kind: EventKind  # type: ignore[valid-type]
    filter_channel: Channel | None  # type: ignore[valid-type]
    filter_category: str | None
    filter_store_id: int | None
    filter_min_amount: Decimal | None
    filter_eco_kind: str | None
    window_kind: WindowKind  # type: ignore[valid-type]
    starts_at: datetime
    ends_at: datetime | None
    min_tier: str | None
    reward_points: int
    max_completions: int = strawberry.field(description="Per window.")
    opt_in: bool
    hidden: bool
    freezes_per_week: int
    status: ChallengeStatus  # type: ignore[valid-type]
    progress: ChallengeProgress | None = strawberry.field(
        description="The caller's progress; null for callers who are not members."
    )

    @classmethod
    def from_model(
        cls,
        challenge: challenges_models.Challenge,
        view: challenges_views.ChallengeView | None = None,
    ) -> ChallengeType:
        minimum = challenge.filter_min_amount
        return copy_into(
            cls,
            challenge,
            id=to_global_id("Challenge", challenge.id),
            target=Decimal(challenge.target),
            filter_min_amount=Decimal(minimum) if minimum is not None else None,
            progress=ChallengeProgress.from_view(view) if view else None,
        )


@strawberry.type(name="Badge")
class BadgeType:
    id: strawberry.ID
    name: str
    description: str
    image_url: str
    rule: BadgeRule  # type: ignore[valid-type]
    threshold: int | None
    level_thresholds: list[int] = strawberry.field(
        description="Higher levels of a counted badge, after `threshold` (level 1)."
    )
    tier_name: str | None
    holders: int
    rarity: float = strawberry.field(description="The share of members holding it, 0 to 1.")

    @classmethod
    def of(cls, entry: badges.BadgeWithRarity) -> BadgeType:
        badge = entry.badge
        return copy_into(
            cls,
            badge,
            id=to_global_id("Badge", badge.id),
            level_thresholds=list(badge.level_thresholds),
            holders=entry.holders,
            rarity=entry.rarity,
        )


@strawberry.type
class HeldBadge:
    badge: BadgeType
    level: int
    awarded_at: datetime


@strawberry.type
class EcoActionType:
    id: strawberry.ID
    kind: str
    quantity: int
    points: int
    occurred_at: datetime


@strawberry.type
class CheckIn:
    local_date: date
