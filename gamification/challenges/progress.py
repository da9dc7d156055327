"""The progress engine: domain events applied to the member's challenges, completions and
their rewards; and joining an opt-in challenge.

Progress is applied by `apply_event`, called from `gamification.events.facts.record` in the
transaction of the fact, with the member's ledger account locked. That lock serialises every event
of one member, so two events completing one challenge at once award it once; the unique
(challenge, member, window, number) key of `ChallengeCompletion` makes a second award impossible
even if that ever changed. Every writer of a member's progress rows holds that lock, so the rows
are read without a row lock of their own. Lock order: member ledger account, nothing else.

Cost per event: the challenges it counts for are matched in Python against the cached catalog
(`gamification.challenges.definitions.catalog`: a challenge created or changed in another process
applies within `LOYALTY_PROGRAM_CACHE_SECONDS`); when some match, the member's rows for them are
read in the statement that inserts the event (`plan_event`, `domain_events.record`), new windows
are inserted in one statement, and the rows' new values, the purchase's contributions and
completions are held back until the transaction's last statement (`gamification.deferred_writes`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from gamification import deferred_writes, program_settings, sql
from gamification.actors import Actor
from gamification.badges import awards as badges
from gamification.badges.models import Badge
from gamification.challenges.definitions import catalog
from gamification.challenges.models import (
    Challenge,
    ChallengeParticipant,
    ChallengeProgress,
    ChallengeStatus,
    GoalType,
)
from gamification.challenges.windows import advance_streak, next_number, window_key, zone_of
from gamification.earning import rules as earning
from gamification.errors import Conflict, ErrorCode, NotFound, Refused
from gamification.events import progress as progress_updates
from gamification.events.models import DomainEvent, EventKind
from gamification.ledger import accounts, movements
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import EntryKind
from gamification.members import state as member_state
from gamification.outbox.emit import emit
from gamification.tiers import ladder as tiers


@dataclass
class Outcome:
    qualifying_bonus: int = 0
    longest_streak: int = 0


@dataclass(frozen=True, slots=True)
class ProgressRead:
    """One statement reading the progress rows (and opt-in joins) an event may move."""

    statement: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class EventPlan:
    """The challenges an event counts for (matched in Python against the cached catalog), each
    with the window it falls in, and the statement that reads the member's rows for them."""

    member_id: int
    targets: tuple[tuple[Challenge, str], ...]
    read: ProgressRead


_PROGRESS_COLUMNS: Final = (
    "id",
    "challenge_id",
    "window_key",
    "current",
    "days",
    "streak",
    "last_period",
    "freezes_used",
    "completions",
    "completed_at",
    "revoked",
)


def _progress_read(member_id: int, targets: Sequence[tuple[Challenge, str]]) -> ProgressRead:
    values: list[Any] = [member_id]
    pairs = []
    for challenge, key in targets:
        values += [challenge.id, key]
        pairs.append(f"(challenge_id = ${len(values) - 1} AND window_key = ${len(values)})")
    columns = ", ".join(_PROGRESS_COLUMNS)
    statement = (
        f"SELECT 'progress' AS part, {columns} FROM challenge_progress "
        f"WHERE member_id = $1 AND ({' OR '.join(pairs)})"
    )
    opt_in = sorted({challenge.id for challenge, _ in targets if challenge.opt_in})
    if opt_in:
        marks = []
        for challenge_id in opt_in:
            values.append(challenge_id)
            marks.append(f"${len(values)}")
        nulls = ", ".join("NULL" for _ in _PROGRESS_COLUMNS[2:])
        statement += (
            f" UNION ALL SELECT 'joined', NULL, challenge_id, {nulls} FROM challenge_participant "
            f"WHERE member_id = $1 AND challenge_id IN ({', '.join(marks)})"
        )
    return ProgressRead(statement, tuple(values))


def _matches(challenge: Challenge, event: DomainEvent) -> bool:
    if challenge.filter_channel is not None and event.channel is not challenge.filter_channel:
        return False
    if challenge.filter_category is not None and challenge.filter_category not in (
        event.categories or []
    ):
        return False
    if challenge.filter_store_id is not None and event.store_id != challenge.filter_store_id:
        return False
    if challenge.filter_min_amount is not None and Decimal(event.amount) < Decimal(
        challenge.filter_min_amount
    ):
        return False
    return challenge.filter_eco_kind is None or event.subject == challenge.filter_eco_kind


