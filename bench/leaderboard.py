"""Leaderboard benchmark: a member's rank with neighbours, through GraphQL, on a board of
1,000,000 members, beside the raw ZREVRANK rate of the same Redis.

    .venv/bin/python bench/leaderboard.py                              # redis://127.0.0.1:6379/6
    .venv/bin/python bench/leaderboard.py --members 100000 --duration 5
    .venv/bin/python bench/leaderboard.py --database-url postgres://postgres@127.0.0.1:5432/lb

1. `loyalty migrate` and `loyalty seed` (a throwaway SQLite file unless --database-url).
2. A pipelined bulk loader writes the all-time points board straight into Redis: `--members`
   synthetic members (ids from 1,000,000,000, random scores and times, so ties happen) plus the
   demo member maya@example.com in the middle, in the layout of gamification.leaderboards
   (sorted set and state hashes). It replaces the `lb:*` keys of the given Redis database and
   nothing else: give the benchmark a database of its own.
3. A real server process (bench.serverctl) under the keep-alive load generator (bench.loadgen):
   the `{ __typename }` ceiling, then
   `me { rank(board: "points", period: ALL_TIME) { rank neighbours(above: 2, below: 2) { rank } } }`
   (one primary-key read for `me`, three Redis round trips: the member's state, ZREVRANK with
   ZCARD, ZREVRANGE around the rank).
4. In the same run, the raw ZREVRANK rate of the same sorted set: from redis-py (asyncio, as many
   connections as the load generator, a closed loop like it) and, when it is installed, from
   redis-benchmark. The ratios say what the GraphQL layer costs on top of Redis.

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
from gamification import leaderboards

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
# Registered on import, here and in the load generator's processes, which re-import this
# script as their main module (multiprocessing's spawn) and look rows up by name.
if ME_RANK.name not in SCENARIOS:
    register(ME_RANK)

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
    parser.add_argument("--concurrency", type=int, default=50, help="open connections")
    parser.add_argument("--processes", type=int, default=1, help="load-generator processes")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds per row")
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    return parser


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
    key = leaderboards.board_key(
        leaderboards.POINTS_BOARD, leaderboards.Period.ALL_TIME, datetime.now(UTC)
    )
    rng = random.Random(6)
    started = time.perf_counter()
    try:
        stale = [name async for name in client.scan_iter(match="lb:*", count=10_000)]
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
                score = leaderboards.Score(
                    points=rng.randint(1, 1_000_000),
                    reached_ms=now_ms - rng.randint(0, 365 * 86_400_000),
                )
                tag = score.tag(synthetic)
                ranked[tag] = score.points
                shard = synthetic >> leaderboards.SHARD_BITS
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
        mine = leaderboards.Score(points=500_000, reached_ms=now_ms)
        pipe = client.pipeline(transaction=False)
        pipe.zadd(key.zset, {mine.tag(member_id): mine.points})
        pipe.hset(key.states(member_id >> leaderboards.SHARD_BITS), str(member_id), mine.encode())
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
    zset = leaderboards.board_key(
        leaderboards.POINTS_BOARD, leaderboards.Period.ALL_TIME, datetime.now(UTC)
    ).zset
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
    zset = leaderboards.board_key(
        leaderboards.POINTS_BOARD, leaderboards.Period.ALL_TIME, datetime.now(UTC)
    ).zset
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


def run(args: argparse.Namespace) -> int:
    if not args.redis_url.startswith(("redis://", "rediss://")):
        raise BenchSetupError("--redis-url must be a real Redis (the server is another process)")
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
        rows: list[Row] = []
        scenarios = [SCENARIOS["typename"], SCENARIOS["me"], ME_RANK]
        with (
            LoadGenerator(args.processes) as generator,
            running_server(
                env, workers=args.workers, port=port, log_path=Path(tmp) / "server.log"
            ) as server,
        ):
            _check_answer(server.port, token, board.expected_rank)
            for scenario in scenarios:
                _progress(f"running {scenario.name} ({args.warmup:g} s + {args.duration:g} s)")
                outcome = generator.run(
                    scenario,
                    host=server.host,
                    port=server.port,
                    token=token if scenario.token else None,
                    concurrency=args.concurrency,
                    warmup=args.warmup,
                    duration=args.duration,
                    timeout=args.timeout,
                    run_id=secrets.token_hex(4),
                )
                rows.append(Row.of(scenario, outcome, args.duration))
        _progress("running ZREVRANK from redis-py")
        raw = [
            asyncio.run(
                zrevrank_with_redis_py(
                    args.redis_url,
                    board.sample,
                    connections=args.concurrency,
                    warmup=args.warmup,
                    duration=args.duration,
                )
            )
        ]
        _progress("running ZREVRANK from redis-benchmark")
        tool = zrevrank_with_redis_benchmark(
            args.redis_url, board.sample[0], connections=args.concurrency
        )
        if tool is not None:
            raw.append(tool)

    me_rank = rows[-1]
    print(
        f"server: {args.workers} uvicorn worker(s), "
        f"{'sqlite (temporary file)' if args.database_url is None else redact(database_url)}, "
        f"{redact(args.redis_url)}; board: {board.members:,} members (loaded in "
        f"{board.seconds:.1f} s), the member ranked {board.expected_rank:,}\n"
        f"load: {args.concurrency} connections, {args.warmup:g} s warm-up + {args.duration:g} s "
        f"measured per row, {os.cpu_count()} CPUs\n"
    )
    print(table(rows, []))
    print()
    for rate in raw:
        ratio = me_rank.rps / rate.rps if rate.rps else None
        latency = (
            f", p50 {rate.p50_ms:.2f} ms, p99 {rate.p99_ms:.2f} ms"
            if rate.p50_ms is not None and rate.p99_ms is not None
            else ""
        )
        print(
            f"raw ZREVRANK ({rate.tool}, {args.concurrency} connections): {rate.rps:,.0f} ops/s"
            f"{latency}; ratio {ME_RANK.name} req/s / ZREVRANK ops/s: "
            f"{'-' if ratio is None else f'{ratio:.4f}'}"
        )
    ceiling = rows[0]
    if ceiling.rps:
        print(f"ratio {ME_RANK.name}/typename req/s: {me_rank.rps / ceiling.rps:.3f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "members": board.members,
                    "rows": [row.__dict__ for row in rows],
                    "raw_zrevrank": [rate.__dict__ for rate in raw],
                },
                indent=2,
                default=list,
            )
            + "\n"
        )
    return 1 if any(row.errors for row in rows) else 0


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
