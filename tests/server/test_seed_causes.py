"""The demo seed's eco causes: three causes, a matching campaign, a few donations, added once."""

from __future__ import annotations

from decimal import Decimal

from gamification.causes.models import Cause, Donation, MatchingCampaign
from gamification.ledger.models import LedgerEntry
from server.seed import DEMO_MEMBER_EMAIL, seed_causes
from tests.factories import create_member, credit_points
from tests.invariants import assert_books_balance


async def _demo_members() -> None:
    for email in [DEMO_MEMBER_EMAIL] + [f"member{i:02d}@example.com" for i in range(1, 6)]:
        await credit_points(member=await create_member(email=email), points=1000)


async def test_the_demo_has_three_causes_one_matched_with_donations() -> None:
    await _demo_members()

    await seed_causes()

    rates = {c.impact_unit: c.points_per_unit for c in await Cause.all()}
    assert rates == {"tree": 500, "kg of ocean plastic": 100, "kg CO₂": 50}
    campaign = await MatchingCampaign.get().prefetch_related("cause")
    assert campaign.cause.impact_unit == "tree"
    assert (Decimal(campaign.ratio), campaign.total_cap, campaign.per_member_cap) == (
        1,
        50_000,
        2000,
    )
    assert campaign.matched_total > 0
    assert await Donation.all().count() == 7
    await assert_books_balance()


async def test_seeding_the_causes_twice_adds_nothing() -> None:
    await _demo_members()
    await seed_causes()
    before = (
        await Cause.all().count(),
        await MatchingCampaign.all().count(),
        await Donation.all().count(),
        await LedgerEntry.all().count(),
    )

    await seed_causes()

    assert (
        await Cause.all().count(),
        await MatchingCampaign.all().count(),
        await Donation.all().count(),
        await LedgerEntry.all().count(),
    ) == before
