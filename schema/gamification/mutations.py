"""Gamification mutations: members join challenges and check in, stores record eco actions,
admins define challenges and badges. Expected failures come back in `errors`."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry

from gamification.badges import awards as badges
from gamification.badges import models as badges_models
from gamification.challenges import definitions as challenges_definitions
from gamification.challenges import models as challenges_models
from gamification.challenges import progress as challenges_progress
from gamification.challenges import views as challenges_views
from gamification.earning import eco_actions
from gamification.earning.purchases import find_member
from gamification.events import models as events_models
from gamification.stores import models as stores_models
from gamification.tiers import ladder as tiers
from schema.context import Info
from schema.errors import UserError, errors_of
from schema.gamification.types import (
    BadgeRule,
    BadgeType,
    ChallengeType,
    CheckIn,
    EcoActionType,
    EventKind,
    GoalType,
    MemberTier,
    TierType,
    WindowKind,
)
from schema.permissions import IsAdmin, IsPerson, IsStaffOrDevice
from schema.relay import pk_of, to_global_id
from schema.stores.types import Channel


@strawberry.input
class CreateChallengeInput:
    title: str
    goal_type: GoalType  # type: ignore[valid-type]
    target: Decimal
    event_kind: EventKind  # type: ignore[valid-type]
    window_kind: WindowKind  # type: ignore[valid-type]
    starts_at: datetime
    ends_at: datetime | None = None
    description: str = ""
    image_url: str = ""
    filter_channel: Channel | None = None  # type: ignore[valid-type]
    filter_category: str | None = None
    filter_store_id: strawberry.ID | None = None
    filter_min_amount: Decimal | None = None
    filter_eco_kind: str | None = None
    min_tier: str | None = None
    reward_points: int = 0
    reward_badge_id: strawberry.ID | None = None
    max_completions: int = strawberry.field(default=1, description="Per window.")
    opt_in: bool = False
    hidden: bool = False
    freezes_per_week: int = 0


@strawberry.input(description="Only the fields given change; `archived` archives or restores.")
class UpdateChallengeInput:
    title: str | None = strawberry.UNSET
    goal_type: GoalType | None = strawberry.UNSET  # type: ignore[valid-type]
    target: Decimal | None = strawberry.UNSET
    event_kind: EventKind | None = strawberry.UNSET  # type: ignore[valid-type]
    window_kind: WindowKind | None = strawberry.UNSET  # type: ignore[valid-type]
    starts_at: datetime | None = strawberry.UNSET
    ends_at: datetime | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    image_url: str | None = strawberry.UNSET
    filter_channel: Channel | None = strawberry.UNSET  # type: ignore[valid-type]
    filter_category: str | None = strawberry.UNSET
    filter_min_amount: Decimal | None = strawberry.UNSET
    filter_eco_kind: str | None = strawberry.UNSET
    min_tier: str | None = strawberry.UNSET
    reward_points: int | None = strawberry.UNSET
    max_completions: int | None = strawberry.UNSET
    opt_in: bool | None = strawberry.UNSET
    hidden: bool | None = strawberry.UNSET
    freezes_per_week: int | None = strawberry.UNSET
    archived: bool | None = strawberry.UNSET


_NULLABLE = frozenset(
    {
        "ends_at",
        "filter_channel",
        "filter_category",
        "filter_min_amount",
        "filter_eco_kind",
        "min_tier",
    }
)


def _store_pk(value: strawberry.ID | None) -> int | None:
    return pk_of(value, "Store", field="filterStoreId") if value else None


def _badge_pk(value: strawberry.ID | None) -> int | None:
    return pk_of(value, "Badge", field="rewardBadgeId") if value else None


def _definition(input: CreateChallengeInput) -> challenges_definitions.ChallengeInput:
    return challenges_definitions.ChallengeInput(
        title=input.title,
        goal_type=challenges_models.GoalType(input.goal_type),
        target=input.target,
        event_kind=events_models.EventKind(input.event_kind).value,
        window_kind=challenges_models.WindowKind(input.window_kind),
        starts_at=input.starts_at,
        ends_at=input.ends_at,
        description=input.description,
        image_url=input.image_url,
        filter_channel=stores_models.Channel(input.filter_channel)
        if input.filter_channel
        else None,
        filter_category=input.filter_category,
        filter_store_id=_store_pk(input.filter_store_id),
        filter_min_amount=input.filter_min_amount,
        filter_eco_kind=input.filter_eco_kind,
        min_tier=input.min_tier,
        reward_points=input.reward_points,
        reward_badge_id=_badge_pk(input.reward_badge_id),
        max_completions=input.max_completions,
        opt_in=input.opt_in,
        hidden=input.hidden,
        freezes_per_week=input.freezes_per_week,
    )


_ENUMS: dict[str, Any] = {
    "goal_type": challenges_models.GoalType,
    "window_kind": challenges_models.WindowKind,
    "filter_channel": stores_models.Channel,
}


def _changes(input: UpdateChallengeInput) -> dict[str, Any]:
    from gamification.errors import InvalidInput

    given: dict[str, Any] = {}
    for f in fields(challenges_definitions.ChallengeInput):
        value = getattr(input, f.name, strawberry.UNSET)
        if value is strawberry.UNSET:
            continue
        if value is None and f.name not in _NULLABLE:
            raise InvalidInput(f"{f.name} cannot be null", field=f.name)
        if value is not None and f.name in _ENUMS:
            value = _ENUMS[f.name](value)
        if value is not None and f.name == "event_kind":
            value = events_models.EventKind(value).value
        given[f.name] = value
    return given


@strawberry.type
class ChallengePayload:
    challenge: ChallengeType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BadgePayload:
    badge: BadgeType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CheckInPayload:
    check_in: CheckIn | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordEcoActionPayload:
    eco_action: EcoActionType | None = None
    replayed: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RecordEcoActionInput:
    kind: str = strawberry.field(description="An eco action kind's code, e.g. `recycling`.")
    quantity: int
    external_id: str = strawberry.field(description="The recorder's id: retries replay it.")
    member_id: strawberry.ID | None = None
    card_number: str | None = None
    channel: Channel | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="For staff; a device always acts for its own channel."
    )


@strawberry.input
class CreateBadgeInput:
    name: str
    rule: BadgeRule  # type: ignore[valid-type]
    description: str = ""
    image_url: str = ""
    threshold: int | None = None
    level_thresholds: list[int] = strawberry.field(default_factory=list)
    tier_name: str | None = None


@strawberry.input
class DefineTierInput:
    name: str
    rank: int = strawberry.field(description="0 is the entry tier; higher ranks are higher.")
    threshold: int = strawberry.field(description="Qualifying points needed in the window.")
    earn_multiplier: Decimal = Decimal(1)
    benefits: str = ""
    benefit_flags: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class TierPayload:
    tier: TierType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MemberTierPayload:
    tier: MemberTier | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GamificationMutations:
    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Create or replace a tier (found by name)."
    )
    async def define_tier(self, info: Info, input: DefineTierInput) -> TierPayload:
        async def define() -> TierType:
            tier = await tiers.define_tier(
                tiers.TierInput(
                    name=input.name,
                    rank=input.rank,
                    threshold=input.threshold,
                    earn_multiplier=input.earn_multiplier,
                    benefits=input.benefits,
                    benefit_flags=tuple(input.benefit_flags),
                )
            )
            return TierType.from_model(tier)

        tier, errors = await errors_of(define)
        return TierPayload(tier=tier, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Set (or clear, with null) the tier a member never drops below.",
    )
    async def set_tier_floor(
        self, info: Info, member_id: strawberry.ID, tier: str | None
    ) -> MemberTierPayload:
        async def set_floor() -> MemberTier:
            pk = pk_of(member_id, "Member", field="memberId")
            await tiers.set_tier_floor(pk, tier)
            return MemberTier.of(pk, await tiers.progress(pk))

        found, errors = await errors_of(set_floor)
        return MemberTierPayload(tier=found, errors=errors)

    @strawberry.mutation(permission_classes=[IsPerson], description="Join an opt-in challenge.")
    async def join_challenge(self, info: Info, challenge_id: strawberry.ID) -> ChallengePayload:
        actor = info.context.require_person()

        async def join() -> ChallengeType:
            challenge = await challenges_progress.join_challenge(
                actor=actor, challenge_id=pk_of(challenge_id, "Challenge", field="challengeId")
            )
            views = await challenges_views.views_for(actor.id, [challenge])
            return ChallengeType.from_model(challenge, views[0])

        challenge, errors = await errors_of(join)
        return ChallengePayload(challenge=challenge, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsPerson], description="The daily app check-in (once a local day)."
    )
    async def check_in(self, info: Info) -> CheckInPayload:
        actor = info.context.require_person()

        async def check() -> CheckIn:
            result = await eco_actions.check_in(member_id=actor.id)
            return CheckIn(local_date=result.local_date)

        done, errors = await errors_of(check)
        return CheckInPayload(check_in=done, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsStaffOrDevice],
        description="An eco action by a recycling machine, refill station or cashier.",
    )
    async def record_eco_action(
        self, info: Info, input: RecordEcoActionInput
    ) -> RecordEcoActionPayload:
        actor = info.context.require_actor()

        async def record() -> eco_actions.EcoActionResult:
            member = await find_member(
                pk_of(input.member_id, "Member", field="memberId") if input.member_id else None,
                input.card_number,
            )
            return await eco_actions.record_eco_action(
                actor=actor,
                member_id=member.id,
                kind_code=input.kind,
                quantity=input.quantity,
                external_id=input.external_id,
                channel=stores_models.Channel(input.channel) if input.channel else None,
            )

        result, errors = await errors_of(record)
        if result is None:
            return RecordEcoActionPayload(errors=errors)
        action = result.action
        return RecordEcoActionPayload(
            eco_action=EcoActionType(
                id=to_global_id("EcoAction", action.id),
                kind=input.kind,
                quantity=action.quantity,
                points=action.points,
                occurred_at=action.occurred_at,
            ),
            replayed=result.replayed,
        )

    @strawberry.mutation(permission_classes=[IsAdmin], description="Define a challenge.")
    async def create_challenge(self, info: Info, input: CreateChallengeInput) -> ChallengePayload:
        async def create() -> ChallengeType:
            return ChallengeType.from_model(
                await challenges_definitions.create_challenge(_definition(input))
            )

        challenge, errors = await errors_of(create)
        return ChallengePayload(challenge=challenge, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Change some of a challenge, or archive it."
    )
    async def update_challenge(
        self, info: Info, id: strawberry.ID, input: UpdateChallengeInput
    ) -> ChallengePayload:
        async def update() -> ChallengeType:
            archived = input.archived if input.archived is not strawberry.UNSET else None
            challenge = await challenges_definitions.update_challenge(
                pk_of(id, "Challenge"), _changes(input), archived=archived
            )
            return ChallengeType.from_model(challenge)

        challenge, errors = await errors_of(update)
        return ChallengePayload(challenge=challenge, errors=errors)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Add a badge to the catalog.")
    async def create_badge(self, info: Info, input: CreateBadgeInput) -> BadgePayload:
        async def create() -> BadgeType:
            badge = await badges.create_badge(
                badges.BadgeInput(
                    name=input.name,
                    rule=badges_models.BadgeRule(input.rule),
                    description=input.description,
                    image_url=input.image_url,
                    threshold=input.threshold,
                    level_thresholds=tuple(input.level_thresholds),
                    tier_name=input.tier_name,
                )
            )
            return BadgeType.of(badges.BadgeWithRarity(badge, 0, 0.0))

        badge, errors = await errors_of(create)
        return BadgePayload(badge=badge, errors=errors)
