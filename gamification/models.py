"""Tortoise models of the loyalty program. Schema changes go through `gamification/migrations`.

Model docstrings become table comments: keep semicolons out of them (Tortoise's SQLite schema
editor splits statements on them).
"""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model


class Channel(enum.StrEnum):
    """The places a member meets the program. The domain knows their names, nothing more."""

    APP = "APP"
    WEB = "WEB"
    KIOSK = "KIOSK"
    POS = "POS"
    SYSTEM = "SYSTEM"


# Channels a registered device acts for: an in-store kiosk, a till, or the web shop's server.
DEVICE_CHANNELS = frozenset({Channel.KIOSK, Channel.POS, Channel.WEB})


class Role(enum.StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"


class Store(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=120)
    timezone = fields.CharField(max_length=64, default="UTC")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "store"


class Member(Model):
    """Everyone who logs in. Loyalty members have role `member`, staff work in one store."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)  # stored lower-cased
    password_hash = fields.CharField(max_length=255, null=True)  # null: external identity only
    external_subject = fields.CharField(max_length=255, unique=True, null=True)
    display_name = fields.CharField(max_length=40)
    birthday = fields.DateField(null=True)
    timezone = fields.CharField(max_length=64, default="UTC")
    marketing_consent = fields.BooleanField(default=False)
    leaderboard_visible = fields.BooleanField(default=True)
    role = fields.CharEnumField(Role, max_length=16, default=Role.MEMBER)
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="staff", null=True, on_delete=fields.RESTRICT
    )
    # What a member card or the app's identity QR carries; not a secret, not a credential.
    card_number = fields.CharField(max_length=20, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "member"

    def __str__(self) -> str:
        return f"Member({self.id})"


class Device(Model):
    """A kiosk, a till or the web shop's server, registered by an admin for one store and channel.

    Its credential is a long-lived token naming `credential_id`. Revoking sets `revoked_at`, and
    every request made with the credential checks it.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="devices", on_delete=fields.RESTRICT
    )
    channel = fields.CharEnumField(Channel, max_length=16)
    credential_id = fields.UUIDField(unique=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "device"
