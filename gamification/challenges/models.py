"""The challenges models (tables and their enums)."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

from gamification.badges.models import Badge
from gamification.events.models import EventKind
from gamification.members.models import Member
from gamification.stores.models import Channel


class GoalType(enum.StrEnum):
    COUNT = "COUNT"
    SUM = "SUM"
    DISTINCT_DAYS = "DISTINCT_DAYS"
    STREAK_DAYS = "STREAK_DAYS"
    STREAK_WEEKS = "STREAK_WEEKS"


class WindowKind(enum.StrEnum):
    FIXED = "FIXED"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


class ChallengeStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


class Challenge(Model):
    """An admin-defined challenge: a goal over events matching a filter, within a fixed or a
    recurring window counted in each member's own timezone."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    image_url = fields.CharField(max_length=500, default="")
    goal_type = fields.CharEnumField(GoalType, max_length=16)
    target = fields.DecimalField(max_digits=14, decimal_places=2)
    event_kind = fields.CharEnumField(EventKind, max_length=32)
    filter_channel = fields.CharEnumField(Channel, max_length=16, null=True)
    filter_category = fields.CharField(max_length=40, null=True)
    filter_store_id = fields.IntField(null=True)
    filter_min_amount = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    filter_eco_kind = fields.CharField(max_length=40, null=True)
    window_kind = fields.CharEnumField(WindowKind, max_length=16)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(null=True)
    min_tier = fields.CharField(max_length=40, null=True)
    reward_points = fields.IntField(default=0)
    reward_badge: fields.ForeignKeyNullableRelation[Badge] = fields.ForeignKeyField(
        "models.Badge", related_name="challenges", null=True, on_delete=fields.RESTRICT
    )
    max_completions = fields.IntField(default=1)
    opt_in = fields.BooleanField(default=False)
    hidden = fields.BooleanField(default=False)
    freezes_per_week = fields.IntField(default=0)
    status = fields.CharEnumField(ChallengeStatus, max_length=16, default=ChallengeStatus.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "challenge"


class ChallengeProgress(Model):
    """A member's progress in one window of a challenge (`window_key` is "fixed" or the local
    day, week or month). Locked after the member's ledger account, before any reward row."""

    id = fields.BigIntField(primary_key=True)
    challenge: fields.ForeignKeyRelation[Challenge] = fields.ForeignKeyField(
        "models.Challenge", related_name="progress", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="challenge_progress", on_delete=fields.CASCADE
    )
    window_key = fields.CharField(max_length=16)
    current = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    days: fields.Field[list[str]] = fields.JSONField(default=list)
    streak = fields.IntField(default=0)
    last_period = fields.DateField(null=True)  # the last day (or week's Monday) of the streak
    freezes_used: fields.Field[list[str]] = fields.JSONField(default=list)  # days bridged
    completions = fields.IntField(default=0)
    completed_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()
    # Completions in this window that refunds revoked: the next completion's number is
    # completions + revoked + 1, so a revoked number is never used again.
    revoked = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "challenge_progress"
        unique_together = (("challenge", "member", "window_key"),)
        indexes = (("member_id", "challenge_id"),)


class ChallengeParticipant(Model):
    """A member who joined an opt-in challenge (for all of its windows)."""

    id = fields.BigIntField(primary_key=True)
    challenge: fields.ForeignKeyRelation[Challenge] = fields.ForeignKeyField(
        "models.Challenge", related_name="participants", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="challenges_joined", on_delete=fields.CASCADE
    )
    joined_at = fields.DatetimeField()

    class Meta:
        table = "challenge_participant"
        unique_together = (("challenge", "member"),)
        indexes = (("member_id", "challenge_id"),)  # a member's challenges (home screen)


class ChallengeCompletion(Model):
    """One completion and its reward. The unique key makes a second award impossible."""

    id = fields.BigIntField(primary_key=True)
    challenge: fields.ForeignKeyRelation[Challenge] = fields.ForeignKeyField(
        "models.Challenge", related_name="completions", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="challenge_completions", on_delete=fields.CASCADE
    )
    number = fields.IntField()  # the member's nth completion in this window
    window_key = fields.CharField(max_length=16)
    points = fields.IntField(default=0)
    entry_id = fields.BigIntField(null=True)
    event_id = fields.BigIntField()
    completed_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)  # a refund took away what completed it

    class Meta:
        table = "challenge_completion"
        unique_together = (("challenge", "member", "window_key", "number"),)
        indexes = (("member_id", "challenge_id"),)  # a member's completions (home screen)


class ChallengeContribution(Model):
    """What one purchase event added to a member's challenge progress, so that a refund can
    take exactly that back. `number` is the completion the event counted towards, `day` its
    local day. `reversed_amount` is the part of `amount` refunds took back so far, and
    `withdrawn` marks a fully refunded purchase, which no longer counts at all."""

    id = fields.BigIntField(primary_key=True)
    progress: fields.ForeignKeyRelation[ChallengeProgress] = fields.ForeignKeyField(
        "models.ChallengeProgress", related_name="contributions", on_delete=fields.CASCADE
    )
    event_id = fields.BigIntField(db_index=True)
    number = fields.IntField()
    day = fields.DateField()
    amount = fields.DecimalField(max_digits=14, decimal_places=2)
    reversed_amount = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    withdrawn = fields.BooleanField(default=False)

    class Meta:
        table = "challenge_contribution"
        unique_together = (("progress", "event_id"),)
        indexes = (("progress_id", "number"),)
