"""Challenges: goals over domain events, counted in each member's own timezone.

Goal types: COUNT of matching events, SUM of their amounts (purchase amounts, eco quantities,
points redeemed or donated), DISTINCT_DAYS with a matching event, and STREAK_DAYS / STREAK_WEEKS
of consecutive local days or weeks. A daily streak may bridge `freezes_per_week` missed days per
week (the ISO week of the missed day).

Windows: FIXED (`starts_at`..`ends_at`) or recurring DAILY / WEEKLY (Monday) / MONTHLY, whose
progress resets with each new local window (one `ChallengeProgress` row per window key).
`max_completions` is per window: after a completion the progress restarts until it is reached.

Progress is applied by `apply_event`, called from `gamification.events.facts.record` in the
transaction of the fact, with the member's ledger account locked. That lock serialises every event
of one member, so two events completing one challenge at once award it once; the unique
(challenge, member, window, number) key of `ChallengeCompletion` makes a second award impossible
even if that ever changed. Every writer of a member's progress rows holds that lock, so the rows
are read without a row lock of their own. Lock order: member ledger account, nothing else.

Cost per event: the challenges it counts for are matched in Python against the cached catalog
(`catalog`: a challenge created or changed in another process applies within
`LOYALTY_PROGRAM_CACHE_SECONDS`); when some match, the member's rows for them are read in the
statement that inserts the event (`plan_event`, `domain_events.record`), new windows are inserted
in one statement, and the rows' new values, the purchase's contributions and completions are held
back until the transaction's last statement (`gamification.sql.write`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from gamification import program_cache, sql
from gamification.actors import Actor
from gamification.badges import awards as badges
from gamification.badges.models import Badge
from gamification.challenges.models import (
    Challenge,
    ChallengeParticipant,
    ChallengeProgress,
    ChallengeStatus,
    GoalType,
    WindowKind,
)
from gamification.earning import rules as earning
from gamification.earning.models import EcoActionKind
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from gamification.events import progress as progress_updates
from gamification.events.models import DomainEvent, EventKind
from gamification.ledger import books as ledger
from gamification.ledger.models import EntryKind
from gamification.members import state as member_state
from gamification.members.models import Member
from gamification.pagination import Page
from gamification.stores.models import Channel, Store
from gamification.tiers import ladder as tiers
from gamification.tiers.models import Tier
from server.settings import get_settings

MAX_TARGET: Final = Decimal(1_000_000_000)
MAX_COMPLETIONS: Final = 1000
FIXED_WINDOW: Final = "fixed"

# Which filters can ever match an event of each kind; any other filter is a mistake.
_FILTERS_OF: Final[dict[EventKind, frozenset[str]]] = {
    EventKind.PURCHASE_RECORDED: frozenset({"channel", "category", "store", "min_amount"}),
    EventKind.PURCHASE_REFUNDED: frozenset({"channel", "category", "store", "min_amount"}),
    EventKind.REWARD_REDEEMED: frozenset({"channel", "store", "min_amount"}),
    EventKind.POINTS_DONATED: frozenset({"channel", "min_amount"}),
    EventKind.ECO_ACTION_RECORDED: frozenset({"channel", "store", "eco_kind", "min_amount"}),
    EventKind.CHECK_IN: frozenset(),
    EventKind.TIER_REACHED: frozenset(),
}
# The most days or weeks one recurring window holds: a longer day goal could never be met.
_DAYS_IN_WINDOW: Final = {WindowKind.DAILY: 1, WindowKind.WEEKLY: 7, WindowKind.MONTHLY: 31}


@dataclass(frozen=True, slots=True)
class ChallengeInput:
    title: str
    goal_type: GoalType
    target: Decimal
    event_kind: str
    window_kind: WindowKind
    starts_at: datetime
    ends_at: datetime | None = None
    description: str = ""
    image_url: str = ""
    filter_channel: Channel | None = None
    filter_category: str | None = None
    filter_store_id: int | None = None
    filter_min_amount: Decimal | None = None
    filter_eco_kind: str | None = None
    min_tier: str | None = None
    reward_points: int = 0
    reward_badge_id: int | None = None
    max_completions: int = 1
    opt_in: bool = False
    hidden: bool = False
    freezes_per_week: int = 0


def _invalid(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=ErrorCode.INVALID_CHALLENGE, field=field)


async def _check_definition(data: ChallengeInput) -> ChallengeInput:
    """Raises InvalidInput(INVALID_CHALLENGE) for a definition that is malformed or could never
    be completed (target ≤ 0, end before start, unknown event kind, impossible filter...)."""
    title = data.title.strip()
    if not 0 < len(title) <= 120:
        raise _invalid("Title must have 1 to 120 characters", "title")
    try:
        kind = EventKind(data.event_kind)
    except ValueError:
        raise _invalid(f"Unknown event kind {data.event_kind[:40]!r}", "eventKind") from None
    try:
        target_ok = data.target.is_finite() and 0 < data.target <= MAX_TARGET
    except (InvalidOperation, AttributeError):
        target_ok = False
    if not target_ok or data.target != data.target.quantize(Decimal("0.01")):
        raise _invalid("Target must be above 0 (at most 2 decimals)", "target")
    if data.goal_type is not GoalType.SUM and data.target != data.target.to_integral_value():
        raise _invalid("Counts, days and streaks need a whole target", "target")
    for name, moment in (("startsAt", data.starts_at), ("endsAt", data.ends_at)):
        if moment is not None and moment.tzinfo is None:
            raise _invalid(f"{name} needs a timezone", name)
    if data.ends_at is not None and data.ends_at <= data.starts_at:
        raise _invalid("endsAt must be after startsAt", "endsAt")
    if data.window_kind is WindowKind.FIXED and data.ends_at is None:
        raise _invalid("A fixed window needs endsAt", "endsAt")
    limit = _DAYS_IN_WINDOW.get(data.window_kind)
    day_goals = (GoalType.DISTINCT_DAYS, GoalType.STREAK_DAYS)
    if limit is not None and data.goal_type in day_goals and data.target > limit:
        raise _invalid(f"A {data.window_kind.lower()} window holds {limit} day(s)", "target")
    if (
        data.goal_type is GoalType.STREAK_WEEKS
        and data.window_kind
        in (
            WindowKind.DAILY,
            WindowKind.WEEKLY,
        )
        and data.target > 1
    ):
        raise _invalid("A weekly streak needs a longer window", "target")
    given = {
        "channel": data.filter_channel,
        "category": data.filter_category,
        "store": data.filter_store_id,
        "min_amount": data.filter_min_amount,
        "eco_kind": data.filter_eco_kind,
    }
    for name, value in given.items():
        if value is not None and name not in _FILTERS_OF[kind]:
            raise _invalid(
                f"{kind.value} events have no {name}: the filter never matches", "filter"
            )
    if data.filter_channel is Channel.SYSTEM:
        raise _invalid("No member event comes from the SYSTEM channel", "filter")
    if data.filter_min_amount is not None and (
        not data.filter_min_amount.is_finite() or data.filter_min_amount < 0
    ):
        raise _invalid("The minimum amount must not be negative", "filter")
    if (
        data.filter_store_id is not None
        and not await Store.filter(id=data.filter_store_id).exists()
    ):
        raise _invalid("No such store", "filter")
    if (
        data.filter_eco_kind is not None
        and not await EcoActionKind.filter(code=data.filter_eco_kind).exists()
    ):
        raise _invalid("No such eco action kind", "filter")
    if data.min_tier is not None and not await Tier.filter(name=data.min_tier).exists():
        raise _invalid("No such tier", "minTier")
    if (
        data.reward_badge_id is not None
        and not await Badge.filter(id=data.reward_badge_id).exists()
    ):
        raise _invalid("No such badge", "rewardBadgeId")
    if not 0 <= data.reward_points <= ledger.MAX_POINTS_PER_ENTRY:
        raise _invalid("Reward points must be between 0 and the ledger's maximum", "rewardPoints")
    if not 1 <= data.max_completions <= MAX_COMPLETIONS:
        raise _invalid(f"maxCompletions must be 1 to {MAX_COMPLETIONS}", "maxCompletions")
    if not 0 <= data.freezes_per_week <= 7 or (
        data.freezes_per_week and data.goal_type is not GoalType.STREAK_DAYS
    ):
        raise _invalid("Freezes (0 to 7 a week) are for daily streaks", "freezesPerWeek")
    if len(data.image_url) > 500 or len(data.description) > 5000:
        raise _invalid("Description or image URL too long", "description")
    return replace(data, title=title)


def _columns(data: ChallengeInput) -> dict[str, Any]:
    return {f.name: getattr(data, f.name) for f in fields(data)}


async def create_challenge(data: ChallengeInput) -> Challenge:
    """Raises InvalidInput(INVALID_CHALLENGE)."""
    challenge = await Challenge.create(**_columns(await _check_definition(data)))
    program_cache.invalidate()
    return challenge


def _input_of(challenge: Challenge) -> ChallengeInput:
    values = {f.name: getattr(challenge, f.name) for f in fields(ChallengeInput)}
    values["target"] = Decimal(values["target"])
    if values["filter_min_amount"] is not None:
        values["filter_min_amount"] = Decimal(values["filter_min_amount"])
    return ChallengeInput(**values)


async def update_challenge(
    challenge_id: int, changes: dict[str, Any], *, archived: bool | None = None
) -> Challenge:
    """Change some fields (names of `ChallengeInput`) and/or archive or restore it. The whole
    definition is checked again. Raises NotFound(CHALLENGE_NOT_FOUND), InvalidInput."""
    challenge = await Challenge.get_or_none(id=challenge_id)
    if challenge is None:
        raise NotFound("No such challenge", code=ErrorCode.CHALLENGE_NOT_FOUND, field="id")
    data = await _check_definition(replace(_input_of(challenge), **changes))
    scored_as = (Decimal(challenge.target), challenge.max_completions)
    for name, value in _columns(data).items():
        setattr(challenge, name, value)
    if archived is not None:
        challenge.status = ChallengeStatus.ARCHIVED if archived else ChallengeStatus.ACTIVE
    await challenge.save()
    program_cache.invalidate()
    if scored_as != (data.target, data.max_completions):
        progress_updates.challenge_redefined(challenge.id)  # its board scores change
    return challenge


# Windows, in the member's own timezone.


def window_key(kind: WindowKind, local: datetime) -> str:
    day = local.date()
    if kind is WindowKind.DAILY:
        return day.isoformat()
    if kind is WindowKind.WEEKLY:
        return "W" + (day - timedelta(days=day.weekday())).isoformat()
    if kind is WindowKind.MONTHLY:
        return f"{day.year:04d}-{day.month:02d}"
    return FIXED_WINDOW


def window_ends_at(challenge: Challenge, zone: ZoneInfo, now: datetime) -> datetime | None:
    """When the member's current window closes (a local midnight, as UTC)."""
    day = now.astimezone(zone).date()
    if challenge.window_kind is WindowKind.DAILY:
        end: date | None = day + timedelta(days=1)
    elif challenge.window_kind is WindowKind.WEEKLY:
        end = day - timedelta(days=day.weekday()) + timedelta(days=7)
    elif challenge.window_kind is WindowKind.MONTHLY:
        end = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    else:
        end = None
    local_end = (
        datetime.combine(end, time(0), tzinfo=zone).astimezone(UTC) if end is not None else None
    )
    candidates = [m for m in (local_end, challenge.ends_at) if m is not None]
    return min(candidates) if candidates else None


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


