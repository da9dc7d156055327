"""GraphQL types for eco causes, their matching campaigns and members' donation receipts."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import strawberry

from gamification.causes import catalog as causes_catalog
from gamification.causes import donations as causes_donations
from gamification.causes import impact as causes_impact
from gamification.causes import matching as causes_matching
from gamification.causes import models as causes_models
from gamification.copies import copy_into
from schema.context import Info
from schema.relay import MAX_PK, Node, register_node, to_global_id
from schema.stores.types import Channel

CauseStatus = strawberry.enum(
    causes_models.CauseStatus,
    name="CauseStatus",
    description="ACTIVE takes donations from `startsAt`; GOAL_REACHED takes them only when "
    "`acceptsAfterGoal`; CLOSED (closed by an admin, or past `endsAt`) takes none.",
)


@strawberry.enum(name="DonationChannel", description="Where a donation is made.")
class DonationChannel(enum.Enum):
    APP = "APP"
    WEB = "WEB"
    KIOSK = "KIOSK"


@strawberry.type(description="What a cause has raised so far (reversed donations excluded).")
class CauseProgress:
    member_points: int = strawberry.field(description="Points donated by members.")
    matched_points: int = strawberry.field(description="Points the brand added by matching.")
    donors: int = strawberry.field(description="Members with at least one donation.")
    impact_delivered: Decimal = strawberry.field(
        description="(memberPoints + matchedPoints) / pointsPerUnit, in `impactUnit`s, "
        "rounded down to 4 decimals."
    )
    percent_of_goal: Decimal | None = strawberry.field(
        description="(memberPoints + matchedPoints) as a percentage of `goalPoints`, rounded "
        "down to 2 decimals; above 100 once passed; null without a goal."
    )

    @classmethod
    def of(cls, progress: causes_impact.CauseProgress) -> CauseProgress:
        return copy_into(cls, progress)


@strawberry.type(
    name="MatchingCampaign",
    description="The brand adds `ratio` points per donated point, within its caps.",
)
class MatchingCampaignType(Node):
    cause_id: strawberry.ID
    ratio: Decimal
    total_cap: int = strawberry.field(description="The most the brand matches in all.")
    per_member_cap: int | None = strawberry.field(
        description="The most the brand matches for one member; null: no per-member cap."
    )
    matched_total: int
    remaining: int = strawberry.field(description="What is left of `totalCap`.")
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def from_model(cls, campaign: causes_models.MatchingCampaign) -> MatchingCampaignType:
        cause_id: int = campaign.cause_id  # type: ignore[attr-defined]
        return copy_into(
            cls,
            campaign,
            id=to_global_id("MatchingCampaign", campaign.id),
            cause_id=to_global_id("Cause", cause_id),
            ratio=Decimal(campaign.ratio),
            remaining=max(0, campaign.total_cap - campaign.matched_total),
        )


@strawberry.type(name="Cause", description="An eco cause members donate points to.")
class CauseType(Node):
    name: str
    description: str
    image_url: str
    partner: str
    impact_unit: str = strawberry.field(description='What one unit of impact is: "tree", ...')
    points_per_unit: int = strawberry.field(description="Points that make one impact unit.")
    goal_points: int | None = strawberry.field(description="Null: no goal.")
    status: CauseStatus  # type: ignore[valid-type]
    accepts_donations: bool = strawberry.field(
        description="Whether a donation would be taken now (open, started, goal rules)."
    )
    starts_at: datetime
    ends_at: datetime | None
    accepts_after_goal: bool
    min_donation: int = strawberry.field(description="The smallest donation, in points.")
    donation_step: int = strawberry.field(
        description="Donations are `minDonation` plus a multiple of this many points."
    )
    progress: CauseProgress
    active_campaign: MatchingCampaignType | None = strawberry.field(
        description="The campaign matching donations now, if any."
    )
    created_at: datetime

    @classmethod
    def from_model(
        cls,
        cause: causes_models.Cause,
        campaign: causes_models.MatchingCampaign | None,
        now: datetime,
    ) -> CauseType:
        return copy_into(
            cls,
            cause,
            id=to_global_id("Cause", cause.id),
            status=causes_catalog.effective_status(cause, now),
            accepts_donations=causes_donations.accepts_donations(cause, now),
            progress=CauseProgress.of(causes_impact.progress_of(cause)),
            active_campaign=MatchingCampaignType.from_model(campaign) if campaign else None,
        )

    @classmethod
    async def many(cls, rows: Sequence[causes_models.Cause]) -> dict[int, CauseType]:
        """Types for these causes, by id, with their campaigns fetched in one query."""
        now = datetime.now(UTC)
        campaigns = await causes_matching.active_campaigns([c.id for c in rows], now)
        return {c.id: cls.from_model(c, campaigns.get(c.id), now) for c in rows}

    @classmethod
    async def load(cls, cause: causes_models.Cause) -> CauseType:
        return (await cls.many([cause]))[cause.id]


@strawberry.type(
    name="Donation",
    description="A donation receipt. Only its member and admins see it.",
)
class DonationType(Node):
    cause: CauseType
    points: int = strawberry.field(description="Points the member gave.")
    matched_points: int = strawberry.field(description="Points the brand added.")
    match_capped: bool = strawberry.field(description="Whether a campaign cap cut the match short.")
    impact_units: Decimal = strawberry.field(
        description="What this donation achieves with the match: (points + matchedPoints) / "
        "the cause's pointsPerUnit, rounded down to 4 decimals."
    )
    channel: Channel  # type: ignore[valid-type]
    created_at: datetime
    entry_hash: str = strawberry.field(
        description="The hash of the ledger entry that took the points: the same as that "
        "entry's `hash` in `me { ledger }`."
    )
    reversed_at: datetime | None = strawberry.field(
        description="When an admin reversed it (points back to the member); null otherwise."
    )

    @classmethod
    def from_model(cls, donation: causes_models.Donation, cause: CauseType) -> DonationType:
        return copy_into(
            cls,
            donation,
            id=to_global_id("Donation", donation.id),
            cause=cause,
            impact_units=Decimal(donation.impact_units),
        )

    @classmethod
    async def many(cls, rows: Sequence[causes_models.Donation]) -> dict[int, DonationType]:
        """Types for these receipts, by id; each `donation.cause` must have been fetched."""
        by_cause = await CauseType.many(list({d.cause.id: d.cause for d in rows}.values()))
        return {d.id: cls.from_model(d, by_cause[d.cause.id]) for d in rows}

    @classmethod
    async def load(cls, donation: causes_models.Donation) -> DonationType:
        """From one receipt; `donation.cause` must have been fetched."""
        return (await cls.many([donation]))[donation.id]


@strawberry.type(name="Impact", description="What a member's own donated points achieved.")
class ImpactType:
    unit: str
    units: Decimal


async def load_cause_node(info: Info, pk: int) -> CauseType | None:
    cause = await causes_catalog.get_cause(pk) if info.context.actor else None
    return await CauseType.load(cause) if cause else None


async def load_campaign_node(info: Info, pk: int) -> MatchingCampaignType | None:
    if info.context.actor is None:
        return None
    campaign = await causes_models.MatchingCampaign.get_or_none(id=pk)
    return MatchingCampaignType.from_model(campaign) if campaign else None


async def load_donation_node(info: Info, pk: int) -> DonationType | None:
    actor = info.context.actor
    donation = await causes_donations.visible_donation(actor, pk) if actor else None
    return await DonationType.load(donation) if donation else None


register_node("Cause", load_cause_node)
register_node("MatchingCampaign", load_campaign_node)
register_node("Donation", load_donation_node, max_pk=MAX_PK)  # 64-bit ids
