"""`me { rank { … neighbours } }` costs one Redis round trip for the rank, the total and the
neighbours, whatever the selection asks (aliases, fragments, variables), and one SQL statement
for the neighbours' names and badge counts, however many neighbours."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from gamification.badges import awards as badges
from gamification.stores.models import Device
from tests.factories import create_badge, execute
from tests.schema.leaderboards.helpers import board_of_six, my_rank, read_board

NEIGHBOURS_EVERY_WAY = """
query Around($wide: Int!) {
  me {
    rank(board: "points", period: ALL_TIME) {
      rank
      near: neighbours(above: 1, below: 1) { rank }
      ...Wide
    }
  }
}
fragment Wide on LeaderboardRank {
  ... on LeaderboardRank { wide: neighbours(above: $wide, below: 0) { rank score } }
  defaults: neighbours { rank }
}
"""


@contextmanager
def redis_round_trips(monkeypatch: pytest.MonkeyPatch, redis: Redis) -> Iterator[list[str]]:
    """The commands sent to Redis, one item per round trip (a pipeline is one)."""
    trips: list[str] = []
    command = redis.execute_command

    async def counted_command(*args: Any, **options: Any) -> Any:
        trips.append(str(args[0]).upper())
        return await command(*args, **options)

    execute = Pipeline.execute

    async def counted_pipeline(self: Pipeline, raise_on_error: bool = True) -> Any:
        trips.append(" ".join(str(c[0][0]).upper() for c in self.command_stack))
        return await execute(self, raise_on_error)

    with monkeypatch.context() as patch:
        patch.setattr(redis, "execute_command", counted_command)
        patch.setattr(Pipeline, "execute", counted_pipeline)
        yield trips


@contextmanager
def sql_statements(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    statements: list[str] = []
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        yield statements
    statements.extend(r.getMessage() for r in caplog.records if r.name == "tortoise.db_client")


@pytest.mark.parametrize(("above", "below"), [(1, 1), (2, 2), (5, 5)])
async def test_rank_and_neighbours_cost_one_redis_round_trip_and_one_name_statement(
    app: Starlette,
    till: Device,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    above: int,
    below: int,
) -> None:
    # given
    members = await board_of_six(app, till)
    await my_rank(app, members[2])  # Redis has the script from now on

    # when
    with redis_round_trips(monkeypatch, redis) as trips, sql_statements(caplog) as statements:
        result = await my_rank(app, members[2], above=above, below=below)

    # then: the member row (`me`), one statement for all the names, one Redis round trip
    assert result.errors is None
    assert len(result.data["me"]["rank"]["neighbours"]) == min(above, 2) + min(below, 3)
    assert trips == ["EVALSHA"]
    assert len(statements) == 2, statements


async def test_neighbours_asked_through_aliases_fragments_and_variables_are_read_at_once(
    app: Starlette, till: Device, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    members = await board_of_six(app, till)
    await my_rank(app, members[4])

    # when
    with redis_round_trips(monkeypatch, redis) as trips:
        result = await execute(app, NEIGHBOURS_EVERY_WAY, {"wide": 4}, as_=members[4])

    # then
    assert result.errors is None
    rank = result.data["me"]["rank"]
    assert rank["rank"] == 5
    assert [n["rank"] for n in rank["near"]] == [4, 6]
    assert rank["wide"] == [
        {"rank": 1, "score": 60},
        {"rank": 2, "score": 50},
        {"rank": 3, "score": 40},
        {"rank": 4, "score": 30},
    ]
    assert [n["rank"] for n in rank["defaults"]] == [3, 4, 6]
    assert trips == ["EVALSHA"]


async def test_a_refused_neighbours_argument_leaves_the_others_answered(
    app: Starlette, till: Device
) -> None:
    members = await board_of_six(app, till)
    query = """
    { me { rank(board: "points", period: ALL_TIME) {
        rank
        bad: neighbours(above: 99, below: 0) { rank }
        good: neighbours(above: 1, below: 1) { rank displayName }
    } } }
    """

    result = await execute(app, query, as_=members[1])

    assert result.errors is not None
    assert [e.extensions for e in result.errors] == [
        {"code": "INVALID_INPUT", "field": "above", "retryable": False}
    ]
    assert result.data["me"]["rank"] is None  # `bad` is not nullable: its parent goes
    ok = await execute(app, query.replace("above: 99", "above: 0"), as_=members[1])
    assert ok.errors is None
    assert ok.data["me"]["rank"]["good"] == [
        {"rank": 1, "displayName": "Player 1"},
        {"rank": 3, "displayName": "Player 3"},
    ]


async def test_neighbours_and_boards_show_badge_counts(app: Starlette, till: Device) -> None:
    # given: Player 1 holds three badges, Player 3 one
    members = await board_of_six(app, till)
    catalog = [await create_badge() for _ in range(3)]
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        for badge in catalog:
            await badges.award(conn, members[0].id, badge.id, now)
        await badges.award(conn, members[2].id, catalog[1].id, now)

    # when
    around = await execute(
        app,
        "{ me { rank { neighbours(above: 1, below: 1) { rank badgeCount } } } }",
        as_=members[1],
    )
    page = await read_board(app, as_=members[5], first=3)

    # then
    assert around.errors is None
    assert around.data["me"]["rank"]["neighbours"] == [
        {"rank": 1, "badgeCount": 3},
        {"rank": 3, "badgeCount": 1},
    ]
    assert page.errors is None
    assert [(e["rank"], e["badgeCount"]) for e in page.data["leaderboard"]["entries"]] == [
        (1, 3),
        (2, 0),
        (3, 1),
    ]
