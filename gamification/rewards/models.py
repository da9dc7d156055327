"""The rewards models (tables and their enums)."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member
from gamification.stores.models import Channel


class RewardKind(enum.StrEnum):
    VOUCHER = "VOUCHER"
    PRODUCT = "PRODUCT"
    DISCOUNT = "DISCOUNT"
    EXPERIENCE = "EXPERIENCE"


class LimitPeriod(enum.StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"
    EVER = "EVER"


class Reward(Model):
    """Something members spend points on. `stock` null means unlimited."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    image_url = fields.CharField(max_length=500, default="")
    category = fields.CharField(max_length=40, default="")
    kind = fields.CharEnumField(RewardKind, max_length=16)
    cost_points = fields.BigIntField()
    stock = fields.IntField(null=True)
    per_member_limit = fields.IntField(null=True)
    limit_period = fields.CharEnumField(LimitPeriod, max_length=8, default=LimitPeriod.EVER)
    channels: fields.Field[list[str]] = fields.JSONField(default=list)
    # The stores whose devices take its vouchers; empty: every store.
    store_ids: fields.Field[list[int]] = fields.JSONField(default=list, db_default="[]")
    valid_from = fields.DatetimeField(null=True)
    valid_to = fields.DatetimeField(null=True)
    min_tier = fields.CharField(max_length=40, null=True)
    voucher_valid_days = fields.IntField(default=30)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reward"


class RedemptionStatus(enum.StrEnum):
    ISSUED = "ISSUED"  # points spent, voucher not used yet
    USED = "USED"
    CANCELLED = "CANCELLED"


class Redemption(Model):
    """Points spent on a reward (or an amount of points at a kiosk), whatever the channel."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="redemptions", on_delete=fields.RESTRICT
    )
    reward: fields.ForeignKeyNullableRelation[Reward] = fields.ForeignKeyField(
        "models.Reward", related_name="redemptions", null=True, on_delete=fields.RESTRICT
    )
    points = fields.BigIntField()
    channel = fields.CharEnumField(Channel, max_length=16)
    store_id = fields.IntField(null=True)
    device_id = fields.IntField(null=True)
    status = fields.CharEnumField(RedemptionStatus, max_length=16, default=RedemptionStatus.ISSUED)
    voucher_code = fields.CharField(max_length=32, unique=True)
    valid_until = fields.DatetimeField()
    entry_id = fields.BigIntField()
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    # Where the voucher was taken (useVoucher): the store and the device.
    used_store_id = fields.IntField(null=True)
    used_device_id = fields.IntField(null=True)
    cancelled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "redemption"
        indexes = (("member_id", "reward_id", "created_at"), ("member_id", "id"))


class RedemptionToken(Model):
    """A one-time, short-lived token the app shows as a QR code for a kiosk or till."""

    id = fields.UUIDField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="redemption_tokens", on_delete=fields.RESTRICT
    )
    reward_id = fields.IntField(null=True)
    points = fields.BigIntField(null=True)
    # A donation code: `points` go to this cause, and the code is good for nothing else.
    cause_id = fields.IntField(null=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "redemption_token"


class HoldStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


class PointsHold(Model):
    """Points a till reserved, then captured (up to the held amount) or released, exactly once."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="holds", on_delete=fields.RESTRICT
    )
    points = fields.BigIntField()
    captured = fields.BigIntField(default=0)
    status = fields.CharEnumField(HoldStatus, max_length=16, default=HoldStatus.ACTIVE)
    reference = fields.CharField(max_length=128)
    device_id = fields.IntField()
    store_id = fields.IntField()
    channel = fields.CharEnumField(Channel, max_length=16)
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    settled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "points_hold"
        indexes = (("status", "expires_at"),)