async def plan_event(
    state: member_state.MemberState, event: DomainEvent, zone: ZoneInfo
) -> EventPlan | None:
    """The challenges `event` counts for, from the cached catalog (see `catalog`): active,
    of its kind, running when it occurred, its filters matched, the member's tier high enough.
    None when there are none, so an event that matches nothing costs nothing here."""
    occurred = event.occurred_at
    local = occurred.astimezone(zone)
    targets = []
    for challenge in await catalog(ChallengeStatus.ACTIVE):
        if (
            challenge.event_kind is not event.kind
            or challenge.starts_at > occurred
            or (challenge.ends_at is not None and challenge.ends_at <= occurred)
            or not _matches(challenge, event)
            or not await tiers.reaches(state, challenge.min_tier)
        ):
            continue
        targets.append((challenge, window_key(challenge.window_kind, local)))
    if not targets:
        return None
    return EventPlan(state.member_id, tuple(targets), _progress_read(state.member_id, targets))


def _progress_of(row: dict[str, Any], member_id: int) -> ChallengeProgress:
    fields_map = ChallengeProgress._meta.fields_map
    values = {
        name: fields_map[name].to_python_value(row[name])
        for name in ("current", "days", "last_period", "freezes_used", "completed_at")
    }
    return ChallengeProgress(
        id=int(row["id"]),
        challenge_id=int(row["challenge_id"]),
        member_id=member_id,
        window_key=row["window_key"],
        streak=int(row["streak"]),
        completions=int(row["completions"]),
        revoked=int(row["revoked"]),
        **values,
    )


_NEW_PROGRESS_COLUMNS: Final = (
    '"challenge_id", "member_id", "window_key", "current", "days", "streak", "last_period", '
    '"freezes_used", "completions", "completed_at", "updated_at", "revoked"'
)


_SAVE_PROGRESS: Final = """
UPDATE "challenge_progress" SET "current" = $1, "days" = $2, "streak" = $3, "last_period" = $4,
    "freezes_used" = $5, "completions" = $6, "completed_at" = $7, "updated_at" = $8
WHERE "id" = $9
"""


