"""The events models (tables and their enums)."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member
from gamification.stores.models import Channel


class EventKind(enum.StrEnum):
    PURCHASE_RECORDED = "PURCHASE_RECORDED"
    PURCHASE_REFUNDED = "PURCHASE_REFUNDED"
    REWARD_REDEEMED = "REWARD_REDEEMED"
    POINTS_DONATED = "POINTS_DONATED"
    ECO_ACTION_RECORDED = "ECO_ACTION_RECORDED"
    CHECK_IN = "CHECK_IN"
    TIER_REACHED = "TIER_REACHED"


class DomainEvent(Model):
    """A business fact that can move progress, recorded once (unique `source_key`) in the
    transaction of the fact itself. `qualifying_points` is what it adds to (or, for a refund,
    removes from) the member's tier qualification."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(EventKind, max_length=32)
    source_key = fields.CharField(max_length=200, unique=True)
    occurred_at = fields.DatetimeField()
    local_date = fields.DateField()
    amount = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    quantity = fields.IntField(default=1)
    channel = fields.CharEnumField(Channel, max_length=16)
    store_id = fields.IntField(null=True)
    categories: fields.Field[list[str]] = fields.JSONField(default=list)
    subject = fields.CharField(max_length=40, default="")  # the eco kind, or the tier reached
    qualifying_points = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "domain_event"
        indexes = (("member_id", "occurred_at"), ("member_id", "kind", "local_date"))
