"""What makes the home screen cheap without making it wrong: the program's tiers, challenges and
badges come from a per-process cache that admin changes drop at once and that other processes'
changes reach within `program_cache_seconds`; the member's points and what expires soon are one
read however many horizons a request asks for."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from gamification.badges import awards as badges
from gamification.badges.models import Badge, BadgeRule
from gamification.challenges import definitions as challenges_definitions
from gamification.challenges.models import Challenge, GoalType, WindowKind
from gamification.events.models import EventKind
from gamification.members.models import Role
from tests.factories import (
    OverrideSettings,
    create_badge,
    create_challenge,
    create_member,
    create_tier_ladder,
    credit_points,
    execute,
)

CHALLENGES = "{ me { challenges(first: 50) { edges { node { title } } } } }"
BADGES = "{ me { badges { badge { name holders } } } }"
TIERS = "{ tiers { name } me { tier { next { name threshold } progress { pointsToNext } } } }"
EXPIRING = """
{
  me {
    points {
      balance
      soon: expiringSoon(days: 10) { points }
      later: expiringSoon(days: 60) { points }
    }
  }
}
"""
DEFINE_TIER = """
mutation Define($input: DefineTierInput!) { defineTier(input: $input) { errors { code } } }
"""


def _titles(result: Any) -> list[str]:
    assert result.errors is None, result.errors
    return [e["node"]["title"] for e in result.data["me"]["challenges"]["edges"]]


async def test_a_challenge_created_or_archived_by_an_admin_shows_at_once(app: Starlette) -> None:
    # given: the challenges are cached in this process
    member = await create_member()
    await create_challenge(title="Old")
    assert _titles(await execute(app, CHALLENGES, as_=member)) == ["Old"]

    # when: an admin adds one
    await create_challenge(title="New")

    # then
    assert _titles(await execute(app, CHALLENGES, as_=member)) == ["Old", "New"]

    # when: an admin archives the first
    [old] = await Challenge.filter(title="Old")
    await challenges_definitions.update_challenge(old.id, {}, archived=True)

    # then
    assert _titles(await execute(app, CHALLENGES, as_=member)) == ["New"]


async def test_a_challenge_another_process_created_shows_once_the_cache_runs_out(
    app: Starlette, override_settings: OverrideSettings
) -> None:
    # given: a short cache time, and the challenges cached in this process
    override_settings(program_cache_seconds=0.05)
    member = await create_member()
    await create_challenge(title="Old")
    assert _titles(await execute(app, CHALLENGES, as_=member)) == ["Old"]

    # when: another process writes one (straight to the table: nothing here is told)
    await Challenge.create(
        title="From elsewhere",
        goal_type=GoalType.COUNT,
        target=Decimal(1),
        event_kind=EventKind.CHECK_IN,
        window_kind=WindowKind.FIXED,
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    await asyncio.sleep(0.1)

    # then
    assert _titles(await execute(app, CHALLENGES, as_=member)) == ["Old", "From elsewhere"]


async def test_a_badge_another_process_created_and_awarded_shows_at_once(app: Starlette) -> None:
    # given: the badge catalog is cached in this process
    member = await create_member()
    first = await create_badge(name="First")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        await badges.award(conn, member.id, first.id, now - timedelta(minutes=1))
    assert len((await execute(app, BADGES, as_=member)).data["me"]["badges"]) == 1

    # when: another process creates a badge (nothing here is told) and awards it
    other = await Badge.create(name="From elsewhere", rule=BadgeRule.CHALLENGE)
    async with in_transaction() as conn:
        await badges.award(conn, member.id, other.id, now)

    # then: the member's new badge is there, newest first
    result = await execute(app, BADGES, as_=member)
    assert result.errors is None, result.errors
    assert [b["badge"]["name"] for b in result.data["me"]["badges"]] == ["From elsewhere", "First"]


async def test_a_tier_an_admin_defines_shows_at_once(app: Starlette) -> None:
    # given: the ladder is cached in this process
    await create_tier_ladder()
    member = await create_member()
    admin = await create_member(role=Role.ADMIN)
    before = await execute(app, TIERS, as_=member)
    assert before.data["me"]["tier"]["next"] == {"name": "Silver", "threshold": 100}

    # when: an admin lowers Silver's threshold and adds a tier on top
    for tier in (
        {"name": "Silver", "rank": 1, "threshold": 60, "earnMultiplier": "1.5"},
        {"name": "Platinum", "rank": 3, "threshold": 2000, "earnMultiplier": "3"},
    ):
        defined = await execute(app, DEFINE_TIER, {"input": tier}, as_=admin)
        assert defined.data["defineTier"]["errors"] == []

    # then
    after = await execute(app, TIERS, as_=member)
    assert after.errors is None, after.errors
    assert [t["name"] for t in after.data["tiers"]] == ["Bronze", "Silver", "Gold", "Platinum"]
    assert after.data["me"]["tier"]["next"] == {"name": "Silver", "threshold": 60}
    assert after.data["me"]["tier"]["progress"] == {"pointsToNext": 60}


async def test_points_expiring_at_two_horizons_cost_one_read(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    # given: lots expiring in 5, 30 and 300 days
    member = await create_member()
    now = datetime.now(UTC)
    for points, days in ((10, 5), (20, 30), (40, 300)):
        await credit_points(member=member, points=points, expires_at=now + timedelta(days=days))

    # when
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        result = await execute(app, EXPIRING, as_=member)

    # then: each horizon has its own lots, from one statement besides the member's
    assert result.errors is None, result.errors
    points = result.data["me"]["points"]
    assert points["balance"] == 70
    assert points["soon"] == [{"points": 10}]
    assert points["later"] == [{"points": 10}, {"points": 20}]
    assert len([r for r in caplog.records if r.name == "tortoise.db_client"]) == 2
