"""GraphQL types for points: the member's balance, ledger entries, proofs, purchases."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from gamification.copies import copy_into
from gamification.earning import models as earning_models
from gamification.ledger import models as ledger_models
from gamification.ledger import overview as points_overview
from gamification.ledger import points
from gamification.ledger.entries import ChainCheck
from schema.context import Info
from schema.dataloaders import PointsKey
from schema.relay import MAX_PK, Node, register_node, to_global_id
from schema.stores.types import Channel

EntryKind = strawberry.enum(ledger_models.EntryKind, name="EntryKind")


@strawberry.type
class ExpiringPoints:
    expires_at: datetime
    points: int


@strawberry.type(description="A member's points. `available` = `balance` − `held`.")
class Points:
    """Resolved field by field through the request's points loader, so that the figures and
    `expiringSoon` asked for together cost one statement (`gamification.ledger.overview`)."""

    member_id: strawberry.Private[int]

    async def _summary(self, info: Info) -> points.PointsSummary:
        return (await info.context.loaders.points.load(PointsKey(self.member_id))).summary

    @strawberry.field
    async def balance(self, info: Info) -> int:
        return (await self._summary(info)).balance

    @strawberry.field
    async def held(self, info: Info) -> int:
        return (await self._summary(info)).held

    @strawberry.field(
        description="Points earned from purchases and bonuses, less refunded purchases."
    )
    async def lifetime_earned(self, info: Info) -> int:
        return (await self._summary(info)).lifetime_earned

    @strawberry.field(
        description="Refunded points not yet taken back; later earnings repay them first."
    )
    async def clawback_outstanding(self, info: Info) -> int:
        return (await self._summary(info)).clawback_outstanding

    @strawberry.field
    async def available(self, info: Info) -> int:
        return (await self._summary(info)).available

    @strawberry.field(description="Points that expire within `days` days, by expiry date.")
    async def expiring_soon(self, info: Info, days: int = 30) -> list[ExpiringPoints]:
        points_overview.check_expiring_days(days)  # before the shared read, which it would fail
        found = await info.context.loaders.points.load(PointsKey(self.member_id, days))
        return [ExpiringPoints(expires_at=r.expires_at, points=r.points) for r in found.expiring]


@strawberry.type(name="LedgerEntry", description="One append-only change to a member's points.")
class LedgerEntryType(Node):
    seq: int = strawberry.field(description="Position in the member's hash chain, from 1.")
    kind: EntryKind  # type: ignore[valid-type]
    points: int = strawberry.field(description="Change to the balance (negative when spent).")
    held_change: int
    channel: Channel  # type: ignore[valid-type]
    reference_type: str
    reference_id: str
    reason: str
    created_at: datetime
    prev_hash: str
    hash: str = strawberry.field(
        description="sha256 over this entry's content and `prevHash`; see the README."
    )

    @classmethod
    def from_model(cls, entry: ledger_models.LedgerEntry) -> LedgerEntryType:
        return copy_into(cls, entry, id=to_global_id("LedgerEntry", entry.id))


@strawberry.type(description="Whether the member's ledger hash chain verifies, and its head.")
class LedgerProof:
    verified: bool
    entries: int
    head_hash: str
    first_broken_entry_id: strawberry.ID | None

    @classmethod
    def of(cls, check: ChainCheck) -> LedgerProof:
        return cls(
            verified=check.ok,
            entries=check.entries,
            head_hash=check.head_hash,
            first_broken_entry_id=to_global_id("LedgerEntry", check.first_broken_entry_id)
            if check.first_broken_entry_id
            else None,
        )


@strawberry.type(name="Purchase")
class PurchaseType(Node):
    external_id: str
    channel: Channel  # type: ignore[valid-type]
    store_id: strawberry.ID
    member_id: strawberry.ID
    amount: Decimal
    currency: str
    occurred_at: datetime
    points_earned: int
    refunded_amount: Decimal
    points_refunded: int

    @classmethod
    def from_model(cls, purchase: earning_models.Purchase) -> PurchaseType:
        return copy_into(
            cls,
            purchase,
            id=to_global_id("Purchase", purchase.id),
            store_id=to_global_id("Store", purchase.store_id),  # type: ignore[attr-defined]
            member_id=to_global_id("Member", purchase.member_id),  # type: ignore[attr-defined]
            amount=Decimal(purchase.amount),
            refunded_amount=Decimal(purchase.refunded_amount),
        )


async def load_entry_node(info: Info, pk: int) -> LedgerEntryType | None:
    actor = info.context.actor
    if actor is None:
        return None
    entry = await ledger_models.LedgerEntry.get_or_none(id=pk).prefetch_related("account")
    if entry is None:
        return None
    owner = entry.account.member_id  # type: ignore[attr-defined]
    if not (actor.is_admin or (actor.is_person and actor.id == owner)):
        return None
    return LedgerEntryType.from_model(entry)


async def load_purchase_node(info: Info, pk: int) -> PurchaseType | None:
    actor = info.context.actor
    purchase = await earning_models.Purchase.get_or_none(id=pk) if actor else None
    if actor is None or purchase is None:
        return None
    member_id: int = purchase.member_id  # type: ignore[attr-defined]
    store_id: int = purchase.store_id  # type: ignore[attr-defined]
    # The buyer, admins, and staff or devices of the store where it was bought.
    allowed = (
        actor.is_admin
        or (actor.is_person and actor.id == member_id)
        or (actor.store_id is not None and actor.store_id == store_id)
    )
    return PurchaseType.from_model(purchase) if allowed else None


# Both tables have 64-bit ids.
register_node("LedgerEntry", load_entry_node, max_pk=MAX_PK)
register_node("Purchase", load_purchase_node, max_pk=MAX_PK)
