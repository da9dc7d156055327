"""Webhook deliveries: from the outbox to each endpoint, one attempt at a time.

1. `fan_out`: outbox events not yet handed on become one PENDING delivery per active endpoint
   that wants their type, and are marked dispatched, in one transaction. One fan-out runs at a
   time (a transaction-scoped advisory lock on PostgreSQL), so deliveries appear in `seq`
   order.
2. `claim_due`: deliveries whose time has come are leased (`leased_until`, `attempts` + 1) in
   one transaction: on PostgreSQL `FOR UPDATE … SKIP LOCKED`, so several workers never claim
   the same one (on SQLite run a single worker). A delivery is due only when no earlier
   delivery of the same member to the same endpoint is still PENDING: a member's events reach
   an endpoint in order. An endpoint has at most LOYALTY_WEBHOOK_ENDPOINT_CONCURRENCY
   attempts in flight (counted from the leases, so across workers too, give or take two
   claims at the same instant).
3. The attempt runs outside any transaction (`gamification.webhooks.sending`); then
   `record_success` or `record_failure` writes the outcome, only if the lease is still theirs
   (`attempts` unchanged). A worker that died mid-attempt records nothing: the lease runs out
   and the delivery is attempted again. Delivery is at least once; receivers dedupe by
   `webhook-id`.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification import program_settings, sql
from gamification.errors import ErrorCode, InvalidInput, NotFound
from gamification.outbox.emit import emit
from gamification.outbox.models import OutboxEvent
from gamification.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

_FAN_OUT_LOCK: Final = 0x10_0A_17  # pg_try_advisory_xact_lock key: one fan-out at a time
_INSERT_CHUNK: Final = 400
_PENDING: Final = DeliveryStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased for one attempt, with what the attempt needs."""

    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    attempts: int  # this attempt's number: the lease is ours while the row still says so
    event_id: str
    event_type: str
    version: int
    occurred_at: datetime
    data: dict[str, Any]
    endpoint_failing: bool = False  # its failure count is not 0: a success resets it


