"""`updateChallenge`: change some fields or archive; the definition is checked again."""

from __future__ import annotations

from starlette.applications import Starlette

from gamification.challenges.models import ChallengeStatus
from gamification.members.models import Role
from schema.relay import to_global_id
from tests.documents import UPDATE_CHALLENGE
from tests.factories import create_challenge, create_member, execute


async def test_an_admin_renames_and_archives_a_challenge(app: Starlette) -> None:
    challenge = await create_challenge()
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        UPDATE_CHALLENGE,
        {
            "id": to_global_id("Challenge", challenge.id),
            "input": {"title": "New", "archived": True},
        },
        as_=admin,
    )

    assert result.data["updateChallenge"]["challenge"] == {
        "title": "New",
        "target": "2.00",
        "status": "ARCHIVED",
    }
    await challenge.refresh_from_db()
    assert challenge.status is ChallengeStatus.ARCHIVED


async def test_an_update_that_breaks_the_definition_changes_nothing(app: Starlette) -> None:
    challenge = await create_challenge()
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        UPDATE_CHALLENGE,
        {"id": to_global_id("Challenge", challenge.id), "input": {"target": "-1"}},
        as_=admin,
    )

    assert result.data["updateChallenge"]["errors"] == [
        {"code": "INVALID_CHALLENGE", "field": "target"}
    ]
    await challenge.refresh_from_db()
    assert challenge.target == 2


async def test_an_unknown_challenge(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)

    result = await execute(
        app,
        UPDATE_CHALLENGE,
        {"id": to_global_id("Challenge", 12345), "input": {"title": "x"}},
        as_=admin,
    )

    assert result.data["updateChallenge"]["errors"] == [
        {"code": "CHALLENGE_NOT_FOUND", "field": "id"}
    ]
