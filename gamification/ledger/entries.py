"""Ledger entries: appending one to a locked account, the hash chain that makes the history
tamper-evident, and the checks that recompute it (chains, balances derived from entries alone).

Every change is an append-only `LedgerEntry` moving points between the owner account and a
counter account (usually the program), so the books of the program balance by construction.
Each entry's hash covers its content and the previous entry's hash for that account; the previous
hash is read under the same row lock that orders the account's entries.

Chain versions (`LedgerEntry.chain_version`, docs/ledger.md#tamper-evidence):
- 1: the content held the entry's free-text `reason` itself. A reason may name a person, and
  erasing it would break the chain, so version 1 is only verified, never written (migration
  0010 re-chained every verifiable account under version 2).
- 2: the content holds `reason_digest`, sha256 of a random per-entry salt and the reason, in
  place of the reason. Erasure blanks the reason and the salt together: the digest stays,
  the chain still verifies, and without the salt nobody can test a guess against the digest.
  Ids, amounts, kinds, channels and references are all the hash covers besides.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final

from tortoise.functions import Sum

from gamification import view_versions
from gamification.actors import Actor
from gamification.ledger import written
from gamification.ledger.accounts import LockedAccount, program_account_id
from gamification.ledger.models import EntryKind, LedgerAccount, LedgerEntry
from gamification.outbox.emit import emit
from gamification.stores.models import Channel

GENESIS_HASH: Final = "0" * 64
CHAIN_VERSION: Final = 2  # what append_entry writes; see the module's docstring
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


def reason_digest(salt: str, reason: str) -> str:
    """What a version 2 hash covers in place of the free-text reason."""
    return hashlib.sha256(f"{salt}|{reason}".encode()).hexdigest()


def _created(entry: LedgerEntry) -> str:
    return entry.created_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def entry_content(entry: LedgerEntry) -> dict[str, Any]:
    """What an entry's hash covers, in its chain version: everything but its id, the hashes
    and (version 2) the reason and its salt, which the digest stands for."""
    content: dict[str, Any] = {
        "account": entry.account_id,  # type: ignore[attr-defined]
        "counter": entry.counter_account_id,  # type: ignore[attr-defined]
        "seq": entry.seq,
        "kind": str(entry.kind),
        "points": entry.points,
        "held_change": entry.held_change,
        "channel": str(entry.channel),
        "actor": [entry.actor_kind, entry.actor_id],
        "reference": [entry.reference_type, entry.reference_id],
        "lots": entry.lots,
        "created_at": _created(entry),
    }
    if entry.chain_version == 1:
        content["reason"] = entry.reason
    else:
        content["v"] = entry.chain_version
        content["reason_digest"] = entry.reason_digest
    return content


def reason_problem(entry: LedgerEntry) -> str:
    """Why the entry's reason does not match its digest ("" when it does, or was erased:
    reason and salt both blank). Version 1 entries hash the reason itself."""
    if entry.chain_version == 1:
        return ""
    if not entry.reason_salt:
        return "" if not entry.reason else "edited reason"
    if reason_digest(entry.reason_salt, entry.reason) != entry.reason_digest:
        return "edited reason"
    return ""


def seal(entry: LedgerEntry) -> None:
    """Give the entry its reason digest (version 2) and its hash, chained to `prev_hash`."""
    if entry.chain_version != 1:
        entry.reason_salt = secrets.token_hex(16)
        entry.reason_digest = reason_digest(entry.reason_salt, entry.reason)
    entry.hash = entry_hash(entry.prev_hash, entry_content(entry))


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
        chain_version=CHAIN_VERSION,
    )
    seal(entry)
    await entry.save(using_db=account.conn)
    written.entry_written(entry)  # for after-commit work (leaderboards, notices)
    view_versions.member_view_changed(row.member_id)  # type: ignore[attr-defined]
    row.entry_count += 1
    row.head_hash = entry.hash
    row.balance += points
    row.held += held_change
    account.entries.append(entry)
    await _emit_entry(account, entry)
    return entry


# Entry kinds that are also an event of their own, beside `points.changed`.
_ENTRY_EVENTS: Final = {
    EntryKind.EXPIRE: "points.expired",
    EntryKind.HOLD: "hold.placed",
    EntryKind.CAPTURE: "hold.captured",
    EntryKind.RELEASE: "hold.released",
}


async def _emit_entry(account: LockedAccount, entry: LedgerEntry) -> None:
    """The entry's events, in the outbox of the entry's transaction (gamification.outbox)."""
    row = account.row
    member_id: int = row.member_id  # type: ignore[attr-defined]
    data = {
        "memberId": member_id,
        "entryId": entry.id,
        "points": entry.points,
        "heldChange": entry.held_change,
        "balance": row.balance,
        "held": row.held,
        "referenceType": entry.reference_type,
        "referenceId": entry.reference_id,
    }
    await emit(
        account.conn,
        type="points.changed",
        member_id=member_id,
        data={**data, "kind": str(entry.kind), "reason": entry.reason},
        occurred_at=account.now,
    )
    specific = _ENTRY_EVENTS.get(entry.kind)
    if specific is not None:
        await emit(
            account.conn, type=specific, member_id=member_id, data=data, occurred_at=account.now
        )


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
            if problem := reason_problem(entry):
                return ChainCheck(account_id, False, count, account.head_hash, entry.id, problem)
            prev = entry.hash
            expected_seq += 1
            last_id = entry.id
    if count != account.entry_count or (count and prev != account.head_hash):
        return ChainCheck(
            account_id, False, count, account.head_hash, None, "missing latest entries"
        )
    return ChainCheck(account_id, True, count, account.head_hash)
