"""Idempotency keys: a retried request never counts twice.

The key is claimed by inserting it, under a unique (scope, key) index, in the same transaction
as the effect it guards, and the answer is stored beside it before commit. A concurrent copy of
the request blocks on that index until the first commits, then fails to insert, and reads the
stored answer instead of acting again. If the first attempt fails (a domain error), its
transaction rolls back with the claim, so the key stays free for a corrected retry.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, TransactionManagementError
from tortoise.transactions import in_transaction

from gamification.actors import Actor
from gamification.errors import Conflict, ErrorCode, InvalidInput
from gamification.models import IdempotencyKey

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
    whatever `work` raises (its transaction is then rolled back, claim included).
    """
    check_key(key)
    scope = scope_of(actor)
    fingerprint = request_hash(operation, request)
    try:
        async with in_transaction() as conn:
            claim = await IdempotencyKey.create(
                scope=scope,
                key=key,
                operation=operation,
                request_hash=fingerprint,
                using_db=conn,
            )
            answer = await work(conn)
            claim.response = answer
            await claim.save(using_db=conn, update_fields=["response"])
            return answer, False
    except (IntegrityError, TransactionManagementError):
        stored = await IdempotencyKey.get_or_none(scope=scope, key=key)
        if stored is None:
            raise  # not our claim that collided: a genuine integrity error
    if stored.request_hash != fingerprint:
        raise _reused()
    return dict(stored.response or {}), True
