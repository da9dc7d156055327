"""Webhook deliveries against a real HTTP receiver that checks every signature with the Standard
Webhooks reference library: order per member, retries through outages and bad answers, a worker
killed mid-delivery, an endpoint deleted mid-delivery, switching a failing endpoint off, replays."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gamification.members.models import Member
from gamification.outbox.models import OutboxEvent
from gamification.webhooks import deliveries, endpoints
from gamification.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from gamification.webhooks.sending import Worker
from server.settings import Settings
from tests.factories import OverrideSettings, create_member, credit_points
from tests.gamification.webhooks.conftest import RunWorker
from tests.gamification.webhooks.receiver import Received, Receiver, eventually, unique_ids


async def _endpoint(receiver: Receiver, *types: str) -> WebhookEndpoint:
    endpoint = await endpoints.create_endpoint(url=receiver.url, event_types=types)
    receiver.secret = endpoint.secret
    return endpoint


async def _credits(member: Member, count: int) -> None:
    for n in range(count):
        await credit_points(member=member, points=n + 1)


def _entry_ids_per_member(received: list[Received]) -> dict[int, list[int]]:
    """Each member's ledger entry ids in the order the receiver first accepted them."""
    order: dict[int, list[int]] = defaultdict(list)
    for webhook_id in unique_ids(received):
        item = next(r for r in received if r.webhook_id == webhook_id)
        order[item.data["memberId"]].append(item.data["entryId"])
    return order


async def _all_delivered() -> bool:
    return not await WebhookDelivery.filter(status__not=DeliveryStatus.SUCCEEDED).exists()


async def test_events_reach_the_endpoint_signed_and_in_each_members_order(
    receiver: Receiver, run_worker: RunWorker
) -> None:
    # given: an endpoint for points, and two members' points changing
    await receiver.start()
    endpoint = await _endpoint(receiver, "points.changed")
    ann, bob = await create_member(), await create_member()
    await _credits(ann, 4)
    await _credits(bob, 3)
    expected = await OutboxEvent.filter(type="points.changed").count()

    # when
    await run_worker()
    await receiver.wait_for(lambda: len(unique_ids(receiver.accepted)) == expected)

    # then: every event once, verified, each member's in the order they happened
    assert receiver.unverified == 0
    order = _entry_ids_per_member(receiver.accepted)
    assert order[ann.id] == sorted(order[ann.id])
    assert len(order[ann.id]) == 4
    assert order[bob.id] == sorted(order[bob.id])
    assert len(order[bob.id]) == 3
    first = receiver.accepted[0].body
    assert set(first) == {"id", "type", "version", "timestamp", "data"}
    assert first["id"] == receiver.accepted[0].webhook_id
    # and: the delivery log says so
    await eventually(_all_delivered, within=5)
    logged = await WebhookDelivery.filter(endpoint_id=endpoint.id)
    assert len(logged) == expected
    assert all(d.response_code == 200 and d.attempts >= 1 for d in logged)
    assert all(d.latency_ms is not None and d.delivered_at is not None for d in logged)


async def test_a_receiver_down_for_a_while_gets_every_event_in_order_once_it_recovers(
    receiver: Receiver, run_worker: RunWorker
) -> None:
    # given: the receiver is down (its port refuses connections) while points change
    await _endpoint(receiver, "points.changed")
    ann, bob = await create_member(), await create_member()
    await _credits(ann, 5)
    await _credits(bob, 5)
    await run_worker()

    # when: the worker has failed a few times on each member's first event
    async def two_retried() -> bool:
        return await WebhookDelivery.filter(attempts__gte=3).count() >= 2

    await eventually(two_retried)

    # then: only each member's first event was tried (the rest wait behind it), and logged
    tried = await WebhookDelivery.filter(attempts__gt=0)
    assert {d.member_id for d in tried} == {ann.id, bob.id}
    assert len(tried) == 2
    assert all("ConnectError" in d.last_error and d.response_code is None for d in tried)
    assert all(d.status is DeliveryStatus.PENDING for d in tried)

    # when: the receiver comes back
    await receiver.start()
    await receiver.wait_for(lambda: len(unique_ids(receiver.accepted)) == 10)

    # then: everything, in each member's order
    order = _entry_ids_per_member(receiver.accepted)
    assert order[ann.id] == sorted(order[ann.id])
    assert len(order[ann.id]) == 5
    assert order[bob.id] == sorted(order[bob.id])
    assert len(order[bob.id]) == 5


_BAD_ANSWERS = pytest.mark.parametrize(
    ("failure", "code", "error"),
    [
        (503, 503, "HTTP 503"),
        (404, 404, "HTTP 404"),
        (302, 302, "HTTP 302"),  # never followed: a redirect is a failure
        ("slow", None, "timeout"),  # answers 200, after the sender gave up
    ],
)


