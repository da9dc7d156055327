"""The members models (tables and their enums)."""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

from gamification.stores.models import Store


class Role(enum.StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"


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
    # Set when the member was erased (gamification.privacy.erasure): the row stays, for the
    # ledger's accounts and the program's totals, with nothing left that names the person.
    erased_at = fields.DatetimeField(null=True)

    class Meta:
        table = "member"

    def __str__(self) -> str:
        return f"Member({self.id})"


class Follow(Model):
    """A member following another, for the friends leaderboard."""

    id = fields.BigIntField(primary_key=True)
    follower: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="following", on_delete=fields.CASCADE
    )
    followee: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="followers", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "follow"
        unique_together = (("follower", "followee"),)


class RetiredCardNumber(Model):
    """A card number that was an erased member's: never issued again. Kept as its SHA-256 only,
    so that the table names nobody's card."""

    digest = fields.CharField(max_length=64, primary_key=True)
    retired_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "retired_card_number"
