"""What members and admins read: challenges with the caller's progress, without a query per
challenge.

The challenge definitions come from the per-process catalog
(`gamification.challenges.definitions.catalog`). What belongs to the member (progress, joins,
completions) is always read from the database, in one statement (`standing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from gamification import sql
from gamification.challenges.definitions import catalog
from gamification.challenges.models import (
    Challenge,
    ChallengeProgress,
    ChallengeStatus,
    GoalType,
    WindowKind,
)
from gamification.challenges.windows import streak_alive, window_ends_at, window_key, zone_of
from gamification.members.models import Member
from gamification.pagination import Page


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
    zone = zone_of(timezone)
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
    return Page(items=shown[:first], has_next=len(shown) > first, has_previous=after_id is not None)


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
            streak = streak_alive(challenge, progress, local.date())
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
