"""The process's one Redis pub/sub connection, fanned out to its in-process subscribers.

Every GraphQL subscription in this process subscribes here, never to Redis itself: the broker
holds one `PubSub` (one Redis connection, outside the pool's count of commands in flight),
SUBSCRIBEs to a channel when its first local subscriber arrives and UNSUBSCRIBEs when its last
one leaves. One reader task reads every message and puts it on each local subscriber's queue.

- Bounded memory: each subscriber's queue holds at most `realtime_queue_size` notices. A
  client too slow to keep up skips to the latest: the oldest queued notice is dropped (and
  counted) to make room. Every notice carries a version, so the client can tell.
- Coalescing: a channel subscribed with `coalesce_seconds` delivers at most one notice per
  interval; notices arriving in between are replaced by the latest, delivered when the
  interval ends (the leaderboards use this).
- Nothing is left behind: leaving a subscription (a client's `complete`, a dropped socket, a
  cancelled task) removes its queue synchronously, in a `finally` that never awaits; the
  Redis-side UNSUBSCRIBE is sent by the one task that keeps Redis in step with the local
  channels, in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from gamification import redis_keys
from gamification.events.realtime import Notice

logger = logging.getLogger("loyalty.realtime")

_BATCH: Final = 1000
_RETRY_SECONDS: Final = 1.0
_READ_TIMEOUT_SECONDS: Final = 1.0
_STOP_TIMEOUT_SECONDS: Final = 2.0


class RealtimeUnavailable(RuntimeError):
    """Redis did not confirm a subscription in time."""


class Subscription:
    """One subscriber's bounded queue; iterate it for the notices.

    Not an `asyncio.Queue`: with thousands of subscribers per process, its three deques and an
    Event (~2.5 KiB even when empty) were a good part of each connection's memory. The one
    consumer waits on a future made only while it waits; the notices, usually none or one,
    sit in a plain list."""

    __slots__ = ("_maxsize", "_notices", "_waiter", "channel", "dropped")

    def __init__(self, channel: str, maxsize: int) -> None:
        self.channel = channel
        self.dropped = 0
        self._maxsize = maxsize
        self._notices: list[Notice] = []
        self._waiter: asyncio.Future[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._notices)

    def offer(self, notice: Notice) -> None:
        if len(self._notices) >= self._maxsize:
            # Skip to the latest: the versions tell the client it missed something.
            del self._notices[0]
            self.dropped += 1
        self._notices.append(notice)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Notice:
        while not self._notices:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._notices.pop(0)


@dataclass(eq=False)
class _Channel:
    name: str
    coalesce_seconds: float
    ready: asyncio.Future[None]
    subscribers: set[Subscription] = field(default_factory=set)
    last_sent: float = float("-inf")
    pending: Notice | None = None
    timer: asyncio.Task[None] | None = None


class Broker:
    def __init__(
        self,
        redis: Redis,
        *,
        queue_size: int,
        namespace: str,
        confirm_timeout_seconds: float = 5.0,
        listeners: Mapping[str, Callable[[str | bytes], None]] | None = None,
    ) -> None:
        """`namespace`: this deployment's channels' (`LOYALTY_REDIS_CHANNEL_NAMESPACE`).
        `listeners`: channels this process hears for itself, not for subscribers (a device
        revocation), subscribed from the start; each message's data goes to its function."""
        self.redis = redis
        # Subscribed from the start, so that the reader always has a connection to read from.
        self.control_channel = redis_keys.control_channel(namespace)
        self.listeners = dict(listeners or {})
        self.queue_size = queue_size
        self.confirm_timeout_seconds = confirm_timeout_seconds
        self._channels: dict[str, _Channel] = {}
        self._requested: set[str] = set()  # SUBSCRIBE sent (and no UNSUBSCRIBE since)
        self._confirmed: set[str] = set()  # Redis said so
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self.delivered = 0
        self.dropped = 0

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(self.control_channel, *self.listeners)
        self._tasks = [
            asyncio.create_task(self._read(self._pubsub), name="realtime-reader"),
            asyncio.create_task(self._keep_in_step(self._pubsub), name="realtime-subscriber"),
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *(c.timer for c in self._channels.values() if c.timer)]:
            task.cancel()
        if self._tasks:
            # Bounded: shutting down must not hang on a read that ignores its cancellation.
            await asyncio.wait(self._tasks, timeout=_STOP_TIMEOUT_SECONDS)
        self._tasks = []
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(_STOP_TIMEOUT_SECONDS):
                    await self._pubsub.aclose()
            self._pubsub = None

    def stats(self) -> dict[str, int]:
        """Counts for the health endpoint and the leak tests."""
        return {
            "channels": len(self._channels),
            "subscriptions": sum(len(c.subscribers) for c in self._channels.values()),
            "queued": sum(s.queued for c in self._channels.values() for s in c.subscribers),
            "timers": sum(1 for c in self._channels.values() if c.timer is not None),
            "redis_channels": len(self._requested),
            "delivered": self.delivered,
            "dropped": self.dropped,
        }

    # --- subscribing -------------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(
        self, channel: str, *, coalesce_seconds: float = 0.0
    ) -> AsyncIterator[AsyncIterator[Notice]]:
        """The notices published on `channel` once Redis has confirmed the subscription, until
        the context exits. Raises RealtimeUnavailable when Redis does not confirm in time."""
        state = self._channels.get(channel)
        if state is None:
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            state = _Channel(channel, coalesce_seconds, ready)
            self._channels[channel] = state
            if channel in self._requested and channel in self._confirmed:
                ready.set_result(None)
            else:
                self._changed.set()
        subscription = Subscription(channel, self.queue_size)
        state.subscribers.add(subscription)
        try:
            try:
                async with asyncio.timeout(self.confirm_timeout_seconds):
                    await asyncio.shield(state.ready)
            except TimeoutError:
                raise RealtimeUnavailable(f"{channel} was not confirmed in time") from None
            yield subscription
        finally:
            self._leave(state, subscription)

    def _leave(self, state: _Channel, subscription: Subscription) -> None:
        # Synchronous on purpose: it runs in `finally` blocks of cancelled tasks.
        state.subscribers.discard(subscription)
        self.dropped += subscription.dropped
        if state.subscribers or self._channels.get(state.name) is not state:
            return
        del self._channels[state.name]
        if state.timer is not None:
            state.timer.cancel()
        if not state.ready.done():
            state.ready.cancel()
        self._changed.set()

    async def _keep_in_step(self, pubsub: PubSub) -> None:
        """Send the SUBSCRIBEs and UNSUBSCRIBEs that make Redis match the local channels."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            wanted = set(self._channels)
            joining = sorted(wanted - self._requested)
            leaving = sorted(self._requested - wanted)
            try:
                for start in range(0, len(joining), _BATCH):
                    batch = joining[start : start + _BATCH]
                    await pubsub.subscribe(*batch)
                    self._requested.update(batch)
                for start in range(0, len(leaving), _BATCH):
                    batch = leaving[start : start + _BATCH]
                    await pubsub.unsubscribe(*batch)
                    self._requested.difference_update(batch)
            except (RedisError, OSError):
                logger.exception("real-time subscription update failed; retrying")
                await asyncio.sleep(_RETRY_SECONDS)
                self._changed.set()

    # --- reading and fanning out -------------------------------------------------------------

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            try:
                message = await pubsub.get_message(timeout=_READ_TIMEOUT_SECONDS)
            except (RedisError, OSError):
                # redis-py reconnects and resubscribes on the next read; what was published
                # meanwhile is lost (at-most-once: clients catch up through the versions).
                logger.exception("real-time reader lost Redis; reconnecting")
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            if message is not None:
                self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind, channel = message["type"], _text(message["channel"])
        if kind == "subscribe":
            self._confirmed.add(channel)
            state = self._channels.get(channel)
            if state is not None and not state.ready.done():
                state.ready.set_result(None)
            return
        if kind == "unsubscribe":
            self._confirmed.discard(channel)
            return
        if kind != "message":
            return
        listener = self.listeners.get(channel)
        if listener is not None:
            try:
                listener(message["data"])
            except Exception:
                logger.exception("a listener failed on %s", channel)
            return
        state = self._channels.get(channel)
        if state is None:
            return
        try:
            notice = Notice.decode(channel, message["data"])
        except ValueError:
            logger.warning("ignored a malformed real-time message on %s", channel)
            return
        if state.coalesce_seconds <= 0:
            self._deliver(state, notice)
            return
        now = time.monotonic()
        if state.timer is None and now - state.last_sent >= state.coalesce_seconds:
            state.last_sent = now
            self._deliver(state, notice)
            return
        state.pending = notice
        if state.timer is None:
            delay = max(0.0, state.last_sent + state.coalesce_seconds - now)
            state.timer = asyncio.create_task(self._deliver_later(state, delay))

    async def _deliver_later(self, state: _Channel, delay: float) -> None:
        await asyncio.sleep(delay)
        state.timer = None
        if state.pending is not None:
            notice, state.pending = state.pending, None
            state.last_sent = time.monotonic()
            self._deliver(state, notice)

    def _deliver(self, state: _Channel, notice: Notice) -> None:
        for subscription in state.subscribers:
            subscription.offer(notice)
        self.delivered += len(state.subscribers)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
