"""The causes models (tables and their enums)."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member
from gamification.stores.models import Channel


class CauseStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    GOAL_REACHED = "GOAL_REACHED"
    CLOSED = "CLOSED"


class Cause(Model):
    """An eco cause members donate points to. `points_per_unit` converts points into impact
    (500 points = 1 tree). Donations move points into the cause's own ledger account."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    image_url = fields.CharField(max_length=500, default="")
    partner = fields.CharField(max_length=120, default="")
    impact_unit = fields.CharField(max_length=40)  # "tree", "kg of plastic", "kg CO2"
    points_per_unit = fields.IntField()
    goal_points = fields.BigIntField(null=True)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(null=True)
    status = fields.CharEnumField(CauseStatus, max_length=16, default=CauseStatus.ACTIVE)
    accepts_after_goal = fields.BooleanField(default=True)
    min_donation = fields.IntField(default=1)
    donation_step = fields.IntField(default=1)
    raised_member_points = fields.BigIntField(default=0)
    raised_matched_points = fields.BigIntField(default=0)
    donor_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "cause"


class MatchingCampaign(Model):
    """The brand matches donations to a cause at `ratio`, within a total and a per-member cap."""

    id = fields.IntField(primary_key=True)
    cause: fields.ForeignKeyRelation[Cause] = fields.ForeignKeyField(
        "models.Cause", related_name="campaigns", on_delete=fields.RESTRICT
    )
    ratio = fields.DecimalField(max_digits=8, decimal_places=4)
    total_cap = fields.BigIntField()
    per_member_cap = fields.BigIntField(null=True)
    matched_total = fields.BigIntField(default=0)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "matching_campaign"


class Donation(Model):
    """A member's donation receipt: points given, impact, matched points, the entry's hash."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="donations", on_delete=fields.RESTRICT
    )
    cause: fields.ForeignKeyRelation[Cause] = fields.ForeignKeyField(
        "models.Cause", related_name="donations", on_delete=fields.RESTRICT
    )
    points = fields.BigIntField()
    matched_points = fields.BigIntField(default=0)
    match_capped = fields.BooleanField(default=False)  # the cap ran out mid-donation
    campaign_id = fields.IntField(null=True)
    impact_units = fields.DecimalField(max_digits=18, decimal_places=4)
    channel = fields.CharEnumField(Channel, max_length=16)
    entry_id = fields.BigIntField()
    entry_hash = fields.CharField(max_length=64)
    match_entry_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()
    reversed_at = fields.DatetimeField(null=True)
    reversal_reason = fields.CharField(max_length=500, default="")

    class Meta:
        table = "donation"
        indexes = (("member_id", "id"), ("cause_id", "member_id"))
