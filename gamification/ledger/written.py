"""After-commit work: what the ledger wrote while a caller was listening.

Some work must follow a transaction, never run inside it (a leaderboard in Redis must not count
points whose transaction then rolls back, and a slow or absent Redis must not hold row locks).
A caller that owns such work opens `collect_written_entries()` around its use cases; the ledger
reports every entry it writes to every collector open in the current context (the leaderboards
and the real-time notices each keep their own); after the use
cases return, the caller hands the collected entries to the follow-up (see
`gamification.leaderboards.updates.record_committed`).

The collector sees entries as they are written, so an entry of a transaction that later rolled
back may be among them. Consumers re-read the entries by id and keep only rows whose hash
matches: a rolled-back row is gone (and on SQLite its id may have been reused by another row,
whose hash differs).

Use cases need not know about any of this: nothing is collected unless a caller listens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from gamification.ledger.models import LedgerEntry


@dataclass
class WrittenEntries:
    """Ledger entries written while the collector was open, in the order they were written."""

    entries: list[LedgerEntry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries)


_collectors: ContextVar[tuple[WrittenEntries, ...]] = ContextVar(
    "written_ledger_entries", default=()
)


@contextmanager
def collect_written_entries() -> Iterator[WrittenEntries]:
    """Collect the ledger entries written in this context (and tasks started from it)."""
    written = WrittenEntries()
    token = _collectors.set((*_collectors.get(), written))
    try:
        yield written
    finally:
        _collectors.reset(token)


def entry_written(entry: LedgerEntry) -> None:
    """Called by the ledger for every entry it writes; a no-op when nobody listens."""
    for written in _collectors.get():
        written.entries.append(entry)
