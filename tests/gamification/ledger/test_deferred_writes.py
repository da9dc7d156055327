"""Writes held back to the transaction's last statement are seen by every read that needs them:
reads go through `deferred_writes.read_after_flush` (or flush before an ORM read); a raw
`sql.fetch` in a transaction that holds writes back would read stale rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification import deferred_writes, sql
from gamification.earning.purchases import refund_purchase
from gamification.ledger import accounts
from gamification.ledger.models import LedgerAccount
from tests.factories import (
    actor_of,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    create_reward,
    credit_points,
    redeem_reward,
)

_BALANCE = 'SELECT "balance" FROM "ledger_account" WHERE "id" = $1'
_SET_BALANCE = 'UPDATE "ledger_account" SET "balance" = $1 WHERE "id" = $2'
_WRITTEN_TABLE = re.compile(r'^\s*(?:UPDATE|INSERT INTO)\s+"?(\w+)"?', re.IGNORECASE)


async def test_a_read_after_flush_sees_a_held_back_write_and_a_raw_fetch_does_not() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=10)
    account = await LedgerAccount.get(member_id=member.id)

    async with in_transaction() as conn:
        with deferred_writes.holding_back_writes(conn):
            # when
            await deferred_writes.hold_back_write(
                conn, ("ledger_account", account.id), _SET_BALANCE, 99, account.id
            )
            raw = await sql.fetch(conn, _BALANCE, account.id)
            flushed = await deferred_writes.read_after_flush(conn, _BALANCE, account.id)

    # then
    assert raw == [{"balance": 10}]
    assert flushed == [{"balance": 99}]


async def test_locking_an_account_sees_the_figures_the_transaction_held_back() -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=10)

    async with in_transaction() as conn:
        with deferred_writes.holding_back_writes(conn):
            first = await accounts.lock_member_account(member.id, conn)
            first.row.balance += 5
            await accounts.save_account(first)  # held back

            # when
            again = await accounts.lock_member_account(member.id, conn)

    # then
    assert again.row.balance == 15


@contextmanager
def refusing_stale_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail any raw read of a table this transaction holds a write to (it would not see it)."""
    reads: list[str] = []
    fetch = sql.fetch

    async def checked(conn: BaseDBAsyncClient, statement: str, *values: Any) -> Any:
        held = deferred_writes._held.get(conn) or {}
        tables = {m.group(1) for text, _ in held.values() if (m := _WRITTEN_TABLE.match(text))}
        if statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)
            stale = [t for t in tables if f'"{t}"' in statement or f" {t} " in statement]
            assert not stale, f"read of {stale} while writes to it are held back: {statement}"
        return await fetch(conn, statement, *values)

    monkeypatch.setattr(sql, "fetch", checked)
    yield reads


async def test_no_use_case_reads_a_table_it_holds_writes_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    device = await create_device()
    reward = await create_reward(cost_points=50)

    with refusing_stale_reads(monkeypatch) as reads:
        # when: earning, spending and taking back, each a use case holding writes back
        purchase = await create_purchase(member=member, amount="120.00", recorded_by=device)
        await redeem_reward(member=member, reward=reward)
        await refund_purchase(
            actor=actor_of(device),
            purchase_id=purchase.id,
            amount=Decimal("50.00"),
            reason="returned",
            idempotency_key="refund-1",
        )

    # then: the lots were read (after their flush) and nothing read stale rows
    assert any('"points_lot"' in read for read in reads)
