"""After-commit work for challenges: which members' progress moved while a caller was listening.

The same pattern as `gamification.ledger.written` (ledger entries), for challenge progress: the
challenge code reports every progress row an event changed, and every collector open in the
current context (the leaderboards' and the real-time notices') receives it. After the use cases
have returned, the caller brings the challenge boards up to date and publishes the members'
`challengeProgress` notices (see `gamification.leaderboards.updates.record_challenge_progress` and
`gamification.events.realtime.challenge_progress_notices`).

Changes carry what the transaction computed (the row's new values, the member's timezone, a
join), so that the notices are built after commit without reading the progress again; badge
awards and tier upgrades are reported the same way, with the ids that version their notices.

A change may belong to a transaction that then rolled back. The boards do not mind (they are
recomputed from the committed progress table); the notices keep only the changes of committed
transactions: those whose `ledger_entry` (an entry the same transaction wrote, by id and hash) is
committed, else those whose domain event is in the database, matched by id and source key
(on SQLite a rolled-back row's id may be given to another row).

Use cases need not know about any of this: nothing is collected unless a caller listens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

EntryKey = tuple[int, str]  # a ledger entry's id and hash


class _Entry(Protocol):
    id: int
    hash: str


def transaction_entry_key(entries: Sequence[_Entry]) -> EntryKey | None:
    """The key of a ledger entry written by the current transaction: if that entry is committed,
    so is the rest of the transaction."""
    return (entries[0].id, entries[0].hash) if entries else None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A progress row's values as the transaction left them."""

    window_key: str
    current: Decimal
    completions: int
    completed_at: datetime | None
    streak: int
    last_period: date | None
    timezone: str
    joined: bool


@dataclass(frozen=True, slots=True)
class ProgressChange:
    """An event moved a member's progress in a challenge."""

    member_id: int
    challenge_id: int
    event_id: int  # the domain event that moved it: the version of the member's stream
    source_key: str  # the event's unique key, to tell a committed event from a rolled-back one
    snapshot: Snapshot | None = None  # None: the notice reads the progress after commit
    ledger_entry: EntryKey | None = None  # one its transaction wrote: committed with it


@dataclass(frozen=True, slots=True)
class Award:
    """A badge newly held (`award_id`: the member_badge row, the notice's version)."""

    member_id: int
    award_id: int
    badge_id: int
    name: str
    event_id: int
    source_key: str
    ledger_entry: EntryKey | None = None  # one its transaction wrote: committed with it


@dataclass(frozen=True, slots=True)
class TierUpgrade:
    """A tier reached (`change_id`: the tier_change row, the notice's version)."""

    member_id: int
    change_id: int
    tier: str
    previous_tier: str | None
    event_id: int
    source_key: str
    ledger_entry: EntryKey | None = None  # one its transaction wrote: committed with it


@dataclass
class ProgressUpdates:
    """What was reported while the collector was open, in the order it was reported."""

    changes: list[ProgressChange] = field(default_factory=list)
    # Challenges whose definition changed (target, completions...): their whole board moves.
    redefined: set[int] = field(default_factory=set)
    awards: list[Award] = field(default_factory=list)
    upgrades: list[TierUpgrade] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changes or self.redefined or self.awards or self.upgrades)


_collectors: ContextVar[tuple[ProgressUpdates, ...]] = ContextVar(
    "challenge_progress_updates", default=()
)


@contextmanager
def collect_progress_updates() -> Iterator[ProgressUpdates]:
    """Collect the progress changes reported in this context (and tasks started from it)."""
    updates = ProgressUpdates()
    token = _collectors.set((*_collectors.get(), updates))
    try:
        yield updates
    finally:
        _collectors.reset(token)


def progress_changed(
    member_id: int,
    challenge_id: int,
    event_id: int,
    source_key: str,
    *,
    snapshot: Snapshot | None = None,
    ledger_entry: EntryKey | None = None,
) -> None:
    """Called by the challenge code for every progress row an event changes; a no-op when
    nobody listens."""
    change = ProgressChange(member_id, challenge_id, event_id, source_key, snapshot, ledger_entry)
    for updates in _collectors.get():
        updates.changes.append(change)


def listening() -> bool:
    """Whether anybody collects changes (callers skip building what nobody would read)."""
    return bool(_collectors.get())


def badge_awarded(award: Award) -> None:
    for updates in _collectors.get():
        updates.awards.append(award)


def tier_upgraded(upgrade: TierUpgrade) -> None:
    for updates in _collectors.get():
        updates.upgrades.append(upgrade)


def challenge_redefined(challenge_id: int) -> None:
    """Called when an admin changes a challenge: its board is recomputed after the commit."""
    for updates in _collectors.get():
        updates.redefined.add(challenge_id)
