"""The notifications models (tables and their enums)."""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member


class NotificationKind(enum.StrEnum):
    POINTS_EXPIRING = "POINTS_EXPIRING"
    TIER_AT_RISK = "TIER_AT_RISK"
    CHALLENGE_ENDING = "CHALLENGE_ENDING"
    BIRTHDAY = "BIRTHDAY"  # marketing: needs the member's marketing consent too


class Notification(Model):
    """One notice to one member about one occasion, named by its unique `occasion` key.

    The key (for instance `expiring:12:2027-12-01`) makes two scheduler runs at once insert it
    once: the other finds it there (INSERT ... ON CONFLICT DO NOTHING). `data` is what the
    notice says, per kind."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="notifications", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(NotificationKind, max_length=24)
    occasion = fields.CharField(max_length=160, unique=True)
    data: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        # The member's notices page newest first by id.
        indexes = (("member_id", "id"),)


class NotificationPreference(Model):
    """A member's choice for one kind of notice. No row: the kind is on."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="notification_preferences", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(NotificationKind, max_length=24)
    enabled = fields.BooleanField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notification_preference"
        unique_together = (("member", "kind"),)
