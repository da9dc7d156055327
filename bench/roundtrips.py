"""Every database round trip of one GraphQL request, listed with the code that caused it.

    .venv/bin/python -m bench.roundtrips --database-url postgres://postgres@127.0.0.1:5432/rt
    .venv/bin/python -m bench.roundtrips                      # a throwaway SQLite file
    .venv/bin/python -m bench.roundtrips --rows recordPurchase,redeemReward   # some rows only

Prepares the database like bench/run.py (migrate, seed, the rows' prepare tasks), then serves
the app in this process (httpx ASGITransport, lifespan included) and sends the benchmark rows'
requests: a few unrecorded ones to warm the per-connection caches, then one recorded request per
row, or per step of a row of several (the kiosk pair); the write rows act for a single member,
so the warm-up also brings its derived state up to date. Unlike bench/run.py, this imports the
application: it instruments the database driver.

PostgreSQL: asyncpg's Connection is wrapped, so each message exchange with the server is one
line: `simple` (simple-query protocol: BEGIN, COMMIT, the pool's reset on release), `prepare`
(a statement not yet in that connection's cache: absent once warm) and `execute` (bind+execute of
a prepared statement). SQLite: each call into aiosqlite's thread is one line (no network, so a
"round trip" there is a thread hop: the statement, or a fetch/commit). Redis: one `redis` line
per write to its socket, with the commands it carried (a pipeline is one round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scenarios import SCENARIOS, TOKEN_SOURCES, Facts, Scenario, select
from bench.serverctl import REPO_ROOT, run_cli, server_environment

ROWS: Final = (
    "recordPurchase",
    "spend (adjustPoints −)",
    "redeemReward",
    "kiosk-pair",
    "donatePoints",
    "ledger-page-deep",
    "home-screen",
)
WARMUP_REQUESTS: Final = 5
_SPACES: Final = re.compile(r"\s+")


@dataclass(frozen=True)
class Trip:
    kind: str  # simple / prepare / execute / sqlite
    sql: str
    where: str  # the innermost project frame that caused it


class Recorder:
    """Collects trips while `recording` is set (from any thread: SQLite traces from its own)."""

    def __init__(self) -> None:
        self.trips: list[Trip] = []
        self.recording = False
        self._lock = threading.Lock()

    def add(self, kind: str, sql: str) -> None:
        if not self.recording:
            return
        trip = Trip(kind, _SPACES.sub(" ", sql).strip(), _caller())
        with self._lock:
            self.trips.append(trip)

    @contextmanager
    def record(self) -> Iterator[list[Trip]]:
        self.trips = []
        self.recording = True
        try:
            yield self.trips
        finally:
            self.recording = False


def _caller() -> str:
    """file:line function of the innermost frame in the project (not the venv, not this file)."""
    this = Path(__file__).resolve()
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        if not path.is_relative_to(REPO_ROOT) or ".venv" in path.parts or path == this:
            continue
        return f"{path.relative_to(REPO_ROOT)}:{frame.lineno} {frame.name}"
    return "(driver)"


def instrument_asyncpg(recorder: Recorder) -> None:
    import asyncpg.connection

    connection_class: Any = asyncpg.connection.Connection
    original_execute = connection_class.execute
    original_get_statement = connection_class._get_statement
    original_do_execute = connection_class._do_execute

    async def execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args:  # with arguments, execute() goes through _do_execute below
            recorder.add("simple", query)
        return await original_execute(self, query, *args, **kwargs)

    async def get_statement(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        record_class = kwargs.get("record_class") or self._protocol.get_record_class()
        key = (query, record_class, kwargs.get("ignore_custom_codec", False))
        if not kwargs.get("use_cache", True) or self._stmt_cache.get(key) is None:
            recorder.add("prepare", query)
        return await original_get_statement(self, query, *args, **kwargs)

    async def do_execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        recorder.add("execute", query)
        return await original_do_execute(self, query, *args, **kwargs)

    connection_class.execute = execute
    connection_class._get_statement = get_statement
    connection_class._do_execute = do_execute


def instrument_sqlite(recorder: Recorder) -> None:
    import aiosqlite.core

    connection_class: Any = aiosqlite.core.Connection
    original = connection_class._execute

    async def hop(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Every aiosqlite call is one hop to its thread: the statement, or what else it does.
        sql = next((a for a in args if isinstance(a, str)), None)
        recorder.add("sqlite", sql or f"({getattr(fn, '__name__', 'call')})")
        return await original(self, fn, *args, **kwargs)

    connection_class._execute = hop


_RESP_COMMAND: Final = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")


def instrument_redis(recorder: Recorder) -> None:
    """One line per write to a Redis socket: a command, or a whole pipeline (one round trip)."""
    import redis.asyncio.connection

    connection_class: Any = redis.asyncio.connection.AbstractConnection
    original = connection_class.send_packed_command

    async def send(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(command, str):
            packed = command.encode()
        elif isinstance(command, bytes):
            packed = command
        else:
            packed = b"".join(bytes(part) for part in command)
        names = [name.decode().upper() for name in _RESP_COMMAND.findall(packed)]
        recorder.add("redis", " ".join(names) or "(command)")
        return await original(self, command, *args, **kwargs)

    connection_class.send_packed_command = send


def _token(env: Mapping[str, str], kind: str) -> str:
    return run_cli(env, "token", *TOKEN_SOURCES[kind]).strip()


def _print_trips(name: str, trips: list[Trip], answer: str) -> None:
    print(f"\n## {name}: {len(trips)} round trips")
    print(f"answer: {answer[:160]}")
    width = max((len(t.where) for t in trips), default=0)
    for number, trip in enumerate(trips, start=1):
        sql = trip.sql if len(trip.sql) <= 110 else trip.sql[:107] + "..."
        print(f"{number:3d}  {trip.kind:<7}  {trip.where.ljust(width)}  {sql}")
    counts: dict[str, int] = {}
    for trip in trips:
        counts[trip.kind] = counts.get(trip.kind, 0) + 1
    resets = sum(1 for t in trips if "pg_advisory_unlock_all" in t.sql)
    transaction = sum(
        1 for t in trips if t.sql.rstrip(";").upper() in ("BEGIN", "COMMIT", "(COMMIT)")
    )
    summary = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
    print(f"by kind: {summary}; pool resets {resets}; BEGIN/COMMIT {transaction}")


async def trace(
    env: Mapping[str, str], facts: dict[str, Facts], postgres: bool, rows: tuple[str, ...]
) -> None:
    import httpx

    from server.app import create_app
    from server.settings import Settings

    recorder = Recorder()
    instrument_redis(recorder)
    if postgres:
        instrument_asyncpg(recorder)
    else:
        instrument_sqlite(recorder)
    app = create_app(Settings())
    tokens = {kind: _token(env, kind) for r in rows for kind in SCENARIOS[r].token_kinds}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):

        async def post(path: str, body: bytes | None, token: str | None) -> str:
            headers = {"content-type": "application/json"}
            if token is not None:
                headers["authorization"] = f"Bearer {token}"
            response = await client.post(path, content=body, headers=headers)
            return response.text

        async def send(scenario: Scenario, unique_id: str, label: str | None = None) -> None:
            """The row's request, then its steps' (each from the answer before); with a
            label, each request's trips are recorded and printed."""
            row_facts = facts.get(scenario.name, {})
            token = (
                row_facts[scenario.callers][0]
                if scenario.callers
                else tokens.get(scenario.token or "")
            )
            body = scenario.body(unique_id, row_facts)
            answer = ""
            for number, step in enumerate((None, *scenario.steps), start=1):
                if step is not None:
                    data = json.loads(answer)["data"]
                    body = step.body(f"{unique_id}-{number}", row_facts, data)
                    token = tokens.get(step.token or "")
                with recorder.record() as trips:
                    answer = await post(scenario.path, body, token)
                if label is not None:
                    part = f" (request {number})" if scenario.steps else ""
                    _print_trips(f"{label}{part}", list(trips), answer)

        run_id = secrets.token_hex(4)
        # One member per row, so that the warm-up brings that member's derived state (its
        # leaderboard places) up to date and the traced request takes the steady-state path.
        facts = {
            name: {
                key: value[:1] if key in ("members", SCENARIOS[name].callers) else value
                for key, value in row.items()
            }
            for name, row in facts.items()
        }
        for name in rows:
            scenario = SCENARIOS[name]
            for n in range(WARMUP_REQUESTS):
                await send(scenario, f"rt-{run_id}-warm-{n}")
            await send(scenario, f"rt-{run_id}-traced", label=name)


def _prepare(env: Mapping[str, str], rows: tuple[str, ...]) -> dict[str, Facts]:
    run_cli(env, "migrate")
    run_cli(env, "seed")
    facts: dict[str, Facts] = {}
    for name in rows:
        hook = SCENARIOS[name].prepare
        if hook is not None:
            facts[name] = hook(env) or {}
    return facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: a throwaway SQLite file")
    parser.add_argument(
        "--redis-url", default="memory://", help="redis://... counts real Redis round trips"
    )
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help="comma-separated rows of bench/scenarios.py to trace (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    rows = tuple(scenario.name for scenario in select(args.rows))
    with tempfile.TemporaryDirectory(prefix="loyalty-rt-") as tmp:
        url = args.database_url or f"sqlite://{tmp}/rt.sqlite3"
        env = server_environment(url, args.redis_url, secrets.token_urlsafe(48))
        facts = _prepare(env, rows)
        # The app reads its settings from the environment, like the server would.
        os.environ.update(env)
        postgres = url.startswith(("postgres://", "postgresql://", "asyncpg://"))
        print(f"# round trips per request ({'PostgreSQL' if postgres else 'SQLite'})")
        asyncio.run(trace(env, facts, postgres, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