@pytest.mark.parametrize("failure", [500, 404, 302, "slow"])
async def test_bad_answers_are_retried_until_delivered(
    receiver: Receiver,
    run_worker: RunWorker,
    override_settings: OverrideSettings,
    failure: int | str,
) -> None:
    # given: a receiver that fails twice, then answers 200 at once
    slow = failure == "slow"
    if slow:
        override_settings(webhook_timeout_seconds=0.3)
    await receiver.start()
    await _endpoint(receiver, "points.changed")
    calls = 0
    receiver.delay = 0.6 if slow else 0.0  # past the sender's timeout

    def answer(received: Received) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            receiver.delay = 0.0  # the third request is answered at once
        if calls <= 2:
            return 200 if slow else int(failure)
        return 200

    receiver.answer = answer
    await credit_points(member=await create_member(), points=5)

    # when
    await run_worker()
    await receiver.wait_for(lambda: calls >= 3 and len(receiver.requests) >= 3)
    await eventually(_all_delivered, within=5)

    # then: one event, attempted until answered in time, under one webhook-id (a slow
    # receiver's late answers count as failures: it sees the retries and dedupes them)
    assert len(unique_ids(receiver.requests)) == 1
    delivery = await WebhookDelivery.get()
    assert delivery.attempts >= len(receiver.requests) >= 3
    assert delivery.response_code == 200
    assert delivery.last_error == ""