def _moment(value: Any) -> datetime:
    """A timestamp read with raw SQL (SQLite gives text)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json(value: Any) -> dict[str, Any]:
    return dict(json.loads(value)) if isinstance(value, str | bytes) else dict(value or {})


def _wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


async def _insert_deliveries(
    conn: BaseDBAsyncClient, rows: Sequence[tuple[Any, ...]], *, replay: bool = False
) -> None:
    """Insert (endpoint_id, event_seq, event_id, event_type, member_id, next_attempt_at,
    created_at) rows; with `replay`, a delivery already there is made PENDING again."""
    on_conflict = (
        f'DO UPDATE SET "status" = \'{_PENDING}\', "attempts" = 0, '
        '"next_attempt_at" = excluded."next_attempt_at"'
        if replay
        else "DO NOTHING"
    )
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        values: list[Any] = []
        tuples = []
        for row in chunk:
            base = len(values)
            endpoint_id, seq, event_id, event_type, member_id, due, created = row
            values += [endpoint_id, seq, event_id, event_type, member_id, due, created]
            tuples.append(
                f"(${base + 1}, ${base + 2}, ${base + 3}, ${base + 4}, ${base + 5}, "
                f"'{_PENDING}', 0, ${base + 6}, '', ${base + 7})"
            )
        statement = (
            'INSERT INTO "webhook_delivery" ("endpoint_id", "event_seq", "event_id", '
            '"event_type", "member_id", "status", "attempts", "next_attempt_at", "last_error", '
            '"created_at") VALUES '
            + ", ".join(tuples)
            + ' ON CONFLICT ("endpoint_id", "event_seq") '
            + on_conflict
        )
        await sql.fetch(conn, statement, *values)


async def fan_out(now: datetime | None = None, limit: int | None = None) -> int:
    """Turn up to `limit` undispatched outbox events into deliveries; return how many events
    were handed on (0 also when another worker is fanning out right now)."""
    now = now or datetime.now(UTC)
    limit = limit or program_settings.current().webhook_batch_size
    async with in_transaction() as conn:
        postgres = sql.is_postgres(conn)
        if postgres:
            locked = await sql.fetch(
                conn, "SELECT pg_try_advisory_xact_lock($1) AS ok", _FAN_OUT_LOCK
            )
            if not locked[0]["ok"]:
                return 0
        events = await sql.fetch(
            conn,
            'SELECT "seq", "event_id", "type", "member_id" FROM "outbox_event" '
            'WHERE "dispatched_at" IS NULL ORDER BY "seq" LIMIT $1',
            limit,
        )
        if not events:
            return 0
        endpoints = await WebhookEndpoint.filter(active=True).using_db(conn)
        rows = [
            (
                endpoint.id,
                int(event["seq"]),
                str(event["event_id"]),
                event["type"],
                event["member_id"],
                now,
                now,
            )
            for event in events
            for endpoint in endpoints
            if _wants(endpoint, event["type"])
        ]
        await _insert_deliveries(conn, rows)
        await (
            OutboxEvent.filter(seq__in=[int(e["seq"]) for e in events])
            .using_db(conn)
            .update(dispatched_at=now)
        )
    return len(events)


_CANDIDATES: Final = f"""
SELECT d."id", d."endpoint_id"
FROM "webhook_delivery" d JOIN "webhook_endpoint" e ON e."id" = d."endpoint_id"
WHERE d."status" = '{_PENDING}' AND e."active" AND d."next_attempt_at" <= $1
  AND (d."leased_until" IS NULL OR d."leased_until" <= $1)
  AND NOT EXISTS (
    SELECT 1 FROM "webhook_delivery" p
    WHERE p."endpoint_id" = d."endpoint_id" AND p."member_id" = d."member_id"
      AND p."status" = '{_PENDING}' AND p."event_seq" < d."event_seq")
ORDER BY d."event_seq"
LIMIT $2
"""

_IN_FLIGHT: Final = f"""
SELECT "endpoint_id", COUNT(*) AS n FROM "webhook_delivery"
WHERE "status" = '{_PENDING}' AND "leased_until" > $1
GROUP BY "endpoint_id"
"""

_CLAIMED: Final = """
SELECT d."id", d."endpoint_id", d."attempts", e."url", e."secret", o."event_id", o."type",
    o."version", o."occurred_at", o."payload", e."consecutive_failures"
