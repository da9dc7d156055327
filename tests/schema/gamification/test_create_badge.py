"""`createBadge` and `badges`: the catalog with rarity."""

from __future__ import annotations

from starlette.applications import Starlette

from gamification.members.models import Role
from tests.factories import create_earn_rule, create_member, create_purchase, execute

CREATE_BADGE = """
mutation Create($input: CreateBadgeInput!) {
  createBadge(input: $input) { badge { name rule threshold } errors { code field } }
}
"""
BADGES = "{ badges { name holders rarity } }"


async def test_an_admin_creates_a_badge_and_members_see_its_rarity(app: Starlette) -> None:
    admin = await create_member(role=Role.ADMIN)
    created = await execute(
        app, CREATE_BADGE, {"input": {"name": "First step", "rule": "FIRST_PURCHASE"}}, as_=admin
    )
    assert created.data["createBadge"]["badge"] == {
        "name": "First step",
        "rule": "FIRST_PURCHASE",
        "threshold": None,
    }
    await create_earn_rule()
    buyer = await create_member()
    await create_member()
    await create_purchase(member=buyer)

    result = await execute(app, BADGES, as_=buyer)

    assert result.data["badges"] == [{"name": "First step", "holders": 1, "rarity": 0.5}]


async def test_a_count_rule_without_a_threshold_is_refused(app: Starlette) -> None:
    result = await execute(
        app,
        CREATE_BADGE,
        {"input": {"name": "Regular", "rule": "PURCHASE_COUNT"}},
        as_=await create_member(role=Role.ADMIN),
    )

    assert result.data["createBadge"]["errors"] == [{"code": "INVALID_BADGE", "field": "threshold"}]
