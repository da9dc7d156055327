"""`ecoActionKinds`: the kinds with their points and active flag, for anyone signed in."""

from __future__ import annotations

from starlette.applications import Starlette

from gamification.earning import eco_actions
from tests.factories import create_device, create_eco_kind, create_member, execute

ECO_ACTION_KINDS = "{ ecoActionKinds { code pointsPerUnit maxQuantity active } }"
ACTIVE_KINDS = "{ ecoActionKinds(active: true) { code } }"


async def test_members_and_devices_list_the_kinds_by_code(app: Starlette) -> None:
    # given
    await create_eco_kind(code="refill", points_per_unit=10, max_quantity=20)
    recycling = await create_eco_kind(code="recycling", points_per_unit=2)
    await eco_actions.update_kind(recycling.id, {"active": False})

    # when
    seen_by_member = await execute(app, ECO_ACTION_KINDS, as_=await create_member())
    seen_by_device = await execute(app, ECO_ACTION_KINDS, as_=await create_device())
    active = await execute(app, ACTIVE_KINDS, as_=await create_member())

    # then
    expected = [
        {"code": "recycling", "pointsPerUnit": 2, "maxQuantity": 50, "active": False},
        {"code": "refill", "pointsPerUnit": 10, "maxQuantity": 20, "active": True},
    ]
    assert seen_by_member.data["ecoActionKinds"] == expected
    assert seen_by_device.data["ecoActionKinds"] == expected
    assert active.data["ecoActionKinds"] == [{"code": "refill"}]


async def test_anonymous_callers_are_refused(app: Starlette) -> None:
    result = await execute(app, ECO_ACTION_KINDS)

    assert result.errors[0].extensions["code"] == "UNAUTHENTICATED"
