"""The webhook worker: fan out the outbox, claim due deliveries, send them, record the outcome.

`Worker.run(stop)` loops until `stop` is set: each round fans out new outbox events, then
claims as many due deliveries as it has room for (LOYALTY_WEBHOOK_BATCH_SIZE attempts in
flight at most) and starts an attempt for each without waiting for the others, so a slow
receiver does not hold up the rest. It sleeps LOYALTY_WEBHOOK_POLL_INTERVAL_SECONDS when a
round found nothing to do. On `stop` it lets the attempts in flight finish (at most the
timeout); if the process dies instead, their leases run out and they are attempted again.

An attempt: check the target again (SSRF, `gamification.webhooks.targets`), POST the signed
body with the timeout, never follow a redirect. 2xx is a success; anything else (3xx, 4xx,
5xx, a timeout, a refused connection, a TLS failure, a refused target) is a failure, retried
with backoff (`gamification.webhooks.deliveries`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime

import httpx

from gamification import program_settings
from gamification.errors import LoyaltyError
from gamification.webhooks import deliveries, signing, targets

logger = logging.getLogger("loyalty.webhooks")


class Worker:
    """Delivers webhooks until stopped. `client` is the HTTP client to send with (one is made
    and closed by `run` when none is given)."""

    def __init__(
        self, client: httpx.AsyncClient | None = None, *, rng: random.Random | None = None
    ) -> None:
        self._client = client
        self._rng = rng or random.Random()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._finished = asyncio.Event()  # an attempt ended: there may be room (or order) again
        # Fan out when the last fan-out found events, or after an idle wait: not on every
        # round of a busy worker whose outbox is empty (each costs a transaction).
        self._fan_out_due = True

    async def run(self, stop: asyncio.Event) -> None:
        owned = self._client is None
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        try:
            while not stop.is_set():
                self._finished.clear()
                if not await self.step():
                    await self._idle(stop)
                    self._fan_out_due = True
            await self.drain()
        finally:
            if owned:
                await self._client.aclose()
                self._client = None

    async def _idle(self, stop: asyncio.Event) -> None:
        """Until the poll interval has passed, `stop` is set or an attempt has ended (the
        member's next event may go, an endpoint has room again)."""
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._finished.wait())]
        try:
            await asyncio.wait(
                waits,
                timeout=program_settings.current().webhook_poll_interval_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for wait in waits:
                wait.cancel()

    async def step(self) -> bool:
        """One round: fan out, then start the attempts there is room for. True when it found
        something to do (the loop goes again at once)."""
        settings = program_settings.current()
        try:
            fanned = await deliveries.fan_out() if self._fan_out_due else 0
            self._fan_out_due = fanned > 0
            room = settings.webhook_batch_size - len(self._in_flight)
            claimed = await deliveries.claim_due(room)
        except Exception:  # a database hiccup: log it, try again next round
            logger.exception("webhook worker round failed")
            return False
        for delivery in claimed:
            task = asyncio.create_task(self.attempt(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return bool(fanned or claimed)

    async def drain(self) -> None:
        """Wait for the attempts in flight."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def attempt(self, claimed: deliveries.Claimed) -> None:
        try:
            await self._attempt(claimed)
        except Exception:
            logger.exception(
                "webhook delivery %s: recording its outcome failed", claimed.delivery_id
            )
        finally:
            self._finished.set()

    async def _attempt(self, claimed: deliveries.Claimed) -> None:
        settings = program_settings.current()
        assert self._client is not None
        try:
            await targets.check_target(claimed.url, settings.webhook_allowed_hosts)
        except LoyaltyError as refused:
            await deliveries.record_failure(claimed, error=refused.message, rng=self._rng)
            return
        body = signing.body_of(
            event_id=claimed.event_id,
            type=claimed.event_type,
            version=claimed.version,
            occurred_at=claimed.occurred_at,
            data=claimed.data,
        )
        headers = signing.signed_headers(claimed.secret, claimed.event_id, body, datetime.now(UTC))
        started = time.perf_counter()
        try:
            response = await self._client.post(
                claimed.url,
                content=body.encode(),
                headers=headers,
                timeout=settings.webhook_timeout_seconds,
                follow_redirects=False,
            )
        except httpx.TimeoutException:
            await deliveries.record_failure(
                claimed, error="timeout", latency_ms=_since(started), rng=self._rng
            )
            return
        except httpx.HTTPError as error:
            await deliveries.record_failure(
                claimed,
                error=f"{type(error).__name__}: {error}"[:300],
                latency_ms=_since(started),
                rng=self._rng,
            )
            return
        latency = _since(started)
        if 200 <= response.status_code < 300:
            await deliveries.record_success(
                claimed, response_code=response.status_code, latency_ms=latency
            )
        else:
            await deliveries.record_failure(
                claimed,
                error=f"HTTP {response.status_code}",
                response_code=response.status_code,
                latency_ms=latency,
                rng=self._rng,
            )


def _since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
