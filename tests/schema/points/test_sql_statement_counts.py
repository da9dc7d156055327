"""No N+1: the home-screen query and a leaderboard page issue as many SQL statements for 200
items as for 10. Statements are counted from Tortoise's `tortoise.db_client` debug log, which
logs every statement on every backend."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.leaderboards import reconcile
from gamification.members.models import Member
from schema.context import Context
from server.settings import Settings
from tests.factories import (
    actor_of,
    create_cause,
    create_member,
    create_reward,
    credit_points,
    donate,
    redeem_reward,
    schema_for,
)

HOME_SCREEN = """
query Home($first: Int!) {
  me {
    displayName
    points { balance available held lifetimeEarned }
    redemptions(first: $first) { edges { node { id status reward { name costPoints } } } }
    donations(first: $first) {
      edges { node { id points cause { name progress { memberPoints matchedPoints } } } }
    }
  }
}
"""

LEADERBOARD = """
query Board($first: Int!) {
  leaderboard(first: $first) { total entries { rank score displayName memberId isMe } }
}
"""


def _settings(app: Starlette) -> Settings:
    settings: Settings = app.state.settings
    return settings.model_copy(update={"max_page_size": 200})


async def _statements(
    app: Starlette, caplog: pytest.LogCaptureFixture, query: str, first: int, member: Member
) -> int:
    settings = _settings(app)
    context = Context(settings=settings, redis=app.state.redis, actor=actor_of(member))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        result: Any = await schema_for(settings).execute(
            query, variable_values={"first": first}, context_value=context
        )
    assert result.errors is None, result.errors
    return len([r for r in caplog.records if r.name == "tortoise.db_client"])


async def test_the_home_screen_costs_the_same_for_10_and_200_items(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a member with 200 redemptions of 20 rewards and 200 donations to 20 causes
    member = await create_member()
    await credit_points(member=member, points=100_000)
    rewards = [await create_reward(cost_points=1) for _ in range(20)]
    causes = [await create_cause(points_per_unit=1) for _ in range(20)]
    for n in range(200):
        await redeem_reward(member=member, reward=rewards[n % 20])
        await donate(member=member, cause=causes[n % 20], points=1)

    # when
    small = await _statements(app, caplog, HOME_SCREEN, 10, member)
    large = await _statements(app, caplog, HOME_SCREEN, 200, member)

    # then
    assert small == large, (small, large)
    assert 1 <= large <= 12


async def test_a_leaderboard_page_costs_the_same_for_10_and_200_entries(
    app: Starlette, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # given: 200 ranked members
    members = [await create_member() for _ in range(200)]
    for n, member in enumerate(members):
        await credit_points(member=member, points=n + 1)
    await reconcile.rebuild(redis)

    # when
    small = await _statements(app, caplog, LEADERBOARD, 10, members[0])
    large = await _statements(app, caplog, LEADERBOARD, 200, members[0])

    # then
    assert small == large, (small, large)
    assert 1 <= large <= 3
