"""The docs' examples run, so they cannot drift from the API.

Every fenced ```graphql block of README.md and docs/*.md is executed against the schema, on the
demo program (`server.seed`), by the caller its first line names:

    # as: member maya@example.com      (or admin / staff with their email: a member row)
    # as: device City Centre kiosk 1   (a device, by name)
    # as: nobody                       (no credential)

An optional next line gives variables as JSON; a string `{{Reward: Free coffee}}` in it becomes
that row's global ID (Reward and Cause by name, Challenge by title). A block fails on any
GraphQL error and on any non-empty `errors` list in its data (a refused mutation). A
subscription's first message is read. Blocks run in the order they appear, README first.

Shell blocks (```sh) and inline code that name `loyalty <command>` are parsed by the CLI's own
parser, and `loyalty <command> --help` must succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import OperationType, parse
from graphql.language import OperationDefinitionNode
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.causes.models import Cause
from gamification.challenges.models import Challenge
from gamification.leaderboards import reconcile
from gamification.ledger import accounts
from gamification.members.models import Member
from gamification.rewards.models import Reward
from gamification.stores.models import Device
from schema.context import Context
from schema.relay import to_global_id
from server import cli
from server.seed import seed_demo_program
from tests.conftest import _empty_tables
from tests.factories import actor_of, schema_for
from tests.process_caches import forget_process_caches

_ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [_ROOT / "README.md", *sorted((_ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_AS = re.compile(r"^#\s*as:\s*(nobody|member|admin|staff|device)\s*(.*?)\s*$")
_VARIABLES = re.compile(r"^#\s*variables:\s*(\{.*\})\s*$")
_ROW = re.compile(r"\{\{(Reward|Cause|Challenge):\s*([^}]+?)\s*\}\}")
_INLINE_LOYALTY = re.compile(r"`(?:\.venv/bin/)?loyalty ([a-z][a-z-]*)([^`]*)`")
_SHELL_LOYALTY = re.compile(r"(?:^|\s|/)loyalty ([a-z][a-z-]*)([^&|;#\n]*)", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    where: str  # file:line, the test's id
    caller: tuple[str, str]
    variables: str | None
    document: str


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _examples() -> list[Example]:
    found = []
    for path in DOC_FILES:
        text = path.read_text()
        for match in _FENCE.finditer(text):
            if match.group(1) != "graphql":
                continue
            where = f"{path.relative_to(_ROOT)}:{_line_of(text, match.start())}"
            lines = match.group(2).splitlines()
            caller = _AS.match(lines[0]) if lines else None
            if caller is None:
                raise AssertionError(f"{where}: the first line must be `# as: <caller>`")
            variables = _VARIABLES.match(lines[1]) if len(lines) > 1 else None
            found.append(
                Example(
                    where=where,
                    caller=(caller.group(1), caller.group(2)),
                    variables=variables.group(1) if variables else None,
                    document=match.group(2),
                )
            )
    return found


def _cli_commands() -> list[tuple[str, list[str]]]:
    """Every `loyalty <command> [options]` the docs name (in inline code or a shell block),
    with where it is named. A `<placeholder>` stands for a value (1)."""
    found = []
    for path in DOC_FILES:
        text = path.read_text()
        matches = list(_INLINE_LOYALTY.finditer(text))
        for block in _FENCE.finditer(text):
            if block.group(1) == "sh":
                matches += _SHELL_LOYALTY.finditer(text, block.start(2), block.end(2))
        for match in matches:
            where = f"{path.relative_to(_ROOT)}:{_line_of(text, match.start())}"
            words = shlex.split(match.group(2).replace("\\", " "))
            argv = ["1" if w.startswith("<") else w for w in words]  # any value
            found.append((where, [match.group(1), *argv]))
    return sorted(found)


EXAMPLES = _examples()


@pytest.fixture(autouse=True)
async def clean_state() -> None:
    """Replaces the suite's per-test cleaning: the demo program lives for the module."""


@pytest.fixture(scope="module", autouse=True)
async def demo_program(app: Starlette, redis: Redis) -> AsyncIterator[None]:
    await seed_demo_program()
    await reconcile.rebuild(redis)  # as the server does at start with `memory://`
    yield
    await _empty_tables()
    forget_process_caches()
    await accounts.program_account_id()
    await redis.flushdb()


async def _caller(kind: str, name: str) -> Member | Device | None:
    if kind == "nobody":
        return None
    if kind == "device":
        return await Device.get(name=name)
    return await Member.get(email=name)


async def _global_id(match: re.Match[str]) -> str:
    kind, name = match.group(1), match.group(2)
    if kind == "Reward":
        row: Any = await Reward.get(name=name)
    elif kind == "Cause":
        row = await Cause.get(name=name)
    else:
        row = await Challenge.get(title=name)
    return to_global_id(kind, row.id)


async def _variables(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    for match in list(_ROW.finditer(raw)):
        raw = raw.replace(match.group(0), await _global_id(match))
    variables: dict[str, Any] = json.loads(raw)
    return variables


def _refusals(data: Any, path: str = "") -> list[str]:
    """Non-empty `errors` lists anywhere in the data (mutation payloads)."""
    if isinstance(data, dict):
        found = []
        for key, value in data.items():
            if key == "errors" and value:
                found.append(f"{path}: {value}")
            else:
                found += _refusals(value, f"{path}.{key}")
        return found
    if isinstance(data, list):
        return [r for item in data for r in _refusals(item, path)]
    return []


def _is_subscription(document: str) -> bool:
    return any(
        isinstance(d, OperationDefinitionNode) and d.operation is OperationType.SUBSCRIPTION
        for d in parse(document).definitions
    )


async def _first_message(stream: AsyncGenerator[Any, None]) -> Any:
    try:
        async with asyncio.timeout(5):
            return await anext(stream)
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where for e in EXAMPLES])
async def test_the_example_runs(app: Starlette, example: Example) -> None:
    # given
    caller = await _caller(*example.caller)
    context = Context(
        settings=app.state.settings,
        redis=app.state.redis,
        actor=actor_of(caller) if caller else None,
        feed=app.state.broker,
    )
    schema = schema_for(app.state.settings)
    variables = await _variables(example.variables)

    # when
    if _is_subscription(example.document):
        stream = await schema.subscribe(
            example.document, variable_values=variables, context_value=context
        )
        assert isinstance(stream, AsyncGenerator), stream
        result = await _first_message(stream)
    else:
        result = await schema.execute(
            example.document, variable_values=variables, context_value=context
        )

    # then
    assert result.errors is None, f"{example.where}: {result.errors}"
    assert result.data, example.where
    refusals = _refusals(result.data)
    assert not refusals, f"{example.where}: {refusals}"


def test_the_docs_have_graphql_examples() -> None:
    assert len(EXAMPLES) >= 10
    assert {e.where.split(":")[0] for e in EXAMPLES} >= {"README.md"}


COMMANDS = _cli_commands()


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_the_cli_command_named_in_the_docs_exists(
    where: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # given
    parser = cli.build_parser()

    # when: its options as written parse (when some are written), and its help prints
    if len(argv) > 1:
        parser.parse_args(argv)
    with pytest.raises(SystemExit) as help_exit:
        parser.parse_args([argv[0], "--help"])

    # then
    assert help_exit.value.code == 0, where
    assert argv[0] in capsys.readouterr().out