_INSERT_COMPLETION: Final = """
INSERT INTO "challenge_completion" ("challenge_id", "member_id", "number", "window_key",
    "points", "entry_id", "event_id", "completed_at")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _row_values(progress: ChallengeProgress) -> list[Any]:
    return [
        Decimal(progress.current),
        _json(progress.days),
        progress.streak,
        progress.last_period,
        _json(progress.freezes_used),
        progress.completions,
        progress.completed_at,
        progress.updated_at,
    ]


async def _insert_new(
    account: accounts.LockedAccount, member_id: int, rows: Sequence[ChallengeProgress]
) -> None:
    """Insert the windows the member had no row for yet, in one statement, and learn their
    ids (their contributions point at them)."""
    values: list[Any] = []
    tuples = []
    for progress in rows:
        start = len(values)
        values += [progress.challenge_id, member_id, progress.window_key]  # type: ignore[attr-defined]
        current, days, streak, last_period, freezes, completions, completed_at, updated_at = (
            _row_values(progress)
        )
        values += [current, days, streak, last_period, freezes, completions, completed_at]
        values += [updated_at, progress.revoked]
        tuples.append("(" + ", ".join(f"${start + n}" for n in range(1, 13)) + ")")
    inserted = await sql.fetch(
        account.conn,
        f'INSERT INTO "challenge_progress" ({_NEW_PROGRESS_COLUMNS}) VALUES {", ".join(tuples)} '
        'RETURNING "id", "challenge_id", "window_key"',
        *values,
    )
    ids = {(int(r["challenge_id"]), r["window_key"]): int(r["id"]) for r in inserted}
    for progress in rows:
        progress.id = ids[progress.challenge_id, progress.window_key]  # type: ignore[attr-defined]


async def apply_event(
    account: accounts.LockedAccount,
    state: member_state.MemberState,
    event: DomainEvent,
    plan: EventPlan,
    rows: Sequence[dict[str, Any]],
) -> Outcome:
    """Apply one event to every challenge of its plan, completing and rewarding them. `rows`
    are what the plan's read returned (the member's progress rows and joins)."""
    member_id = plan.member_id
    outcome = Outcome()
    existing: dict[tuple[int, str], ChallengeProgress] = {}
    joined: set[int] = set()
    for row in rows:
        if row["part"] == "joined":
            joined.add(int(row["challenge_id"]))
        else:
            found = _progress_of(row, member_id)
            existing[found.challenge_id, found.window_key] = found  # type: ignore[attr-defined]
    local = event.occurred_at.astimezone(zone_of(state.timezone))
    changed: list[tuple[Challenge, ChallengeProgress]] = []
    new: list[ChallengeProgress] = []
    # What a purchase adds is kept, so that its refund can take exactly that back
    # (gamification.challenges.refunds).
    contributions: list[tuple[ChallengeProgress, int]] = []
    for challenge, key in plan.targets:
        if challenge.opt_in and challenge.id not in joined:
            continue
        known = existing.get((challenge.id, key))
        if known is not None:
            progress = known
        else:
            progress = ChallengeProgress(
                challenge_id=challenge.id,
                member_id=member_id,
                window_key=key,
                current=Decimal(0),
                days=[],
                streak=0,
                last_period=None,
                freezes_used=[],
                completions=0,
                completed_at=None,
                revoked=0,
                updated_at=account.now,
            )
            new.append(progress)
        if event.kind is EventKind.PURCHASE_RECORDED:
            # Kept past the maximum too: such purchases can make up for a refunded one.
            contributions.append((progress, next_number(progress)))
        if progress.completions >= challenge.max_completions:
            continue  # a new row has no completions: only existing rows get here
        goal = challenge.goal_type
        if goal is GoalType.COUNT:
            progress.current = Decimal(progress.current) + 1
        elif goal is GoalType.SUM:
            progress.current = Decimal(progress.current) + Decimal(event.amount)
        elif goal is GoalType.DISTINCT_DAYS:
            day = local.date().isoformat()
            if day not in progress.days:
                progress.days = [*progress.days, day]
            progress.current = Decimal(len(progress.days))
        else:
            advance_streak(challenge, progress, local.date())
            progress.current = Decimal(progress.streak)
            if goal is GoalType.STREAK_DAYS:
                outcome.longest_streak = max(outcome.longest_streak, progress.streak)
        if progress.current >= Decimal(challenge.target):
            outcome.qualifying_bonus += await _complete(account, state, challenge, progress, event)
        progress.updated_at = account.now
        changed.append((challenge, progress))
    if new:
        await _insert_new(account, member_id, new)
    ledger_entry = progress_updates.transaction_entry_key(account.entries)
    inserted = {id(progress) for progress in new}
    for challenge, progress in changed:
        if id(progress) not in inserted:
            await deferred_writes.hold_back_write(
                account.conn,
                ("challenge_progress", progress.id),
                _SAVE_PROGRESS,
                *_row_values(progress),
                progress.id,
            )
        # After commit: the challenge's board and the member's challengeProgress stream.
        progress_updates.progress_changed(
            member_id,
            challenge.id,
            event.id,
            event.source_key,
            snapshot=progress_updates.Snapshot(
                window_key=progress.window_key,
                current=Decimal(progress.current),
                completions=progress.completions,
                completed_at=progress.completed_at,
                streak=progress.streak,
                last_period=progress.last_period,
                timezone=state.timezone,
                joined=not challenge.opt_in or challenge.id in joined,
            ),
            ledger_entry=ledger_entry,
        )
    if contributions:
        await _add_contributions(account, event, local.date(), contributions)
    return outcome


_INSERT_CONTRIBUTIONS: Final = (
    'INSERT INTO "challenge_contribution" ("progress_id", "event_id", "number", "day", '
    '"amount", "reversed_amount", "withdrawn") VALUES '
)


async def _add_contributions(
    account: accounts.LockedAccount,
    event: DomainEvent,
    day: date,
    contributions: Sequence[tuple[ChallengeProgress, int]],
) -> None:
    """One INSERT for what the purchase added to each challenge, held back like the rows."""
    values: list[Any] = []
    tuples = []
    for progress, number in contributions:
        start = len(values)
        values += [progress.id, event.id, number, day, Decimal(event.amount), Decimal(0), False]
        tuples.append("(" + ", ".join(f"${start + n}" for n in range(1, 8)) + ")")
    await deferred_writes.hold_back_write(
        account.conn,
        ("challenge_contribution", event.id),
        _INSERT_CONTRIBUTIONS + ", ".join(tuples),
        *values,
    )


async def _complete(
    account: accounts.LockedAccount,
    state: member_state.MemberState,
    challenge: Challenge,
    progress: ChallengeProgress,
    event: DomainEvent,
) -> int:
    """Record the completion and award its reward, once. Returns qualifying bonus points."""
    member_id: int = progress.member_id  # type: ignore[attr-defined]
    number = next_number(progress)
    entry = None
    if challenge.reward_points > 0:
        entry = await movements.credit(
            account,
            challenge.reward_points,
            kind=EntryKind.BONUS,
            origin=Origin.system(),
            reference=Reference(
                "challenge", f"{challenge.id}:{progress.window_key}:{number}", challenge.title
            ),
            expires_at=earning.points_expiry(account.now),
        )
    # Held back: the unique (challenge, member, window, number) key still refuses a second
    # award, when the transaction's last statement is sent.
    await deferred_writes.hold_back_write(
        account.conn,
        ("challenge_completion", challenge.id, progress.window_key, number),
        _INSERT_COMPLETION,
        challenge.id,
        member_id,
        number,
        progress.window_key,
        challenge.reward_points,
        entry.id if entry else None,
        event.id,
        account.now,
    )
    await emit(
        account.conn,
        type="challenge.completed",
        member_id=member_id,
        data={
            "memberId": member_id,
            "challengeId": challenge.id,
            "title": challenge.title,
            "windowKey": progress.window_key,
            "number": number,
            "rewardPoints": challenge.reward_points,
        },
        occurred_at=account.now,
    )
    badge_id = challenge.reward_badge_id  # type: ignore[attr-defined]
    if badge_id is not None:
        badge = next((b for b in await badges.catalog_badges() if b.id == badge_id), None)
        if badge is None:  # created in another process since this one cached the catalog
            badge = await Badge.get(id=badge_id, using_db=account.conn)
        await badges.award_in(account, state, badge, event)
    progress.completions += 1
    progress.completed_at = account.now
    if progress.completions < challenge.max_completions:
        progress.current = Decimal(0)
        progress.days = []
        progress.streak = 0
    bonus_qualifies = program_settings.current().tier_bonus_points_qualify
    return challenge.reward_points if bonus_qualifies else 0


async def join_challenge(
    *, actor: Actor, challenge_id: int, now: datetime | None = None
) -> Challenge:
    """Join an opt-in challenge.

    Raises NotFound(CHALLENGE_NOT_FOUND) for an unknown (or hidden) challenge, Refused
    (CHALLENGE_ARCHIVED, CHALLENGE_ENDED, CHALLENGE_NOT_OPT_IN, NOT_ELIGIBLE),
    Conflict(ALREADY_JOINED).
    """
    now = now or datetime.now(UTC)
    member_id = actor.id
    async with in_transaction() as conn:
        await accounts.lock_member_account(member_id, conn, now)
        challenge = await Challenge.filter(id=challenge_id).using_db(conn).first()
        if challenge is None or challenge.hidden:
            raise NotFound(
                "No such challenge", code=ErrorCode.CHALLENGE_NOT_FOUND, field="challengeId"
            )
        if challenge.status is ChallengeStatus.ARCHIVED:
            raise Refused(
                "This challenge was archived",
                code=ErrorCode.CHALLENGE_ARCHIVED,
                field="challengeId",
            )
        if challenge.ends_at is not None and challenge.ends_at <= now:
            raise Refused(
                "This challenge has ended", code=ErrorCode.CHALLENGE_ENDED, field="challengeId"
            )
        if not challenge.opt_in:
            raise Refused(
                "Everyone takes part in this challenge automatically",
                code=ErrorCode.CHALLENGE_NOT_OPT_IN,
                field="challengeId",
            )
        if not await tiers.tier_at_least(member_id, challenge.min_tier, conn):
            raise Refused(
                f"This challenge is for {challenge.min_tier} members and above",
                code=ErrorCode.NOT_ELIGIBLE,
                field="challengeId",
            )
        if (
            await ChallengeParticipant.filter(challenge_id=challenge.id, member_id=member_id)
            .using_db(conn)
            .exists()
        ):
            raise Conflict(
                "You already joined this challenge",
                code=ErrorCode.ALREADY_JOINED,
                field="challengeId",
            )
        await ChallengeParticipant.create(
            challenge_id=challenge.id, member_id=member_id, joined_at=now, using_db=conn
        )
    return challenge
