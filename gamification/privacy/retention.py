"""Retention: what is deleted once it is no longer needed (`loyalty purge`, run on a schedule).

Each rule names a table, the column that dates a row and the setting that says how long rows
are kept after that date:
- redemption tokens (the app's one-time codes), `LOYALTY_RETENTION_REDEMPTION_TOKEN_DAYS` after
  they expired, used or not;
- idempotency keys (stored requests and their answers), `LOYALTY_RETENTION_IDEMPOTENCY_KEY_DAYS`
  after the request: a client retries within minutes, not months;
- the webhook delivery log (deliveries that succeeded or were given up) and outbox events
  already handed on, `LOYALTY_RETENTION_DELIVERY_LOG_DAYS` after they were made or dispatched
  (pending deliveries and undispatched events are never purged).
Kiosk requests live in Redis and expire there by themselves (an hour after their deadline).
A table added later whose rows only matter for a while adds its rule here.

Rows go in batches of `_BATCH`, each its own statement, so a purge never holds long locks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from tortoise.models import Model

from gamification import program_settings
from gamification.ledger.models import IdempotencyKey
from gamification.outbox.models import OutboxEvent
from gamification.rewards.models import RedemptionToken
from gamification.webhooks.models import DeliveryStatus, WebhookDelivery
from server.settings import Settings

_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class PurgeRule:
    name: str
    model: type[Model]
    dated_by: str  # the column a row's age is counted from
    days: Callable[[Settings], int]
    only: dict[str, object] = field(default_factory=dict)  # rows that may go at all


RULES: Final[tuple[PurgeRule, ...]] = (
    PurgeRule(
        "redemption_tokens",
        RedemptionToken,
        "expires_at",
        lambda s: s.retention_redemption_token_days,
    ),
    PurgeRule(
        "idempotency_keys",
        IdempotencyKey,
        "created_at",
        lambda s: s.retention_idempotency_key_days,
    ),
    PurgeRule(
        "webhook_deliveries",
        WebhookDelivery,
        "created_at",
        lambda s: s.retention_delivery_log_days,
        only={"status__in": [DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED]},
    ),
    PurgeRule(
        "outbox_events",
        OutboxEvent,
        "dispatched_at",
        lambda s: s.retention_delivery_log_days,
    ),
)


async def _purge(rule: PurgeRule, cutoff: datetime) -> int:
    pk = rule.model._meta.pk_attr
    deleted = 0
    while True:
        ids = await (
            rule.model.filter(**{f"{rule.dated_by}__lt": cutoff}, **rule.only)
            .order_by(pk)
            .limit(_BATCH)
            .values_list(pk, flat=True)
        )
        if not ids:
            return deleted
        deleted += await rule.model.filter(**{f"{pk}__in": list(ids)}).delete()


async def purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what every rule says is past retention; return the rows deleted per rule."""
    now = now or datetime.now(UTC)
    settings = program_settings.current()
    return {
        rule.name: await _purge(rule, now - timedelta(days=rule.days(settings))) for rule in RULES
    }
