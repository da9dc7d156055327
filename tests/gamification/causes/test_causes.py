"""The causes use cases: admins create, change and close causes and run matching campaigns;
members' receipts and lifetime impact. Donating itself is covered in test_donations.py and
through the API in tests/schema/test_donate_points.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from gamification.actors import Actor, ActorKind
from gamification.causes import catalog as causes_catalog
from gamification.causes import donations as causes_donations
from gamification.causes import impact as causes_impact
from gamification.causes import matching as causes_matching
from gamification.causes.models import Cause, CauseStatus, Donation, MatchingCampaign
from gamification.errors import ErrorCode, LoyaltyError
from gamification.ledger import points
from tests.factories import (
    actor_of,
    consent_of,
    create_cause,
    create_matching_campaign,
    create_member,
    credit_points,
    donate,
)
from tests.invariants import assert_books_balance

NOW = datetime.now(UTC)
ADMIN = Actor(kind=ActorKind.ADMIN, id=99_999)
TREES = causes_catalog.CauseInput(name="Plant trees", impact_unit="tree", points_per_unit=500)


def _campaign(cause_id: int, **overrides: Any) -> causes_matching.CampaignInput:
    values: dict[str, Any] = {
        "cause_id": cause_id,
        "ratio": Decimal("1"),
        "total_cap": 1000,
        "per_member_cap": None,
        "starts_at": NOW - timedelta(minutes=1),
        "ends_at": NOW + timedelta(days=1),
    }
    values.update(overrides)
    return causes_matching.CampaignInput(**values)


async def _refused(action: Any) -> tuple[str, str | None]:
    with pytest.raises(LoyaltyError) as refused:
        await action
    return refused.value.code, refused.value.field


# --- creating causes ---------------------------------------------------------------------


async def test_a_cause_is_created_trimmed_and_open_from_now() -> None:
    # when
    cause = await causes_catalog.create_cause(
        replace(TREES, name="  Plant trees ", partner=" Forest Friends ", goal_points=50_000)
    )

    # then
    stored = await Cause.get(id=cause.id)
    assert (stored.name, stored.partner, stored.goal_points) == (
        "Plant trees",
        "Forest Friends",
        50_000,
    )
    assert stored.status is CauseStatus.ACTIVE
    assert abs(stored.starts_at - datetime.now(UTC)) < timedelta(seconds=5)


async def test_a_goal_in_impact_units_is_stored_in_points() -> None:
    cause = await causes_catalog.create_cause(replace(TREES, goal_units=1000))

    assert (await Cause.get(id=cause.id)).goal_points == 500_000


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"impact_unit": ""}, "impactUnit"),
        ({"impact_unit": "x" * 41}, "impactUnit"),
        ({"points_per_unit": 0}, "pointsPerUnit"),
        ({"goal_points": 0}, "goalPoints"),
        ({"goal_units": 0}, "goalUnits"),
        ({"goal_points": 1000, "goal_units": 2}, "goalUnits"),
        ({"starts_at": datetime(2026, 1, 1)}, "startsAt"),  # naive: names no instant
        ({"starts_at": NOW, "ends_at": NOW}, "endsAt"),
        ({"min_donation": 0}, "minDonation"),
        ({"donation_step": 0}, "donationStep"),
        ({"image_url": "ftp://example.com/tree.png"}, "imageUrl"),
        ({"image_url": "javascript:alert(1)"}, "imageUrl"),
    ],
)
async def test_an_invalid_cause_is_refused(overrides: dict[str, Any], field: str) -> None:
    code = await _refused(causes_catalog.create_cause(replace(TREES, **overrides)))

    assert code == (ErrorCode.INVALID_INPUT, field)
    assert await Cause.all().count() == 0


# --- changing and closing causes -------------------------------------------------------


async def test_an_update_changes_only_the_fields_given() -> None:
    cause = await create_cause(name="Trees", partner="Forest Friends", min_donation=100)

    updated = await causes_catalog.update_cause(
        cause.id, causes_catalog.CauseChanges(name="More trees")
    )

    stored = await Cause.get(id=updated.id)
    assert (stored.name, stored.partner, stored.min_donation) == (
        "More trees",
        "Forest Friends",
        100,
    )


async def test_an_update_checks_the_end_against_the_stored_start() -> None:
    cause = await create_cause(starts_at=NOW)

    code = await _refused(
        causes_catalog.update_cause(
            cause.id, causes_catalog.CauseChanges(ends_at=NOW - timedelta(days=1))
        )
    )

    assert code == (ErrorCode.INVALID_INPUT, "endsAt")
    assert (await Cause.get(id=cause.id)).ends_at is None


async def test_lowering_the_goal_below_the_total_marks_it_reached_and_raising_reopens() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=1000)
    cause = await create_cause(goal_points=10_000)
    await donate(member=member, cause=cause, points=600)

    # when / then
    lowered = await causes_catalog.update_cause(
        cause.id, causes_catalog.CauseChanges(goal_points=500)
    )
    assert lowered.status is CauseStatus.GOAL_REACHED
    raised = await causes_catalog.update_cause(cause.id, causes_catalog.CauseChanges(goal_units=2))
    assert (raised.goal_points, raised.status) == (1000, CauseStatus.ACTIVE)
    cleared = await causes_catalog.update_cause(
        cause.id, causes_catalog.CauseChanges(goal_points=None)
    )
    assert (cleared.goal_points, cleared.status) == (None, CauseStatus.ACTIVE)


async def test_the_impact_rate_is_fixed_once_a_cause_has_donations() -> None:
    member = await create_member()
    await credit_points(member=member, points=1000)
    cause = await create_cause(points_per_unit=500)
    await donate(member=member, cause=cause, points=500)

    code = await _refused(
        causes_catalog.update_cause(cause.id, causes_catalog.CauseChanges(points_per_unit=100))
    )

    assert code == (ErrorCode.INVALID_INPUT, "pointsPerUnit")
    assert (await Cause.get(id=cause.id)).points_per_unit == 500


async def test_the_impact_rate_may_change_before_any_donation() -> None:
    cause = await create_cause(points_per_unit=500)

    updated = await causes_catalog.update_cause(
        cause.id, causes_catalog.CauseChanges(points_per_unit=250, impact_unit="sapling")
    )

    assert (updated.points_per_unit, updated.impact_unit) == (250, "sapling")


async def test_updating_an_unknown_cause_is_refused() -> None:
    code = await _refused(causes_catalog.update_cause(4242, causes_catalog.CauseChanges(name="x")))

    assert code == (ErrorCode.CAUSE_NOT_FOUND, "causeId")


async def test_closing_a_cause_stops_donations_and_closing_again_changes_nothing() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=100)
    cause = await create_cause(points_per_unit=10)

    # when
    await causes_catalog.close_cause(cause.id)
    again = await causes_catalog.close_cause(cause.id)

    # then
    assert again.status is CauseStatus.CLOSED
    code = await _refused(donate(member=member, cause=cause, points=10))
    assert code == (ErrorCode.CAUSE_CLOSED, "causeId")
    assert (await points.summary(member.id)).balance == 100
    assert await Donation.all().count() == 0


# --- matching campaigns ----------------------------------------------------------------


async def test_a_matching_campaign_is_created() -> None:
    cause = await create_cause()

    campaign = await causes_matching.create_matching_campaign(
        _campaign(cause.id, ratio=Decimal("1.5"), total_cap=50_000, per_member_cap=2000)
    )

    stored = await MatchingCampaign.get(id=campaign.id)
    assert (Decimal(stored.ratio), stored.total_cap, stored.per_member_cap) == (
        Decimal("1.5"),
        50_000,
        2000,
    )
    assert stored.matched_total == 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ratio": Decimal(0)}, (ErrorCode.INVALID_RATIO, "ratio")),
        ({"ratio": Decimal("-1")}, (ErrorCode.INVALID_RATIO, "ratio")),
        ({"ratio": Decimal("10.0001")}, (ErrorCode.INVALID_RATIO, "ratio")),
        ({"ratio": Decimal("0.00001")}, (ErrorCode.INVALID_RATIO, "ratio")),
        ({"ratio": Decimal("NaN")}, (ErrorCode.INVALID_RATIO, "ratio")),
        ({"total_cap": -1}, (ErrorCode.INVALID_CAP, "totalCap")),
        ({"per_member_cap": -1}, (ErrorCode.INVALID_CAP, "perMemberCap")),
        ({"ends_at": NOW - timedelta(days=2)}, (ErrorCode.INVALID_INPUT, "endsAt")),
        (
            {"starts_at": NOW - timedelta(days=3), "ends_at": NOW - timedelta(days=2)},
            (ErrorCode.INVALID_INPUT, "endsAt"),
        ),
    ],
)
async def test_an_invalid_campaign_is_refused(
    overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    cause = await create_cause()

    code = await _refused(
        causes_matching.create_matching_campaign(_campaign(cause.id, **overrides))
    )

    assert code == expected
    assert await MatchingCampaign.all().count() == 0


async def test_a_campaign_ratio_of_ten_is_the_most_allowed() -> None:
    cause = await create_cause()

    campaign = await causes_matching.create_matching_campaign(
        _campaign(cause.id, ratio=Decimal("10"))
    )

    assert Decimal(campaign.ratio) == 10


async def test_a_campaign_for_an_unknown_cause_is_refused() -> None:
    code = await _refused(causes_matching.create_matching_campaign(_campaign(4242)))

    assert code == (ErrorCode.CAUSE_NOT_FOUND, "causeId")
    assert await MatchingCampaign.all().count() == 0


async def test_a_campaign_for_a_closed_cause_is_refused() -> None:
    cause = await create_cause()
    await causes_catalog.close_cause(cause.id)

    code = await _refused(causes_matching.create_matching_campaign(_campaign(cause.id)))

    assert code == (ErrorCode.CAUSE_CLOSED, "causeId")
    assert await MatchingCampaign.all().count() == 0


async def test_campaigns_of_one_cause_may_not_overlap() -> None:
    cause = await create_cause()
    await causes_matching.create_matching_campaign(_campaign(cause.id))

    code = await _refused(
        causes_matching.create_matching_campaign(
            _campaign(cause.id, starts_at=NOW + timedelta(hours=1), ends_at=NOW + timedelta(days=3))
        )
    )
    after = await causes_matching.create_matching_campaign(
        _campaign(cause.id, starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=3))
    )

    assert code == (ErrorCode.INVALID_INPUT, "startsAt")
    assert after.id is not None
    assert await MatchingCampaign.all().count() == 2


async def test_the_per_member_cap_limits_each_members_match() -> None:
    # given: a 1:1 campaign matching at most 300 points per member
    member, other = await create_member(), await create_member()
    for m in (member, other):
        await credit_points(member=m, points=1000)
    cause = await create_cause(points_per_unit=100)
    await create_matching_campaign(cause=cause, per_member_cap=300)

    # when
    first = await donate(member=member, cause=cause, points=200)
    second = await donate(member=member, cause=cause, points=200)
    third = await donate(member=member, cause=cause, points=100)
    others = await donate(member=other, cause=cause, points=200)

    # then
    assert [(d.matched_points, d.match_capped) for d in (first, second, third, others)] == [
        (200, False),
        (100, True),
        (0, True),
        (200, False),
    ]
    assert second.impact_units == Decimal(3)  # (200 + 100) / 100
    await assert_books_balance()


async def test_the_total_cap_limits_the_campaigns_match() -> None:
    member, other = await create_member(), await create_member()
    for m in (member, other):
        await credit_points(member=m, points=1000)
    cause = await create_cause(points_per_unit=100)
    campaign = await create_matching_campaign(cause=cause, ratio="2", total_cap=500)

    first = await donate(member=member, cause=cause, points=200)
    second = await donate(member=other, cause=cause, points=200)
    third = await donate(member=other, cause=cause, points=100)

    assert [(d.matched_points, d.match_capped) for d in (first, second, third)] == [
        (400, False),
        (100, True),
        (0, True),
    ]
    assert (await MatchingCampaign.get(id=campaign.id)).matched_total == 500
    stored = await Cause.get(id=cause.id)
    assert (stored.raised_member_points, stored.raised_matched_points) == (500, 500)
    await assert_books_balance()


# --- the idempotent retry and the reversal of a goal-reaching donation ------------------


async def test_a_retry_of_the_donation_that_reached_the_goal_is_replayed() -> None:
    # given: the donation reaches the goal of a cause that takes nothing after it
    member = await create_member()
    await credit_points(member=member, points=2000)
    cause = await create_cause(points_per_unit=100, goal_points=1000, accepts_after_goal=False)
    first = await donate(member=member, cause=cause, points=1000, key="reach-goal")

    # when: the app retries (its answer was lost)
    retry = await causes_donations.donate_points(
        actor=actor_of(member),
        member_consent=consent_of(member.id),
        cause_id=cause.id,
        points=1000,
        channel=first.channel,
        idempotency_key="reach-goal",
    )

    # then: the first answer, not CAUSE_GOAL_REACHED, and nothing counted twice
    assert retry.replayed is True
    assert retry.donation.id == first.id
    assert (await points.summary(member.id)).balance == 1000
    assert await Donation.all().count() == 1


async def test_reversing_the_donation_that_reached_the_goal_reopens_the_cause() -> None:
    member = await create_member()
    await credit_points(member=member, points=1000)
    cause = await create_cause(points_per_unit=100, goal_points=1000, accepts_after_goal=False)
    donation = await donate(member=member, cause=cause, points=1000)
    assert (await Cause.get(id=cause.id)).status is CauseStatus.GOAL_REACHED

    await causes_donations.reverse_donation(
        actor=ADMIN, donation_id=donation.id, reason="chargeback", idempotency_key="r1"
    )

    assert (await Cause.get(id=cause.id)).status is CauseStatus.ACTIVE
    await donate(member=member, cause=cause, points=500)
    await assert_books_balance()


# --- what members see ------------------------------------------------------------------


async def test_causes_are_listed_by_the_status_members_see() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=1000)
    active = await create_cause(name="Active")
    reached = await create_cause(name="Reached", points_per_unit=100, goal_points=100)
    await donate(member=member, cause=reached, points=100)
    closed = await create_cause(name="Closed")
    await causes_catalog.close_cause(closed.id)
    ended = await create_cause(
        name="Ended", starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(days=1)
    )

    # when
    def names(page: Any) -> list[str]:
        return [c.name for c in page.items]

    everything = await causes_catalog.list_causes(first=10, after_id=None)
    by_status = {
        status: names(await causes_catalog.list_causes(first=10, after_id=None, status=status))
        for status in CauseStatus
    }

    # then
    assert names(everything) == ["Active", "Reached", "Closed", "Ended"]
    assert by_status == {
        CauseStatus.ACTIVE: ["Active"],
        CauseStatus.GOAL_REACHED: ["Reached"],
        CauseStatus.CLOSED: ["Closed", "Ended"],
    }
    assert causes_catalog.effective_status(ended, datetime.now(UTC)) is CauseStatus.CLOSED
    assert active.id < ended.id


async def test_a_members_receipts_page_newest_first() -> None:
    member = await create_member()
    await credit_points(member=member, points=1000)
    cause = await create_cause(points_per_unit=10)
    made = [await donate(member=member, cause=cause, points=p) for p in (10, 20, 30)]

    first = await causes_donations.member_donations(member.id, first=2, before_id=None)
    rest = await causes_donations.member_donations(member.id, first=2, before_id=first.items[-1].id)

    assert [d.points for d in first.items] == [30, 20]
    assert first.has_next is True
    assert [d.points for d in rest.items] == [10]
    assert rest.has_next is False
    assert first.items[0].cause.name == cause.name
    assert made[0].id == rest.items[0].id


async def test_lifetime_impact_counts_the_members_own_points_not_the_match() -> None:
    # given: two tree causes at different rates, one matched 1:1, and a reversed donation
    member = await create_member()
    await credit_points(member=member, points=5000)
    trees = await create_cause(impact_unit="tree", points_per_unit=500)
    await create_matching_campaign(cause=trees)
    cheap_trees = await create_cause(impact_unit="tree", points_per_unit=300)
    plastic = await create_cause(impact_unit="kg of plastic", points_per_unit=100)
    await donate(member=member, cause=trees, points=1000)  # 2 trees (+2 matched)
    await donate(member=member, cause=trees, points=250)  # half a tree
    await donate(member=member, cause=cheap_trees, points=100)  # a third of a tree
    await donate(member=member, cause=cheap_trees, points=100)
    reversed_gift = await donate(member=member, cause=plastic, points=300)
    await donate(member=member, cause=plastic, points=150)
    await causes_donations.reverse_donation(
        actor=ADMIN, donation_id=reversed_gift.id, reason="test", idempotency_key="r1"
    )

    # when
    impact = await causes_impact.lifetime_impact(member.id)

    # then: 2.5 + floor4(200 / 300) trees; 1.5 kg
    assert impact == [
        causes_impact.ImpactTotal("kg of plastic", Decimal("1.5")),
        causes_impact.ImpactTotal("tree", Decimal("2.5") + Decimal("0.6666")),
    ]
    assert await causes_impact.lifetime_impact((await create_member()).id) == []


async def test_a_receipt_is_visible_to_its_member_and_admins_only() -> None:
    member, other = await create_member(), await create_member()
    await credit_points(member=member, points=100)
    donation = await donate(member=member, cause=await create_cause(points_per_unit=10), points=10)

    mine = await causes_donations.visible_donation(actor_of(member), donation.id)
    admins = await causes_donations.visible_donation(ADMIN, donation.id)
    theirs = await causes_donations.visible_donation(actor_of(other), donation.id)

    assert mine is not None
    assert admins is not None
    assert theirs is None
    assert await causes_donations.visible_donation(ADMIN, 4242) is None
