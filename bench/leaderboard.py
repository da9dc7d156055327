"""Leaderboard benchmark: a member's rank with neighbours, through GraphQL, on a board of
1,000,000 members, beside the raw ZREVRANK rate of the same Redis, at several concurrencies,
and what one request costs (round trips, CPU) measured in-process.

    .venv/bin/python bench/leaderboard.py                              # redis://127.0.0.1:6379/6
    .venv/bin/python bench/leaderboard.py --members 100000 --duration 5 --concurrency 1,50
    .venv/bin/python bench/leaderboard.py --database-url postgres://postgres@127.0.0.1:5432/lb

1. `loyalty migrate` and `loyalty seed` (a throwaway SQLite file unless --database-url).
2. A pipelined bulk loader writes the all-time points board straight into Redis: `--members`
   synthetic members (ids from 1,000,000,000, random scores and times, so ties happen) plus the
   demo member maya@example.com in the middle, in the layout of gamification.leaderboards.keys
   (sorted set and state hashes). It replaces the `{lb}:*` keys of the given Redis database and
   nothing else: give the benchmark a database of its own.
3. A real server process (bench.serverctl) under the keep-alive load generator (bench.loadgen),
   once per `--concurrency` (default 1, 8 and 50 connections): the `{ __typename }` ceiling,
   `me` (the token check and one primary-key read), then
   `me { rank(board: "points", period: ALL_TIME) { rank neighbours(above: 2, below: 2) { rank } } }`
   (`me`'s read, then one Redis round trip: a script reads the member's state, ZCARD, ZREVRANK
   and the ZREVRANGE around the rank), and `leaderboard-me-rank-names`, the same with what an app
   shows (`score total percentile`, the neighbours' `score displayName badgeCount`: one more SQL
   statement for all of them). With 1 connection nothing queues: latency is what one request
   costs. With 50 on one worker the server is saturated and p99 is mostly queueing (about
   connections ÷ req/s): read throughput there, latency at the lower concurrencies.
4. In the same run, the raw ZREVRANK rate of the same sorted set: from redis-py (asyncio, a
   closed loop like the load generator's) at each concurrency and, when it is installed, from
   redis-benchmark at the highest. The ratios say what the GraphQL layer costs on top of Redis.
5. In this process, after the server stopped (`--calls`, default 1000; 0 skips it): the app
   (httpx ASGITransport, lifespan included) answers each row's query `--calls` times, one after
   another. Printed per row: the Redis round trips and SQL statements of one request (listed,
   with the code that made them) and the CPU time per call. That CPU includes the in-process
   client's; the `{ __typename }` row is the floor to subtract. Counts and CPU do not depend on
   what else the machine runs, unlike req/s and latency.

Compare ratios from one run: absolute figures drift with whatever else the machine does.
Exit status: 0, 1 when a row had errors, 2 when the setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    # Run as `python bench/leaderboard.py`: make `bench` importable as a package from the repo root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt
import redis.asyncio as aioredis

from bench.loadgen import LoadGenerator, LoadGeneratorError
from bench.report import Row, percentile, redact, table
from bench.scenarios import SCENARIOS, TOKEN_SOURCES, Scenario, register
from bench.serverctl import (
    BenchSetupError,
    free_port,
    run_cli,
    running_server,
    server_environment,
)
from gamification import redis_keys
from gamification.leaderboards import keys

ME_RANK_QUERY = (
    '{ me { rank(board: "points", period: ALL_TIME) '
    "{ rank neighbours(above: 2, below: 2) { rank } } } }"
)
ME_RANK = Scenario(
    name="leaderboard-me-rank",
    description="me { rank … neighbours(above: 2, below: 2) } on a seeded all-time board",
    query=ME_RANK_QUERY,
    token="member",
    compare_to="typename",
    default=False,
)
ME_RANK_NAMES = Scenario(
    name="leaderboard-me-rank-names",
    description="me { rank score total percentile neighbours { … displayName badgeCount } }",
    query=(
        '{ me { rank(board: "points", period: ALL_TIME) { rank score total percentile '
        "neighbours(above: 2, below: 2) { rank score displayName badgeCount } } } }"
    ),
    token="member",
    compare_to="typename",
    default=False,
)
# Registered on import, here and in the load generator's processes, which re-import this
# script as their main module (multiprocessing's spawn) and look rows up by name.
for _scenario in (ME_RANK, ME_RANK_NAMES):
    if _scenario.name not in SCENARIOS:
        register(_scenario)

FIRST_SYNTHETIC_ID = 1_000_000_000
_LOAD_BATCH = 10_000
_SAMPLED_TAGS = 10_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--database-url", help="default: a throwaway SQLite file")
    parser.add_argument("--members", type=int, default=1_000_000, help="synthetic board size")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--concurrency",
        type=_counts,
        default=(1, 8, 50),
        help="open connections, one run of every row per value (comma-separated; default 1,8,50)",
    )
    parser.add_argument("--processes", type=int, default=1, help="load-generator processes")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds per row")
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument(
        "--calls", type=int, default=1000, help="in-process calls per row (0: skip that stage)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    return parser


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("concurrencies are numbers of connections, at least 1")
    return counts


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the bulk loader -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedBoard:
    members: int  # ZCARD after the load
    seconds: float
    member_id: int  # the demo member's id
    expected_rank: int
    sample: list[str]  # tags to ask ZREVRANK about


async def load_board(redis_url: str, members: int, member_id: int) -> LoadedBoard:
    """Replace the board with `members` synthetic members plus `member_id` in the middle."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    key = keys.board_key(keys.POINTS_BOARD, keys.Period.ALL_TIME, datetime.now(UTC))
    rng = random.Random(6)
    started = time.perf_counter()
    try:
        stale = [
            name
            async for name in client.scan_iter(match=f"{redis_keys.BOARDS_PREFIX}*", count=10_000)
        ]
        for i in range(0, len(stale), 1000):
            await client.unlink(*stale[i : i + 1000])
        now_ms = int(time.time() * 1000)
        sample: list[str] = []
        for first in range(0, members, _LOAD_BATCH):
            batch = range(first, min(first + _LOAD_BATCH, members))
            ranked: dict[str, float] = {}
            states: dict[int, dict[Any, Any]] = {}  # redis-py wants its own key type
            for i in batch:
                synthetic = FIRST_SYNTHETIC_ID + i
                score = keys.Score(
                    points=rng.randint(1, 1_000_000),
                    reached_ms=now_ms - rng.randint(0, 365 * 86_400_000),
                )
                tag = score.tag(synthetic)
                ranked[tag] = score.points
                shard = synthetic >> keys.SHARD_BITS
                states.setdefault(shard, {})[str(synthetic)] = score.encode()
                if len(sample) < _SAMPLED_TAGS and rng.random() < 0.05:
                    sample.append(tag)
            pipe = client.pipeline(transaction=False)
            pipe.zadd(key.zset, ranked)
            for shard, mapping in states.items():
                pipe.hset(key.states(shard), mapping=mapping)
            await pipe.execute()
            if first and first % 200_000 == 0:
                _progress(f"  loaded {first:,} members")
        mine = keys.Score(points=500_000, reached_ms=now_ms)
        pipe = client.pipeline(transaction=False)
        pipe.zadd(key.zset, {mine.tag(member_id): mine.points})
        pipe.hset(key.states(member_id >> keys.SHARD_BITS), str(member_id), mine.encode())
        pipe.zcard(key.zset)
        pipe.zrevrank(key.zset, mine.tag(member_id))
        *_, total, rank = await pipe.execute()
    finally:
        await client.aclose()
    return LoadedBoard(
        members=int(total),
        seconds=time.perf_counter() - started,
        member_id=member_id,
        expected_rank=int(rank) + 1,
        sample=sample or [mine.tag(member_id)],
    )


