"""`loyalty rebuild-leaderboards` and `loyalty check-leaderboards`, run as people run them (in a
child process). They work on the Redis the server uses, which `memory://` is not: on the
embedded pass they get a Redis stand-in over TCP of their own. The points below are written
without the after-commit update, so the boards start empty on both backends."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeredis import TcpFakeServer

from gamification.challenges.models import GoalType
from gamification.events.models import EventKind
from tests.factories import (
    create_challenge,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
)

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def _loyalty(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", *args],
        cwd=_PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def shared_env(service_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`service_env` with a Redis that every process reaches over TCP."""
    if not service_env["LOYALTY_REDIS_URL"].startswith("memory://"):
        yield service_env
        return
    server = TcpFakeServer(("127.0.0.1", 0))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield {
            **service_env,
            "LOYALTY_REDIS_URL": f"redis://127.0.0.1:{server.server_address[1]}/0",
        }
    finally:
        server.shutdown()
        server.server_close()
        serving.join()


async def _points_nobody_ranked() -> None:
    await create_earn_rule(points_per_unit="1")
    device = await create_device()
    for amount in ("10.00", "20.00"):
        await create_purchase(member=await create_member(), recorded_by=device, amount=amount)


async def test_check_reports_what_the_boards_miss_and_exits_1(
    shared_env: dict[str, str],
) -> None:
    # given
    await _points_nobody_ranked()

    # when
    result = await _loyalty(shared_env, "check-leaderboards")

    # then: two members, each missing from the all-time, weekly and monthly boards
    assert result.returncode == 1, result.stderr
    assert result.stdout.count("missing from the board") == 6
    assert "6 differences from the ledger." in result.stdout
    assert result.stderr == ""  # no progress bar on a pipe (tests/server/test_cli.py)


async def test_rebuild_makes_the_boards_equal_the_ledger(shared_env: dict[str, str]) -> None:
    # given
    await _points_nobody_ranked()

    # when
    result = await _loyalty(shared_env, "rebuild-leaderboards")

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(2 members): 6 places fixed" in result.stdout
    assert "The boards equal the ledger." in result.stdout
    assert result.stderr == ""


async def test_check_passes_on_an_empty_program(shared_env: dict[str, str]) -> None:
    result = await _loyalty(shared_env, "check-leaderboards")

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "The boards equal the ledger (0 members) and the challenge progress (0 challenge boards)."
        in result.stdout
    )


async def test_an_unreachable_redis_exits_3(service_env: dict[str, str]) -> None:
    env = {**service_env, "LOYALTY_REDIS_URL": "redis://127.0.0.1:1/0"}

    for command in ("rebuild-leaderboards", "check-leaderboards"):
        result = await _loyalty(env, command)

        assert result.returncode == 3
        assert result.stderr.startswith("LOYALTY_REDIS_URL: cannot use Redis at 127.0.0.1:1: ")


async def test_challenge_boards_are_checked_and_rebuilt_from_the_progress(
    shared_env: dict[str, str],
) -> None:
    # given: two members' progress in a challenge, written without the after-commit update
    challenge = await create_challenge(
        goal_type=GoalType.SUM, target="100", event_kind=EventKind.PURCHASE_RECORDED
    )
    await _points_nobody_ranked()
    board = f"challenge:{challenge.id} all"

    # when
    checked = await _loyalty(shared_env, "check-leaderboards")
    rebuilt = await _loyalty(shared_env, "rebuild-leaderboards")

    # then
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout.count(f"{board} member") == 2
    assert "missing from the board; progress 10" in checked.stdout
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "(2 members): 8 places fixed" in rebuilt.stdout
    assert "Challenge boards recomputed from the challenge progress: 1." in rebuilt.stdout
    assert "The boards equal the ledger." in rebuilt.stdout  # its own check, after the rebuild
