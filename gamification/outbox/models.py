"""The outbox models (tables and their enums)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OutboxEvent(Model):
    """What a transaction did, written in that transaction (`gamification.outbox.emit`) and
    handed on after commit. `seq` orders events: a member's events are written under the
    member's account lock, so their `seq` order is their commit order. `event_id` is the stable
    id consumers dedupe by (a webhook's `webhook-id`). `dispatched_at` is set once the event's
    webhook deliveries exist (`gamification.webhooks.deliveries.fan_out`)."""

    seq = fields.BigIntField(primary_key=True)
    event_id = fields.UUIDField(unique=True)
    type = fields.CharField(max_length=64)
    version = fields.SmallIntField(default=1)
    member_id = fields.IntField(null=True)
    payload: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    occurred_at = fields.DatetimeField()
    dispatched_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_event"
        indexes = (("dispatched_at", "seq"), ("occurred_at",))