# --- the raw ZREVRANK rates ----------------------------------------------------------------------


@dataclass(frozen=True)
class RawRate:
    tool: str
    rps: float
    p50_ms: float | None
    p99_ms: float | None


async def zrevrank_with_redis_py(
    redis_url: str, tags: list[str], *, connections: int, warmup: float, duration: float
) -> RawRate:
    """A closed loop of ZREVRANK on `connections` connections, like the load generator's."""
    zset = keys.board_key(keys.POINTS_BOARD, keys.Period.ALL_TIME, datetime.now(UTC)).zset
    client = aioredis.from_url(redis_url, decode_responses=True, max_connections=connections)
    clock = time.perf_counter
    start = clock()
    measure_from, measure_until = start + warmup, start + warmup + duration
    latencies: list[float] = []

    async def loop(seed: int) -> None:
        rng = random.Random(seed)
        while clock() < measure_until:
            began = clock()
            await client.zrevrank(zset, rng.choice(tags))
            ended = clock()
            if began >= measure_from and ended <= measure_until:
                latencies.append(ended - began)

    try:
        await asyncio.gather(*(loop(i) for i in range(connections)))
    finally:
        await client.aclose()
    ordered = sorted(latencies)
    return RawRate(
        "redis-py",
        len(ordered) / duration,
        percentile(ordered, 50) * 1000 if ordered else None,
        percentile(ordered, 99) * 1000 if ordered else None,
    )


