"""`createChallenge`: admins define challenges; an invalid definition writes nothing."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from gamification.challenges.models import Challenge
from gamification.members.models import Role
from tests.factories import create_member, execute

CREATE_CHALLENGE = """
mutation Create($input: CreateChallengeInput!) {
  createChallenge(input: $input) {
    challenge { id title goalType target eventKind windowKind optIn rewardPoints status }
    errors { code field }
  }
}
"""

WEEKLY_RECYCLING: dict[str, Any] = {
    "title": "Recycle 10 bottles this week",
    "goalType": "SUM",
    "target": "10",
    "eventKind": "ECO_ACTION_RECORDED",
    "windowKind": "WEEKLY",
    "startsAt": "2026-01-01T00:00:00+00:00",
    "rewardPoints": 50,
}


async def test_an_admin_creates_a_challenge(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, CREATE_CHALLENGE, {"input": WEEKLY_RECYCLING}, as_=admin)

    assert result.errors is None, result.errors
    challenge = result.data["createChallenge"]["challenge"]
    assert (challenge["goalType"], challenge["windowKind"], challenge["status"]) == (
        "SUM",
        "WEEKLY",
        "ACTIVE",
    )


async def test_a_target_of_zero_is_refused(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app, CREATE_CHALLENGE, {"input": {**WEEKLY_RECYCLING, "target": "0"}}, as_=admin
    )

    assert result.data["createChallenge"]["errors"] == [
        {"code": "INVALID_CHALLENGE", "field": "target"}
    ]
    assert not await Challenge.exists()


async def test_an_end_before_the_start_is_refused(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        CREATE_CHALLENGE,
        {"input": {**WEEKLY_RECYCLING, "endsAt": "2025-01-01T00:00:00+00:00"}},
        as_=admin,
    )

    assert result.data["createChallenge"]["errors"] == [
        {"code": "INVALID_CHALLENGE", "field": "endsAt"}
    ]


async def test_members_may_not_create_challenges(app: Starlette) -> None:
    result = await execute(
        app, CREATE_CHALLENGE, {"input": WEEKLY_RECYCLING}, as_=await create_member()
    )

    assert result.errors[0].extensions["code"] == "FORBIDDEN"
