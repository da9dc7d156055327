"""The `loyalty` command. Commands that touch the database run in a child process, as people
run them: in this process the test app already holds Tortoise's global context, which a second
`Tortoise.init` would replace."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from server import cli
from server.settings import Environment, Settings
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
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    production = Settings(
        environment=Environment.PRODUCTION,
        jwt_secret="a-production-secret-of-at-least-32-bytes",  # type: ignore[arg-type]
    )
    monkeypatch.setattr(cli, "get_settings", lambda: production)

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
