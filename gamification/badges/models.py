"""The badges models (tables and their enums)."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member


class BadgeRule(enum.StrEnum):
    CHALLENGE = "CHALLENGE"
    FIRST_PURCHASE = "FIRST_PURCHASE"
    FIRST_DONATION = "FIRST_DONATION"
    PURCHASE_COUNT = "PURCHASE_COUNT"
    TIER_REACHED = "TIER_REACHED"
    STREAK_DAYS = "STREAK_DAYS"


class Badge(Model):
    """A badge in the catalog and the rule that earns it (a challenge, or a milestone)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=80, unique=True)
    description = fields.TextField(default="")
    image_url = fields.CharField(max_length=500, default="")
    rule = fields.CharEnumField(BadgeRule, max_length=24)
    threshold = fields.IntField(null=True)  # N purchases, N-day streak
    # Higher levels of a counted badge: [10, 25] makes 5 / 10 / 25 purchases levels 1 / 2 / 3.
    level_thresholds: fields.Field[list[int]] = fields.JSONField(default=list)
    tier_name = fields.CharField(max_length=40, null=True)  # tier reached
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "badge"


class MemberBadge(Model):
    """A badge a member holds, once, with when it was earned."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="badges", on_delete=fields.CASCADE
    )
    badge: fields.ForeignKeyRelation[Badge] = fields.ForeignKeyField(
        "models.Badge", related_name="holders", on_delete=fields.RESTRICT
    )
    level = fields.IntField(default=1)
    awarded_at = fields.DatetimeField()

    class Meta:
        table = "member_badge"
        unique_together = (("member", "badge"),)
