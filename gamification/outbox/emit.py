"""Writing an event to the outbox, in the transaction that made it.

    await emit(conn, type="points.changed", member_id=7, data={...})

The row is a held-back write (`gamification.deferred_writes`): inside a use case every event of
the transaction goes in one multi-row INSERT sent with the transaction's last statement, so
events cost no round trip of their own (on SQLite, one statement per transaction); outside
`holding_back_writes` each is written at once, on `conn`. Either way it commits or rolls
back with what it describes. Emit a member's events while holding the member's account lock
(every ledger use case does): their `seq` then follows their commit order, which webhook
deliveries keep per member.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Final
from weakref import WeakKeyDictionary

from tortoise.backends.base.client import BaseDBAsyncClient

from gamification import deferred_writes
from gamification.outbox import catalog

_INSERT: Final = (
    'INSERT INTO "outbox_event" ("event_id", "type", "version", "member_id", "payload", '
    '"occurred_at") VALUES '
)
_COLUMNS: Final = 6
_HELD_KEY: Final = ("outbox_event",)
# The rows of the held INSERT, per transaction: each emit re-holds the INSERT with one row more.
_rows: WeakKeyDictionary[BaseDBAsyncClient, list[tuple[Any, ...]]] = WeakKeyDictionary()


def _insert_of(rows: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    tuples = []
    values: list[Any] = []
    for row in rows:
        base = len(values)
        tuples.append("(" + ", ".join(f"${base + n}" for n in range(1, _COLUMNS + 1)) + ")")
        values.extend(row)
    return _INSERT + ", ".join(tuples), values


async def emit(
    conn: BaseDBAsyncClient,
    *,
    type: str,
    member_id: int | None,
    data: dict[str, Any],
    version: int = 1,
    occurred_at: datetime | None = None,
) -> uuid.UUID:
    """Add an event to the outbox in `conn`'s transaction; return its id.

    Raises ValueError for a type the catalog does not name (`gamification.outbox.catalog`)."""
    if not catalog.is_known(type):
        raise ValueError(f"unknown event type {type!r}: add it to gamification.outbox.catalog")
    event_id = uuid.uuid4()
    row = (
        str(event_id),
        type,
        version,
        member_id,
        json.dumps(data, separators=(",", ":"), default=str),
        occurred_at or datetime.now(UTC),
    )
    if not deferred_writes.is_held(conn, _HELD_KEY):
        _rows[conn] = []  # flushed (or never held): a new INSERT
    rows = _rows.setdefault(conn, [])
    rows.append(row)
    statement, values = _insert_of(rows)
    await deferred_writes.hold_back_write(conn, _HELD_KEY, statement, *values)
    return event_id
