"""No N+1 on the app's home screen: points, tier progress, challenges with progress and badges
cost as many SQL statements for 200 challenges and badges as for 10, and no more than the
per-request reads below (the program's tiers, challenges and badges come from the process's
cache once it is warm)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from gamification import program_cache
from gamification.badges import awards as badges
from gamification.members.models import Member
from schema.context import Context
from tests.factories import (
    OverrideSettings,
    actor_of,
    check_in,
    create_badge,
    create_challenge,
    create_member,
    create_tier_ladder,
    schema_for,
)

HOME = """
query Home($first: Int!) {
  me {
    points { balance available expiringSoon(days: 30) { expiresAt points } }
    tier { current { name } next { name } progress { qualifyingPoints pointsToNext periodEndsAt } }
    challenges(first: $first) {
      edges { node { title progress { current target percent streakLength endsAt } } }
    }
    badges { badge { name rarity } awardedAt }
  }
}
"""


# The member, their points with what expires soon, their tier standing, their standing in
# every challenge, the badges they hold.
PER_REQUEST = 5
# Read again once the process's cache is cold: the tier ladder, the active challenges, the
# badge catalog, and the badge rarity counts (holders per badge, members).
CATALOGS = 5


async def _statements(
    app: Starlette, caplog: pytest.LogCaptureFixture, first: int, member: Member
) -> int:
    settings = app.state.settings.model_copy(update={"max_page_size": 200})
    context = Context(settings=settings, redis=app.state.redis, actor=actor_of(member))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        result: Any = await schema_for(settings).execute(
            HOME, variable_values={"first": first}, context_value=context
        )
    assert result.errors is None, result.errors
    assert len(result.data["me"]["challenges"]["edges"]) == first
    assert len(result.data["me"]["badges"]) == first
    return len([r for r in caplog.records if r.name == "tortoise.db_client"])


async def test_the_home_screen_costs_the_same_for_10_and_200_challenges_and_badges(
    app: Starlette, caplog: pytest.LogCaptureFixture, override_settings: OverrideSettings
) -> None:
    # A cache that does not run out mid-test on a slow machine: only invalidation empties it.
    override_settings(program_cache_seconds=3600)
    # given: 200 challenges in progress, one member with 10 badges and one with 200
    await create_tier_ladder()
    for _ in range(200):
        await create_challenge(target="5")
    catalog = [await create_badge() for _ in range(200)]
    small, large = await create_member(), await create_member()
    now = datetime.now(UTC)
    for member, held in ((small, 10), (large, 200)):
        await check_in(member=member, at=now - timedelta(minutes=1))
        async with in_transaction() as conn:
            for badge in catalog[:held]:
                await badges.award(conn, member.id, badge.id, now)

    # when: the process's caches are warm (the steady state of a server) ...
    await _statements(app, caplog, 10, small)
    few = await _statements(app, caplog, 10, small)
    many = await _statements(app, caplog, 200, large)
    # ... and cold (after an admin's change, or when they ran out)
    program_cache.invalidate()
    cold_few = await _statements(app, caplog, 10, small)
    program_cache.invalidate()
    cold_many = await _statements(app, caplog, 200, large)

    # then
    assert (few, many) == (PER_REQUEST, PER_REQUEST)
    assert (cold_few, cold_many) == (PER_REQUEST + CATALOGS, PER_REQUEST + CATALOGS)
