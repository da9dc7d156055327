"""`updateEcoActionKind`: admins change a kind's points, limits, texts or active flag; an
inactive kind cannot be recorded."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.earning.models import EcoActionKind
from gamification.members.models import Role
from schema.relay import to_global_id
from tests.factories import create_device, create_eco_kind, create_member, execute

UPDATE_ECO_ACTION_KIND = """
mutation Update($id: ID!, $input: UpdateEcoActionKindInput!) {
  updateEcoActionKind(id: $id, input: $input) {
    ecoActionKind { code name unit pointsPerUnit maxQuantity active }
    errors { code field }
  }
}
"""
RECORD_ECO_ACTION = """
mutation Record($input: RecordEcoActionInput!) {
  recordEcoAction(input: $input) { ecoAction { points } errors { code field } }
}
"""


async def _update(app: Starlette, kind: EcoActionKind, input: dict[str, Any]) -> Any:
    return await execute(
        app,
        UPDATE_ECO_ACTION_KIND,
        {"id": to_global_id("EcoActionKind", kind.id), "input": input},
        as_=await create_member(role=Role.ADMIN),
    )


async def _record(app: Starlette, external_id: str) -> Any:
    member = await create_member()
    return await execute(
        app,
        RECORD_ECO_ACTION,
        {
            "input": {
                "kind": "recycling",
                "quantity": 2,
                "externalId": external_id,
                "memberId": to_global_id("Member", member.id),
            }
        },
        as_=await create_device(),
    )


async def test_new_points_apply_to_actions_recorded_afterwards(app: Starlette) -> None:
    # given
    kind = await create_eco_kind(points_per_unit=5)
    before = await _record(app, "before")

    # when
    result = await _update(app, kind, {"pointsPerUnit": 8, "name": " Bottles "})

    # then
    assert result.data["updateEcoActionKind"]["errors"] == []
    assert result.data["updateEcoActionKind"]["ecoActionKind"] == {
        "code": "recycling",
        "name": "Bottles",
        "unit": "item",
        "pointsPerUnit": 8,
        "maxQuantity": 50,
        "active": True,
    }
    after = await _record(app, "after")
    assert before.data["recordEcoAction"]["ecoAction"]["points"] == 10
    assert after.data["recordEcoAction"]["ecoAction"]["points"] == 16


async def test_an_inactive_kind_cannot_be_recorded_until_reactivated(app: Starlette) -> None:
    # given
    kind = await create_eco_kind()

    # when
    await _update(app, kind, {"active": False})
    refused = await _record(app, "while-inactive")
    await _update(app, kind, {"active": True})
    accepted = await _record(app, "reactivated")

    # then
    assert refused.data["recordEcoAction"]["errors"] == [
        {"code": "ECO_ACTION_INACTIVE", "field": "kind"}
    ]
    assert accepted.data["recordEcoAction"]["errors"] == []


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"unit": "  "}, "unit"),
        ({"pointsPerUnit": -3}, "pointsPerUnit"),
        ({"pointsPerUnit": None}, "pointsPerUnit"),
        ({"maxQuantity": 0}, "maxQuantity"),
        ({"active": None}, "active"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    app: Starlette, input: dict[str, Any], field: str
) -> None:
    kind = await create_eco_kind(points_per_unit=5)

    result = await _update(app, kind, input)

    assert result.data["updateEcoActionKind"] == {
        "ecoActionKind": None,
        "errors": [{"code": "INVALID_ECO_ACTION_KIND", "field": field}],
    }
    unchanged = await EcoActionKind.get(id=kind.id)
    assert (unchanged.name, unchanged.points_per_unit, unchanged.max_quantity) == (
        "Recycling",
        5,
        50,
    )
    assert unchanged.active is True


async def test_an_unknown_kind_is_not_found(app: Starlette) -> None:
    result = await execute(
        app,
        UPDATE_ECO_ACTION_KIND,
        {"id": to_global_id("EcoActionKind", 999), "input": {"pointsPerUnit": 1}},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["updateEcoActionKind"]["errors"] == [
        {"code": "UNKNOWN_ECO_ACTION", "field": "id"}
    ]


async def test_another_types_id_is_refused(app: Starlette) -> None:
    member = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        UPDATE_ECO_ACTION_KIND,
        {"id": to_global_id("Member", member.id), "input": {"pointsPerUnit": 1}},
        as_=member,
    )

    assert result.data["updateEcoActionKind"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "id"}
    ]


@pytest.mark.parametrize("role", [Role.MEMBER, Role.STAFF])
async def test_only_admins_change_kinds(app: Starlette, role: Role) -> None:
    kind = await create_eco_kind(points_per_unit=5)

    result = await execute(
        app,
        UPDATE_ECO_ACTION_KIND,
        {"id": to_global_id("EcoActionKind", kind.id), "input": {"pointsPerUnit": 500}},
        as_=await create_member(role=role),
    )

    assert result.errors[0].extensions["code"] == "FORBIDDEN"
    assert (await EcoActionKind.get(id=kind.id)).points_per_unit == 5
