"""A backend that cannot be reached at start-up: `loyalty serve` and the commands that connect
exit non-zero, promptly, with one line naming the setting, the host and port and the cause;
the traceback only with `--debug` or `LOYALTY_LOG_LEVEL=debug`. Run as people run them, in a
child process, against ports nobody listens on."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette

from server.cli import EXIT_BACKEND_UNAVAILABLE

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The bound: the process is gone within this many seconds.
_EXIT_WITHIN_SECONDS = 10


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


async def _loyalty(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the command; raises TimeoutExpired (and kills it) when it has not exited in time."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", *args],
        cwd=_PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=_EXIT_WITHIN_SECONDS,
        check=False,
    )


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "LOYALTY_" in line]


@pytest.fixture
def redis_down_env(app: Starlette, service_env: dict[str, str]) -> tuple[dict[str, str], int]:
    """The test database (migrated by `app`) and a Redis port nobody listens on."""
    port = _closed_port()
    return {**service_env, "LOYALTY_REDIS_URL": f"redis://127.0.0.1:{port}/0"}, port


@pytest.fixture
def database_down_env(service_env: dict[str, str]) -> tuple[dict[str, str], int]:
    """A PostgreSQL URL, with a password, at a port nobody listens on."""
    port = _closed_port()
    url = f"postgres://loyalty:hunter2-secret@127.0.0.1:{port}/loyalty"
    return {**service_env, "LOYALTY_DATABASE_URL": url}, port


async def test_serve_exits_when_redis_cannot_be_reached(
    redis_down_env: tuple[dict[str, str], int],
) -> None:
    # given
    env, redis_port = redis_down_env

    # when: the database is reached (and opened) first, then Redis fails
    result = await _loyalty(env, "serve", "--port", str(_closed_port()))

    # then
    assert result.returncode == EXIT_BACKEND_UNAVAILABLE, result.stderr
    assert _error_lines(result.stderr) == [
        f"ERROR:    LOYALTY_REDIS_URL: cannot use Redis at 127.0.0.1:{redis_port}: "
        "connection refused (is it running, on that port?)"
    ]
    assert "Traceback" not in result.stderr


async def test_serve_exits_when_the_database_cannot_be_reached(
    database_down_env: tuple[dict[str, str], int],
) -> None:
    env, database_port = database_down_env

    result = await _loyalty(env, "serve", "--port", str(_closed_port()))

    assert result.returncode == EXIT_BACKEND_UNAVAILABLE, result.stderr
    [line] = _error_lines(result.stderr)
    assert f"LOYALTY_DATABASE_URL: cannot use the database at 127.0.0.1:{database_port}" in line
    assert "connection refused" in line
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


async def test_serve_with_several_workers_exits_before_starting_them(
    redis_down_env: tuple[dict[str, str], int],
) -> None:
    env, redis_port = redis_down_env

    result = await _loyalty(env, "serve", "--workers", "2", "--port", str(_closed_port()))

    assert result.returncode == EXIT_BACKEND_UNAVAILABLE, result.stderr
    assert result.stderr.splitlines() == [
        f"LOYALTY_REDIS_URL: cannot use Redis at 127.0.0.1:{redis_port}: "
        "connection refused (is it running, on that port?)"
    ]


async def test_serve_on_a_database_never_migrated_says_to_migrate(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**service_env, "LOYALTY_DATABASE_URL": f"sqlite://{tmp_path}/new.sqlite3"}

    result = await _loyalty(env, "serve", "--port", str(_closed_port()))

    assert result.returncode == EXIT_BACKEND_UNAVAILABLE, result.stderr
    assert _error_lines(result.stderr) == [
        f"ERROR:    LOYALTY_DATABASE_URL: cannot use the database at {tmp_path}/new.sqlite3: "
        "it has no tables yet (run `loyalty migrate` first)"
    ]


@pytest.mark.parametrize(
    ("extra_env", "extra_args"),
    [({}, ["--debug"]), ({"LOYALTY_LOG_LEVEL": "debug"}, [])],
    ids=["flag", "setting"],
)
async def test_debug_shows_the_traceback(
    redis_down_env: tuple[dict[str, str], int],
    extra_env: dict[str, str],
    extra_args: list[str],
) -> None:
    env, _ = redis_down_env

    result = await _loyalty(
        {**env, **extra_env}, "serve", *extra_args, "--port", str(_closed_port())
    )

    assert result.returncode == EXIT_BACKEND_UNAVAILABLE, result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "ConnectionRefusedError" in result.stderr


@pytest.mark.parametrize(
    "command",
    [["migrate"], ["seed"], ["token", "--member", "maya@example.com"], ["verify-ledger"]],
    ids=lambda command: command[0],
)
async def test_commands_that_connect_exit_with_one_line(
    database_down_env: tuple[dict[str, str], int], command: list[str]
) -> None:
    env, database_port = database_down_env

    result = await _loyalty(env, *command)

    assert result.returncode == EXIT_BACKEND_UNAVAILABLE, result.stderr
    assert result.stderr.splitlines() == [
        f"LOYALTY_DATABASE_URL: cannot use the database at 127.0.0.1:{database_port}: "
        "connection refused (is it running, on that port?)"
    ]
    assert result.stdout == ""


async def test_a_command_with_debug_prints_the_traceback_too(
    database_down_env: tuple[dict[str, str], int],
) -> None:
    env, _ = database_down_env

    result = await _loyalty(env, "migrate", "--debug")

    assert result.returncode == EXIT_BACKEND_UNAVAILABLE
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("LOYALTY_DATABASE_URL: ")
