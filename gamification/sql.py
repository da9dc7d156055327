"""Hand-written SQL for the few statements the ORM cannot express in one round trip (an INSERT
that may find its row already there, for instance), on PostgreSQL and SQLite alike.

Statements are written once with PostgreSQL's numbered placeholders (`$1`, `$2`, ...); on SQLite
they become `?1`, `?2`, ..., which bind the same way. Use plain values: ints, strings, aware
datetimes (both drivers store them as the ORM does) and JSON already encoded as text.
"""

from __future__ import annotations

import re
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient

_PLACEHOLDER: Final = re.compile(r"\$(\d+)")


def is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


def for_dialect(conn: BaseDBAsyncClient, statement: str) -> str:
    return statement if is_postgres(conn) else _PLACEHOLDER.sub(r"?\1", statement)


async def fetch(conn: BaseDBAsyncClient, statement: str, *values: Any) -> list[dict[str, Any]]:
    """Run one statement now and return its rows (RETURNING rows for a write).

    It does not see writes the transaction holds back (`gamification.deferred_writes`): a read
    of rows the transaction may have written is `deferred_writes.read_after_flush`."""
    return await conn.execute_query_dict(for_dialect(conn, statement), list(values))


def renumbered(statement: str, offset: int) -> str:
    """The statement with its placeholders shifted by `offset` (`$1` → `$(1+offset)`), to join
    it with others in one statement."""
    return _PLACEHOLDER.sub(lambda match: f"${int(match.group(1)) + offset}", statement)
