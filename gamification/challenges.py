"""Challenges: goals over domain events, counted in each member's own timezone.

Goal types: COUNT of matching events, SUM of their amounts (purchase amounts, eco quantities,
points redeemed or donated), DISTINCT_DAYS with a matching event, and STREAK_DAYS / STREAK_WEEKS
of consecutive local days or weeks. A daily streak may bridge `freezes_per_week` missed days per
week (the ISO week of the missed day).

Windows: FIXED (`starts_at`..`ends_at`) or recurring DAILY / WEEKLY (Monday) / MONTHLY, whose
progress resets with each new local window (one `ChallengeProgress` row per window key).
`max_completions` is per window: after a completion the progress restarts until it is reached.

Progress is applied by `apply_event`, called from `gamification.domain_events.record` in the
transaction of the fact, with the member's ledger account locked. That lock serialises every event
of one member, so two events completing one challenge at once award it once; the unique
(challenge, member, window, number) key of `ChallengeCompletion` makes a second award impossible
even if that ever changed. Lock order: member ledger account, progress rows, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from gamification import badges, earning, ledger, tiers
from gamification.actors import Actor
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from gamification.models import (
    Badge,
    Challenge,
    ChallengeCompletion,
    ChallengeParticipant,
    ChallengeProgress,
    ChallengeStatus,
    Channel,
    DomainEvent,
    EcoActionKind,
    EntryKind,
    EventKind,
    GoalType,
    Member,
    Store,
    Tier,
    WindowKind,
)
from gamification.pagination import Page, keyset_page
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
    return await Challenge.create(**_columns(await _check_definition(data)))


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
    for name, value in _columns(data).items():
        setattr(challenge, name, value)
    if archived is not None:
        challenge.status = ChallengeStatus.ARCHIVED if archived else ChallengeStatus.ACTIVE
    await challenge.save()
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


def _streak_alive(challenge: Challenge, progress: ChallengeProgress, today: date) -> int:
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


async def apply_event(account: ledger.LockedAccount, event: DomainEvent, zone: ZoneInfo) -> Outcome:
    """Apply one event to every challenge it counts for, completing and rewarding them."""
    conn = account.conn
    member_id: int = event.member_id  # type: ignore[attr-defined]
    outcome = Outcome()
    occurred = event.occurred_at
    candidates = [
        c
        for c in await Challenge.filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=occurred),
            status=ChallengeStatus.ACTIVE,
            event_kind=event.kind,
            starts_at__lte=occurred,
        )
        .using_db(conn)
        .order_by("id")
        if _matches(c, event)
    ]
    if not candidates:
        return outcome
    opt_in_ids = [c.id for c in candidates if c.opt_in]
    joined = (
        set(
            await ChallengeParticipant.filter(member_id=member_id, challenge_id__in=opt_in_ids)
            .using_db(conn)
            .values_list("challenge_id", flat=True)
        )
        if opt_in_ids
        else set()
    )
    local = occurred.astimezone(zone)
    for challenge in candidates:
        if challenge.opt_in and challenge.id not in joined:
            continue
        if not await tiers.tier_at_least(member_id, challenge.min_tier, conn):
            continue
        key = window_key(challenge.window_kind, local)
        progress = (
            await ChallengeProgress.filter(
                challenge_id=challenge.id, member_id=member_id, window_key=key
            )
            .select_for_update()
            .using_db(conn)
            .first()
        )
        if progress is None:
            progress = await ChallengeProgress.create(
                challenge_id=challenge.id,
                member_id=member_id,
                window_key=key,
                updated_at=account.now,
                using_db=conn,
            )
        if progress.completions >= challenge.max_completions:
            continue
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
            outcome.qualifying_bonus += await _complete(account, challenge, progress, event)
        progress.updated_at = account.now
        await progress.save(using_db=conn)
    return outcome


async def _complete(
    account: ledger.LockedAccount,
    challenge: Challenge,
    progress: ChallengeProgress,
    event: DomainEvent,
) -> int:
    """Record the completion and award its reward, once. Returns qualifying bonus points."""
    conn = account.conn
    member_id: int = progress.member_id  # type: ignore[attr-defined]
    number = progress.completions + 1
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
    await ChallengeCompletion.create(
        challenge_id=challenge.id,
        member_id=member_id,
        number=number,
        window_key=progress.window_key,
        points=challenge.reward_points,
        entry_id=entry.id if entry else None,
        event_id=event.id,
        completed_at=account.now,
        using_db=conn,
    )
    badge_id = challenge.reward_badge_id  # type: ignore[attr-defined]
    if badge_id is not None:
        await badges.award(conn, member_id, badge_id, account.now)
    progress.completions = number
    progress.completed_at = account.now
    if number < challenge.max_completions:
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


async def visible_challenges(
    member_id: int | None,
    *,
    first: int,
    after_id: int | None,
    status: ChallengeStatus = ChallengeStatus.ACTIVE,
    include_hidden: bool = False,
) -> Page[Challenge]:
    """A page of challenges; hidden ones only once the member has completed them."""
    query = Challenge.filter(status=status)
    if not include_hidden:
        earned = (
            await ChallengeCompletion.filter(member_id=member_id)
            .distinct()
            .values_list("challenge_id", flat=True)
            if member_id is not None
            else []
        )
        query = query.filter(Q(hidden=False) | Q(id__in=list(earned) or [0]))
    return await keyset_page(query, first=first, after_id=after_id)


async def views_for(
    member_id: int, challenges: Sequence[Challenge], now: datetime | None = None
) -> list[ChallengeView]:
    """The member's progress in the current window of each challenge: three queries in all."""
    now = now or datetime.now(UTC)
    if not challenges:
        return []
    member = await Member.filter(id=member_id).only("id", "timezone").first()
    try:
        zone = ZoneInfo(member.timezone if member else "UTC")
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    ids = [c.id for c in challenges]
    keys = {window_key(c.window_kind, local) for c in challenges}
    rows = await ChallengeProgress.filter(
        member_id=member_id, challenge_id__in=ids, window_key__in=list(keys)
    )
    by_key = {(p.challenge_id, p.window_key): p for p in rows}  # type: ignore[attr-defined]
    joined = set(
        await ChallengeParticipant.filter(member_id=member_id, challenge_id__in=ids).values_list(
            "challenge_id", flat=True
        )
    )
    views = []
    for challenge in challenges:
        progress = by_key.get((challenge.id, window_key(challenge.window_kind, local)))
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
                joined=not challenge.opt_in or challenge.id in joined,
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
