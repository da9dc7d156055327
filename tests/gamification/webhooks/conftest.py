"""Webhook tests: fast retries, loopback receivers allowed, a worker running in the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gamification.webhooks.sending import Worker
from tests.factories import OverrideSettings
from tests.gamification.webhooks.receiver import Receiver


@pytest.fixture(autouse=True)
def fast_webhooks(override_settings: OverrideSettings) -> None:
    override_settings(
        webhook_allowed_hosts=["127.0.0.1"],
        webhook_timeout_seconds=1.0,
        webhook_backoff_base_seconds=0.05,
        webhook_backoff_max_seconds=0.2,
        webhook_poll_interval_seconds=0.02,
        webhook_max_attempts=50,
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A receiver that is not listening yet: `await receiver.start()`."""
    created = Receiver()
    yield created
    await created.stop()


RunWorker = Callable[[], Awaitable[asyncio.Task[None]]]


@pytest.fixture
async def run_worker() -> AsyncIterator[RunWorker]:
    """`await run_worker()` starts a worker in this event loop; all are stopped at the end."""
    stops: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start() -> asyncio.Task[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(Worker().run(stop))
        stops.append((stop, task))
        return task

    yield start
    for stop, _ in stops:
        stop.set()
    for _, task in stops:
        if not task.done():
            await asyncio.wait_for(task, 10)
