"""Windows and streaks, in the member's own timezone: the key of the window a moment falls in
(one `ChallengeProgress` row per window key), when the member's current window closes, how a
day's activity extends, keeps or restarts a streak, and whether a streak is still alive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from gamification.challenges.models import Challenge, ChallengeProgress, GoalType, WindowKind

FIXED_WINDOW: Final = "fixed"


def zone_of(timezone: str) -> ZoneInfo:
    """The member's timezone (UTC for a name this machine does not know)."""
    try:
        return ZoneInfo(timezone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


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


def _week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def advance_streak(challenge: Challenge, progress: ChallengeProgress, day: date) -> None:
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


def streak_alive(challenge: Challenge, progress: _Streak, today: date) -> int:
    """The streak as it stands today: 0 once a gap no freeze can bridge has opened."""
    if progress.last_period is None:
        return 0
    gap = (today - progress.last_period).days
    if challenge.goal_type is GoalType.STREAK_WEEKS:
        return progress.streak if gap < 14 else 0
    allowed = 2 if challenge.freezes_per_week else 1
    return progress.streak if gap <= allowed else 0


def next_number(progress: ChallengeProgress) -> int:
    """The number of the member's next completion in this window (revoked ones stay used)."""
    return progress.completions + progress.revoked + 1