FROM "webhook_delivery" d
JOIN "webhook_endpoint" e ON e."id" = d."endpoint_id"
JOIN "outbox_event" o ON o."seq" = d."event_seq"
WHERE d."id" IN ({ids})
ORDER BY d."event_seq"
"""


def lease_seconds() -> float:
    """How long an attempt may take before its delivery is claimed again."""
    return 2 * program_settings.current().webhook_timeout_seconds + 1


async def claim_due(
    limit: int, now: datetime | None = None, *, skip_endpoints: frozenset[int] = frozenset()
) -> list[Claimed]:
    """Lease up to `limit` due deliveries (see the module), oldest events first."""
    if limit <= 0:
        return []
    now = now or datetime.now(UTC)
    settings = program_settings.current()
    until = now + timedelta(seconds=lease_seconds())
    async with in_transaction() as conn:
        statement = _CANDIDATES
        if sql.is_postgres(conn):
            statement += " FOR UPDATE OF d SKIP LOCKED"
        candidates = await sql.fetch(conn, statement, now, limit * 4)
        if not candidates:
            return []
        in_flight = Counter(
            {
                int(row["endpoint_id"]): int(row["n"])
                for row in await sql.fetch(conn, _IN_FLIGHT, now)
            }
        )
        chosen: list[int] = []
        for row in candidates:
            endpoint_id = int(row["endpoint_id"])
            if endpoint_id in skip_endpoints:
                continue
            if in_flight[endpoint_id] >= settings.webhook_endpoint_concurrency:
                continue
            in_flight[endpoint_id] += 1
            chosen.append(int(row["id"]))
            if len(chosen) >= limit:
                break
        if not chosen:
            return []
        await (
            WebhookDelivery.filter(id__in=chosen)
            .using_db(conn)
            .update(leased_until=until, last_attempt_at=now)
        )
        await sql.fetch(
            conn,
            'UPDATE "webhook_delivery" SET "attempts" = "attempts" + 1 WHERE "id" IN ('
            + ", ".join(str(i) for i in chosen)
            + ")",
        )
        rows = await sql.fetch(conn, _CLAIMED.format(ids=", ".join(str(i) for i in chosen)))
    return [
        Claimed(
            delivery_id=int(row["id"]),
            endpoint_id=int(row["endpoint_id"]),
            url=row["url"],
            secret=row["secret"],
            attempts=int(row["attempts"]),
            event_id=str(uuid.UUID(str(row["event_id"]))),
            event_type=row["type"],
            version=int(row["version"]),
            occurred_at=_moment(row["occurred_at"]),
            data=_json(row["payload"]),
            endpoint_failing=int(row["consecutive_failures"]) > 0,
        )
        for row in rows
    ]


def backoff_seconds(attempts: int, rng: random.Random | None = None) -> float:
    """The wait after failed attempt number `attempts`: base * 2^(attempts-1), at most the
    maximum, jittered down to half (so that retries of many deliveries spread out)."""
    settings = program_settings.current()
    ceiling = min(
        settings.webhook_backoff_max_seconds,
        settings.webhook_backoff_base_seconds * 2 ** min(attempts - 1, 30),
    )
    return (rng or random).uniform(ceiling / 2, ceiling)


async def record_success(
    claimed: Claimed, *, response_code: int, latency_ms: int, now: datetime | None = None
) -> bool:
    """The receiver answered 2xx. False when the lease was no longer ours (nothing written)."""
    now = now or datetime.now(UTC)
    # One statement (no transaction) in the common case: the endpoint was not failing.
    updated = await WebhookDelivery.filter(
        id=claimed.delivery_id, attempts=claimed.attempts, status=DeliveryStatus.PENDING
    ).update(
        status=DeliveryStatus.SUCCEEDED,
        leased_until=None,
        response_code=response_code,
        latency_ms=latency_ms,
        delivered_at=now,
        last_error="",
    )
    if updated and claimed.endpoint_failing:
        await WebhookEndpoint.filter(id=claimed.endpoint_id, consecutive_failures__gt=0).update(
            consecutive_failures=0, failing_since=None
        )
    return bool(updated)


async def record_failure(
    claimed: Claimed,
    *,
    error: str,
    response_code: int | None = None,
    latency_ms: int | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> bool:
    """The attempt failed (no answer in time, not 2xx, refused target…): retry after a backoff,
    or give up (FAILED) after the last attempt; count the endpoint's failures and switch it
    off when they last (emitting `webhook_endpoint.disabled` in the same transaction). False
    when the lease was no longer ours (nothing written)."""
    now = now or datetime.now(UTC)
    settings = program_settings.current()
    gave_up = claimed.attempts >= settings.webhook_max_attempts
    async with in_transaction() as conn:
        changes: dict[str, Any] = {
            "leased_until": None,
            "response_code": response_code,
            "latency_ms": latency_ms,
            "last_error": error[:300],
        }
        if gave_up:
            changes["status"] = DeliveryStatus.FAILED
        else:
            changes["next_attempt_at"] = now + timedelta(
                seconds=backoff_seconds(claimed.attempts, rng)
            )
        updated = (
            await WebhookDelivery.filter(
                id=claimed.delivery_id, attempts=claimed.attempts, status=DeliveryStatus.PENDING
            )
            .using_db(conn)
            .update(**changes)
        )
        if updated:
            await _count_failure(conn, claimed.endpoint_id, now)
    return bool(updated)


async def _count_failure(conn: BaseDBAsyncClient, endpoint_id: int, now: datetime) -> None:
    settings = program_settings.current()
    endpoint = await WebhookEndpoint.filter(id=endpoint_id).using_db(conn).first()
    if endpoint is None:
        return
    endpoint.consecutive_failures += 1
    endpoint.failing_since = endpoint.failing_since or now
    fields = ["consecutive_failures", "failing_since"]
    lasting = now - endpoint.failing_since >= timedelta(
        minutes=settings.webhook_disable_after_minutes
    )
    disable = (
        endpoint.active
        and endpoint.consecutive_failures >= settings.webhook_disable_after_failures
        and lasting
    )
    if disable:
        endpoint.active = False
        endpoint.disabled_at = now
        endpoint.updated_at = now
        fields += ["active", "disabled_at", "updated_at"]
        await emit(
            conn,
            type="webhook_endpoint.disabled",
            member_id=None,
            data={
                "endpointId": endpoint.id,
                "url": endpoint.url,
                "consecutiveFailures": endpoint.consecutive_failures,
                "failingSince": endpoint.failing_since.isoformat(),
            },
            occurred_at=now,
        )
    await endpoint.save(using_db=conn, update_fields=fields)


async def replay_delivery(delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Send the delivery again (whatever its status), from a fresh count of attempts.
    Raises NotFound(WEBHOOK_DELIVERY_NOT_FOUND)."""
    now = now or datetime.now(UTC)
    updated = await WebhookDelivery.filter(id=delivery_id).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now
    )
    delivery = await WebhookDelivery.get_or_none(id=delivery_id) if updated else None
    if delivery is None:
        raise NotFound(
            "No such webhook delivery", code=ErrorCode.WEBHOOK_DELIVERY_NOT_FOUND, field="id"
        )
    return delivery


