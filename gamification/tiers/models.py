"""The tiers models (tables and their enums)."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member


class Tier(Model):
    """One step of the tier ladder. `rank` orders the ladder (0 is the entry tier) and
    `threshold` is the qualifying points a member needs within the qualification window."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=40, unique=True)
    rank = fields.IntField(unique=True)
    threshold = fields.BigIntField()
    earn_multiplier = fields.DecimalField(max_digits=6, decimal_places=3, default=1)
    benefits = fields.TextField(default="")
    benefit_flags: fields.Field[list[str]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tier"


class MemberTier(Model):
    """A member's place on the ladder: the tier held, an admin floor, and the qualification
    period at whose end (plus the grace period) the tier is evaluated, once."""

    id = fields.IntField(primary_key=True)
    member: fields.OneToOneRelation[Member] = fields.OneToOneField(
        "models.Member", related_name="tier_status", on_delete=fields.CASCADE
    )
    tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="holders", null=True, on_delete=fields.RESTRICT
    )
    floor_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="floored", null=True, on_delete=fields.RESTRICT
    )
    period_starts_at = fields.DatetimeField()
    period_ends_at = fields.DatetimeField(db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "member_tier"


class TierChangeReason(enum.StrEnum):
    UPGRADE = "UPGRADE"
    DOWNGRADE = "DOWNGRADE"
    RETAINED = "RETAINED"
    FLOOR = "FLOOR"


class TierChange(Model):
    """The history of a member's tier: every upgrade, downgrade, retention and floor."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tier_changes", on_delete=fields.CASCADE
    )
    from_tier_id = fields.IntField(null=True)
    to_tier_id = fields.IntField(null=True)
    reason = fields.CharEnumField(TierChangeReason, max_length=16)
    qualifying_points = fields.BigIntField(default=0)
    period_ends_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "tier_change"
        indexes = (("member_id", "id"),)


class BucketSpan(enum.StrEnum):
    DAY = "day"
    MONTH = "month"


class QualifyingPointsBucket(Model):
    """The member's qualifying points (Σ `DomainEvent.qualifying_points`) of the events that
    occurred in one UTC day or one UTC month, kept in the transaction that changes them, so
    that a qualification window sums at most a dozen months and two months of days instead of
    every event of the window (`gamification.tiers.qualifying`)."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="qualifying_buckets", on_delete=fields.CASCADE
    )
    span = fields.CharEnumField(BucketSpan, max_length=8)
    starts_on = fields.DateField()  # the day, or the first day of the month (UTC)
    points = fields.BigIntField(default=0)

    class Meta:
        table = "qualifying_points_bucket"
        unique_together = (("member", "span", "starts_on"),)