def zrevrank_with_redis_benchmark(redis_url: str, tag: str, *, connections: int) -> RawRate | None:
    """redis-benchmark's own figure for the same command, when it is installed."""
    program = shutil.which("redis-benchmark")
    if program is None:
        return None
    url = urlsplit(redis_url)
    zset = keys.board_key(keys.POINTS_BOARD, keys.Period.ALL_TIME, datetime.now(UTC)).zset
    command = [
        program,
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 6379),
        "--dbnum",
        url.path.strip("/") or "0",
        "-c",
        str(connections),
        "-n",
        "300000",
        "--csv",
        "ZREVRANK",
        zset,
        tag,
    ]
    if url.password:
        command[1:1] = ["-a", url.password]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if completed.returncode != 0:
        _progress(f"redis-benchmark failed: {completed.stderr.strip()[:300]}")
        return None
    rows = list(csv.reader(io.StringIO(completed.stdout)))
    header, data = rows[0], rows[-1]
    values = dict(zip(header, data, strict=False))
    return RawRate(
        "redis-benchmark",
        float(values["rps"]),
        float(values["p50_latency_ms"]) if "p50_latency_ms" in values else None,
        float(values["p99_latency_ms"]) if "p99_latency_ms" in values else None,
    )


# --- the run -------------------------------------------------------------------------------------


def _check_answer(port: int, token: str, expected_rank: int) -> None:
    """One request before the load: the answer must be the loaded rank, not an error."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": ME_RANK_QUERY}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    rank = (((answer.get("data") or {}).get("me") or {}).get("rank")) or {}
    if rank.get("rank") != expected_rank or len(rank.get("neighbours", [])) != 4:
        raise BenchSetupError(f"unexpected answer before the load: {json.dumps(answer)[:500]}")


# --- one request's cost, in this process ---------------------------------------------------------


@dataclass(frozen=True)
class RequestCost:
    name: str
    redis_round_trips: int
    sql_round_trips: int
    cpu_ms_per_call: float
    trips: tuple[str, ...]  # each round trip: kind, the code that made it, the command


_WARMUP_CALLS = 50


async def measure_in_process(
    env: dict[str, str], token: str, scenarios: list[Scenario], calls: int
) -> list[RequestCost]:
    """Serve the app in this process and send each row's request `calls` times in a row."""
    import httpx

    from bench.roundtrips import (
        Recorder,
        instrument_asyncpg,
        instrument_redis,
        instrument_sqlite,
    )
    from server.app import create_app
    from server.settings import Settings, get_settings

    os.environ.update(env)  # the app reads its settings from the environment, as the server does
    get_settings.cache_clear()
    recorder = Recorder()
    instrument_redis(recorder)
    database_url = env["LOYALTY_DATABASE_URL"]
    if database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        instrument_asyncpg(recorder)
    else:
        instrument_sqlite(recorder)
    app = create_app(Settings())
    costs = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):
        for scenario in scenarios:
            costs.append(await _cost_of(client, recorder, scenario, token, calls))
    return costs


