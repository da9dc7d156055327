"""Benchmark the GraphQL API: start the real server, load it with concurrent clients, print a table.

    .venv/bin/python bench/run.py                           # SQLite + in-process Redis, 1 worker
    .venv/bin/python bench/run.py --workers 2 \\
        --database-url postgres://postgres@127.0.0.1:5432/loyalty_bench \\
        --redis-url redis://127.0.0.1:6379/14
    .venv/bin/python bench/run.py --only typename,healthz   # pick rows; --list shows them all

Each row: a warm-up, then `--duration` seconds of `--concurrency` keep-alive connections in a
closed loop. req/s counts successful answers; p50/p99 are their latencies. An answer counts as
an error when its status is not 200 or its body carries GraphQL "errors" (at the top level or in
a mutation payload). A row of several requests in sequence (the kiosk pair) counts completed
sequences instead: its req/s is sequences/s, its latency that of the whole sequence, and a
failure at any step is one error. "gen CPU" is the load generator's own CPU (100% = one core):
when it nears 100% per process, the client is the limit. Compare rows as ratios within one run:
absolute figures drift between runs and machines.

The pgbench row (PostgreSQL only) runs TPC-B with as many clients as --concurrency on a scratch
database of the same server, created and dropped by the run; its req/s is pgbench's own tps
and "gen CPU" is pgbench's. The ledger-page rows bulk-load 1,000,000 entries once per database.

The database is migrated and seeded (both idempotent) but never emptied, and a Redis given with
--redis-url is not flushed: point them at a database and a Redis db number kept for benchmarks.
Exit status: 0, 1 when a row had errors, 2 when the server could not be set up, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):
    # Run as `python bench/run.py`: make `bench` importable as a package from the repo root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import LoadGenerator, LoadGeneratorError, Outcome
from bench.report import Row, as_json, ratios, redact, table
from bench.scenarios import SCENARIOS, TOKEN_SOURCES, ExternalRun, Facts, Scenario, select
from bench.serverctl import (
    REPO_ROOT,
    BenchSetupError,
    free_port,
    run_cli,
    running_server,
    server_environment,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=50, help="open connections")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds per row")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="load-generator processes sharing the connections (one did 45k req/s at 60%% CPU)",
    )
    parser.add_argument(
        "--database-url", help="default: a throwaway SQLite file in a temporary directory"
    )
    parser.add_argument("--redis-url", default="memory://", help="default: in-process stand-in")
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--only", help="comma-separated rows to run, in that order")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10,
        help="seconds a request may stay unanswered after the window before it is an error",
    )
    return parser


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    for name in ("workers", "concurrency", "processes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.duration <= 0 or args.warmup < 0 or args.timeout <= 0:
        parser.error("--duration and --timeout must be positive, --warmup not negative")
    if args.workers > 1 and args.redis_url.startswith("memory://"):
        # Each worker would get its own in-process Redis: state kept there (leaderboards)
        # diverges between workers, and the repairs that follow are what gets measured.
        _progress(
            "warning: --workers > 1 with the in-process Redis stand-in: each worker gets its "
            "own; give --redis-url redis://... for figures that mean something"
        )


def _list_rows() -> str:
    width = max(len(name) for name in SCENARIOS)
    return "\n".join(
        f"{s.name.ljust(width)}  {'default' if s.default else '       '}  {s.description}"
        + (" (PostgreSQL only)" if s.postgres_only else "")
        for s in SCENARIOS.values()
    )


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None


def _progress(message: str) -> None:
    # Progress goes to stderr so stdout holds only the report.
    print(message, file=sys.stderr, flush=True)


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


@dataclass(frozen=True)
class Prepared:
    tokens: dict[str, str]  # by kind (TOKEN_SOURCES)
    facts: dict[str, Facts]  # by row name


def prepare(env: dict[str, str], scenarios: list[Scenario]) -> Prepared:
    """Migrate, seed, run the rows' own preparation; the tokens and facts the rows need."""
    _progress("preparing: loyalty migrate, loyalty seed")
    run_cli(env, "migrate")
    run_cli(env, "seed")
    facts: dict[str, Facts] = {}
    for scenario in scenarios:
        if scenario.prepare is not None:
            _progress(f"preparing data for {scenario.name}")
            facts[scenario.name] = scenario.prepare(env) or {}
    kinds = {kind for s in scenarios for kind in s.token_kinds}
    tokens = {kind: run_cli(env, "token", *TOKEN_SOURCES[kind]).strip() for kind in sorted(kinds)}
    return Prepared(tokens=tokens, facts=facts)


