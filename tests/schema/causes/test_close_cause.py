"""`closeCause`: admins stop a cause taking donations, for good."""

from __future__ import annotations

from starlette.applications import Starlette

from gamification.causes.models import Cause, CauseStatus
from gamification.members.models import Role
from schema.relay import to_global_id
from tests.factories import create_cause, create_member, execute

CLOSE_CAUSE = """
mutation CloseCause($causeId: ID!) {
  closeCause(causeId: $causeId) { cause { status acceptsDonations } errors { code field } }
}
"""


async def test_an_admin_closes_a_cause_and_closing_again_changes_nothing(
    app: Starlette,
) -> None:
    cause = await create_cause()
    admin = await create_member(role=Role.ADMIN)
    variables = {"causeId": to_global_id("Cause", cause.id)}

    first = await execute(app, CLOSE_CAUSE, variables, as_=admin)
    again = await execute(app, CLOSE_CAUSE, variables, as_=admin)

    closed = {"cause": {"status": "CLOSED", "acceptsDonations": False}, "errors": []}
    assert first.data["closeCause"] == closed
    assert again.data["closeCause"] == closed
    assert (await Cause.get(id=cause.id)).status is CauseStatus.CLOSED


async def test_an_unknown_cause_is_refused(app: Starlette) -> None:
    result = await execute(
        app,
        CLOSE_CAUSE,
        {"causeId": to_global_id("Cause", 4242)},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["closeCause"] == {
        "cause": None,
        "errors": [{"code": "CAUSE_NOT_FOUND", "field": "causeId"}],
    }


async def test_members_cannot_close_causes(app: Starlette) -> None:
    cause = await create_cause()

    result = await execute(
        app, CLOSE_CAUSE, {"causeId": to_global_id("Cause", cause.id)}, as_=await create_member()
    )

    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert (await Cause.get(id=cause.id)).status is CauseStatus.ACTIVE
