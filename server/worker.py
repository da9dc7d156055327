"""The webhook worker's process wiring: `loyalty worker` (its own process, until SIGINT or
SIGTERM) and, with LOYALTY_WEBHOOK_WORKER_IN_SERVE, a task inside each `loyalty serve` process.
What it does lives in `gamification.webhooks.sending`.

Several workers may run against PostgreSQL (deliveries are claimed with SKIP LOCKED); on SQLite
run one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

from gamification.webhooks.sending import Worker
from server.database import close_database, init_database
from server.settings import Settings


async def start_in_process() -> Callable[[], Awaitable[None]]:
    """Start a worker as a task of this process (the database is already open); return the
    function that stops it, letting its attempts in flight finish."""
    stop = asyncio.Event()
    task = asyncio.create_task(Worker().run(stop))

    async def stop_worker() -> None:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop_worker


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Open the database and deliver until `stop` is set (or SIGINT / SIGTERM)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(number, stop.set)
    await init_database(settings)
    try:
        await Worker().run(stop)
    finally:
        await close_database()