def runnable(scenarios: list[Scenario], database_url: str | None) -> list[Scenario]:
    """The rows this database can run; says which it leaves out."""
    kept = []
    for scenario in scenarios:
        if scenario.postgres_only and (database_url is None or not is_postgres(database_url)):
            _progress(f"skipping {scenario.name}: it needs --database-url postgres://...")
            continue
        kept.append(scenario)
    return kept


def run_external(
    scenario: Scenario,
    args: argparse.Namespace,
    env: dict[str, str],
    database_url: str,
    workdir: str,
) -> Row:
    """The row of an outside tool; a failure is a failed row, not the end of the run."""
    assert scenario.external is not None
    run = ExternalRun(
        env=env,
        database_url=database_url,
        concurrency=args.concurrency,
        warmup=args.warmup,
        duration=args.duration,
        workdir=Path(workdir),
    )
    try:
        result = scenario.external(run)
    except BenchSetupError as exc:
        failed = Outcome()
        failed.error(str(exc).replace("\n", " | ")[:300])
        return Row.of(scenario, failed, args.duration)
    return Row.of(scenario, result.outcome, result.seconds, result.rps)


def bench(args: argparse.Namespace, scenarios: list[Scenario]) -> int:
    scenarios = runnable(scenarios, args.database_url)
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as tmp:
        database_url = args.database_url or f"sqlite://{tmp}/bench.sqlite3"
        # A fresh secret per run, shared by the token minting and the server that checks them.
        env = server_environment(database_url, args.redis_url, secrets.token_urlsafe(48))
        prepared = prepare(env, scenarios)
        port = args.port or free_port()
        run_id = secrets.token_hex(4)
        measured: dict[str, Row] = {}
        with (
            LoadGenerator(args.processes) as generator,
            running_server(
                env, workers=args.workers, port=port, log_path=Path(tmp) / "server.log"
            ) as server,
        ):
            for scenario in scenarios:
                if scenario.external is not None:
                    continue
                _progress(f"running {scenario.name} ({args.warmup:g} s + {args.duration:g} s)")
                outcome = generator.run(
                    scenario,
                    host=server.host,
                    port=server.port,
                    token=prepared.tokens.get(scenario.token) if scenario.token else None,
                    concurrency=args.concurrency,
                    warmup=args.warmup,
                    duration=args.duration,
                    timeout=args.timeout,
                    run_id=run_id,
                    facts=prepared.facts.get(scenario.name),
                    step_tokens=[
                        prepared.tokens[step.token] if step.token else None
                        for step in scenario.steps
                    ],
                )
                measured[scenario.name] = Row.of(scenario, outcome, args.duration)
        # Rows measured by an outside tool (pgbench) run once the server has stopped: its
        # pooled database connections are closed and it takes no CPU while idling.
        for scenario in scenarios:
            if scenario.external is not None:
                _progress(f"running {scenario.name} ({args.warmup:g} s + {args.duration:g} s)")
                measured[scenario.name] = run_external(scenario, args, env, database_url, tmp)
        rows = [measured[s.name] for s in scenarios]  # in the order asked for

    found = ratios(scenarios, rows)
    database = "sqlite (temporary file)" if args.database_url is None else redact(database_url)
    worker_word = "worker" if args.workers == 1 else "workers"
    process_word = "process" if args.processes == 1 else "processes"
    print(
        f"server: {args.workers} uvicorn {worker_word}, {database}, {redact(args.redis_url)}\n"
        f"load: {args.concurrency} connections over {args.processes} {process_word}, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per row, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(table(rows, found))
    if args.json is not None:
        meta: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "workers": args.workers,
            "concurrency": args.concurrency,
            "loadgen_processes": args.processes,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "database": database,
            "redis": redact(args.redis_url),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(as_json(meta, rows, found), indent=2) + "\n")
        _progress(f"wrote {args.json}")
    return 1 if any(row.errors for row in rows) else 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so the `finally` blocks stop the server and the clients.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(_list_rows())
        return 0
    _check(args, parser)
    try:
        scenarios = select(args.only)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    try:
        return bench(args, scenarios)
    except KeyboardInterrupt:
        _progress("interrupted")
        return 130
    except (BenchSetupError, LoadGeneratorError) as exc:
        _progress(f"benchmark failed: {exc}")
        return 2
    finally:
        _progress(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