def _week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _advance_streak(challenge: Challenge, progress: ChallengeProgress, day: date) -> None:
    """Extend, keep or restart the streak with activity on local `day`."""
    weekly = challenge.goal_type is GoalType.STREAK_WEEKS
    period = day - timedelta(days=day.weekday()) if weekly else day
    step = timedelta(days=7 if weekly else 1)
    last = progress.last_period
    if last is not None and period <= last:
        return  # the same day (or week) again, or a late event: no change
    if last is not None and period - last == step:
        progress.streak += 1
    elif (
        last is not None
        and not weekly
        and period - last == 2 * step
        and sum(
            1
            for d in progress.freezes_used
            if _week_of(date.fromisoformat(d)) == _week_of(last + step)
        )
        < challenge.freezes_per_week
    ):
        progress.freezes_used = [*progress.freezes_used, (last + step).isoformat()]
        progress.streak += 1
    else:
        progress.streak = 1
    progress.last_period = period


class _Streak(Protocol):
    @property
    def streak(self) -> int: ...

    @property
    def last_period(self) -> date | None: ...


def _streak_alive(challenge: Challenge, progress: _Streak, today: date) -> int:
    """The streak as it stands today: 0 once a gap no freeze can bridge has opened."""
    if progress.last_period is None:
        return 0
    gap = (today - progress.last_period).days
    if challenge.goal_type is GoalType.STREAK_WEEKS:
        return progress.streak if gap < 14 else 0
    allowed = 2 if challenge.freezes_per_week else 1
    return progress.streak if gap <= allowed else 0


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
    account: ledger.LockedAccount, member_id: int, rows: Sequence[ChallengeProgress]
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
    account: ledger.LockedAccount,
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
    local = event.occurred_at.astimezone(_zone(state.timezone))
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
            _advance_streak(challenge, progress, local.date())
            progress.current = Decimal(progress.streak)
            if goal is GoalType.STREAK_DAYS:
                outcome.longest_streak = max(outcome.longest_streak, progress.streak)
        if progress.current >= Decimal(challenge.target):
            outcome.qualifying_bonus += await _complete(account, state, challenge, progress, event)
        progress.updated_at = account.now
        changed.append((challenge, progress))
    if new:
        await _insert_new(account, member_id, new)
    witness = progress_updates.witness_of(account.entries)
    inserted = {id(progress) for progress in new}
    for challenge, progress in changed:
        if id(progress) not in inserted:
            await sql.write(
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
            witness=witness,
        )
    if contributions:
        await _add_contributions(account, event, local.date(), contributions)
    return outcome


