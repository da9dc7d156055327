"""`reverseDonation`: an admin gives a donation back, exactly once: the points to the member,
the match to the brand, the cause's totals and the campaign's cap room restored."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from gamification.causes.models import Cause, Donation, MatchingCampaign
from gamification.ledger import points
from gamification.members.models import Member, Role
from schema.relay import to_global_id
from tests.factories import (
    create_cause,
    create_matching_campaign,
    create_member,
    credit_points,
    donate,
    execute,
)
from tests.invariants import assert_books_balance

REVERSE_DONATION = """
mutation Reverse($donationId: ID!, $reason: String!, $key: String!) {
  reverseDonation(donationId: $donationId, reason: $reason, idempotencyKey: $key) {
    donation { id points matchedPoints reversedAt }
    replayed
    errors { code field message }
  }
}
"""


async def _matched_donation() -> tuple[Member, Cause, Donation]:
    """A member who gave 300 of their 1,000 points, matched 1:1."""
    member = await create_member()
    await credit_points(member=member, points=1000)
    cause = await create_cause(points_per_unit=100)
    await create_matching_campaign(cause=cause, total_cap=5000)
    return member, cause, await donate(member=member, cause=cause, points=300)


def _variables(
    donation: Donation | int, *, key: str = "reverse-1", reason: str = "fraud"
) -> dict[str, Any]:
    pk = donation if isinstance(donation, int) else donation.id
    return {"donationId": to_global_id("Donation", pk), "reason": reason, "key": key}


async def books(member: Member, cause: Cause) -> tuple[int, int, int, int, int]:
    """The member's balance, the cause's totals and donors, what the campaign matched."""
    stored = await Cause.get(id=cause.id)
    return (
        (await points.summary(member.id)).balance,
        stored.raised_member_points,
        stored.raised_matched_points,
        stored.donor_count,
        (await MatchingCampaign.get()).matched_total,
    )


def codes(result: Any) -> list[tuple[str, str | None]]:
    assert result.errors is None, result.errors
    payload = result.data["reverseDonation"]
    assert payload["donation"] is None
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def test_a_donation_is_reversed_exactly_once(app: Starlette) -> None:
    # given
    member, cause, donation = await _matched_donation()
    admin = await create_member(role=Role.ADMIN)

    # when: reversed, retried with the same key, then again with another
    first = await execute(app, REVERSE_DONATION, _variables(donation), as_=admin)
    retry = await execute(app, REVERSE_DONATION, _variables(donation), as_=admin)
    again = await execute(app, REVERSE_DONATION, _variables(donation, key="reverse-2"), as_=admin)

    # then
    payload = first.data["reverseDonation"]
    assert payload["errors"] == []
    assert payload["replayed"] is False
    assert payload["donation"]["id"] == to_global_id("Donation", donation.id)
    assert payload["donation"]["reversedAt"] is not None
    assert retry.data["reverseDonation"]["replayed"] is True
    assert retry.data["reverseDonation"]["donation"] == payload["donation"]
    assert codes(again) == [("ALREADY_REVERSED", "donationId")]
    assert await books(member, cause) == (1000, 0, 0, 0, 0)
    await assert_books_balance()


async def test_a_member_cannot_reverse_their_own_donation(app: Starlette) -> None:
    member, cause, donation = await _matched_donation()

    result = await execute(app, REVERSE_DONATION, _variables(donation), as_=member)

    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await books(member, cause) == (700, 300, 300, 1, 300)
    assert (await Donation.get(id=donation.id)).reversed_at is None


async def test_a_reason_is_required(app: Starlette) -> None:
    member, cause, donation = await _matched_donation()

    result = await execute(
        app,
        REVERSE_DONATION,
        _variables(donation, reason="   "),
        as_=await create_member(role=Role.ADMIN),
    )

    assert codes(result) == [("REASON_REQUIRED", "reason")]
    assert await books(member, cause) == (700, 300, 300, 1, 300)


async def test_an_unknown_donation_is_refused(app: Starlette) -> None:
    result = await execute(
        app, REVERSE_DONATION, _variables(4242), as_=await create_member(role=Role.ADMIN)
    )

    assert codes(result) == [("NOT_FOUND", "donationId")]


async def test_a_donor_who_gave_twice_stays_a_donor(app: Starlette) -> None:
    member, cause, donation = await _matched_donation()
    await donate(member=member, cause=cause, points=100)

    await execute(
        app, REVERSE_DONATION, _variables(donation), as_=await create_member(role=Role.ADMIN)
    )

    assert await books(member, cause) == (900, 100, 100, 1, 100)
    await assert_books_balance()
