"""`createEcoActionKind`: admins add eco action kinds; bad input is a typed error that writes
nothing."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.earning.models import EcoActionKind
from gamification.members.models import Role
from tests.factories import create_device, create_eco_kind, create_member, execute

CREATE_ECO_ACTION_KIND = """
mutation Create($input: CreateEcoActionKindInput!) {
  createEcoActionKind(input: $input) {
    ecoActionKind { code name unit pointsPerUnit maxQuantity active }
    errors { code field }
  }
}
"""
REFILL = {"code": "refill", "name": "Refill station", "unit": "refill", "pointsPerUnit": 10}


async def test_an_admin_adds_a_kind(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(app, CREATE_ECO_ACTION_KIND, {"input": REFILL}, as_=admin)

    # then
    assert result.data["createEcoActionKind"] == {
        "ecoActionKind": {
            "code": "refill",
            "name": "Refill station",
            "unit": "refill",
            "pointsPerUnit": 10,
            "maxQuantity": 100,
            "active": True,
        },
        "errors": [],
    }
    assert await EcoActionKind.filter(code="refill").count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": ""}, "code"),
        ({"code": "   "}, "code"),
        ({"code": "Refill"}, "code"),
        ({"code": "refill station"}, "code"),
        ({"code": "r" * 41}, "code"),
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"unit": ""}, "unit"),
        ({"pointsPerUnit": -1}, "pointsPerUnit"),
        ({"pointsPerUnit": 10_001}, "pointsPerUnit"),
        ({"maxQuantity": 0}, "maxQuantity"),
        ({"maxQuantity": -5}, "maxQuantity"),
        ({"maxQuantity": 100_001}, "maxQuantity"),
        ({"pointsPerUnit": 10_000, "maxQuantity": 100_000}, "maxQuantity"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    app: Starlette, changes: dict[str, Any], field: str
) -> None:
    result = await execute(
        app,
        CREATE_ECO_ACTION_KIND,
        {"input": {**REFILL, **changes}},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["createEcoActionKind"] == {
        "ecoActionKind": None,
        "errors": [{"code": "INVALID_ECO_ACTION_KIND", "field": field}],
    }
    assert await EcoActionKind.all().count() == 0


async def test_a_code_in_use_is_refused(app: Starlette) -> None:
    # given
    await create_eco_kind(code="refill", points_per_unit=3)

    # when
    result = await execute(
        app,
        CREATE_ECO_ACTION_KIND,
        {"input": {**REFILL, "code": " refill "}},
        as_=await create_member(role=Role.ADMIN),
    )

    # then
    assert result.data["createEcoActionKind"]["errors"] == [
        {"code": "ECO_ACTION_KIND_TAKEN", "field": "code"}
    ]
    kind = await EcoActionKind.get(code="refill")
    assert kind.points_per_unit == 3


async def test_a_kind_may_start_inactive(app: Starlette) -> None:
    result = await execute(
        app,
        CREATE_ECO_ACTION_KIND,
        {"input": {**REFILL, "active": False}},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["createEcoActionKind"]["ecoActionKind"]["active"] is False


@pytest.mark.parametrize("role", [Role.MEMBER, Role.STAFF])
async def test_only_admins_add_kinds(app: Starlette, role: Role) -> None:
    result = await execute(
        app, CREATE_ECO_ACTION_KIND, {"input": REFILL}, as_=await create_member(role=role)
    )

    assert result.errors[0].extensions["code"] == "FORBIDDEN"
    assert await EcoActionKind.all().count() == 0


async def test_devices_and_anonymous_callers_may_not_add_kinds(app: Starlette) -> None:
    refused = await execute(
        app, CREATE_ECO_ACTION_KIND, {"input": REFILL}, as_=await create_device()
    )
    anonymous = await execute(app, CREATE_ECO_ACTION_KIND, {"input": REFILL})

    assert refused.errors[0].extensions["code"] == "FORBIDDEN"
    assert anonymous.errors[0].extensions["code"] == "UNAUTHENTICATED"
    assert await EcoActionKind.all().count() == 0
