"""`recordEcoAction`: devices and staff record eco actions; points through the ledger."""

from __future__ import annotations

from starlette.applications import Starlette

from gamification.earning.models import EcoAction
from schema.relay import to_global_id
from tests.factories import create_device, create_eco_kind, create_member, execute

RECORD = """
mutation Record($input: RecordEcoActionInput!) {
  recordEcoAction(input: $input) {
    ecoAction { kind quantity points }
    replayed
    errors { code field }
  }
}
"""


async def test_a_refill_station_records_an_eco_action(app: Starlette) -> None:
    await create_eco_kind(code="refill", points_per_unit=10)
    member = await create_member()
    device = await create_device()
    variables = {
        "input": {
            "memberId": to_global_id("Member", member.id),
            "kind": "refill",
            "quantity": 3,
            "externalId": "refill-77",
        }
    }

    first = await execute(app, RECORD, variables, as_=device)
    again = await execute(app, RECORD, variables, as_=device)

    assert first.data["recordEcoAction"] == {
        "ecoAction": {"kind": "refill", "quantity": 3, "points": 30},
        "replayed": False,
        "errors": [],
    }
    assert again.data["recordEcoAction"]["replayed"] is True
    assert await EcoAction.all().count() == 1


async def test_a_quantity_of_zero_is_refused(app: Starlette) -> None:
    await create_eco_kind()
    member = await create_member()

    result = await execute(
        app,
        RECORD,
        {
            "input": {
                "cardNumber": member.card_number,
                "kind": "recycling",
                "quantity": 0,
                "externalId": "z",
            }
        },
        as_=await create_device(),
    )

    assert result.data["recordEcoAction"]["errors"] == [
        {"code": "INVALID_QUANTITY", "field": "quantity"}
    ]
    assert not await EcoAction.exists()


async def test_members_cannot_record_their_own(app: Starlette) -> None:
    member = await create_member()

    result = await execute(
        app,
        RECORD,
        {"input": {"kind": "recycling", "quantity": 1, "externalId": "m"}},
        as_=member,
    )

    assert result.errors[0].extensions["code"] == "FORBIDDEN"
