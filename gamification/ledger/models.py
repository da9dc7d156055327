"""The ledger models (tables and their enums)."""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from gamification.members.models import Member
from gamification.stores.models import Channel


class AccountKind(enum.StrEnum):
    MEMBER = "MEMBER"
    PROGRAM = "PROGRAM"  # the brand: the other side of every earning and spending
    CAUSE = "CAUSE"


class EntryKind(enum.StrEnum):
    EARN = "EARN"
    BONUS = "BONUS"
    REDEEM = "REDEEM"
    HOLD = "HOLD"
    CAPTURE = "CAPTURE"
    RELEASE = "RELEASE"
    DONATE = "DONATE"
    MATCH = "MATCH"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    REFUND = "REFUND"
    CLAWBACK = "CLAWBACK"
    REVERSAL = "REVERSAL"
    FORFEIT = "FORFEIT"  # an erased member's remaining points, back to the program


class LedgerAccount(Model):
    """A points account. Member accounts cache their balance, updated only in the transaction
    that writes the entry. The program account keeps no cached balance, so that it never
    becomes a row every transaction must lock: its balance is derived from the entries."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(AccountKind, max_length=16)
    member: fields.OneToOneNullableRelation[Member] = fields.OneToOneField(
        "models.Member", related_name="account", null=True, on_delete=fields.RESTRICT
    )
    code = fields.CharField(max_length=64, unique=True)
    balance = fields.BigIntField(default=0)
    held = fields.BigIntField(default=0)
    lifetime_earned = fields.BigIntField(default=0)
    clawback_outstanding = fields.BigIntField(default=0)
    entry_count = fields.BigIntField(default=0)
    head_hash = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    # Set when the member was erased (gamification.privacy.erasure): nothing is credited to a
    # closed account any more (`movements.credit`), so no points accrue to nobody; it holds
    # none to spend.
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ledger_account"


class LedgerEntry(Model):
    """One append-only movement of points between two accounts.

    `points` is the change to `account` (the owner, whose hash chain holds the entry), and
    `counter_account` changes by the opposite amount, so every entry balances by construction.
    `held_change` moves points in or out of the owner's held amount. Never updated, never deleted.
    """

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[LedgerAccount] = fields.ForeignKeyField(
        "models.LedgerAccount", related_name="entries", on_delete=fields.RESTRICT
    )
    counter_account: fields.ForeignKeyRelation[LedgerAccount] = fields.ForeignKeyField(
        "models.LedgerAccount", related_name="counter_entries", on_delete=fields.RESTRICT
    )
    seq = fields.BigIntField()
    kind = fields.CharEnumField(EntryKind, max_length=16)
    points = fields.BigIntField()
    held_change = fields.BigIntField(default=0)
    channel = fields.CharEnumField(Channel, max_length=16)
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)
    reference_type = fields.CharField(max_length=32, default="")
    reference_id = fields.CharField(max_length=128, default="")
    reason = fields.CharField(max_length=500, default="")
    lots: fields.Field[list[list[int]]] = fields.JSONField(
        default=list
    )  # [[lot_id, points], ...] consumed or restored
    created_at = fields.DatetimeField()
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)
    # The canonical form the hash covers (gamification.ledger.entries): 1 hashed the reason
    # itself, 2 hashes `reason_digest`, so that erasure may blank `reason` and `reason_salt`.
    chain_version = fields.SmallIntField(default=2, db_default=1)
    reason_salt = fields.CharField(max_length=32, default="", db_default="")
    reason_digest = fields.CharField(max_length=64, default="", db_default="")

    class Meta:
        table = "ledger_entry"
        unique_together = (("account", "seq"),)
        # The history pages newest first by id, within one account, optionally by kind.
        indexes = (("account_id", "id"), ("account_id", "kind", "id"))


class PointsLot(Model):
    """Points earned together, spent earliest expiry first. `remaining` is what is unspent."""

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[LedgerAccount] = fields.ForeignKeyField(
        "models.LedgerAccount", related_name="lots", on_delete=fields.RESTRICT
    )
    entry_id = fields.BigIntField()
    points = fields.BigIntField()
    remaining = fields.BigIntField()
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "points_lot"
        indexes = (("account_id", "expires_at", "id"), ("expires_at",))


class IdempotencyKey(Model):
    """A client's retry key, claimed in the same transaction as the effect it guards, with the
    answer stored beside it."""

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharField(max_length=64)  # the caller: "member:12", "device:3", ...
    key = fields.CharField(max_length=128)
    operation = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)
    response: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_key"
        unique_together = (("scope", "key"),)
