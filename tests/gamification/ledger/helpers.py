"""Helpers shared by the ledger's tests and others that need points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from gamification.ledger import accounts, movements
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.members.models import Member

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=200)
ORIGIN = Origin.system()


async def earn(
    member: Member, amount: int, *, expires_at: datetime = LATER, now: datetime = NOW
) -> LedgerEntry:
    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn, now)
        entry = await movements.credit(
            account,
            amount,
            kind=EntryKind.EARN,
            origin=ORIGIN,
            reference=Reference("test"),
            expires_at=expires_at,
        )
        await accounts.save_account(account)
    return entry
