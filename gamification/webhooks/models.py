"""The webhooks models (tables and their enums)."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for its next attempt (or being attempted: `leased_until`)
    SUCCEEDED = "SUCCEEDED"  # the receiver answered 2xx
    FAILED = "FAILED"  # gave up after LOYALTY_WEBHOOK_MAX_ATTEMPTS attempts


class WebhookEndpoint(Model):
    """A receiver an admin registered: where to send, which event types (empty: every type),
    and the signing secret (`whsec_…`, shown once). An endpoint that kept failing is switched
    off (`active` false, `disabled_at` set); its pending deliveries wait for it."""

    id = fields.IntField(primary_key=True)
    url = fields.CharField(max_length=2000)
    description = fields.CharField(max_length=200, default="")
    event_types: fields.Field[list[str]] = fields.JSONField(default=list)
    secret = fields.CharField(max_length=100)
    active = fields.BooleanField(default=True)
    consecutive_failures = fields.IntField(default=0)
    failing_since = fields.DatetimeField(null=True)
    disabled_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "webhook_endpoint"


class WebhookDelivery(Model):
    """One event to one endpoint, and how its attempts went (the delivery log). A delivery is
    claimed for an attempt by setting `leased_until`; a worker that dies mid-attempt leaves the
    lease to run out, and the delivery is attempted again (at least once)."""

    id = fields.BigIntField(primary_key=True)
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_seq = fields.BigIntField()  # the outbox event's seq: its order
    event_id = fields.UUIDField()
    event_type = fields.CharField(max_length=64)
    member_id = fields.IntField(null=True)
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    leased_until = fields.DatetimeField(null=True)
    last_attempt_at = fields.DatetimeField(null=True)
    response_code = fields.IntField(null=True)
    latency_ms = fields.IntField(null=True)
    last_error = fields.CharField(max_length=300, default="")
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_delivery"
        unique_together = (("endpoint", "event_seq"),)
        indexes = (("status", "next_attempt_at"), ("endpoint_id", "member_id", "event_seq"))
