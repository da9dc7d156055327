"""The `loyalty` command. Commands that touch the database run in a child process, as people
run them: in this process the test app already holds Tortoise's global context, which a second
`Tortoise.init` would replace."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest

from schema.relay import to_global_id
from server import cli
from server.settings import Settings, get_settings
from tests.factories import TEST_JWT_SECRET, create_device, create_member

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def _loyalty(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", *args],
        cwd=_PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


SetEnvironment = Callable[..., None]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[SetEnvironment]:
    """`environment(REDIS_URL="memory://")`: LOYALTY_* variables for the command, as a person
    would set them (the CLI reads its settings from the environment, once per command)."""

    def set_variables(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"LOYALTY_{name}", value)
        get_settings.cache_clear()

    yield set_variables
    get_settings.cache_clear()


def test_export_schema_writes_the_sdl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given
    output = tmp_path / "schema.graphql"

    # when
    status = cli.main(["export-schema", "--output", str(output)])

    # then
    assert status == 0
    sdl = output.read_text()
    assert "type Query" in sdl
    assert "type Mutation" in sdl
    assert "signUp(" in sdl
    assert str(output) in capsys.readouterr().out


def test_token_refuses_to_mint_in_production(
    environment: SetEnvironment, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    environment(ENVIRONMENT="production", JWT_SECRET="a-production-secret-of-at-least-32-bytes")

    # when
    status = cli.main(["token", "--member", "maya@example.com"])

    # then
    assert status == 2
    assert capsys.readouterr().out == ""


def test_token_needs_a_member_or_a_device() -> None:
    with pytest.raises(SystemExit):
        cli.main(["token"])


async def test_token_for_an_unknown_member_returns_1(service_env: dict[str, str]) -> None:
    # given
    await create_member(email="maya@example.com")

    # when
    result = await _loyalty(service_env, "token", "--member", "nobody@example.com")

    # then
    assert result.returncode == 1
    assert result.stdout == ""
    assert "No such member" in result.stderr


async def test_token_mints_a_token_for_a_known_member(
    service_env: dict[str, str], settings: Settings
) -> None:
    # given
    member = await create_member(email="maya@example.com")

    # when
    result = await _loyalty(service_env, "token", "--member", "Maya@Example.com")

    # then
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(
        result.stdout.strip(),
        TEST_JWT_SECRET,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert claims["sub"] == str(member.id)
    assert claims["typ"] == "access"


async def test_token_for_a_revoked_device_returns_1(service_env: dict[str, str]) -> None:
    kiosk = await create_device(revoked=True)

    result = await _loyalty(service_env, "token", "--device", str(kiosk.id))

    assert result.returncode == 1
    assert result.stdout == ""


async def test_token_takes_the_device_id_the_api_returns(
    service_env: dict[str, str], settings: Settings
) -> None:
    # given
    kiosk = await create_device()

    # when
    result = await _loyalty(service_env, "token", "--device", to_global_id("Device", kiosk.id))

    # then
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(
        result.stdout.strip(),
        TEST_JWT_SECRET,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert claims["sub"] == str(kiosk.id)


@pytest.mark.parametrize("form", ["number", "global"])
async def test_token_takes_a_member_by_id(
    service_env: dict[str, str], settings: Settings, form: str
) -> None:
    member = await create_member(email="maya@example.com")
    member_id = str(member.id) if form == "number" else to_global_id("Member", member.id)

    result = await _loyalty(service_env, "token", "--member", member_id)

    assert result.returncode == 0, result.stderr
    claims = jwt.decode(
        result.stdout.strip(),
        TEST_JWT_SECRET,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert claims["sub"] == str(member.id)


@pytest.mark.parametrize(
    "value",
    [to_global_id("Member", 1), "not-an-id", "0", "-3"],
    ids=["another-type", "garbage", "zero", "negative"],
)
def test_token_refuses_what_is_not_a_device_id(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["token", "--device", value])

    assert exited.value.code == 2
    assert (
        f"argument --device: {value!r} is not a device id: give its number (1) or the ID the "
        "API returns (RGV2aWNlOjE)" in capsys.readouterr().err
    )


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_every_command_and_option_explains_itself() -> None:
    parser = cli.build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {action.dest: action.help for action in commands._choices_actions}

    assert set(summaries) == set(_subcommands())
    for name, command in _subcommands().items():
        assert summaries[name], f"{name} has no summary in `loyalty --help`"
        assert len(command.description or "") > len(summaries[name] or ""), (
            f"`loyalty {name} --help` says no more than its summary"
        )
        for option in command._actions:
            assert option.help, f"loyalty {name} {option.option_strings} has no help"


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.main([*args, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # unwrapped


def test_serve_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "serve")

    assert "--host HOST address to listen on (default: 127.0.0.1)" in text
    assert "--port PORT port to listen on (default: 8000)" in text
    assert "(SO_REUSEPORT) (default: 1)" in text
    assert "(default: LOYALTY_LOG_LEVEL, else info)" in text
    assert "(default: False)" not in text  # flags say what they do instead
    assert "cannot be reached" in text  # the description


def test_export_schema_help_shows_the_default_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--output OUTPUT file to write (default: schema.graphql)" in _help(
        capsys, "export-schema"
    )


@pytest.mark.parametrize("command", ["check-leaderboards", "rebuild-leaderboards"])
def test_leaderboard_commands_refuse_the_in_process_redis(
    environment: SetEnvironment, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # given: the default, a Redis that lives inside each process
    environment(REDIS_URL="memory://")

    # when
    status = cli.main([command])

    # then
    assert status == 2
    output = capsys.readouterr()
    assert output.out == ""
    assert output.err.startswith(
        f"loyalty {command} works on the Redis the server uses, but LOYALTY_REDIS_URL is memory://"
    )
    assert "Set LOYALTY_REDIS_URL to the server's Redis" in output.err


def test_serve_refuses_unsafe_production_settings_in_one_line(
    environment: SetEnvironment, capsys: pytest.CaptureFixture[str]
) -> None:
    environment(ENVIRONMENT="production")

    status = cli.main(["serve"])

    assert status == 2
    assert capsys.readouterr().err == (
        "LOYALTY_JWT_SECRET must be set to a private value of at least 32 bytes in production\n"
    )


async def test_a_bad_setting_is_named_in_one_line_and_exits_2(
    service_env: dict[str, str],
) -> None:
    env = {**service_env, "LOYALTY_MAX_PAGE_SIZE": "lots", "LOYALTY_ENVIRONMENT": "prod"}

    result = await _loyalty(env, "migrate")

    assert result.returncode == 2
    assert result.stdout == ""
    assert sorted(result.stderr.splitlines()) == [
        "LOYALTY_ENVIRONMENT: expected 'development' or 'production', got 'prod'",
        "LOYALTY_MAX_PAGE_SIZE: expected an integer, got 'lots'",
    ]


def _run_with_stderr_on_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Runs the command with a pseudo-terminal as its stderr: (exit status, what it drew)."""
    controller, terminal = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, into which tqdm draws nothing.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", *args],
            cwd=_PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
        )
    finally:
        os.close(terminal)
    drawn = bytearray()
    try:
        while chunk := os.read(controller, 4096):
            drawn += chunk
    except OSError:
        pass  # EIO: the command closed its end of the terminal
    finally:
        os.close(controller)
    return process.wait(timeout=60), drawn.decode(errors="replace")


async def test_progress_bars_are_drawn_on_a_terminal_only(service_env: dict[str, str]) -> None:
    # given
    await create_member()

    # when
    piped = await _loyalty(service_env, "verify-ledger")
    status, drawn = await asyncio.to_thread(
        _run_with_stderr_on_a_terminal, service_env, "verify-ledger"
    )

    # then
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    assert status == 0, drawn
    assert "verifying" in drawn
