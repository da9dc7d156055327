"""`node(id:)` for the points types: a member sees their own entries and purchases, nobody
else's; the store that recorded a purchase sees it too."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from starlette.applications import Starlette

from gamification.earning.models import Purchase
from gamification.members.models import Role
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import (
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    create_store,
    credit_points,
    execute,
)

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on LedgerEntry { points kind }
    ... on Purchase { externalId pointsEarned }
  }
}
"""


async def test_my_own_ledger_entry_is_returned(app: Starlette) -> None:
    # given
    member = await create_member()
    entry = await credit_points(member=member, points=12)

    # when
    result = await execute(app, NODE, {"id": to_global_id("LedgerEntry", entry.id)}, as_=member)

    # then
    assert result.errors is None
    assert result.data["node"] == {
        "__typename": "LedgerEntry",
        "id": to_global_id("LedgerEntry", entry.id),
        "points": 12,
        "kind": "BONUS",
    }


async def test_another_members_ledger_entry_is_null(app: Starlette) -> None:
    # given
    owner = await create_member()
    snoop = await create_member()
    entry = await credit_points(member=owner, points=12)

    # when
    result = await execute(app, NODE, {"id": to_global_id("LedgerEntry", entry.id)}, as_=snoop)

    # then
    assert result.errors is None
    assert result.data["node"] is None


async def test_a_device_whose_id_matches_the_owner_sees_no_ledger_entry(app: Starlette) -> None:
    # given: a member and a device that happen to share the same numeric id
    owner = await create_member()
    entry = await credit_points(member=owner, points=12)
    device = await create_device()
    device.id = owner.id

    # when
    result = await execute(app, NODE, {"id": to_global_id("LedgerEntry", entry.id)}, as_=device)

    # then
    assert result.data["node"] is None


async def test_an_admin_sees_any_ledger_entry(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    entry = await credit_points(member=await create_member(), points=12)

    # when
    result = await execute(app, NODE, {"id": to_global_id("LedgerEntry", entry.id)}, as_=admin)

    # then
    assert result.data["node"]["points"] == 12


async def test_my_own_purchase_is_returned(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    purchase = await create_purchase(member=member, external_id="R-1")

    # when
    result = await execute(app, NODE, {"id": to_global_id("Purchase", purchase.id)}, as_=member)

    # then
    assert result.data["node"] == {
        "__typename": "Purchase",
        "id": to_global_id("Purchase", purchase.id),
        "externalId": "R-1",
        "pointsEarned": 10,
    }


async def test_another_members_purchase_is_null(app: Starlette) -> None:
    # given
    await create_earn_rule()
    purchase = await create_purchase(member=await create_member())
    snoop = await create_member()

    # when
    result = await execute(app, NODE, {"id": to_global_id("Purchase", purchase.id)}, as_=snoop)

    # then
    assert result.errors is None
    assert result.data["node"] is None


async def test_the_recording_store_sees_the_purchase_and_another_store_does_not(
    app: Starlette,
) -> None:
    # given
    await create_earn_rule()
    store = await create_store()
    till = await create_device(store=store, channel=Channel.POS)
    purchase = await create_purchase(member=await create_member(), recorded_by=till)
    elsewhere = await create_device(store=await create_store())
    variables = {"id": to_global_id("Purchase", purchase.id)}

    # when
    seen_by_till = await execute(app, NODE, variables, as_=till)
    seen_elsewhere = await execute(app, NODE, variables, as_=elsewhere)

    # then
    assert seen_by_till.data["node"]["externalId"] == purchase.external_id
    assert seen_elsewhere.data["node"] is None


async def test_a_purchase_with_a_64_bit_id_is_found(app: Starlette) -> None:
    # given: purchase ids are 64-bit; one beyond 2^31
    member = await create_member()
    store = await create_store()
    purchase = await Purchase.create(
        id=2**31 + 7,
        member=member,
        channel=Channel.POS,
        store=store,
        external_id="R-big",
        amount=Decimal("1.00"),
        currency="EUR",
        occurred_at=datetime.now(UTC),
        points_earned=0,
        entry_id=0,
        recorded_by="test",
    )

    # when
    result = await execute(app, NODE, {"id": to_global_id("Purchase", purchase.id)}, as_=member)

    # then
    assert result.errors is None
    assert result.data["node"]["externalId"] == "R-big"


async def test_a_missing_ledger_entry_is_null(app: Starlette) -> None:
    # given
    member = await create_member()

    # when
    result = await execute(app, NODE, {"id": to_global_id("LedgerEntry", 987654)}, as_=member)

    # then
    assert result.errors is None
    assert result.data["node"] is None
