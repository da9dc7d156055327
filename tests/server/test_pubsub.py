"""The process's fan-out checked directly: one Redis subscription shared by many local
subscribers, bounded queues that skip to the latest, coalescing, and nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.events.realtime import Notice, Topic, publish
from server.pubsub import Broker
from tests.server.helpers import NS

SHARED = f"{NS}test:shared"


@pytest.fixture
def broker(app: Starlette) -> Iterator[Broker]:
    """The app's own broker, with small queues."""
    running: Broker = app.state.broker
    running.queue_size, usual = 3, running.queue_size
    yield running
    running.queue_size = usual


def _notice(channel: str, version: int) -> Notice:
    return Notice(channel, Topic.POINTS_CHANGED, version, {"balance": version, "held": 0})


async def _settle(broker: Broker, **expected: int) -> dict[str, int]:
    for _ in range(200):
        stats = broker.stats()
        if all(stats[name] == value for name, value in expected.items()):
            return stats
        await asyncio.sleep(0.01)
    return broker.stats()


async def test_many_local_subscribers_share_one_redis_subscription(
    broker: Broker, redis: Redis
) -> None:
    # given: 500 subscribers of one channel
    async with contextlib.AsyncExitStack() as stack:
        subscriptions = [
            await stack.enter_async_context(broker.subscribe(SHARED)) for _ in range(500)
        ]
        stats = broker.stats()
        assert (stats["subscriptions"], stats["channels"], stats["redis_channels"]) == (500, 1, 1)

        # when
        await publish(redis, [_notice(SHARED, 1)])

        # then: every one of them gets it
        got = await asyncio.gather(*(anext(s) for s in subscriptions))
    assert {n.version for n in got} == {1}
    assert await _settle(broker, subscriptions=0, redis_channels=0)


async def test_a_slow_subscriber_skips_to_the_latest(broker: Broker, redis: Redis) -> None:
    dropped_before = broker.stats()["dropped"]
    async with broker.subscribe(f"{NS}test:slow") as notices:
        # when: ten notices arrive and nobody reads
        await publish(redis, [_notice(f"{NS}test:slow", v) for v in range(1, 11)])
        await _settle(broker, queued=3)
        await asyncio.sleep(0.05)

        # then: only the last three are kept (the queue's bound)
        kept = [await anext(notices) for _ in range(3)]
        assert broker.stats()["queued"] == 0
    assert [n.version for n in kept] == [8, 9, 10]
    assert broker.stats()["dropped"] - dropped_before == 7


async def test_a_coalesced_channel_delivers_the_first_then_the_latest(
    broker: Broker, redis: Redis
) -> None:
    async with broker.subscribe(f"{NS}test:board", coalesce_seconds=0.3) as notices:
        await publish(redis, [_notice(f"{NS}test:board", v) for v in range(1, 6)])

        first = await asyncio.wait_for(anext(notices), 2)
        started = asyncio.get_running_loop().time()
        second = await asyncio.wait_for(anext(notices), 2)
        waited = asyncio.get_running_loop().time() - started
        try:
            async with asyncio.timeout(0.5):
                third: Notice | None = await anext(notices)
        except TimeoutError:
            third = None

    assert (first.version, second.version, third) == (1, 5, None)
    assert waited >= 0.2
    assert (await _settle(broker, timers=0, channels=0))["timers"] == 0


async def test_cancelled_subscribers_leave_nothing_behind(broker: Broker) -> None:
    # given: 300 tasks waiting on 100 channels
    async def wait_forever(channel: str) -> None:
        async with broker.subscribe(channel) as notices:
            await anext(notices)

    tasks = [asyncio.create_task(wait_forever(f"{NS}test:{n % 100}")) for n in range(300)]
    await _settle(broker, subscriptions=300, redis_channels=100)

    # when: they are all cancelled (a dropped socket cancels its operations)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    # then
    stats = await _settle(broker, redis_channels=0)
    assert (stats["subscriptions"], stats["channels"], stats["queued"]) == (0, 0, 0)
    assert stats["redis_channels"] == 0
