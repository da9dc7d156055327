"""The demo program tells a believable story right after `make run`: the demo member can redeem
and donate, the history spreads over past weeks (so the week's board is not the all-time one),
challenge progress agrees with the seeded purchases, and the ledger verifies.

The program is seeded once for the module (seeding takes seconds): the read-only tests come
first, the one that spends points last, and the tables are emptied when the module ends."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.earning.models import Purchase
from gamification.events.models import DomainEvent
from gamification.leaderboards import reconcile
from gamification.ledger import accounts
from gamification.ledger.models import LedgerEntry
from gamification.members.models import Member
from server.seed import DEMO_MEMBER_EMAIL, seed_demo_program, week_start
from tests.conftest import _empty_tables
from tests.factories import execute
from tests.process_caches import forget_process_caches

_PROJECT_ROOT = Path(__file__).resolve().parents[2]

BOARD = """
query Board($period: LeaderboardPeriod!) {
  leaderboard(board: "points", period: $period, first: 100) {
    total
    entries { rank score memberId }
  }
}
"""

CHALLENGES = """
{ me { challenges(first: 20) { edges { node { title progress { current target } } } } } }
"""

CATALOG = """
{
  rewards(first: 50) { edges { node { id name costPoints } } }
  causes(first: 10) { edges { node { id name minDonation } } }
  me { points { balance available } }
}
"""

REDEEM = """
mutation Redeem($rewardId: ID!) {
  redeemReward(rewardId: $rewardId, idempotencyKey: "story-redeem") {
    redemption { status voucherCode points }
    errors { code message }
  }
}
"""

DONATE = """
mutation Donate($causeId: ID!, $points: Int!) {
  donatePoints(causeId: $causeId, points: $points, idempotencyKey: "story-donate") {
    donation { points }
    errors { code message }
  }
}
"""


@pytest.fixture(autouse=True)
async def clean_state() -> None:
    """Replaces the suite's per-test cleaning: the seeded program lives for the module."""


@pytest.fixture(scope="module", autouse=True)
async def seeded(app: Starlette, redis: Redis) -> AsyncIterator[None]:
    await seed_demo_program()
    await reconcile.rebuild(redis)  # what the server does at start with `memory://`
    yield
    await _empty_tables()
    forget_process_caches()
    await accounts.program_account_id()
    await redis.flushdb()


async def _maya() -> Member:
    return await Member.get(email=DEMO_MEMBER_EMAIL)


def _data(result: Any) -> Any:
    assert result.errors is None, result.errors
    return result.data


async def test_the_weeks_board_is_not_the_all_time_board(app: Starlette) -> None:
    # given
    maya = await _maya()

    # when
    week = _data(await execute(app, BOARD, {"period": "WEEK"}, as_=maya))["leaderboard"]
    ever = _data(await execute(app, BOARD, {"period": "ALL_TIME"}, as_=maya))["leaderboard"]

    # then
    assert 0 < week["total"] < ever["total"]
    assert week["entries"] != ever["entries"][: len(week["entries"])]
    assert sum(e["score"] for e in week["entries"]) < sum(e["score"] for e in ever["entries"])


async def test_the_history_is_stamped_over_past_weeks() -> None:
    # given
    this_week = week_start(max(e.created_at for e in await LedgerEntry.all()))

    # when
    weeks = {
        (this_week - e.created_at).days // 7
        for e in await LedgerEntry.all()
        if e.created_at < this_week
    }

    # then: entries in each of the eight weeks before this one
    assert weeks == set(range(8))


async def test_three_visits_this_week_counts_the_seeded_visits(app: Starlette) -> None:
    # given: the demo member's purchases of this week, in her own week (from her Monday)
    maya = await _maya()
    latest = await DomainEvent.filter(member_id=maya.id).order_by("-occurred_at").first()
    assert latest is not None
    zone = ZoneInfo(maya.timezone)
    today = latest.occurred_at.astimezone(zone).date()
    monday = today.toordinal() - today.weekday()
    visits = [
        p
        for p in await Purchase.filter(member_id=maya.id)
        if p.occurred_at.astimezone(zone).date().toordinal() >= monday
    ]

    # when
    data = _data(await execute(app, CHALLENGES, as_=maya))

    # then
    progress = {
        e["node"]["title"]: e["node"]["progress"] for e in data["me"]["challenges"]["edges"]
    }
    assert len(visits) == 2
    assert progress["Three visits this week"] == {"current": "2.00", "target": "3.00"}
    assert progress["Recycle 20 bottles"]["current"] == "14.00"


async def test_loyalty_verify_ledger_passes_after_seeding(service_env: dict[str, str]) -> None:
    # when
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", "verify-ledger"],
        cwd=_PROJECT_ROOT,
        env=service_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Every account's hash chain verifies." in result.stdout


async def test_seeding_again_adds_nothing() -> None:
    # given
    before = (await LedgerEntry.all().count(), await Purchase.all().count())

    # when
    await seed_demo_program()

    # then
    assert (await LedgerEntry.all().count(), await Purchase.all().count()) == before


async def test_the_demo_member_redeems_the_cheapest_reward_and_donates(app: Starlette) -> None:
    # given: the whole catalog (every channel); she redeems in the app
    maya = await _maya()
    catalog = _data(await execute(app, CATALOG, as_=maya))
    rewards = [e["node"] for e in catalog["rewards"]["edges"]]
    cheapest = min(rewards, key=lambda r: r["costPoints"])
    cause = catalog["causes"]["edges"][0]["node"]
    balance = catalog["me"]["points"]["available"]
    assert balance >= cheapest["costPoints"] + cause["minDonation"]

    # when
    redeemed = _data(await execute(app, REDEEM, {"rewardId": cheapest["id"]}, as_=maya))
    donated = _data(
        await execute(
            app, DONATE, {"causeId": cause["id"], "points": cause["minDonation"]}, as_=maya
        )
    )

    # then
    assert redeemed["redeemReward"]["errors"] == []
    assert redeemed["redeemReward"]["redemption"]["points"] == cheapest["costPoints"]
    assert donated["donatePoints"]["errors"] == []
    assert donated["donatePoints"]["donation"]["points"] == cause["minDonation"]
    after = _data(await execute(app, CATALOG, as_=maya))["me"]["points"]["available"]
    assert after == balance - cheapest["costPoints"] - cause["minDonation"]
