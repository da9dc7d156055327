"""Barriers for "nothing else arrives" checks: instead of waiting a while and finding nothing
(which a late message would pass), publish a marker on the same channel after the action and
read up to it. A channel delivers in publish order, and everything the action published went
out before its mutation answered, so whatever the action sent is ahead of the marker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from gamification.events.realtime import Notice, Topic, publish

BARRIER_VERSION = -1  # no real notice has a negative version
BARRIER_CHALLENGE = 2**31 - 1  # no challenge has this id


async def publish_barrier(
    redis: Redis, channel: str, topic: Topic = Topic.POINTS_CHANGED, **data: Any
) -> None:
    sent = await publish(redis, [Notice(channel, topic, BARRIER_VERSION, data)])
    assert sent == 1, "the barrier was not published"


def is_barrier(notice: Notice) -> bool:
    return notice.version == BARRIER_VERSION


async def until_barrier(notices: AsyncIterator[Notice], *, within: float = 5) -> list[Notice]:
    """Every notice ahead of the barrier on this stream."""
    ahead: list[Notice] = []
    async with asyncio.timeout(within):
        async for notice in notices:
            if is_barrier(notice):
                return ahead
            ahead.append(notice)
    raise AssertionError("the stream ended before the barrier")


async def queued_until_barrier(queue: asyncio.Queue[Notice], *, within: float = 5) -> list[Notice]:
    """Every notice a forwarding task queued ahead of the barrier."""
    ahead: list[Notice] = []
    async with asyncio.timeout(within):
        while not is_barrier(notice := await queue.get()):
            ahead.append(notice)
    return ahead


def challenge_progress_barrier() -> dict[str, Any]:
    """What a `challengeProgress` notice carries, for a challenge that does not exist."""
    return {
        "challenge_id": BARRIER_CHALLENGE,
        "current": "0",
        "target": "1",
        "percent": 0,
        "completions": 0,
        "completed": False,
        "streak": 0,
    }
