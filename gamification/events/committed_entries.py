"""Which of the ledger entries written during a request were committed, read once for every
consumer.

After a mutation, the leaderboards and the real-time notices both need the ledger entries its
transactions wrote (`gamification.ledger.written`), keeping only those of transactions that
committed: an entry is committed when a row with its id and its hash is in the table (a rolled-
back row is gone, and on SQLite its id may have been given to another row, whose hash differs).
One statement reads them with everything both consumers need: the member, the entry's figures,
the counter account's code, and the member's points as they now stand (balance, held and the id
of the entry that left them so, read in the same statement, hence consistent).

Whether an entry (id, hash) was committed never changes once its transaction has ended, so the
answer is remembered (a bounded memo per process): the second consumer of a request, and any
change that names an entry of its own transaction (`ledger_entry`, see
`gamification.events.progress.transaction_entry_key`) costs no further read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from gamification import sql
from gamification.events.progress import EntryKey
from gamification.ledger.models import EntryKind, LedgerEntry

_MEMO_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class CommittedEntry:
    id: int
    member_id: int | None
    account_code: str
    seq: int
    kind: EntryKind
    points: int
    counter_code: str
    created_at: datetime
    # The owner account as read with the entry: its points and the entry that left them so.
    balance: int
    held: int
    head_entry_id: int


_memo: OrderedDict[EntryKey, CommittedEntry | None] = OrderedDict()


def _remember(key: EntryKey, found: CommittedEntry | None) -> None:
    _memo[key] = found
    _memo.move_to_end(key)
    while len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)


def is_committed(entry: EntryKey | None) -> bool | None:
    """Whether the entry was committed, if this process has read it since (None: unknown)."""
    if entry is None or entry not in _memo:
        return None
    return _memo[entry] is not None


_READ: Final = (
    "SELECT e.id, e.hash, a.member_id, a.code AS account_code, e.seq, e.kind, e.points, "
    "c.code AS counter_code, e.created_at, a.balance, a.held, "
    "(SELECT h.id FROM ledger_entry h WHERE h.account_id = a.id AND h.seq = a.entry_count) "
    "AS head_entry_id "
    "FROM ledger_entry e JOIN ledger_account a ON a.id = e.account_id "
    "JOIN ledger_account c ON c.id = e.counter_account_id WHERE e.id IN "
)


async def keep_committed(entries: Iterable[LedgerEntry]) -> list[CommittedEntry]:
    """The entries that were committed, in the order given (at most one read)."""
    wanted: list[EntryKey] = []
    for entry in entries:
        key = (int(entry.id), entry.hash)
        if key not in wanted:
            wanted.append(key)
    missing = [key for key in wanted if key not in _memo]
    if missing:
        await _read(missing)
    found = []
    for key in wanted:
        row = _memo.get(key)
        if row is not None:
            found.append(row)
    return found


async def _read(keys: Sequence[EntryKey]) -> None:
    marks = ", ".join(f"${n}" for n in range(1, len(keys) + 1))
    rows = await sql.fetch(LedgerEntry._meta.db, f"{_READ}({marks})", *(k[0] for k in keys))
    created = LedgerEntry._meta.fields_map["created_at"]
    by_key: dict[EntryKey, CommittedEntry] = {}
    for row in rows:
        by_key[int(row["id"]), row["hash"]] = CommittedEntry(
            id=int(row["id"]),
            member_id=int(row["member_id"]) if row["member_id"] is not None else None,
            account_code=row["account_code"],
            seq=int(row["seq"]),
            kind=EntryKind(row["kind"]),
            points=int(row["points"]),
            counter_code=row["counter_code"],
            created_at=created.to_python_value(row["created_at"]),
            balance=int(row["balance"]),
            held=int(row["held"]),
            head_entry_id=int(row["head_entry_id"] or 0),
        )
    for key in keys:
        _remember(key, by_key.get(key))
