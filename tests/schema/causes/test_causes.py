"""`causes` and `cause(id)`: everyone sees the causes (without a token too, see
test_public_catalog.py), their progress and the campaign matching donations now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette

from gamification.causes import catalog as causes_catalog
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

CAUSES = """
query Causes($first: Int, $after: String, $status: CauseStatus) {
  causes(first: $first, after: $after, status: $status) {
    edges { cursor node { id name status acceptsDonations } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CAUSE = """
query Cause($id: ID!) {
  cause(id: $id) {
    id name description imageUrl partner impactUnit pointsPerUnit goalPoints status
    startsAt endsAt acceptsAfterGoal minDonation donationStep acceptsDonations
    progress { memberPoints matchedPoints donors impactDelivered percentOfGoal }
    activeCampaign { id causeId ratio totalCap perMemberCap matchedTotal remaining }
  }
}
"""

NODE = """
query Node($id: ID!) { node(id: $id) { __typename id ... on Cause { name } } }
"""

NOW = datetime.now(UTC)


def _names(result: Any) -> list[str]:
    assert result.errors is None, result.errors
    return [e["node"]["name"] for e in result.data["causes"]["edges"]]


async def test_a_cause_shows_its_progress_and_its_campaign(app: Starlette) -> None:
    # given: 1,000 points given by two members, matched 1:1 up to 1,500 (300 per member)
    cause = await create_cause(
        name="Trees",
        partner="Forest Friends",
        image_url="https://example.com/trees.png",
        points_per_unit=500,
        goal_points=4000,
        min_donation=100,
        donation_step=50,
    )
    campaign = await create_matching_campaign(cause=cause, total_cap=1500, per_member_cap=300)
    for given in (600, 400):
        member = await create_member()
        await credit_points(member=member, points=given)
        await donate(member=member, cause=cause, points=given)

    # when
    result = await execute(
        app, CAUSE, {"id": to_global_id("Cause", cause.id)}, as_=await create_member()
    )

    # then: (1,000 + 600) / 500 trees, 40% of the goal
    assert result.errors is None, result.errors
    shown = result.data["cause"]
    assert shown["name"] == "Trees"
    assert (shown["partner"], shown["imageUrl"], shown["impactUnit"]) == (
        "Forest Friends",
        "https://example.com/trees.png",
        "tree",
    )
    assert (shown["pointsPerUnit"], shown["goalPoints"], shown["status"]) == (500, 4000, "ACTIVE")
    assert (shown["minDonation"], shown["donationStep"], shown["acceptsDonations"]) == (
        100,
        50,
        True,
    )
    assert shown["progress"] == {
        "memberPoints": 1000,
        "matchedPoints": 600,
        "donors": 2,
        "impactDelivered": "3.2000",
        "percentOfGoal": "40.00",
    }
    assert shown["activeCampaign"] == {
        "id": to_global_id("MatchingCampaign", campaign.id),
        "causeId": to_global_id("Cause", cause.id),
        "ratio": "1.0000",
        "totalCap": 1500,
        "perMemberCap": 300,
        "matchedTotal": 600,
        "remaining": 900,
    }


async def test_a_cause_without_goal_or_campaign(app: Starlette) -> None:
    cause = await create_cause()

    result = await execute(
        app, CAUSE, {"id": to_global_id("Cause", cause.id)}, as_=await create_member()
    )

    shown = result.data["cause"]
    assert (shown["goalPoints"], shown["activeCampaign"]) == (None, None)
    assert shown["progress"]["percentOfGoal"] is None


async def test_an_unknown_cause_is_null(app: Starlette) -> None:
    result = await execute(
        app, CAUSE, {"id": to_global_id("Cause", 4242)}, as_=await create_member()
    )

    assert result.errors is None
    assert result.data["cause"] is None


async def test_a_cause_id_of_another_type_is_an_error(app: Starlette) -> None:
    result = await execute(app, CAUSE, {"id": to_global_id("Reward", 1)}, as_=await create_member())

    assert [e.extensions["code"] for e in result.errors] == ["INVALID_INPUT"]


async def test_causes_are_listed_oldest_first_in_pages(app: Starlette) -> None:
    for name in ("Trees", "Ocean", "CO2"):
        await create_cause(name=name)
    member = await create_member()

    first = await execute(app, CAUSES, {"first": 2}, as_=member)
    after = first.data["causes"]["pageInfo"]["endCursor"]
    rest = await execute(app, CAUSES, {"first": 2, "after": after}, as_=member)

    assert _names(first) == ["Trees", "Ocean"]
    assert first.data["causes"]["pageInfo"]["hasNextPage"] is True
    assert _names(rest) == ["CO2"]
    assert rest.data["causes"]["pageInfo"]["hasNextPage"] is False


async def test_causes_are_filtered_by_the_status_shown(app: Starlette) -> None:
    # given: one open, one closed by an admin, one past its end, one not open yet
    await create_cause(name="Open")
    closed = await create_cause(name="Closed")
    await causes_catalog.close_cause(closed.id)
    await create_cause(
        name="Ended", starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(days=1)
    )
    await create_cause(name="Soon", starts_at=NOW + timedelta(days=1))
    member = await create_member()

    # when
    active = await execute(app, CAUSES, {"status": "ACTIVE"}, as_=member)
    closed_ones = await execute(app, CAUSES, {"status": "CLOSED"}, as_=member)

    # then: a cause not open yet is ACTIVE, but takes no donations yet
    assert _names(active) == ["Open", "Soon"]
    assert [e["node"]["acceptsDonations"] for e in active.data["causes"]["edges"]] == [
        True,
        False,
    ]
    assert _names(closed_ones) == ["Closed", "Ended"]
    assert {e["node"]["status"] for e in closed_ones.data["causes"]["edges"]} == {"CLOSED"}


async def test_a_kiosk_sees_the_causes(app: Starlette) -> None:
    await create_cause(name="Trees")

    result = await execute(app, CAUSES, as_=await create_device(channel=Channel.KIOSK))

    assert _names(result) == ["Trees"]


async def test_a_cause_is_a_node(app: Starlette) -> None:
    cause = await create_cause(name="Trees")
    cause_id = to_global_id("Cause", cause.id)

    result = await execute(app, NODE, {"id": cause_id}, as_=await create_member())

    assert result.data["node"] == {"__typename": "Cause", "id": cause_id, "name": "Trees"}


async def test_a_page_larger_than_allowed_is_refused(app: Starlette) -> None:
    result = await execute(app, CAUSES, {"first": 1000}, as_=await create_member())

    assert [e.extensions["code"] for e in result.errors] == ["PAGE_SIZE_TOO_LARGE"]
