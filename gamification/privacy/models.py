"""The privacy models: consent records and erasure records."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member
from gamification.stores.models import Channel


class ConsentKind(enum.StrEnum):
    MARKETING = "MARKETING"  # offers and news about the program
    NOTIFICATIONS = "NOTIFICATIONS"  # messages about the member's own account


class ConsentChannel(enum.StrEnum):
    """The medium a consent covers."""

    EMAIL = "EMAIL"
    PUSH = "PUSH"
    SMS = "SMS"


class ConsentRecord(Model):
    """One consent given or withdrawn, never changed: the latest record per (member, kind,
    channel) is the member's current choice, the earlier ones its history."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="consent_records", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(ConsentKind, max_length=16)
    channel = fields.CharEnumField(ConsentChannel, max_length=8)
    given = fields.BooleanField()
    text_version = fields.CharField(max_length=32)  # the wording the member saw
    source = fields.CharEnumField(Channel, max_length=16)  # where it was given or withdrawn
    recorded_at = fields.DatetimeField()

    class Meta:
        table = "consent_record"
        indexes = (("member_id", "kind", "channel", "id"),)


class ErasureRecord(Model):
    """A member's erasure, written in the erasure's own transaction: the proof it happened,
    and what makes a second request a no-op. Holds no personal data."""

    id = fields.BigIntField(primary_key=True)
    member: fields.OneToOneRelation[Member] = fields.OneToOneField(
        "models.Member", related_name="erasure", on_delete=fields.RESTRICT
    )
    requested_by = fields.CharField(max_length=16)  # "member", "admin" or "operator" (CLI)
    admin_id = fields.IntField(null=True)
    reason = fields.CharField(max_length=500, default="")  # the admin's, for the audit
    forfeited_points = fields.BigIntField(default=0)
    released_holds = fields.IntField(default=0)
    erased_at = fields.DatetimeField()

    class Meta:
        table = "erasure_record"