_INSERT_CONTRIBUTIONS: Final = (
    'INSERT INTO "challenge_contribution" ("progress_id", "event_id", "number", "day", '
    '"amount", "reversed_amount", "withdrawn") VALUES '
)


async def _add_contributions(
    account: ledger.LockedAccount,
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
    await sql.write(
        account.conn,
        ("challenge_contribution", event.id),
        _INSERT_CONTRIBUTIONS + ", ".join(tuples),
        *values,
    )


def next_number(progress: ChallengeProgress) -> int:
    """The number of the member's next completion in this window (revoked ones stay used)."""
    return progress.completions + progress.revoked + 1


async def _complete(
    account: ledger.LockedAccount,
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
        entry = await ledger.credit(
            account,
            challenge.reward_points,
            kind=EntryKind.BONUS,
            origin=ledger.Origin.system(),
            reference=ledger.Reference(
                "challenge", f"{challenge.id}:{progress.window_key}:{number}", challenge.title
            ),
            expires_at=earning.expiry_for(account.now, get_settings().points_expiry_months),
        )
    # Held back: the unique (challenge, member, window, number) key still refuses a second
    # award, when the transaction's last statement is sent.
    await sql.write(
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
    bonus_qualifies = get_settings().tier_bonus_points_qualify
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
        await ledger.lock_member_account(member_id, conn, now)
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


# Reading: challenges with the caller's progress, without a query per challenge.
#
# The challenge definitions come from a per-process cache (`gamification.program_cache`):
# `create_challenge` and `update_challenge` drop it in their own process at once; other
# processes serve a definition at most `LOYALTY_PROGRAM_CACHE_SECONDS` old. What belongs to the
# member (progress, joins, completions) is always read from the database, in one statement.


@dataclass(frozen=True, slots=True)
class ChallengeView:
    challenge: Challenge
    joined: bool
    current: Decimal
    target: Decimal
    percent: int
    completions: int
    completed_at: datetime | None
    streak: int
    ends_at: datetime | None


_catalog: program_cache.TimedCache[ChallengeStatus, list[Challenge]] = program_cache.TimedCache()


async def catalog(status: ChallengeStatus = ChallengeStatus.ACTIVE) -> list[Challenge]:
    """Every challenge with this status, oldest first, hidden ones included: cached per
    process (see above). Callers must not change the challenges it holds."""

    async def load() -> list[Challenge]:
        return list(await Challenge.filter(status=status).order_by("id"))

    return await _catalog.get(status, load)


def zone_of(timezone: str) -> ZoneInfo:
    """The member's timezone (UTC for a name this machine does not know)."""
    return _zone(timezone)


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class WindowProgress:
    """A member's progress row in one window, as the views need it."""

    current: Decimal
    completions: int
    completed_at: datetime | None
    streak: int
    last_period: date | None


@dataclass(frozen=True, slots=True)
class ChallengeStanding:
    """Where a member stands in every challenge at `now`, in their timezone: their progress in
    the current windows (by challenge and window key), the opt-in challenges they joined and
    the challenges they completed (what makes a hidden one visible)."""

    now: datetime
    zone: ZoneInfo
    progress: dict[tuple[int, str], WindowProgress]
    joined: frozenset[int]
    earned: frozenset[int]


# One statement: the member's rows in the current windows of every kind (a key names its kind:
# "fixed", a day, "W" and a Monday, a month), their joins and their unrevoked completions.
_STANDING_SQL: Final = (
    "SELECT 'progress' AS part, challenge_id, window_key, current, completions, completed_at, "
    "streak, last_period FROM challenge_progress "
    "WHERE member_id = $1 AND window_key IN ("
    + ", ".join(f"${n}" for n in range(2, 2 + len(WindowKind)))
    + ") "
    "UNION ALL SELECT 'joined', challenge_id, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM challenge_participant WHERE member_id = $1 "
    "UNION ALL SELECT 'earned', challenge_id, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM (SELECT DISTINCT challenge_id FROM challenge_completion "
    "WHERE member_id = $1 AND revoked_at IS NULL) AS earned"
)


async def standing(member_id: int, timezone: str, now: datetime | None = None) -> ChallengeStanding:
    """The member's standing in all challenges (one statement however many there are)."""
    now = now or datetime.now(UTC)
    zone = _zone(timezone)
    local = now.astimezone(zone)
    keys = [window_key(kind, local) for kind in WindowKind]
    rows = await sql.fetch(ChallengeProgress._meta.db, _STANDING_SQL, member_id, *keys)
    column = ChallengeProgress._meta.fields_map
    progress: dict[tuple[int, str], WindowProgress] = {}
    joined: set[int] = set()
    earned: set[int] = set()
    for row in rows:
        challenge_id = int(row["challenge_id"])
        if row["part"] == "joined":
            joined.add(challenge_id)
        elif row["part"] == "earned":
            earned.add(challenge_id)
        else:
            progress[challenge_id, row["window_key"]] = WindowProgress(
                current=column["current"].to_python_value(row["current"]),
                completions=int(row["completions"]),
                completed_at=column["completed_at"].to_python_value(row["completed_at"]),
                streak=int(row["streak"]),
                last_period=column["last_period"].to_python_value(row["last_period"]),
            )
    return ChallengeStanding(now, zone, progress, frozenset(joined), frozenset(earned))


def page_of(
    challenges: Sequence[Challenge],
    *,
    first: int,
    after_id: int | None,
    include_hidden: bool,
    earned: frozenset[int] = frozenset(),
) -> Page[Challenge]:
    """A page of `challenges` (ordered by id) after `after_id`; hidden ones only when
    included or earned."""
    shown = [
        c
        for c in challenges
        if (after_id is None or c.id > after_id)
        and (include_hidden or not c.hidden or c.id in earned)
    ]
    return Page(items=shown[:first], has_next=len(shown) > first)


async def visible_challenges(
    member_id: int | None,
    *,
    first: int,
    after_id: int | None,
    status: ChallengeStatus = ChallengeStatus.ACTIVE,
    include_hidden: bool = False,
) -> Page[Challenge]:
    """A page of challenges; hidden ones only once the member has completed them."""
    challenges = await catalog(status)
    earned: frozenset[int] = frozenset()
    if member_id is not None and not include_hidden and any(c.hidden for c in challenges):
        earned = (await standing(member_id, "UTC")).earned
    return page_of(
        challenges, first=first, after_id=after_id, include_hidden=include_hidden, earned=earned
    )


def views_of(standing: ChallengeStanding, challenges: Sequence[Challenge]) -> list[ChallengeView]:
    """The member's progress in the current window of each challenge, from their standing."""
    now, zone = standing.now, standing.zone
    local = now.astimezone(zone)
    views = []
    for challenge in challenges:
        progress = standing.progress.get((challenge.id, window_key(challenge.window_kind, local)))
        target = Decimal(challenge.target)
        current = Decimal(progress.current) if progress else Decimal(0)
        streak = 0
        if progress is not None and challenge.goal_type in (
            GoalType.STREAK_DAYS,
            GoalType.STREAK_WEEKS,
        ):
            streak = _streak_alive(challenge, progress, local.date())
            if progress.completions < challenge.max_completions:
                current = Decimal(streak)
        percent = min(int(current * 100 / target), 100) if target > 0 else 0
        if progress is not None and progress.completions >= challenge.max_completions:
            percent = 100
        views.append(
            ChallengeView(
                challenge=challenge,
                joined=not challenge.opt_in or challenge.id in standing.joined,
                current=current,
                target=target,
                percent=percent,
                completions=progress.completions if progress else 0,
                completed_at=progress.completed_at if progress else None,
                streak=streak,
                ends_at=window_ends_at(challenge, zone, now),
            )
        )
    return views


async def views_for(
    member_id: int,
    challenges: Sequence[Challenge],
    now: datetime | None = None,
    *,
    timezone: str | None = None,
) -> list[ChallengeView]:
    """The member's progress in the current window of each challenge: two statements in all
    (one when the member's `timezone` is given)."""
    if not challenges:
        return []
    if timezone is None:
        member = await Member.filter(id=member_id).only("id", "timezone").first()
        timezone = member.timezone if member else "UTC"
    return views_of(await standing(member_id, timezone, now), challenges)
