"""The earning models (tables and their enums)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member
from gamification.stores.models import Channel, Store


class EarnRule(Model):
    """How purchases in one currency earn points. Rates are decimal strings, points integers."""

    id = fields.IntField(primary_key=True)
    currency = fields.CharField(max_length=3, unique=True)
    points_per_unit = fields.DecimalField(max_digits=12, decimal_places=4)
    minimum_spend = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    category_multipliers: fields.Field[dict[str, str]] = fields.JSONField(
        default=dict
    )  # {"organic": "2"}
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "earn_rule"


class EarnPromotion(Model):
    """A multiplier on one channel's earnings for a period (e.g. double points in the app)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    channel = fields.CharEnumField(Channel, max_length=16)
    multiplier = fields.DecimalField(max_digits=8, decimal_places=4)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()

    class Meta:
        table = "earn_promotion"


class Purchase(Model):
    """A purchase as recorded by a device, staff or the web shop, with the points it earned.

    The same external id from the same channel and store is the same purchase."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="purchases", on_delete=fields.RESTRICT
    )
    channel = fields.CharEnumField(Channel, max_length=16)
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="purchases", on_delete=fields.RESTRICT
    )
    external_id = fields.CharField(max_length=128)
    amount = fields.DecimalField(max_digits=14, decimal_places=2)
    currency = fields.CharField(max_length=3)
    line_items: fields.Field[list[dict[str, str]]] = fields.JSONField(default=list)
    occurred_at = fields.DatetimeField()
    points_earned = fields.BigIntField()
    refunded_amount = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    points_refunded = fields.BigIntField(default=0)
    entry_id = fields.BigIntField()
    balance_after = fields.BigIntField(default=0)  # the member's balance in the first answer
    recorded_by = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "purchase"
        unique_together = (("channel", "store", "external_id"),)


class EcoActionKind(Model):
    """An admin-configured kind of eco action and the points each unit earns."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=120)
    unit = fields.CharField(max_length=40, default="item")
    points_per_unit = fields.IntField()
    max_quantity = fields.IntField(default=100)
    active = fields.BooleanField(default=True, db_default=True)  # inactive: not recordable
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "eco_action_kind"


class EcoAction(Model):
    """An eco action recorded by a device or staff. The same external id from the same
    recorder is the same action."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="eco_actions", on_delete=fields.RESTRICT
    )
    kind: fields.ForeignKeyRelation[EcoActionKind] = fields.ForeignKeyField(
        "models.EcoActionKind", related_name="actions", on_delete=fields.RESTRICT
    )
    quantity = fields.IntField()
    points = fields.BigIntField()
    channel = fields.CharEnumField(Channel, max_length=16)
    store_id = fields.IntField(null=True)
    recorded_by = fields.CharField(max_length=32)
    external_id = fields.CharField(max_length=128)
    entry_id = fields.BigIntField(null=True)
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "eco_action"
        unique_together = (("recorded_by", "external_id"),)
