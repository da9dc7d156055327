"""The stores models (tables and their enums)."""

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


class Store(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=120)
    timezone = fields.CharField(max_length=64, default="UTC")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "store"


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