async def _cost_of(
    client: Any, recorder: Any, scenario: Scenario, token: str, calls: int
) -> RequestCost:
    headers = {"content-type": "application/json"}
    if scenario.token:
        headers["authorization"] = f"Bearer {token}"
    body = scenario.body("in-process", {})

    async def send() -> None:
        response = await client.post(scenario.path, content=body, headers=headers)
        if response.status_code != 200 or b'"errors"' in response.content:
            raise BenchSetupError(f"{scenario.name}: {response.text[:300]}")

    for _ in range(_WARMUP_CALLS):
        await send()
    with recorder.record() as trips:
        await send()
    started = time.process_time()
    for _ in range(calls):
        await send()
    cpu = time.process_time() - started
    return RequestCost(
        scenario.name,
        sum(1 for trip in trips if trip.kind == "redis"),
        sum(1 for trip in trips if trip.kind != "redis"),
        1000 * cpu / calls,
        tuple(f"{t.kind} {t.where}: {t.sql[:90]}" for t in trips),
    )


def _cost_table(costs: list[RequestCost], calls: int) -> str:
    lines = [
        f"one request, in this process ({calls:,} calls per row, one after another; CPU includes "
        "the in-process client: subtract the typename row for the server's own share):",
        f"{'row':<28}  {'Redis':>5}  {'SQL':>3}  {'CPU ms/call':>11}",
    ]
    lines.extend(
        f"{c.name:<28}  {c.redis_round_trips:>5}  {c.sql_round_trips:>3}  "
        f"{c.cpu_ms_per_call:>11.3f}"
        for c in costs
    )
    for cost in costs:
        lines.extend(f"  {cost.name}: {trip}" for trip in cost.trips)
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    if not args.redis_url.startswith(("redis://", "rediss://")):
        raise BenchSetupError("--redis-url must be a real Redis (the server is another process)")
    concurrencies: tuple[int, ...] = args.concurrency
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-lb-") as tmp:
        database_url = args.database_url or f"sqlite://{tmp}/bench.sqlite3"
        env = server_environment(database_url, args.redis_url, secrets.token_urlsafe(48))
        _progress("preparing: loyalty migrate, loyalty seed, a member token")
        run_cli(env, "migrate")
        run_cli(env, "seed")
        token = run_cli(env, "token", *TOKEN_SOURCES["member"]).strip()
        member_id = int(jwt.decode(token, options={"verify_signature": False})["sub"])
        _progress(f"loading {args.members:,} members into {redact(args.redis_url)}")
        board = asyncio.run(load_board(args.redis_url, args.members, member_id))
        _progress(f"loaded {board.members:,} members in {board.seconds:.1f} s")
        port = args.port or free_port()
        rows: dict[int, list[Row]] = {}
        scenarios = [SCENARIOS["typename"], SCENARIOS["me"], ME_RANK, ME_RANK_NAMES]
        with (
            LoadGenerator(args.processes) as generator,
            running_server(
                env, workers=args.workers, port=port, log_path=Path(tmp) / "server.log"
            ) as server,
        ):
            _check_answer(server.port, token, board.expected_rank)
            for connections in concurrencies:
                for scenario in scenarios:
                    _progress(
                        f"running {scenario.name} on {connections} connection(s) "
                        f"({args.warmup:g} s + {args.duration:g} s)"
                    )
                    outcome = generator.run(
                        scenario,
                        host=server.host,
                        port=server.port,
                        token=token if scenario.token else None,
                        concurrency=connections,
                        warmup=args.warmup,
                        duration=args.duration,
                        timeout=args.timeout,
                        run_id=secrets.token_hex(4),
                    )
                    rows.setdefault(connections, []).append(
                        Row.of(scenario, outcome, args.duration)
                    )
        raw: dict[int, list[RawRate]] = {}
        for connections in concurrencies:
            _progress(f"running ZREVRANK from redis-py on {connections} connection(s)")
            raw[connections] = [
                asyncio.run(
                    zrevrank_with_redis_py(
                        args.redis_url,
                        board.sample,
                        connections=connections,
                        warmup=args.warmup,
                        duration=args.duration,
                    )
                )
            ]
        _progress("running ZREVRANK from redis-benchmark")
        tool = zrevrank_with_redis_benchmark(
            args.redis_url, board.sample[0], connections=concurrencies[-1]
        )
        if tool is not None:
            raw[concurrencies[-1]].append(tool)
        costs: list[RequestCost] = []
        if args.calls > 0:
            _progress(f"measuring one request's cost in this process ({args.calls:,} calls a row)")
            costs = asyncio.run(measure_in_process(env, token, scenarios, args.calls))

    print(
        f"server: {args.workers} uvicorn worker(s), "
        f"{'sqlite (temporary file)' if args.database_url is None else redact(database_url)}, "
        f"{redact(args.redis_url)}; board: {board.members:,} members (loaded in "
        f"{board.seconds:.1f} s), the member ranked {board.expected_rank:,}\n"
        f"load: {args.warmup:g} s warm-up + {args.duration:g} s measured per row, "
        f"{os.cpu_count()} CPUs"
    )
    for connections in concurrencies:
        print(f"\n## {connections} connection(s): {_regime(connections, args.workers)}")
        measured = rows[connections]
        print(table(measured, []))
        me_rank, ceiling = measured[2], measured[0]
        for rate in raw[connections]:
            ratio = me_rank.rps / rate.rps if rate.rps else None
            latency = (
                f", p50 {rate.p50_ms:.2f} ms, p99 {rate.p99_ms:.2f} ms"
                if rate.p50_ms is not None and rate.p99_ms is not None
                else ""
            )
            print(
                f"raw ZREVRANK ({rate.tool}, {connections} connections): {rate.rps:,.0f} ops/s"
                f"{latency}; ratio {ME_RANK.name} req/s / ZREVRANK ops/s: "
                f"{'-' if ratio is None else f'{ratio:.4f}'}"
            )
        if ceiling.rps:
            print(f"ratio {ME_RANK.name}/typename req/s: {me_rank.rps / ceiling.rps:.3f}")
        if connections > 1 and me_rank.rps:
            print(
                f"{ME_RANK.name}: {connections} connections ÷ {me_rank.rps:,.0f} req/s = "
                f"{1000 * connections / me_rank.rps:.1f} ms mean latency (Little's law; at "
                "saturation mostly time in the queue)"
            )
    print(
        f"\n{ME_RANK.name} p99 by connections (target < 10 ms): "
        + ", ".join(f"{c}: {_ms(rows[c][2].p99_ms)}" for c in concurrencies)
    )
    if costs:
        print()
        print(_cost_table(costs, args.calls))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "members": board.members,
                    "by_concurrency": {
                        str(c): {
                            "rows": [row.__dict__ for row in rows[c]],
                            "raw_zrevrank": [rate.__dict__ for rate in raw[c]],
                        }
                        for c in concurrencies
                    },
                    "in_process": [cost.__dict__ for cost in costs],
                },
                indent=2,
                default=list,
            )
            + "\n"
        )
    return 1 if any(row.errors for measured in rows.values() for row in measured) else 0


def _regime(connections: int, workers: int) -> str:
    if connections == 1:
        return "nothing queues: latency is one request's own cost"
    return (
        f"{connections} requests in flight on {workers} worker(s): once the server is saturated "
        "they queue, and mean latency is connections ÷ req/s (Little's law)"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    try:
        return run(args)
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
