"""`updateCause`: admins change some of a cause; what is not given stays as it was."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from gamification.causes.models import Cause
from gamification.members.models import Role
from schema.relay import to_global_id
from tests.factories import create_cause, create_member, credit_points, donate, execute

UPDATE_CAUSE = """
mutation UpdateCause($causeId: ID!, $input: UpdateCauseInput!) {
  updateCause(causeId: $causeId, input: $input) {
    cause { name partner goalPoints status endsAt pointsPerUnit }
    errors { code field }
  }
}
"""


def _variables(cause: Cause, **input: Any) -> dict[str, Any]:
    return {"causeId": to_global_id("Cause", cause.id), "input": input}


async def test_an_admin_changes_some_fields(app: Starlette) -> None:
    cause = await create_cause(name="Trees", partner="Forest Friends", goal_points=1000)

    result = await execute(
        app,
        UPDATE_CAUSE,
        _variables(cause, name="More trees", goalUnits=4),
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["updateCause"] == {
        "cause": {
            "name": "More trees",
            "partner": "Forest Friends",
            "goalPoints": 2000,
            "status": "ACTIVE",
            "endsAt": None,
            "pointsPerUnit": 500,
        },
        "errors": [],
    }


async def test_null_clears_the_goal_but_not_the_name(app: Starlette) -> None:
    cause = await create_cause(name="Trees", goal_points=1000)
    admin = await create_member(role=Role.ADMIN)

    cleared = await execute(app, UPDATE_CAUSE, _variables(cause, goalPoints=None), as_=admin)
    refused = await execute(app, UPDATE_CAUSE, _variables(cause, name=None), as_=admin)

    assert cleared.data["updateCause"]["cause"]["goalPoints"] is None
    assert refused.data["updateCause"]["errors"] == [{"code": "INVALID_INPUT", "field": "name"}]
    assert (await Cause.get(id=cause.id)).name == "Trees"


async def test_the_rate_cannot_change_once_there_are_donations(app: Starlette) -> None:
    cause = await create_cause(points_per_unit=500)
    member = await create_member()
    await credit_points(member=member, points=500)
    await donate(member=member, cause=cause, points=500)

    result = await execute(
        app,
        UPDATE_CAUSE,
        _variables(cause, pointsPerUnit=100),
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["updateCause"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "pointsPerUnit"}
    ]
    assert (await Cause.get(id=cause.id)).points_per_unit == 500


async def test_an_unknown_cause_is_refused(app: Starlette) -> None:
    result = await execute(
        app,
        UPDATE_CAUSE,
        {"causeId": to_global_id("Cause", 4242), "input": {"name": "x"}},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["updateCause"]["errors"] == [{"code": "CAUSE_NOT_FOUND", "field": "causeId"}]


async def test_members_cannot_change_causes(app: Starlette) -> None:
    cause = await create_cause(name="Trees")

    result = await execute(
        app, UPDATE_CAUSE, _variables(cause, name="Mine"), as_=await create_member()
    )

    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert (await Cause.get(id=cause.id)).name == "Trees"
