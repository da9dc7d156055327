"""`donatePoints`: a signed-in member gives their own points to an eco cause in the app or on the
web. No device donates a member's points by naming them (a kiosk uses the member's donation code
or approval: test_donate_with_token.py, test_request_donation.py). Every refusal leaves the
balance, the cause's totals, the campaign and the receipts as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.causes import catalog as causes_catalog
from gamification.causes.models import Cause, Donation, MatchingCampaign
from gamification.ledger import points
from gamification.members.models import Member
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import (
    create_cause,
    create_device,
    create_matching_campaign,
    create_member,
    credit_points,
    donate,
    execute,
)
from tests.invariants import assert_books_balance

DONATE_POINTS = """
mutation Donate($causeId: ID!, $points: Int!, $key: String!, $channel: DonationChannel) {
  donatePoints(causeId: $causeId, points: $points, idempotencyKey: $key, channel: $channel) {
    donation {
      id points matchedPoints matchCapped impactUnits channel createdAt entryHash reversedAt
      cause { id name progress { memberPoints matchedPoints donors } }
    }
    balance
    replayed
    errors { code field message }
  }
}
"""

NOW = datetime.now(UTC)


def donate_variables(
    cause: Cause | int, points: int, *, key: str = "donate-1", **extra: Any
) -> dict[str, Any]:
    pk = cause if isinstance(cause, int) else cause.id
    return {"causeId": to_global_id("Cause", pk), "points": points, "key": key, **extra}


async def books(member: Member, cause: Cause) -> tuple[int, int, int, int, int, int]:
    """What a refusal must leave alone: the member's balance, the cause's totals and donors,
    the receipts and what campaigns have matched."""
    stored = await Cause.get(id=cause.id)
    matched = sum(c.matched_total for c in await MatchingCampaign.all())
    return (
        (await points.summary(member.id)).balance,
        stored.raised_member_points,
        stored.raised_matched_points,
        stored.donor_count,
        await Donation.all().count(),
        matched,
    )


def codes(result: Any) -> list[tuple[str, str | None]]:
    assert result.errors is None, result.errors
    payload = result.data["donatePoints"]
    assert payload["donation"] is None
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def _member_with(balance: int) -> Member:
    member = await create_member()
    await credit_points(member=member, points=balance)
    return member


async def test_a_member_donates_and_the_brand_matches(app: Starlette) -> None:
    # given: 1:1 matching
    member = await _member_with(2000)
    cause = await create_cause(name="Trees", points_per_unit=500)
    await create_matching_campaign(cause=cause)

    # when
    result = await execute(app, DONATE_POINTS, donate_variables(cause, 1000), as_=member)

    # then
    payload = result.data["donatePoints"]
    assert payload["errors"] == []
    assert payload["replayed"] is False
    assert payload["balance"] == 1000
    receipt = payload["donation"]
    donation = await Donation.get()
    assert receipt["id"] == to_global_id("Donation", donation.id)
    assert (receipt["points"], receipt["matchedPoints"], receipt["matchCapped"]) == (
        1000,
        1000,
        False,
    )
    assert receipt["impactUnits"] == "4.0000"
    assert receipt["channel"] == "APP"
    assert receipt["reversedAt"] is None
    assert receipt["entryHash"] == donation.entry_hash
    assert receipt["cause"]["progress"] == {
        "memberPoints": 1000,
        "matchedPoints": 1000,
        "donors": 1,
    }
    assert await books(member, cause) == (1000, 1000, 1000, 1, 1, 1000)
    await assert_books_balance()


async def test_a_member_donates_on_the_web(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)

    result = await execute(
        app, DONATE_POINTS, donate_variables(cause, 100, channel="WEB"), as_=member
    )

    assert result.data["donatePoints"]["donation"]["channel"] == "WEB"
    assert await books(member, cause) == (0, 100, 0, 1, 1, 0)


async def test_a_retry_with_the_same_key_returns_the_first_receipt(app: Starlette) -> None:
    member = await _member_with(1000)
    cause = await create_cause(points_per_unit=10)
    first = await execute(app, DONATE_POINTS, donate_variables(cause, 100), as_=member)

    retry = await execute(app, DONATE_POINTS, donate_variables(cause, 100), as_=member)

    assert retry.data["donatePoints"]["replayed"] is True
    assert (
        retry.data["donatePoints"]["donation"]["id"] == first.data["donatePoints"]["donation"]["id"]
    )
    assert await books(member, cause) == (900, 100, 0, 1, 1, 0)


async def test_the_same_key_for_another_amount_is_refused(app: Starlette) -> None:
    member = await _member_with(1000)
    cause = await create_cause(points_per_unit=10)
    await execute(app, DONATE_POINTS, donate_variables(cause, 100), as_=member)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 200), as_=member)

    assert codes(result) == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]
    assert await books(member, cause) == (900, 100, 0, 1, 1, 0)


async def test_an_unknown_cause_is_refused(app: Starlette) -> None:
    member = await _member_with(100)

    result = await execute(app, DONATE_POINTS, donate_variables(4242, 10), as_=member)

    assert codes(result) == [("CAUSE_NOT_FOUND", "causeId")]
    assert (await points.summary(member.id)).balance == 100
    assert await Donation.all().count() == 0


async def test_a_closed_cause_is_refused(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    await causes_catalog.close_cause(cause.id)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 10), as_=member)

    assert codes(result) == [("CAUSE_CLOSED", "causeId")]
    assert await books(member, cause) == (100, 0, 0, 0, 0, 0)


async def test_a_cause_past_its_end_is_refused(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(
        points_per_unit=10, starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(days=1)
    )

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 10), as_=member)

    assert codes(result) == [("CAUSE_CLOSED", "causeId")]
    assert await books(member, cause) == (100, 0, 0, 0, 0, 0)


async def test_a_cause_not_open_yet_is_refused(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10, starts_at=NOW + timedelta(days=1))

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 10), as_=member)

    assert codes(result) == [("CAUSE_NOT_OPEN", "causeId")]
    assert await books(member, cause) == (100, 0, 0, 0, 0, 0)


async def test_a_cause_that_reached_its_goal_and_takes_no_more_is_refused(
    app: Starlette,
) -> None:
    # given: the goal is reached by another member
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10, goal_points=50, accepts_after_goal=False)
    await donate(member=await _member_with(50), cause=cause, points=50)

    # when
    result = await execute(app, DONATE_POINTS, donate_variables(cause, 10), as_=member)

    # then
    assert codes(result) == [("CAUSE_GOAL_REACHED", "causeId")]
    assert await books(member, cause) == (100, 50, 0, 1, 1, 0)


async def test_a_cause_that_reached_its_goal_may_take_more(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10, goal_points=50)
    await donate(member=await _member_with(50), cause=cause, points=50)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 10), as_=member)

    assert result.data["donatePoints"]["errors"] == []
    assert await books(member, cause) == (90, 60, 0, 2, 2, 0)


async def test_an_amount_below_the_minimum_is_refused(app: Starlette) -> None:
    member = await _member_with(1000)
    cause = await create_cause(min_donation=100)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 99), as_=member)

    assert codes(result) == [("BELOW_MINIMUM_DONATION", "points")]
    assert await books(member, cause) == (1000, 0, 0, 0, 0, 0)


async def test_an_amount_off_the_steps_is_refused(app: Starlette) -> None:
    # given: 100, 150, 200, ... points
    member = await _member_with(1000)
    cause = await create_cause(min_donation=100, donation_step=50)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 170), as_=member)

    assert codes(result) == [("INVALID_INCREMENT", "points")]
    assert await books(member, cause) == (1000, 0, 0, 0, 0, 0)


async def test_an_amount_on_the_steps_is_taken(app: Starlette) -> None:
    member = await _member_with(1000)
    cause = await create_cause(min_donation=100, donation_step=50)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 250), as_=member)

    assert result.data["donatePoints"]["errors"] == []
    assert await books(member, cause) == (750, 250, 0, 1, 1, 0)


async def test_an_amount_over_the_available_balance_is_refused(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    await create_matching_campaign(cause=cause)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 110), as_=member)

    assert codes(result) == [("INSUFFICIENT_POINTS", "points")]
    assert await books(member, cause) == (100, 0, 0, 0, 0, 0)


@pytest.mark.parametrize("amount", [0, -10])
async def test_zero_or_negative_points_are_refused(app: Starlette, amount: int) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, amount), as_=member)

    assert codes(result) == [("INVALID_AMOUNT", "points")]
    assert await books(member, cause) == (100, 0, 0, 0, 0, 0)


async def test_the_per_member_cap_cuts_the_match(app: Starlette) -> None:
    # given: 300 of the member's 1:1 match used already, 500 allowed per member
    member = await _member_with(1000)
    cause = await create_cause(points_per_unit=10)
    campaign = await create_matching_campaign(cause=cause, per_member_cap=500)
    await donate(member=member, cause=cause, points=300)

    # when
    result = await execute(app, DONATE_POINTS, donate_variables(cause, 400), as_=member)

    # then
    receipt = result.data["donatePoints"]["donation"]
    assert (receipt["matchedPoints"], receipt["matchCapped"]) == (200, True)
    assert receipt["impactUnits"] == "60.0000"  # (400 + 200) / 10
    assert (await MatchingCampaign.get(id=campaign.id)).matched_total == 500
    assert await books(member, cause) == (300, 700, 500, 1, 2, 500)
    await assert_books_balance()


async def test_the_total_cap_cuts_the_match(app: Starlette) -> None:
    # given: another member used 900 of the campaign's 1,000
    member = await _member_with(1000)
    cause = await create_cause(points_per_unit=10)
    await create_matching_campaign(cause=cause, total_cap=1000)
    await donate(member=await _member_with(900), cause=cause, points=900)

    # when
    result = await execute(app, DONATE_POINTS, donate_variables(cause, 300), as_=member)

    # then
    receipt = result.data["donatePoints"]["donation"]
    assert (receipt["matchedPoints"], receipt["matchCapped"]) == (100, True)
    assert await books(member, cause) == (700, 1200, 1000, 2, 2, 1000)
    await assert_books_balance()


DONATE_FOR_A_CARD = """
mutation DonateForCard($causeId: ID!, $card: String!) {
  donatePoints(causeId: $causeId, points: 30, idempotencyKey: "k-1", cardNumber: $card) {
    balance
  }
}
"""


@pytest.mark.parametrize("channel", [Channel.KIOSK, Channel.POS, Channel.WEB])
async def test_no_device_donates_a_members_points(app: Starlette, channel: Channel) -> None:
    # given: a device of the member's own store, knowing the member
    member = await _member_with(100)
    device = await create_device(channel=channel)
    cause = await create_cause(points_per_unit=10)

    # when
    result = await execute(app, DONATE_POINTS, donate_variables(cause, 30), as_=device)

    # then
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await books(member, cause) == (100, 0, 0, 0, 0, 0)


async def test_donate_points_takes_no_card_number_or_member_id(app: Starlette) -> None:
    member = await _member_with(100)
    kiosk = await create_device(channel=Channel.KIOSK)
    cause = await create_cause(points_per_unit=10)

    result = await execute(
        app,
        DONATE_FOR_A_CARD,
        {"causeId": to_global_id("Cause", cause.id), "card": member.card_number},
        as_=kiosk,
    )

    assert result.data is None
    assert "cardNumber" in result.errors[0].message
    assert await books(member, cause) == (100, 0, 0, 0, 0, 0)


async def test_a_member_cannot_claim_the_kiosk_channel(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)

    result = await execute(
        app, DONATE_POINTS, donate_variables(cause, 30, channel="KIOSK"), as_=member
    )

    assert codes(result) == [("WRONG_CHANNEL", "channel")]
    assert await books(member, cause) == (100, 0, 0, 0, 0, 0)


async def test_anonymous_callers_cannot_donate(app: Starlette) -> None:
    cause = await create_cause(points_per_unit=10)

    result = await execute(app, DONATE_POINTS, donate_variables(cause, 10))

    assert [e.extensions["code"] for e in result.errors] == ["UNAUTHENTICATED"]
    assert await Donation.all().count() == 0
