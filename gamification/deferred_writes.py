"""Writes held back until the transaction's last statement, and the reads that must see them.

A use case's transaction writes some rows that nothing in it reads back before it ends (the
account's cached figures, lot balances, the purchase's entry link, challenge progress...). Sent
one by one they would cost a round trip each, so inside `holding_back_writes(conn)` (opened by
`gamification.idempotency.run_once` around every use case) `hold_back_write` keeps them, and
they go to the database together with the transaction's last statement (`flush_held_writes`,
with that statement): on PostgreSQL as one statement (data-modifying WITH clauses, which always
run to completion), on SQLite one after the other.

The price: until they are flushed, the database does not have them. So a read of rows this
transaction may have written goes through `read_after_flush` (raw SQL), or calls
`flush_held_writes(conn)` right before an ORM read; `gamification.sql.fetch` alone does not see
held-back writes (tests/gamification/test_deferred_writes.py holds both paths to this).
Outside `holding_back_writes` nothing is held back: `hold_back_write` runs at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from tortoise.backends.base.client import BaseDBAsyncClient

from gamification import sql

_held: WeakKeyDictionary[BaseDBAsyncClient, dict[object, tuple[str, tuple[Any, ...]]]] = (
    WeakKeyDictionary()
)


@contextmanager
def holding_back_writes(conn: BaseDBAsyncClient) -> Iterator[None]:
    """Let `hold_back_write` keep statements on this transaction until `flush_held_writes` (or a
    `read_after_flush`). Whatever is still held when the block ends unflushed is dropped: that
    only happens when the transaction is rolled back."""
    _held[conn] = {}
    try:
        yield
    finally:
        _held.pop(conn, None)


async def hold_back_write(
    conn: BaseDBAsyncClient, key: object, statement: str, *values: Any
) -> None:
    """Run a write now, or hold it back until the transaction's next flush when the caller is
    `holding_back_writes`.

    `key` names what the statement writes: a later write with the same key replaces a held one
    (PostgreSQL must not change one row twice in a statement, and the last figures win).
    Reads of the rows it changes, in the same transaction, go through `read_after_flush`.
    """
    held = _held.get(conn)
    if held is None:
        await sql.fetch(conn, statement, *values)
        return
    held.pop(key, None)  # re-inserted last: statements keep the order of their last write
    held[key] = (statement, values)


def is_held(conn: BaseDBAsyncClient, key: object) -> bool:
    """Whether a write is held back under `key` on this transaction (not flushed yet): a caller
    that folds several changes into one held write (a running total) starts afresh when not."""
    held = _held.get(conn)
    return held is not None and key in held


async def read_after_flush(
    conn: BaseDBAsyncClient, statement: str, *values: Any
) -> list[dict[str, Any]]:
    """Send the held-back writes, then run `statement` (a read) and return its rows: it sees
    every write of the transaction. Two round trips when writes were held, one otherwise."""
    await flush_held_writes(conn)
    return await sql.fetch(conn, statement, *values)


async def flush_held_writes(
    conn: BaseDBAsyncClient, last_statement: str | None = None, *values: Any
) -> list[dict[str, Any]]:
    """Send the held-back writes, followed by `last_statement` when given, in one round trip on
    PostgreSQL; return the last statement's rows.

    `last_statement` runs with the writes, not after them: on PostgreSQL it does not see their
    effects (one statement, one snapshot). It is for a final write (the idempotency key), never
    a read of what they changed: that is `read_after_flush`."""
    held = _held.get(conn)
    queued = list(held.values()) if held else []
    if held:
        held.clear()
    if last_statement is not None:
        queued.append((last_statement, values))
    if not queued:
        return []
    if not sql.is_postgres(conn) or len(queued) == 1:
        rows: list[dict[str, Any]] = []
        for text, arguments in queued:
            rows = await sql.fetch(conn, text, *arguments)
        return rows
    clauses: list[str] = []
    combined: list[Any] = []
    for text, arguments in queued:
        clauses.append(sql.renumbered(text, len(combined)))
        combined.extend(arguments)
    *earlier, last = clauses
    with_part = ", ".join(f"w{number} AS ({text})" for number, text in enumerate(earlier))
    return await sql.fetch(conn, f"WITH {with_part} {last}", *combined)
