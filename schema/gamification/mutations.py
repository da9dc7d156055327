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
from schema.partial_updates import Converters, given_fields, input_of
from schema.payloads import payload_of, payload_type
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


# From GraphQL's values to the domain's, for create and update alike.
_CONVERT: Converters = {
    "goal_type": challenges_models.GoalType,
    "event_kind": lambda value: events_models.EventKind(value).value,
    "window_kind": challenges_models.WindowKind,
    "filter_channel": stores_models.Channel,
    "filter_store_id": _store_pk,
    "reward_badge_id": _badge_pk,
}
_CHALLENGE_FIELDS = tuple(f.name for f in fields(challenges_definitions.ChallengeInput))


def _changes(input: UpdateChallengeInput) -> dict[str, Any]:
    """Raises InvalidInput when a field that cannot be empty is given as null."""
    return given_fields(input, _CHALLENGE_FIELDS, nullable=_NULLABLE, convert=_CONVERT)


ChallengePayload = payload_type("ChallengePayload", challenge=ChallengeType)
BadgePayload = payload_type("BadgePayload", badge=BadgeType)
CheckInPayload = payload_type("CheckInPayload", check_in=CheckIn)
RecordEcoActionPayload = payload_type(
    "RecordEcoActionPayload", eco_action=EcoActionType, replayed=True
)


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


TierPayload = payload_type("TierPayload", tier=TierType)
MemberTierPayload = payload_type("MemberTierPayload", tier=MemberTier)


@strawberry.type
class GamificationMutations:
    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Create or replace a tier (found by name)."
    )
    async def define_tier(self, info: Info, input: DefineTierInput) -> TierPayload:  # type: ignore[valid-type]
        async def define() -> TierPayload:  # type: ignore[valid-type]
            data = input_of(input, tiers.TierInput, convert={"benefit_flags": tuple})
            return TierPayload(tier=TierType.from_model(await tiers.define_tier(data)))

        return await payload_of(TierPayload, define)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Set (or clear, with null) the tier a member never drops below.",
    )
    async def set_tier_floor(
        self, info: Info, member_id: strawberry.ID, tier: str | None
    ) -> MemberTierPayload:  # type: ignore[valid-type]
        async def set_floor() -> MemberTierPayload:  # type: ignore[valid-type]
            pk = pk_of(member_id, "Member", field="memberId")
            await tiers.set_tier_floor(pk, tier)
            return MemberTierPayload(tier=MemberTier.of(pk, await tiers.progress(pk)))

        return await payload_of(MemberTierPayload, set_floor)

    @strawberry.mutation(permission_classes=[IsPerson], description="Join an opt-in challenge.")
    async def join_challenge(self, info: Info, challenge_id: strawberry.ID) -> ChallengePayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def join() -> ChallengePayload:  # type: ignore[valid-type]
            challenge = await challenges_progress.join_challenge(
                actor=actor, challenge_id=pk_of(challenge_id, "Challenge", field="challengeId")
            )
            views = await challenges_views.views_for(actor.id, [challenge])
            return ChallengePayload(challenge=ChallengeType.from_model(challenge, views[0]))

        return await payload_of(ChallengePayload, join)

    @strawberry.mutation(
        permission_classes=[IsPerson], description="The daily app check-in (once a local day)."
    )
    async def check_in(self, info: Info) -> CheckInPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def check() -> CheckInPayload:  # type: ignore[valid-type]
            result = await eco_actions.check_in(member_id=actor.id)
            return CheckInPayload(check_in=CheckIn(local_date=result.local_date))

        return await payload_of(CheckInPayload, check)

    @strawberry.mutation(
        permission_classes=[IsStaffOrDevice],
        description="An eco action by a recycling machine, refill station or cashier.",
    )
    async def record_eco_action(
        self, info: Info, input: RecordEcoActionInput
    ) -> RecordEcoActionPayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def record() -> RecordEcoActionPayload:  # type: ignore[valid-type]
            member = await find_member(
                pk_of(input.member_id, "Member", field="memberId") if input.member_id else None,
                input.card_number,
            )
            result = await eco_actions.record_eco_action(
                actor=actor,
                member_id=member.id,
                kind_code=input.kind,
                quantity=input.quantity,
                external_id=input.external_id,
                channel=stores_models.Channel(input.channel) if input.channel else None,
            )
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

        return await payload_of(RecordEcoActionPayload, record)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Define a challenge.")
    async def create_challenge(self, info: Info, input: CreateChallengeInput) -> ChallengePayload:  # type: ignore[valid-type]
        async def create() -> ChallengePayload:  # type: ignore[valid-type]
            data = input_of(input, challenges_definitions.ChallengeInput, convert=_CONVERT)
            challenge = await challenges_definitions.create_challenge(data)
            return ChallengePayload(challenge=ChallengeType.from_model(challenge))

        return await payload_of(ChallengePayload, create)

    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Change some of a challenge, or archive it."
    )
    async def update_challenge(
        self, info: Info, id: strawberry.ID, input: UpdateChallengeInput
    ) -> ChallengePayload:  # type: ignore[valid-type]
        async def update() -> ChallengePayload:  # type: ignore[valid-type]
            archived = input.archived if input.archived is not strawberry.UNSET else None
            challenge = await challenges_definitions.update_challenge(
                pk_of(id, "Challenge"), _changes(input), archived=archived
            )
            return ChallengePayload(challenge=ChallengeType.from_model(challenge))

        return await payload_of(ChallengePayload, update)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Add a badge to the catalog.")
    async def create_badge(self, info: Info, input: CreateBadgeInput) -> BadgePayload:  # type: ignore[valid-type]
        async def create() -> BadgePayload:  # type: ignore[valid-type]
            data = input_of(
                input,
                badges.BadgeInput,
                convert={"rule": badges_models.BadgeRule, "level_thresholds": tuple},
            )
            badge = await badges.create_badge(data)
            return BadgePayload(badge=BadgeType.of(badges.BadgeWithRarity(badge, 0, 0.0)))

        return await payload_of(BadgePayload, create)
