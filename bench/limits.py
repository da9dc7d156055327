"""Query-limit benchmark: how fast a refused query is refused, beside an accepted one.

    .venv/bin/python bench/limits.py
    .venv/bin/python bench/limits.py --duration 10 --concurrency 50

Rows: `{ __typename }` (accepted, the ceiling), then documents the limits refuse before anything
runs: too deep, too many aliases (inside a fragment), too long, too many tokens (the same
document every time, then a new one for every request, which no cache can help), and a body
over `LOYALTY_REQUEST_MAX_BYTES` (413). A refusal counts as a success only when it carries the
expected status and message, so a limit that stopped refusing shows as errors. The load
generator here is a small closed loop of its own on `bench.loadgen`'s HTTP reader:
`bench.loadgen.LoadGenerator` records latencies of successful answers only, and an answer with
GraphQL errors is a failure there.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    # Run as `python bench/limits.py`: make `bench` importable as a package from the repo root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import Outcome, read_response
from bench.report import Row, table
from bench.scenarios import Scenario
from bench.serverctl import free_port, run_cli, running_server, server_environment

# In a varied row's document, replaced by a counter: every request sends a new document.
VARY = "VARY"


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    query: str
    expect: str  # a substring of every correct answer
    status: int = 200
    vary: bool = False
    padding: int = 0  # bytes of spaces added to the JSON body


# 15 levels, over the default limit of 12 (the depth rule runs before anything resolves).
DEEP = "{ " + "me { " * 14 + "id" + " }" * 14 + " }"


CASES = [
    Case("typename", "accepted: { __typename }", "{ __typename }", '"__typename"'),
    Case("refused-depth", "15 levels deep", DEEP, "exceeds maximum operation depth"),
    Case(
        "refused-aliases",
        "21 aliases inside a fragment",
        "query { ...F } fragment F on Query { "
        + " ".join(f"a{i}: __typename" for i in range(21))
        + " }",
        "aliases found",
    ),
    Case(
        "refused-length",
        "a 50 kB document (refused by its length, before the lexer)",
        "{ " + " ".join(["__typename"] * 4600) + " }",
        "longer than",
    ),
    Case(
        "refused-tokens",
        "1,100 tokens in 2.2 kB (counted before the parser)",
        "{ " + " ".join(["a"] * 1100) + " }",
        "more than 1000 tokens",
    ),
    Case(
        "refused-tokens-new",
        "1,100 tokens, a new document every request",
        "{ a" + VARY + " " + " ".join(["a"] * 1099) + " }",
        "more than 1000 tokens",
        vary=True,
    ),
    Case(
        "refused-body",
        "a 200 kB body (refused by its Content-Length, 413)",
        "{ __typename }",
        "REQUEST_TOO_LARGE",
        status=413,
        padding=200_000,
    ),
]


_connection_ids = itertools.count()


def _request(host: str, port: int, query: str, padding: int = 0) -> bytes:
    body = json.dumps({"query": query}).encode() + b" " * padding
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(
    host: str, port: int, case: Case, start: float, end: float, outcome: Outcome
) -> None:
    request = _request(host, port, case.query, case.padding)
    expect = case.expect.encode()
    reader, writer = await asyncio.open_connection(host, port)
    connection = next(_connection_ids)
    try:
        for sequence in itertools.count():
            if case.vary:
                unique = f"{connection}x{sequence}"
                request = _request(host, port, case.query.replace(VARY, unique), case.padding)
            sent = time.perf_counter()
            if sent >= end:
                return
            writer.write(request)
            status, body, _ = await read_response(reader)
            done = time.perf_counter()
            if done < start:
                continue  # warm-up
            if status == case.status and expect in body:
                outcome.requests += 1
                outcome.latencies.append(done - sent)
            else:
                outcome.error(f"HTTP {status}: {body[:200]!r}")
    finally:
        writer.close()


async def _drive(host: str, port: int, case: Case, args: argparse.Namespace) -> Outcome:
    outcome = Outcome()
    start = time.perf_counter() + args.warmup
    end = start + args.duration
    cpu = time.process_time()
    await asyncio.gather(
        *(_connection(host, port, case, start, end, outcome) for _ in range(args.concurrency))
    )
    outcome.cpu_seconds = time.process_time() - cpu
    return outcome


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: a throwaway SQLite file")
    parser.add_argument("--redis-url", default="memory://")
    parser.add_argument("--concurrency", type=int, default=20, help="open connections")
    parser.add_argument("--duration", type=float, default=5, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds per row")
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-limits-") as tmp:
        database_url = args.database_url or f"sqlite://{tmp}/bench.sqlite3"
        env = server_environment(database_url, args.redis_url, secrets.token_urlsafe(48))
        run_cli(env, "migrate")
        port = args.port or free_port()
        with running_server(env, workers=1, port=port, log_path=Path(tmp) / "server.log") as srv:
            for case in CASES:
                print(f"running {case.name}", file=sys.stderr, flush=True)
                outcome = asyncio.run(_drive(srv.host, srv.port, case, args))
                scenario = Scenario(name=case.name, description=case.description, query=None)
                rows.append(Row.of(scenario, outcome, args.duration))
    print(
        f"one uvicorn worker, {args.concurrency} connections, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s per row; req/s and latency of correct answers (refusals count "
        "as correct when they name the limit)\n"
    )
    print(table(rows, []))
    return 1 if any(row.errors for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
