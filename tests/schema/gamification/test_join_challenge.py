"""`joinChallenge`: members opt in; unknown, archived, ended and repeated joins are refused."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.applications import Starlette

from gamification.challenges import definitions as challenges_definitions
from gamification.challenges.models import ChallengeParticipant
from schema.relay import to_global_id
from tests.factories import create_challenge, create_member, execute

JOIN = """
mutation Join($id: ID!) {
  joinChallenge(challengeId: $id) {
    challenge { title progress { joined current target percent } }
    errors { code field }
  }
}
"""


async def test_a_member_joins_an_opt_in_challenge(app: Starlette) -> None:
    challenge = await create_challenge(opt_in=True, title="Refill month")
    member = await create_member()

    result = await execute(app, JOIN, {"id": to_global_id("Challenge", challenge.id)}, as_=member)

    assert result.errors is None, result.errors
    assert result.data["joinChallenge"]["challenge"] == {
        "title": "Refill month",
        "progress": {"joined": True, "current": "0.00", "target": "2.00", "percent": 0},
    }
    assert await ChallengeParticipant.filter(member_id=member.id).count() == 1


async def _codes(app: Starlette, challenge_id: int, member: object) -> list[str]:
    result = await execute(
        app,
        JOIN,
        {"id": to_global_id("Challenge", challenge_id)},
        as_=member,  # type: ignore[arg-type]
    )
    assert result.errors is None, result.errors
    return [e["code"] for e in result.data["joinChallenge"]["errors"]]


async def test_joining_twice(app: Starlette) -> None:
    challenge = await create_challenge(opt_in=True)
    member = await create_member()
    await _codes(app, challenge.id, member)

    assert await _codes(app, challenge.id, member) == ["ALREADY_JOINED"]
    assert await ChallengeParticipant.filter(member_id=member.id).count() == 1


async def test_joining_an_unknown_challenge(app: Starlette) -> None:
    assert await _codes(app, 4242, await create_member()) == ["CHALLENGE_NOT_FOUND"]


async def test_joining_an_archived_challenge(app: Starlette) -> None:
    challenge = await create_challenge(opt_in=True)
    await challenges_definitions.update_challenge(challenge.id, {}, archived=True)

    assert await _codes(app, challenge.id, await create_member()) == ["CHALLENGE_ARCHIVED"]


async def test_joining_an_ended_challenge(app: Starlette) -> None:
    challenge = await create_challenge(
        opt_in=True,
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2026, 2, 1, tzinfo=UTC),
    )

    assert await _codes(app, challenge.id, await create_member()) == ["CHALLENGE_ENDED"]
    assert not await ChallengeParticipant.exists()
