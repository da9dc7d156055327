"""Idempotency keys: a retried request never counts twice.

The key is claimed by inserting it, with the answer, under a unique (scope, key) index at the
end of the transaction that made the effect it guards: one statement (`INSERT ... ON CONFLICT DO
NOTHING RETURNING`), so the common case costs a single round trip. When the key is already
there (a retry, or a concurrent copy that committed first — the copy waits on the member's
account lock or on the index), nothing was inserted: the transaction is rolled back with
everything it did, and the stored answer is returned instead. A request whose work fails (a
domain error, or a unique violation because a concurrent copy made the same row) also looks for
a stored answer before reporting the error, so a retry of a request that succeeded never reports
a failure. A request that fails without a stored answer rolls back, so the key stays free for a
corrected retry.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification import deferred_writes
from gamification.actors import Actor
from gamification.errors import Conflict, ErrorCode, InvalidInput
from gamification.ledger.models import IdempotencyKey

_KEY: Final = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

T = TypeVar("T")


def check_key(key: str) -> str:
    """Raises InvalidInput(INVALID_IDEMPOTENCY_KEY) for keys that are empty, long or odd."""
    if not _KEY.match(key):
        raise InvalidInput(
            "idempotencyKey must be 1-128 letters, digits or . _ : -",
            code=ErrorCode.INVALID_IDEMPOTENCY_KEY,
            field="idempotencyKey",
        )
    return key


def scope_of(actor: Actor) -> str:
    """Keys are scoped to the caller: two members may use the same key independently."""
    return f"{actor.kind.value}:{actor.id}"


def request_hash(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{operation}|{canonical}".encode()).hexdigest()


def _reused() -> Conflict:
    return Conflict(
        "This idempotency key was used for a different request",
        code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        field="idempotencyKey",
    )


class _ClaimedBefore(Exception):
    """The key was claimed by an earlier request: roll this one back and replay that answer."""


_CLAIM: Final = """
INSERT INTO "idempotency_key" ("scope", "key", "operation", "request_hash", "response",
    "created_at")
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT ("scope", "key") DO NOTHING
RETURNING "id"
"""


async def _claim(
    conn: BaseDBAsyncClient,
    *,
    scope: str,
    key: str,
    operation: str,
    fingerprint: str,
    answer: dict[str, Any],
) -> bool:
    """Store the key with its answer; False when the key was there already."""
    response = json.dumps(answer, separators=(",", ":"))
    # The transaction's held-back writes go in the same round trip (see deferred_writes).
    rows = await deferred_writes.flush_held_writes(
        conn, _CLAIM, scope, key, operation, fingerprint, response, datetime.now(UTC)
    )
    return bool(rows)


async def run_once(
    *,
    actor: Actor,
    key: str,
    operation: str,
    request: dict[str, Any],
    work: Callable[[BaseDBAsyncClient], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """Run `work` in one transaction guarded by the key; return (answer, replayed).

    `work` receives the transaction and returns a JSON-serialisable answer, stored with the key.
    Raises Conflict(IDEMPOTENCY_KEY_REUSED) when the key was used for another request, and
    whatever `work` raises when the key has no stored answer (its transaction is then rolled
    back).
    """
    check_key(key)
    scope = scope_of(actor)
    fingerprint = request_hash(operation, request)
    try:
        async with in_transaction() as conn:
            with deferred_writes.holding_back_writes(conn):
                answer = await work(conn)
                if await _claim(
                    conn,
                    scope=scope,
                    key=key,
                    operation=operation,
                    fingerprint=fingerprint,
                    answer=answer,
                ):
                    return answer, False
                raise _ClaimedBefore
    except _ClaimedBefore:
        stored = await IdempotencyKey.get_or_none(scope=scope, key=key)
        if stored is None:  # cannot happen: the row was there and keys are never deleted
            raise RuntimeError(f"idempotency key {scope}/{key} vanished") from None
    except Exception:
        # A retry's work may fail where the first attempt succeeded (the points are spent,
        # the purchase row exists): the stored answer wins over that failure.
        stored = await IdempotencyKey.get_or_none(scope=scope, key=key)
        if stored is None:
            raise
    if stored.request_hash != fingerprint:
        raise _reused()
    return dict(stored.response or {}), True