async def test_a_failed_attempt_waits_a_jittered_exponential_backoff(
    override_settings: OverrideSettings,
) -> None:
    override_settings(webhook_backoff_base_seconds=2.0, webhook_backoff_max_seconds=30.0)
    for attempts, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 30.0), (40, 30.0)]:
        waits = [deliveries.backoff_seconds(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), attempts
        assert len(set(waits)) > 1  # jittered


@_BAD_ANSWERS
async def test_a_failed_attempt_is_logged_with_its_next_attempt(
    receiver: Receiver,
    override_settings: OverrideSettings,
    failure: int | str,
    code: int | None,
    error: str,
) -> None:
    # given: a due delivery to a receiver that answers badly (or too late)
    override_settings(
        webhook_backoff_base_seconds=60.0,
        webhook_backoff_max_seconds=600.0,
        webhook_timeout_seconds=0.3,
    )
    await receiver.start()
    receiver.answer = lambda received: 200 if failure == "slow" else int(failure)
    receiver.delay = 0.6 if failure == "slow" else 0.0
    await _endpoint(receiver, "points.changed")
    await credit_points(member=await create_member(), points=5)
    await deliveries.fan_out()
    (claimed,) = await deliveries.claim_due(10)

    # when: one attempt
    before = datetime.now(UTC)
    async with httpx.AsyncClient() as client:
        await Worker(client).attempt(claimed)

    # then
    delivery = await WebhookDelivery.get(id=claimed.delivery_id)
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.response_code == code
    assert delivery.last_error == error
    assert delivery.latency_ms is not None
    assert delivery.leased_until is None
    wait = delivery.next_attempt_at - before
    assert timedelta(seconds=30) <= wait <= timedelta(seconds=61)
    assert await deliveries.claim_due(10) == []  # not due yet


async def test_a_worker_killed_mid_delivery_loses_nothing(
    receiver: Receiver, run_worker: RunWorker, settings: Settings
) -> None:
    # given: a slow receiver, and a worker in its own process that is sending to it
    await receiver.start()
    receiver.delay = 0.5
    await _endpoint(receiver, "points.changed")
    await credit_points(member=await create_member(), points=5)
    environment = {
        **os.environ,
        "LOYALTY_DATABASE_URL": settings.database_url,
        "LOYALTY_REDIS_URL": settings.redis_url,
        "LOYALTY_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "LOYALTY_WEBHOOK_TIMEOUT_SECONDS": "1",
        "LOYALTY_WEBHOOK_POLL_INTERVAL_SECONDS": "0.05",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "worker", env=environment
    )
    try:
        await receiver.wait_for(lambda: len(receiver.requests) == 1, within=30)
        # when: the worker is killed while the receiver holds its request
        process.send_signal(signal.SIGKILL)
    finally:
        await process.wait()
    assert not receiver.accepted or len(receiver.accepted) <= 1

    # then: another worker sends it again once the lease runs out (at least once)
    receiver.delay = 0.0
    await run_worker()
    await receiver.wait_for(lambda: len(receiver.requests) >= 2, within=15)
    assert len(unique_ids(receiver.requests)) == 1
    await eventually(_all_delivered, within=5)


async def test_an_endpoint_deleted_mid_delivery_is_no_trouble(
    receiver: Receiver, run_worker: RunWorker
) -> None:
    # given: a delivery in flight to a slow receiver
    await receiver.start()
    receiver.delay = 0.3
    endpoint = await _endpoint(receiver, "points.changed")
    member = await create_member()
    await credit_points(member=member, points=5)
    await run_worker()
    await receiver.wait_for(lambda: len(receiver.requests) == 1)

    # when: the endpoint is deleted before the receiver answers
    await endpoints.delete_endpoint(endpoint.id)

    # then: its log is gone, and the worker goes on delivering to others
    other = Receiver()
    await other.start()
    try:
        await _endpoint(other, "points.changed")
        await credit_points(member=member, points=6)
        await other.wait_for(lambda: len(other.accepted) == 1)
    finally:
        await other.stop()
    assert not await WebhookDelivery.filter(endpoint_id=endpoint.id).exists()


async def test_an_endpoint_failing_without_a_break_is_switched_off_with_an_event(
    receiver: Receiver, run_worker: RunWorker, override_settings: OverrideSettings
) -> None:
    # given: an endpoint that always answers 500, and a monitor subscribed to switch-offs
    override_settings(webhook_disable_after_failures=3, webhook_disable_after_minutes=0)
    await receiver.start()
    receiver.answer = lambda received: 500
    failing = await _endpoint(receiver, "points.changed")
    monitor = Receiver()
    await monitor.start()
    try:
        await _endpoint(monitor, "webhook_endpoint.disabled")
        await credit_points(member=await create_member(), points=5)

        # when
        await run_worker()
        await monitor.wait_for(lambda: len(monitor.accepted) == 1)
    finally:
        await monitor.stop()

    # then: switched off after three failures, said so, its delivery waiting for it
    event = monitor.accepted[0]
    assert event.type == "webhook_endpoint.disabled"
    assert event.data["endpointId"] == failing.id
    assert event.data["consecutiveFailures"] == 3
    await failing.refresh_from_db()
    assert not failing.active
    assert failing.disabled_at is not None
    assert len(receiver.requests) == 3
    (waiting,) = await WebhookDelivery.filter(endpoint_id=failing.id)
    assert waiting.status is DeliveryStatus.PENDING

    # when: switched on again, with the receiver fixed
    receiver.answer = lambda received: 200
    await endpoints.update_endpoint(failing.id, active=True)
    await receiver.wait_for(lambda: len(receiver.accepted) == 1)


async def test_one_delivery_or_a_time_range_is_sent_again(
    receiver: Receiver, run_worker: RunWorker
) -> None:
    # given: events from before the endpoint existed, and one delivered since
    member = await create_member()
    await _credits(member, 3)
    assert await deliveries.fan_out() == 3  # handed on to nobody: there was no endpoint
    await receiver.start()
    endpoint = await _endpoint(receiver, "points.changed")
    await credit_points(member=member, points=10)
    await run_worker()
    await receiver.wait_for(lambda: len(receiver.accepted) == 1)
    await eventually(_all_delivered, within=5)
    delivered = await WebhookDelivery.get()

    # when: that delivery is replayed
    await deliveries.replay_delivery(delivered.id)

    # then: sent again, under the same webhook-id
    await receiver.wait_for(lambda: len(receiver.accepted) == 2)
    assert receiver.accepted[1].webhook_id == receiver.accepted[0].webhook_id

    # when: the last hour is replayed
    now = datetime.now(UTC)
    replayed = await deliveries.replay_range(
        endpoint.id, since=now - timedelta(hours=1), until=now + timedelta(seconds=1)
    )

    # then: all four events, the older three included, in order
    assert replayed == 4
    await receiver.wait_for(lambda: len(receiver.accepted) == 6)
    order = _entry_ids_per_member(receiver.accepted[2:])
    assert order[member.id] == sorted(order[member.id])
    assert len(order[member.id]) == 4


async def test_a_target_refused_at_delivery_is_a_logged_failure_and_no_request(
    receiver: Receiver, run_worker: RunWorker, override_settings: OverrideSettings
) -> None:
    # given: an endpoint registered while loopback was allowed, then no longer allowed
    await receiver.start()
    await _endpoint(receiver, "points.changed")
    override_settings(webhook_allowed_hosts=[])
    await credit_points(member=await create_member(), points=5)

    # when
    await run_worker()
    await eventually(WebhookDelivery.filter(attempts__gte=2).exists)

    # then
    delivery = await WebhookDelivery.get()
    assert "private" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.postgres
async def test_two_workers_never_send_one_delivery_twice(
    receiver: Receiver, run_worker: RunWorker
) -> None:
    # given: many members' events
    await receiver.start()
    await _endpoint(receiver, "points.changed")
    for _ in range(10):
        await _credits(await create_member(), 4)

    # when: two workers deliver them
    await run_worker()
    await run_worker()
    await receiver.wait_for(lambda: len(unique_ids(receiver.accepted)) == 40)

    # then: each once, in each member's order
    assert len(receiver.requests) == 40
    for entries in _entry_ids_per_member(receiver.accepted).values():
        assert entries == sorted(entries)
        assert len(entries) == 4
