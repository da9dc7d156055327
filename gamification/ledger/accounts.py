"""Ledger accounts: opening a member's account, locking it for a transaction, saving its cached
figures, and the program's account (the other side of earnings and spending).

Member accounts cache `balance`, `held`, `lifetime_earned` and the hash-chain head; the cache
changes only in the transaction that writes the entry, under the account's row lock. The program
account has no cached balance (it would be a hot row every transaction locks); its balance is
derived from the entries when asked (`gamification.ledger.entries.derived_balances`).

Lock order, everywhere (deadlocks otherwise): member ledger accounts by ascending id, then holds,
then reward rows, then cause/campaign rows. The ledger's functions expect to run inside the
caller's transaction (`conn`) with the member's account locked by `lock_member_account`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from tortoise.backends.base.client import BaseDBAsyncClient

from gamification import deferred_writes
from gamification.errors import ErrorCode, NotFound
from gamification.ledger.models import AccountKind, LedgerAccount, LedgerEntry
from gamification.members.models import Member

PROGRAM_ACCOUNT_CODE: Final = "program"

_program_account_id: int | None = None


@dataclass
class LockedAccount:
    """A member account locked for the current transaction, with its pending changes."""

    row: LedgerAccount
    conn: BaseDBAsyncClient
    now: datetime
    entries: list[LedgerEntry] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.row.balance - self.row.held


def member_account_code(member_id: int) -> str:
    return f"member:{member_id}"


async def _create_account_once(
    kind: AccountKind, code: str, member_id: int | None, conn: BaseDBAsyncClient | None
) -> None:
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent opener neither fails nor aborts our
    # transaction (a caught unique violation would abort it on PostgreSQL).
    await LedgerAccount.bulk_create(
        [LedgerAccount(kind=kind, code=code, member_id=member_id)],
        ignore_conflicts=True,
        using_db=conn,
    )


async def open_member_account(member_id: int, conn: BaseDBAsyncClient | None = None) -> None:
    """Create the member's account if it does not exist yet (idempotent)."""
    await _create_account_once(AccountKind.MEMBER, member_account_code(member_id), member_id, conn)


async def program_account_id(conn: BaseDBAsyncClient | None = None) -> int:
    """The brand's account: the other side of earnings and spending. Created on first use."""
    global _program_account_id
    if _program_account_id is None:
        await _create_account_once(AccountKind.PROGRAM, PROGRAM_ACCOUNT_CODE, None, conn)
        account = await LedgerAccount.filter(code=PROGRAM_ACCOUNT_CODE).using_db(conn).get()
        _program_account_id = account.id
    return _program_account_id


async def lock_member_account(
    member_id: int, conn: BaseDBAsyncClient, now: datetime | None = None
) -> LockedAccount:
    """Lock the member's account row for this transaction, opening it on first use.

    Raises NotFound when there is no such member.
    """
    # The transaction may have held back a write to this very row: the lock must read it.
    await deferred_writes.flush_held_writes(conn)
    query = LedgerAccount.filter(code=member_account_code(member_id)).select_for_update()
    row = await query.using_db(conn).first()
    if row is None:
        if not await Member.filter(id=member_id).using_db(conn).exists():
            raise NotFound("Member not found", code=ErrorCode.UNKNOWN_MEMBER, field="memberId")
        await open_member_account(member_id, conn)
        row = await query.using_db(conn).get()
    return LockedAccount(row=row, conn=conn, now=now or datetime.now(UTC))


_SAVE_ACCOUNT: Final = """
UPDATE "ledger_account" SET "balance" = $1, "held" = $2, "lifetime_earned" = $3,
    "clawback_outstanding" = $4, "entry_count" = $5, "head_hash" = $6
WHERE "id" = $7
"""


async def save_account(account: LockedAccount) -> None:
    """Write the account's cached figures, in the same transaction as its entries (held back
    until the transaction's last statement when the caller defers writes: see deferred_writes)."""
    row = account.row
    await deferred_writes.hold_back_write(
        account.conn,
        ("ledger_account", row.id),
        _SAVE_ACCOUNT,
        row.balance,
        row.held,
        row.lifetime_earned,
        row.clawback_outstanding,
        row.entry_count,
        row.head_hash,
        row.id,
    )
