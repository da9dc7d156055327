"""`createCause`: admins add eco causes; the goal may be given in points or in impact units.
A refused cause writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.causes.models import Cause
from gamification.members.models import Role
from schema.relay import to_global_id
from tests.factories import create_member, execute

CREATE_CAUSE = """
mutation CreateCause($input: CreateCauseInput!) {
  createCause(input: $input) {
    cause {
      id name description partner impactUnit pointsPerUnit goalPoints status
      acceptsAfterGoal minDonation donationStep startsAt endsAt
      progress { memberPoints percentOfGoal }
    }
    errors { code field message }
  }
}
"""

TREES: dict[str, Any] = {"name": "Plant trees", "impactUnit": "tree", "pointsPerUnit": 500}


async def _admin() -> Any:
    return await create_member(role=Role.ADMIN)


def codes(result: Any) -> list[tuple[str, str | None]]:
    assert result.errors is None, result.errors
    payload = result.data["createCause"]
    assert payload["cause"] is None
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def test_an_admin_creates_a_cause_with_a_goal_in_trees(app: Starlette) -> None:
    # when
    result = await execute(
        app,
        CREATE_CAUSE,
        {
            "input": {
                **TREES,
                "description": "Native saplings",
                "partner": "Forest Friends",
                "goalUnits": 1000,
                "acceptsAfterGoal": False,
                "minDonation": 100,
                "donationStep": 50,
                "endsAt": "2099-01-01T00:00:00+00:00",
            }
        },
        as_=await _admin(),
    )

    # then
    payload = result.data["createCause"]
    assert payload["errors"] == []
    cause = await Cause.get()
    shown = payload["cause"]
    assert shown["id"] == to_global_id("Cause", cause.id)
    assert (shown["goalPoints"], cause.goal_points) == (500_000, 500_000)
    assert (shown["status"], shown["acceptsAfterGoal"]) == ("ACTIVE", False)
    assert (shown["minDonation"], shown["donationStep"]) == (100, 50)
    assert shown["endsAt"] == "2099-01-01T00:00:00+00:00"
    assert shown["progress"] == {"memberPoints": 0, "percentOfGoal": "0.00"}


async def test_a_goal_in_points_is_kept_as_given(app: Starlette) -> None:
    result = await execute(
        app, CREATE_CAUSE, {"input": {**TREES, "goalPoints": 12_345}}, as_=await _admin()
    )

    assert result.data["createCause"]["cause"]["goalPoints"] == 12_345


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"impactUnit": " "}, "impactUnit"),
        ({"impactUnit": "x" * 41}, "impactUnit"),
        ({"pointsPerUnit": 0}, "pointsPerUnit"),
        ({"goalPoints": 1000, "goalUnits": 2}, "goalUnits"),
        ({"goalPoints": -5}, "goalPoints"),
        (
            {"startsAt": "2030-01-02T00:00:00+00:00", "endsAt": "2030-01-01T00:00:00+00:00"},
            "endsAt",
        ),
        ({"minDonation": 0}, "minDonation"),
        ({"donationStep": 0}, "donationStep"),
        ({"imageUrl": "data:image/png;base64,AAAA"}, "imageUrl"),
    ],
)
async def test_an_invalid_cause_is_refused(
    app: Starlette, changes: dict[str, Any], field: str
) -> None:
    result = await execute(app, CREATE_CAUSE, {"input": {**TREES, **changes}}, as_=await _admin())

    assert codes(result) == [("INVALID_INPUT", field)]
    assert await Cause.all().count() == 0


@pytest.mark.parametrize("role", [Role.MEMBER, Role.STAFF])
async def test_only_admins_create_causes(app: Starlette, role: Role) -> None:
    result = await execute(app, CREATE_CAUSE, {"input": TREES}, as_=await create_member(role=role))

    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await Cause.all().count() == 0
