"""Ledger entries: appending one to a locked account, the hash chain that makes the history
tamper-evident, and the checks that recompute it (chains, balances derived from entries alone).

Every change is an append-only `LedgerEntry` moving points between the owner account and a
counter account (usually the program), so the books of the program balance by construction.
Each entry's hash covers its content and the previous entry's hash for that account; the previous
hash is read under the same row lock that orders the account's entries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final

from tortoise.functions import Sum

from gamification.actors import Actor
from gamification.ledger import written
from gamification.ledger.accounts import LockedAccount, program_account_id
from gamification.ledger.models import EntryKind, LedgerAccount, LedgerEntry
from gamification.stores.models import Channel

GENESIS_HASH: Final = "0" * 64
# Beyond this, a single movement is a mistake, not a purchase (and stays far below 2^53).
MAX_POINTS_PER_ENTRY: Final = 100_000_000


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a movement comes from: the channel and the caller, recorded on the entry."""

    channel: Channel
    actor_kind: str
    actor_id: int | None

    @classmethod
    def of(cls, actor: Actor, channel: Channel) -> Origin:
        return cls(channel=channel, actor_kind=actor.kind.value, actor_id=actor.id)

    @classmethod
    def system(cls) -> Origin:
        return cls(channel=Channel.SYSTEM, actor_kind="system", actor_id=None)


@dataclass(frozen=True, slots=True)
class Reference:
    type: str = ""
    id: str = ""
    reason: str = ""


def entry_hash(prev_hash: str, content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()


def entry_content(entry: LedgerEntry) -> dict[str, Any]:
    """What an entry's hash covers: everything but its id and the hashes themselves."""
    created = (
        entry.created_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    )
    return {
        "account": entry.account_id,  # type: ignore[attr-defined]
        "counter": entry.counter_account_id,  # type: ignore[attr-defined]
        "seq": entry.seq,
        "kind": str(entry.kind),
        "points": entry.points,
        "held_change": entry.held_change,
        "channel": str(entry.channel),
        "actor": [entry.actor_kind, entry.actor_id],
        "reference": [entry.reference_type, entry.reference_id],
        "reason": entry.reason,
        "lots": entry.lots,
        "created_at": created,
    }


async def append_entry(
    account: LockedAccount,
    *,
    kind: EntryKind,
    points: int,
    origin: Origin,
    reference: Reference,
    counter_account_id: int | None = None,
    held_change: int = 0,
    lots: list[list[int]] | None = None,
) -> LedgerEntry:
    row = account.row
    now = account.now
    entry = LedgerEntry(
        account_id=row.id,
        counter_account_id=counter_account_id or await program_account_id(account.conn),
        seq=row.entry_count + 1,
        kind=kind,
        points=points,
        held_change=held_change,
        channel=origin.channel,
        actor_kind=origin.actor_kind,
        actor_id=origin.actor_id,
        reference_type=reference.type,
        reference_id=reference.id,
        reason=reference.reason,
        lots=lots or [],
        created_at=now,
        prev_hash=row.head_hash or GENESIS_HASH,
    )
    entry.hash = entry_hash(entry.prev_hash, entry_content(entry))
    await entry.save(using_db=account.conn)
    written.entry_written(entry)  # for after-commit work (leaderboards, notices)
    row.entry_count += 1
    row.head_hash = entry.hash
    row.balance += points
    row.held += held_change
    account.entries.append(entry)
    return entry


async def derived_balances() -> dict[int, int]:
    """Every account's balance computed from the entries alone (the books, for checks)."""
    balances: dict[int, int] = {}
    owned = (
        await LedgerEntry.all()
        .group_by("account_id")
        .annotate(total=Sum("points"))
        .values("account_id", "total")
    )
    for row in owned:
        balances[row["account_id"]] = balances.get(row["account_id"], 0) + int(row["total"] or 0)
    countered = (
        await LedgerEntry.all()
        .group_by("counter_account_id")
        .annotate(total=Sum("points"))
        .values("counter_account_id", "total")
    )
    for row in countered:
        key = row["counter_account_id"]
        balances[key] = balances.get(key, 0) - int(row["total"] or 0)
    return balances


@dataclass(frozen=True, slots=True)
class ChainCheck:
    account_id: int
    ok: bool
    entries: int
    head_hash: str
    first_broken_entry_id: int | None = None
    problem: str = ""


async def verify_account_chain(account_id: int) -> ChainCheck:
    """Recompute the account's hash chain. Detects edited, inserted and deleted entries."""
    account = await LedgerAccount.get(id=account_id)
    prev = GENESIS_HASH
    expected_seq = 1
    last_id: int | None = None
    count = 0
    while True:
        query = LedgerEntry.filter(account_id=account_id)
        if last_id is not None:
            query = query.filter(id__gt=last_id)
        batch = await query.order_by("id").limit(1000)
        if not batch:
            break
        for entry in batch:
            count += 1
            if entry.seq != expected_seq:
                return ChainCheck(
                    account_id, False, count, account.head_hash, entry.id, "a missing entry"
                )
            if entry.prev_hash != prev:
                return ChainCheck(
                    account_id, False, count, account.head_hash, entry.id, "broken link"
                )
            if entry_hash(prev, entry_content(entry)) != entry.hash:
                return ChainCheck(
                    account_id, False, count, account.head_hash, entry.id, "edited content"
                )
            prev = entry.hash
            expected_seq += 1
            last_id = entry.id
    if count != account.entry_count or (count and prev != account.head_hash):
        return ChainCheck(
            account_id, False, count, account.head_hash, None, "missing latest entries"
        )
    return ChainCheck(account_id, True, count, account.head_hash)
