"""A member's receipts and impact: `me { donations impact }`, and `node(id:)` on a Donation,
which only its member and admins can see."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from gamification.actors import Actor, ActorKind
from gamification.causes import donations as causes_donations
from gamification.members.models import Role
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

MY_DONATIONS = """
query MyDonations($first: Int, $after: String) {
  me {
    donations(first: $first, after: $after) {
      edges {
        cursor
        node {
          id points matchedPoints matchCapped impactUnits channel createdAt entryHash reversedAt
          cause { name impactUnit }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

MY_DONATIONS_AND_LEDGER = """
query {
  me {
    donations { edges { node { id points entryHash } } }
    ledger(kinds: [DONATE]) { edges { node { points hash referenceType } } }
  }
}
"""

MY_IMPACT = "query { me { impact { unit units } } }"

NODE = """
query Node($id: ID!) {
  node(id: $id) { __typename id ... on Donation { points cause { name } } }
}
"""

ADMIN = Actor(kind=ActorKind.ADMIN, id=99_999)


def _points_of(result: Any) -> list[int]:
    assert result.errors is None, result.errors
    return [e["node"]["points"] for e in result.data["me"]["donations"]["edges"]]


async def test_my_receipts_are_listed_newest_first_in_pages(app: Starlette) -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=1000)
    trees = await create_cause(name="Trees", points_per_unit=100)
    ocean = await create_cause(name="Ocean", impact_unit="kg of plastic", points_per_unit=10)
    for cause, given in ((trees, 100), (ocean, 20), (trees, 300)):
        await donate(member=member, cause=cause, points=given)

    # when
    first = await execute(app, MY_DONATIONS, {"first": 2}, as_=member)
    after = first.data["me"]["donations"]["pageInfo"]["endCursor"]
    rest = await execute(app, MY_DONATIONS, {"first": 2, "after": after}, as_=member)

    # then
    assert _points_of(first) == [300, 20]
    assert first.data["me"]["donations"]["pageInfo"]["hasNextPage"] is True
    assert _points_of(rest) == [100]
    assert rest.data["me"]["donations"]["pageInfo"]["hasNextPage"] is False
    newest = first.data["me"]["donations"]["edges"][0]["node"]
    assert newest["cause"] == {"name": "Trees", "impactUnit": "tree"}
    assert (newest["impactUnits"], newest["channel"], newest["reversedAt"]) == (
        "3.0000",
        "APP",
        None,
    )


async def test_other_members_receipts_are_not_mine(app: Starlette) -> None:
    member, other = await create_member(), await create_member()
    await credit_points(member=other, points=100)
    await donate(member=other, cause=await create_cause(points_per_unit=10), points=50)

    result = await execute(app, MY_DONATIONS, as_=member)

    assert _points_of(result) == []


async def test_a_receipts_entry_hash_is_its_ledger_entrys_hash(app: Starlette) -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=1000)
    cause = await create_cause(points_per_unit=100)
    await create_matching_campaign(cause=cause)
    for given in (100, 200):
        await donate(member=member, cause=cause, points=given)

    # when
    result = await execute(app, MY_DONATIONS_AND_LEDGER, as_=member)

    # then: receipts and DONATE entries, both newest first, pair up
    assert result.errors is None, result.errors
    receipts = [e["node"] for e in result.data["me"]["donations"]["edges"]]
    entries = [e["node"] for e in result.data["me"]["ledger"]["edges"]]
    assert [(r["points"], r["entryHash"]) for r in receipts] == [
        (-e["points"], e["hash"]) for e in entries
    ]
    assert {e["referenceType"] for e in entries} == {"cause"}
    assert all(len(r["entryHash"]) == 64 for r in receipts)


async def test_my_impact_counts_my_own_points_per_unit(app: Starlette) -> None:
    # given: trees matched 1:1 (the match is not mine), plastic, and a reversed gift
    member = await create_member()
    await credit_points(member=member, points=5000)
    trees = await create_cause(impact_unit="tree", points_per_unit=500)
    await create_matching_campaign(cause=trees)
    plastic = await create_cause(impact_unit="kg of plastic", points_per_unit=100)
    await donate(member=member, cause=trees, points=1250)
    await donate(member=member, cause=plastic, points=250)
    refunded = await donate(member=member, cause=plastic, points=1000)
    await causes_donations.reverse_donation(
        actor=ADMIN, donation_id=refunded.id, reason="test", idempotency_key="r1"
    )

    # when
    result = await execute(app, MY_IMPACT, as_=member)

    # then
    assert result.errors is None, result.errors
    assert result.data["me"]["impact"] == [
        {"unit": "kg of plastic", "units": "2.5000"},
        {"unit": "tree", "units": "2.5000"},
    ]


async def test_a_member_reads_their_own_receipt_by_node(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    donation = await donate(
        member=member, cause=await create_cause(name="Trees", points_per_unit=10), points=40
    )
    donation_id = to_global_id("Donation", donation.id)

    result = await execute(app, NODE, {"id": donation_id}, as_=member)

    assert result.data["node"] == {
        "__typename": "Donation",
        "id": donation_id,
        "points": 40,
        "cause": {"name": "Trees"},
    }


async def test_another_members_receipt_by_node_is_null(app: Starlette) -> None:
    # given
    member, other = await create_member(), await create_member()
    await credit_points(member=other, points=100)
    donation = await donate(member=other, cause=await create_cause(points_per_unit=10), points=40)

    # when
    result = await execute(app, NODE, {"id": to_global_id("Donation", donation.id)}, as_=member)

    # then: the same answer as for a receipt that does not exist
    assert result.errors is None
    assert result.data["node"] is None


async def test_a_kiosk_cannot_read_a_receipt_by_node(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    donation = await donate(
        member=member,
        cause=await create_cause(points_per_unit=10),
        points=40,
        channel=Channel.KIOSK,
    )

    result = await execute(
        app,
        NODE,
        {"id": to_global_id("Donation", donation.id)},
        as_=await create_device(channel=Channel.KIOSK),
    )

    assert result.data["node"] is None


async def test_an_admin_reads_any_receipt_by_node(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    donation = await donate(member=member, cause=await create_cause(points_per_unit=10), points=40)

    result = await execute(
        app,
        NODE,
        {"id": to_global_id("Donation", donation.id)},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["node"]["points"] == 40
