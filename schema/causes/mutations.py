"""Cause mutations: members donate their own points; admins run the causes,
their matching campaigns, and reverse donations. Donating and reversing take an
`idempotencyKey`; a retry with the same key returns the first answer with `replayed: true`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from channels import donations
from gamification.causes import catalog as causes_catalog
from gamification.causes import donations as causes_donations
from gamification.causes import matching as causes_matching
from gamification.causes import models as causes_models
from gamification.ledger import points as points_service
from gamification.stores import models as stores_models
from schema.causes.types import CauseType, DonationChannel, DonationType, MatchingCampaignType
from schema.context import Info
from schema.partial_updates import changes_of, input_of
from schema.payloads import payload_of, payload_type
from schema.permissions import IsAdmin, IsPerson
from schema.relay import pk_of


@strawberry.input
class CreateCauseInput:
    name: str
    impact_unit: str = strawberry.field(description='What one unit of impact is: "tree", ...')
    points_per_unit: int = strawberry.field(description="Points that make one impact unit.")
    description: str = ""
    image_url: str = strawberry.field(default="", description="An http(s) URL, or empty.")
    partner: str = ""
    goal_points: int | None = strawberry.field(
        default=None, description="The goal in points. Or give `goalUnits`; neither: no goal."
    )
    goal_units: int | None = strawberry.field(
        default=None,
        description="The goal in impact units, stored as goalUnits × pointsPerUnit points.",
    )
    starts_at: datetime | None = strawberry.field(default=None, description="Null: now.")
    ends_at: datetime | None = strawberry.field(default=None, description="Null: open-ended.")
    accepts_after_goal: bool = True
    min_donation: int = 1
    donation_step: int = 1


@strawberry.input(description="Only the fields given change; null clears a nullable one.")
class UpdateCauseInput:
    name: str | None = strawberry.UNSET
    impact_unit: str | None = strawberry.field(
        default=strawberry.UNSET, description="Fixed once the cause has donations."
    )
    points_per_unit: int | None = strawberry.field(
        default=strawberry.UNSET, description="Fixed once the cause has donations."
    )
    description: str | None = strawberry.UNSET
    image_url: str | None = strawberry.UNSET
    partner: str | None = strawberry.UNSET
    goal_points: int | None = strawberry.field(
        default=strawberry.UNSET, description="Null removes the goal."
    )
    goal_units: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="The goal in impact units (at the cause's pointsPerUnit). Null removes it.",
    )
    starts_at: datetime | None = strawberry.UNSET
    ends_at: datetime | None = strawberry.UNSET
    accepts_after_goal: bool | None = strawberry.UNSET
    min_donation: int | None = strawberry.UNSET
    donation_step: int | None = strawberry.UNSET


# Fields that null clears; any other field given as null is a mistake.
_NULLABLE = frozenset({"goal_points", "goal_units", "ends_at"})


def _changes_of(input: UpdateCauseInput) -> causes_catalog.CauseChanges:
    """Raises InvalidInput when a field that cannot be empty is given as null."""
    return changes_of(input, causes_catalog.CauseChanges, nullable=_NULLABLE)


@strawberry.input
class CreateMatchingCampaignInput:
    cause_id: strawberry.ID
    ratio: Decimal = strawberry.field(
        description="Points the brand adds per donated point: above 0, at most 10."
    )
    total_cap: int = strawberry.field(description="The most the brand matches in all (>= 0).")
    per_member_cap: int | None = strawberry.field(
        default=None, description="The most it matches for one member (>= 0); null: no cap."
    )
    starts_at: datetime | None = strawberry.field(default=None, description="Null: now.")
    ends_at: datetime


CausePayload = payload_type("CausePayload", cause=CauseType)
MatchingCampaignPayload = payload_type("MatchingCampaignPayload", campaign=MatchingCampaignType)
DonatePointsPayload = payload_type(
    "DonatePointsPayload",
    donation=(DonationType, "The receipt."),
    balance=(int, "The donor's balance right after the donation (a replay gives the same)."),
    replayed=True,
)
ReverseDonationPayload = payload_type(
    "ReverseDonationPayload", donation=DonationType, replayed=True
)


def _cause_pk(cause_id: strawberry.ID) -> int:
    return pk_of(cause_id, "Cause", field="causeId")


async def _receipt(donation: causes_models.Donation) -> DonationType:
    await donation.fetch_related("cause")
    return await DonationType.load(donation)


async def donation_payload(
    result: causes_donations.DonationResult,
) -> DonatePointsPayload:  # type: ignore[valid-type]
    """The receipt, and the donor's balance as the donation's transaction left it."""
    balance = result.balance
    if balance is None:  # a replay of a donation stored before balances were kept with it
        donor: int = result.donation.member_id  # type: ignore[attr-defined]
        balance = (await points_service.summary(donor)).balance
    return DonatePointsPayload(
        donation=await _receipt(result.donation), balance=balance, replayed=result.replayed
    )


@strawberry.type
class CauseMutations:
    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Donate your own points to a cause, signed in, in the app or on the web "
        "(`channel` APP or WEB). Where a matching campaign runs, the brand adds its share, "
        "within its caps. In a store, a kiosk donates with the member's proof instead: "
        "`donateWithToken` (a donation code from `createRedemptionToken(causeId, points)`) or "
        "`requestDonation` (the member approves in the app).",
    )
    async def donate_points(
        self,
        info: Info,
        cause_id: strawberry.ID,
        points: int,
        idempotency_key: str,
        channel: DonationChannel = DonationChannel.APP,
    ) -> DonatePointsPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def donate() -> DonatePointsPayload:  # type: ignore[valid-type]
            return await donation_payload(
                await donations.donate_own_points(
                    actor=actor,
                    cause_id=_cause_pk(cause_id),
                    points=points,
                    idempotency_key=idempotency_key,
                    channel=stores_models.Channel(channel.value),
                )
            )

        return await payload_of(DonatePointsPayload, donate)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Give a donation back, exactly once: the points to the member (a new lot, "
        "expiring no sooner than 30 days from now), the match to the brand, the cause's "
        "totals and the campaign's cap room restored.",
    )
    async def reverse_donation(
        self, info: Info, donation_id: strawberry.ID, reason: str, idempotency_key: str
    ) -> ReverseDonationPayload:  # type: ignore[valid-type]
        actor = info.context.require_actor()

        async def reverse() -> ReverseDonationPayload:  # type: ignore[valid-type]
            result = await causes_donations.reverse_donation(
                actor=actor,
                donation_id=pk_of(donation_id, "Donation", field="donationId"),
                reason=reason,
                idempotency_key=idempotency_key,
            )
            return ReverseDonationPayload(
                donation=await _receipt(result.donation), replayed=result.replayed
            )

        return await payload_of(ReverseDonationPayload, reverse)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Add a cause.")
    async def create_cause(self, info: Info, input: CreateCauseInput) -> CausePayload:  # type: ignore[valid-type]
        async def create() -> CausePayload:  # type: ignore[valid-type]
            data = input_of(input, causes_catalog.CauseInput)
            return CausePayload(cause=await CauseType.load(await causes_catalog.create_cause(data)))

        return await payload_of(CausePayload, create)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Change some of a cause.")
    async def update_cause(
        self, info: Info, cause_id: strawberry.ID, input: UpdateCauseInput
    ) -> CausePayload:  # type: ignore[valid-type]
        async def update() -> CausePayload:  # type: ignore[valid-type]
            cause = await causes_catalog.update_cause(_cause_pk(cause_id), _changes_of(input))
            return CausePayload(cause=await CauseType.load(cause))

        return await payload_of(CausePayload, update)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Stop a cause taking donations, for good (closing it again changes nothing).",
    )
    async def close_cause(self, info: Info, cause_id: strawberry.ID) -> CausePayload:  # type: ignore[valid-type]
        async def close() -> CausePayload:  # type: ignore[valid-type]
            cause = await causes_catalog.close_cause(_cause_pk(cause_id))
            return CausePayload(cause=await CauseType.load(cause))

        return await payload_of(CausePayload, close)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Have the brand match donations to a cause for a while. A cause runs one "
        "campaign at a time: campaigns of the same cause may not overlap.",
    )
    async def create_matching_campaign(
        self, info: Info, input: CreateMatchingCampaignInput
    ) -> MatchingCampaignPayload:  # type: ignore[valid-type]
        async def create() -> MatchingCampaignPayload:  # type: ignore[valid-type]
            data = input_of(input, causes_matching.CampaignInput, convert={"cause_id": _cause_pk})
            campaign = await causes_matching.create_matching_campaign(data)
            return MatchingCampaignPayload(campaign=MatchingCampaignType.from_model(campaign))

        return await payload_of(MatchingCampaignPayload, create)
