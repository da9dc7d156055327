"""The outbox and webhook delivery, in one process: events written through the outbox (each in
its own committed transaction), handed on by the webhook worker and received by a real HTTP
receiver on loopback that checks every signature.

- `outbox write`: events/s written through `emit` by --writers concurrent transactions, one
  event each (the outbox's own cost, no worker running);
- `drain`: events/s the worker hands on, signs, sends and records for a backlog of --backlog
  events to one endpoint;
- `offered N/s`: events committed at N per second (by at most --writers transactions at a
  time; "achieved" says how many per second committed) for --seconds while the worker runs;
  commit -> delivery latency (p50, p99, max) per event, from the moment its transaction
  committed to the receiver's arrival time (one clock: one process). Events are spread over
  --members members, so per-member ordering is in play.

    createdb -h 127.0.0.1 -U postgres loyalty_bench_webhooks
    export LOYALTY_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench_webhooks
    .venv/bin/loyalty migrate
    .venv/bin/python -m bench.webhooks --rate 1000 --seconds 10

The receiver, the writers and the worker share this process's one event loop and the machine's
CPUs: the figures are what one worker process does next to its load, not a cluster's. Poll
interval and batch size come from LOYALTY_WEBHOOK_* (the receiver is allow-listed here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Sequence
from typing import Final

from tortoise.transactions import in_transaction

from gamification import deferred_writes, program_settings
from gamification.outbox.emit import emit
from gamification.outbox.models import OutboxEvent
from gamification.webhooks import endpoints
from gamification.webhooks.models import WebhookDelivery, WebhookEndpoint
from gamification.webhooks.sending import Worker
from server.database import close_database, init_database
from server.settings import get_settings
from tests.gamification.webhooks.receiver import Receiver

_DATA: Final = {"memberId": 1, "badgeId": 1, "name": "Bench", "level": 1}


async def _write_one(member_id: int) -> tuple[str, float]:
    async with in_transaction() as conn:
        with deferred_writes.holding_back_writes(conn):
            event_id = await emit(conn, type="badge.awarded", member_id=member_id, data=_DATA)
            await deferred_writes.flush_held_writes(conn)
    return str(event_id), time.perf_counter()


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _outbox_write(events: int, writers: int, members: int) -> float:
    counter = iter(range(events))
    started = time.perf_counter()

    async def writer() -> None:
        for n in counter:
            await _write_one(n % members + 1)

    await asyncio.gather(*(writer() for _ in range(writers)))
    return events / (time.perf_counter() - started)


async def _drain(receiver: Receiver, backlog: int, members: int) -> float:
    for n in range(backlog):
        await _write_one(n % members + 1)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(Worker().run(stop))
    await receiver.wait_for(lambda: len(receiver.accepted) >= backlog, within=600)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return backlog / elapsed


async def _offered(
    receiver: Receiver, rate: int, seconds: float, members: int, writers: int
) -> tuple[list[float], int]:
    committed: dict[str, float] = {}
    arrived: dict[str, float] = {}
    receiver.on_accept = lambda received: arrived.setdefault(
        received.webhook_id, time.perf_counter()
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker().run(stop))
    total = int(rate * seconds)
    started = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()

    slots = asyncio.Semaphore(writers)  # within the pool: a writer waits rather than fails

    async def write(n: int) -> None:
        async with slots:
            event_id, at = await _write_one(n % members + 1)
        committed[event_id] = at

    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(write(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    achieved = total / (time.perf_counter() - started)
    await receiver.wait_for(lambda: len(arrived) >= total, within=600)
    stop.set()
    await worker
    latencies = [(arrived[e] - committed[e]) * 1000 for e in committed if e in arrived]
    return latencies, int(achieved)


async def run(args: argparse.Namespace) -> None:
    settings = get_settings().model_copy(update={"webhook_allowed_hosts": ["127.0.0.1"]})
    program_settings.configure(settings)
    await init_database(settings)
    receiver = Receiver()
    await receiver.start()
    try:
        await WebhookDelivery.all().delete()
        await WebhookEndpoint.all().delete()
        await OutboxEvent.all().delete()
        write_rate = await _outbox_write(args.events, args.writers, args.members)
        await OutboxEvent.all().delete()
        endpoint = await endpoints.create_endpoint(url=receiver.url)
        receiver.secret = endpoint.secret
        drain_rate = await _drain(receiver, args.backlog, args.members)
        latencies, achieved = await _offered(
            receiver, args.rate, args.seconds, args.members, args.writers
        )
    finally:
        await receiver.stop()
        await close_database()
    load = os.getloadavg()
    print(f"database: {settings.database_url.split('@')[-1]}; load average {load[0]:.2f}")
    print("| row | events/s | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(f"| outbox write ({args.writers} writers) | {write_rate:,.0f} | | | |")
    print(f"| drain ({args.backlog:,} backlog, 1 endpoint) | {drain_rate:,.0f} | | | |")
    print(
        f"| offered {args.rate:,}/s for {args.seconds:g} s (achieved {achieved:,}/s) | | "
        f"{statistics.median(latencies):.1f} | {_quantile(latencies, 0.99):.1f} | "
        f"{max(latencies):.1f} |"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=5000, help="events for the write row")
    parser.add_argument("--writers", type=int, default=10, help="concurrent writers")
    parser.add_argument("--backlog", type=int, default=5000, help="events for the drain row")
    parser.add_argument("--rate", type=int, default=1000, help="events per second offered")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to offer them")
    parser.add_argument("--members", type=int, default=200, help="members the events are of")
    return parser


def main(argv: list[str] | None = None) -> int:
    asyncio.run(run(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
