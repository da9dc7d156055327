"""`defineTier` and `setTierFloor`: admins shape the ladder and protect members."""

from __future__ import annotations

from starlette.applications import Starlette

from gamification.members.models import Role
from schema.relay import to_global_id
from tests.factories import create_member, create_tier_ladder, execute

DEFINE = """
mutation Define($input: DefineTierInput!) {
  defineTier(input: $input) {
    tier { name rank threshold earnMultiplier benefitFlags }
    errors { code }
  }
}
"""
FLOOR = """
mutation Floor($member: ID!, $tier: String) {
  setTierFloor(memberId: $member, tier: $tier) {
    tier { current { name } floor { name } history { reason } }
    errors { code field }
  }
}
"""


async def test_an_admin_defines_a_tier(app: Starlette) -> None:
    result = await execute(
        app,
        DEFINE,
        {
            "input": {
                "name": "Gold",
                "rank": 2,
                "threshold": 1000,
                "earnMultiplier": "1.5",
                "benefitFlags": ["free_shipping"],
            }
        },
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["defineTier"]["tier"] == {
        "name": "Gold",
        "rank": 2,
        "threshold": 1000,
        "earnMultiplier": "1.500",
        "benefitFlags": ["free_shipping"],
    }


async def test_an_unknown_benefit_flag_is_refused(app: Starlette) -> None:
    result = await execute(
        app,
        DEFINE,
        {"input": {"name": "Gold", "rank": 2, "threshold": 1000, "benefitFlags": ["yacht"]}},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["defineTier"]["errors"] == [{"code": "INVALID_TIER"}]


async def test_an_admin_sets_a_floor(app: Starlette) -> None:
    await create_tier_ladder()
    member = await create_member()

    result = await execute(
        app,
        FLOOR,
        {"member": to_global_id("Member", member.id), "tier": "Silver"},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["setTierFloor"]["tier"] == {
        "current": {"name": "Silver"},
        "floor": {"name": "Silver"},
        "history": [{"reason": "FLOOR"}],
    }


async def test_an_unknown_floor_tier(app: Starlette) -> None:
    await create_tier_ladder()
    member = await create_member()

    result = await execute(
        app,
        FLOOR,
        {"member": to_global_id("Member", member.id), "tier": "Diamond"},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["setTierFloor"]["errors"] == [{"code": "UNKNOWN_TIER", "field": "tier"}]