_MAX_REPLAY: Final = 100_000


async def replay_range(
    endpoint_id: int, *, since: datetime, until: datetime, now: datetime | None = None
) -> int:
    """Send the endpoint every event of its types that occurred in [since, until) again,
    including events from before it existed or while it was off; return how many.

    Raises NotFound(WEBHOOK_ENDPOINT_NOT_FOUND), InvalidInput(INVALID_TIME_RANGE) when the
    range is empty or holds more than 100,000 events."""
    now = now or datetime.now(UTC)
    if since >= until:
        raise InvalidInput(
            "`since` must be before `until`", code=ErrorCode.INVALID_TIME_RANGE, field="since"
        )
    async with in_transaction() as conn:
        endpoint = await WebhookEndpoint.filter(id=endpoint_id).using_db(conn).first()
        if endpoint is None:
            raise NotFound(
                "No such webhook endpoint",
                code=ErrorCode.WEBHOOK_ENDPOINT_NOT_FOUND,
                field="endpointId",
            )
        query = OutboxEvent.filter(occurred_at__gte=since, occurred_at__lt=until)
        if endpoint.event_types:
            query = query.filter(type__in=endpoint.event_types)
        events = (
            await query.using_db(conn)
            .order_by("seq")
            .limit(_MAX_REPLAY + 1)
            .values_list("seq", "event_id", "type", "member_id")
        )
        if len(events) > _MAX_REPLAY:
            raise InvalidInput(
                f"More than {_MAX_REPLAY} events in the range: replay a shorter one",
                code=ErrorCode.INVALID_TIME_RANGE,
                field="since",
            )
        rows = [
            (endpoint.id, int(seq), str(event_id), event_type, member_id, now, now)
            for seq, event_id, event_type, member_id in events
        ]
        await _insert_deliveries(conn, rows, replay=True)
    return len(rows)
