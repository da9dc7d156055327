"""Hand-written SQL for the few statements the ORM cannot express in one round trip (an INSERT
that may find its row already there, for instance), on PostgreSQL and SQLite alike.

Statements are written once with PostgreSQL's numbered placeholders (`$1`, `$2`, ...); on SQLite
they become `?1`, `?2`, ..., which bind the same way. Use plain values: ints, strings, aware
datetimes (both drivers store them as the ORM does) and JSON already encoded as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final
from weakref import WeakKeyDictionary

from tortoise.backends.base.client import BaseDBAsyncClient

_PLACEHOLDER: Final = re.compile(r"\$(\d+)")


def is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


def for_dialect(conn: BaseDBAsyncClient, statement: str) -> str:
    return statement if is_postgres(conn) else _PLACEHOLDER.sub(r"?\1", statement)


async def fetch(conn: BaseDBAsyncClient, statement: str, *values: Any) -> list[dict[str, Any]]:
    """Run one statement and return its rows (RETURNING rows for a write)."""
    return await conn.execute_query_dict(for_dialect(conn, statement), list(values))


# Writes that nothing in the transaction reads back before it ends (the account's cached
# figures, lot balances, the purchase's entry link) wait here and go to the database together
# with the transaction's last statement: on PostgreSQL as one statement (data-modifying WITH
# clauses, which always run to completion), on SQLite one after the other.
_pending: WeakKeyDictionary[BaseDBAsyncClient, dict[object, tuple[str, tuple[Any, ...]]]] = (
    WeakKeyDictionary()
)


@contextmanager
def deferring_writes(conn: BaseDBAsyncClient) -> Iterator[None]:
    """Let `write` hold back statements on this transaction until `flush` (or a read that calls
    it). Whatever is still pending when the block ends unflushed is dropped: that only happens
    when the transaction is rolled back."""
    _pending[conn] = {}
    try:
        yield
    finally:
        _pending.pop(conn, None)


async def write(conn: BaseDBAsyncClient, key: object, statement: str, *values: Any) -> None:
    """Run a write now, or hold it back until the transaction's next `flush`.

    `key` names what the statement writes: a later write with the same key replaces a pending
    one (PostgreSQL must not change one row twice in a statement, and the last figures win).
    Callers that read rows these statements change, in the same transaction, flush first.
    """
    pending = _pending.get(conn)
    if pending is None:
        await fetch(conn, statement, *values)
        return
    pending.pop(key, None)  # re-inserted last: statements keep the order of their last write
    pending[key] = (statement, values)


async def flush(
    conn: BaseDBAsyncClient, statement: str | None = None, *values: Any
) -> list[dict[str, Any]]:
    """Send the pending writes, followed by `statement` when given; return its rows."""
    pending = _pending.get(conn)
    queued = list(pending.values()) if pending else []
    if pending:
        pending.clear()
    if statement is not None:
        queued.append((statement, values))
    if not queued:
        return []
    if not is_postgres(conn) or len(queued) == 1:
        rows: list[dict[str, Any]] = []
        for text, arguments in queued:
            rows = await fetch(conn, text, *arguments)
        return rows
    clauses: list[str] = []
    combined: list[Any] = []
    for text, arguments in queued:
        clauses.append(_renumbered(text, len(combined)))
        combined.extend(arguments)
    *held, last = clauses
    with_part = ", ".join(f"w{number} AS ({text})" for number, text in enumerate(held))
    return await fetch(conn, f"WITH {with_part} {last}", *combined)


def _renumbered(statement: str, offset: int) -> str:
    return _PLACEHOLDER.sub(lambda match: f"${int(match.group(1)) + offset}", statement)
