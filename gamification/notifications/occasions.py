"""Which notices are due at a moment, each in the member's own timezone: points expiring, a tier
at risk, a challenge window closing with progress in it, a birthday.

An occasion is named by a key that stays the same however often (and wherever) it is computed,
and names the occasion, not the moment it was noticed: `expiring:<member>:<UTC day the points
expire>`, `tier-at-risk:<member>:<period end>`, `challenge-ending:<member>:<challenge>:<window
end>`, `birthday:<member>:<local year>`. The scheduler inserts each key once
(`gamification.notifications.scheduler`).

Day-based notices (expiring points, a tier at risk, birthdays) fall due at `notify_local_hour`
on a local day: the last local day before the points expire or the period ends, `N` days
earlier (`notify_points_expiring_days`, `notify_tier_at_risk_days`), and the birthday itself.
`local_moment` turns that local hour into UTC; on a day a daylight-saving change skips the hour
it is read with the offset before the change (02:00 on the last Sunday of March in Berlin is
03:00 CEST), on a day it repeats the hour it is the first one. A challenge is told
`notify_challenge_ending_hours` before the member's current window closes (a local midnight,
`gamification.challenges.windows.window_ends_at`).

Nothing here writes; preferences and consent are the scheduler's.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from gamification import program_settings, sql
from gamification.challenges import definitions as challenge_definitions
from gamification.challenges import views as challenge_views
from gamification.challenges.models import (
    Challenge,
    ChallengeProgress,
    ChallengeStatus,
    GoalType,
    WindowKind,
)
from gamification.challenges.windows import window_key, zone_of
from gamification.ledger.models import PointsLot
from gamification.members.models import Member, Role
from gamification.notifications.models import NotificationKind
from gamification.tiers import ladder as tiers
from gamification.tiers.models import MemberTier
from gamification.tiers.windows import period_window_start

_INSTANT: Final = "%Y-%m-%dT%H:%M:%SZ"
_JUST_BEFORE: Final = timedelta(microseconds=1)
_CENTS: Final = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Occasion:
    """A notice due to one member: `key` is unique per occasion, `data` what the notice says."""

    member_id: int
    kind: NotificationKind
    key: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the scheduler knows of a member it may notify."""

    member_id: int
    timezone: str
    marketing_consent: bool

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.timezone)


def local_moment(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """`hour`:00 on the local `day` in `zone`, as UTC (see the module's docstring for the days
    a daylight-saving change skips or repeats the hour)."""
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def last_local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The last local day before `moment` (an expiry or a period end at local midnight is the
    day before's end)."""
    return (moment - _JUST_BEFORE).astimezone(zone).date()


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_INSTANT)


def _due_days_before(moment: datetime, days: int, zone: ZoneInfo) -> datetime:
    """When a notice `days` days before the last local day before `moment` falls due."""
    day = last_local_day(moment, zone) - timedelta(days=days)
    return local_moment(day, program_settings.current().notify_local_hour, zone)


async def recipients(member_ids: Iterable[int]) -> dict[int, Recipient]:
    """The members among `member_ids` who receive notices (members, not staff, admins or
    erased members)."""
    ids = set(member_ids)
    if not ids:
        return {}
    rows = await Member.filter(id__in=ids, role=Role.MEMBER, erased_at__isnull=True).values_list(
        "id", "timezone", "marketing_consent"
    )
    return {int(i): Recipient(int(i), str(tz), bool(consent)) for i, tz, consent in rows}


# --- points expiring ------------------------------------------------------------------------

_EXPIRING_SQL: Final = (
    "SELECT a.member_id AS member_id, l.expires_at AS expires_at, "
    "SUM(l.remaining) AS points FROM points_lot l "
    "JOIN ledger_account a ON a.id = l.account_id "
    "WHERE l.remaining > 0 AND l.expires_at > $1 AND l.expires_at <= $2 "
    "AND a.member_id IS NOT NULL GROUP BY a.member_id, l.expires_at"
)


async def points_expiring(now: datetime) -> list[Occasion]:
    """Points that expire within `notify_points_expiring_days` days of the member's local
    today, one notice per member and UTC day of expiry (the points of that day summed)."""
    days = program_settings.current().notify_points_expiring_days
    # Two days more than asked: a local day runs up to 14 hours ahead of UTC's.
    rows = await sql.fetch(PointsLot._meta.db, _EXPIRING_SQL, now, now + timedelta(days=days + 2))
    to_python = PointsLot._meta.fields_map["expires_at"].to_python_value
    by_day: dict[tuple[int, date], tuple[datetime, int]] = {}
    for row in rows:
        expires_at: datetime = to_python(row["expires_at"]).astimezone(UTC)
        key = (int(row["member_id"]), expires_at.date())
        first, points = by_day.get(key, (expires_at, 0))
        by_day[key] = (min(first, expires_at), points + int(row["points"]))
    found = await recipients(member_id for member_id, _ in by_day)
    occasions = []
    for (member_id, utc_day), (expires_at, points) in sorted(by_day.items()):
        recipient = found.get(member_id)
        if recipient is None or points <= 0:
            continue
        if not _due_days_before(expires_at, days, recipient.zone) <= now < expires_at:
            continue
        occasions.append(
            Occasion(
                member_id,
                NotificationKind.POINTS_EXPIRING,
                f"expiring:{member_id}:{utc_day.isoformat()}",
                {
                    "points": points,
                    "expires_at": expires_at.isoformat(),
                    "last_day": last_local_day(expires_at, recipient.zone).isoformat(),
                },
            )
        )
    return occasions


# --- tier at risk ---------------------------------------------------------------------------


async def tiers_at_risk(now: datetime) -> list[Occasion]:
    """Members whose qualification period ends within `notify_tier_at_risk_days` days of their
    local today with fewer qualifying points than their tier needs, and no floor that keeps it.
    The notice says how many points are still needed."""
    days = program_settings.current().notify_tier_at_risk_days
    statuses = await MemberTier.filter(
        period_ends_at__gt=now,
        period_ends_at__lte=now + timedelta(days=days + 2),
        tier_id__isnull=False,
    ).values_list("member_id", "tier_id", "floor_tier_id", "period_starts_at", "period_ends_at")
    if not statuses:
        return []
    ladder = {t.id: t for t in await tiers.ladder()}
    found = await recipients(int(row[0]) for row in statuses)
    occasions = []
    for member_id, tier_id, floor_id, starts_at, ends_at in sorted(statuses):
        recipient = found.get(int(member_id))
        held, floor = ladder.get(tier_id), ladder.get(floor_id)
        if recipient is None or held is None or held.threshold <= 0:
            continue
        if floor is not None and floor.rank >= held.rank:
            continue  # the floor keeps the tier whatever happens
        if not _due_days_before(ends_at, days, recipient.zone) <= now < ends_at:
            continue
        since = period_window_start(starts_at, ends_at)
        points = await tiers.qualifying_points(recipient.member_id, since, now)
        if points >= held.threshold:
            continue
        occasions.append(
            Occasion(
                recipient.member_id,
                NotificationKind.TIER_AT_RISK,
                f"tier-at-risk:{recipient.member_id}:{_instant(ends_at)}",
                {
                    "tier": held.name,
                    "points_needed": held.threshold - points,
                    "period_ends_at": ends_at.astimezone(UTC).isoformat(),
                    "last_day": last_local_day(ends_at, recipient.zone).isoformat(),
                },
            )
        )
    return occasions


# --- challenges ending ----------------------------------------------------------------------


def _possible_keys(challenges: Sequence[Challenge], now: datetime) -> set[str]:
    """The window keys a member anywhere may be in at `now` (local days run from UTC-12 to
    UTC+14)."""
    days = [now + timedelta(days=offset) for offset in (-1, 0, 1)]
    return {window_key(c.window_kind, day) for c in challenges for day in days}


async def challenges_ending(now: datetime) -> list[Occasion]:
    """Members with progress in a challenge's current window that closes within
    `notify_challenge_ending_hours`, who have not completed it. Hidden challenges are not
    told (a member sees one only once completed)."""
    hours = program_settings.current().notify_challenge_ending_hours
    challenges = {
        c.id: c
        for c in await challenge_definitions.catalog(ChallengeStatus.ACTIVE)
        if not c.hidden
        and c.starts_at <= now
        and (c.ends_at is None or c.ends_at > now)
        and (c.window_kind is not WindowKind.FIXED or c.ends_at is not None)
    }
    if not challenges:
        return []
    rows = await ChallengeProgress.filter(
        challenge_id__in=list(challenges),
        window_key__in=sorted(_possible_keys(list(challenges.values()), now)),
    ).values_list(
        "member_id",
        "challenge_id",
        "window_key",
        "current",
        "completions",
        "completed_at",
        "streak",
        "last_period",
    )
    found = await recipients(int(row[0]) for row in rows)
    occasions = []
    for member_id, challenge_id, key, current, completions, completed_at, streak, last in rows:
        recipient, challenge = found.get(int(member_id)), challenges[int(challenge_id)]
        if recipient is None:
            continue
        local = now.astimezone(recipient.zone)
        if window_key(challenge.window_kind, local) != key:
            continue  # a window that is not the member's current one
        progress = challenge_views.WindowProgress(
            Decimal(current), int(completions), completed_at, int(streak), last
        )
        standing = challenge_views.ChallengeStanding(
            now,
            recipient.zone,
            {(challenge.id, key): progress},
            frozenset({challenge.id}),
            frozenset(),
        )
        [view] = challenge_views.views_of(standing, [challenge])
        if view.ends_at is None or view.current <= 0 or view.percent >= 100:
            continue
        if not view.ends_at - timedelta(hours=hours) <= now < view.ends_at:
            continue
        occasions.append(
            Occasion(
                recipient.member_id,
                NotificationKind.CHALLENGE_ENDING,
                f"challenge-ending:{recipient.member_id}:{challenge.id}:{_instant(view.ends_at)}",
                {
                    "challenge_id": challenge.id,
                    "title": challenge.title,
                    "current": str(view.current.quantize(_CENTS)),
                    "target": str(view.target.quantize(_CENTS)),
                    "percent": view.percent,
                    "streak": challenge.goal_type in (GoalType.STREAK_DAYS, GoalType.STREAK_WEEKS),
                    "ends_at": view.ends_at.astimezone(UTC).isoformat(),
                },
            )
        )
    return occasions


# --- birthdays ------------------------------------------------------------------------------


def _birthday_in(year: int, birthday: date) -> date:
    """The day a birthday is celebrated in `year` (29 February: the 28th in other years)."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)


def _month_days(now: datetime) -> list[str]:
    """The birthdays (MM-DD) that may be today somewhere at `now`; 29 February with the 28th."""
    wanted = set()
    for offset in (-1, 0, 1):
        day = (now + timedelta(days=offset)).date()
        wanted.add(day.strftime("%m-%d"))
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            wanted.add("02-29")
    return sorted(wanted)


async def birthdays(now: datetime) -> list[Occasion]:
    """Members whose local today is their birthday, from `notify_local_hour` until the local
    day ends."""
    conn = Member._meta.db
    month_day = (
        "to_char(birthday, 'MM-DD')" if sql.is_postgres(conn) else ("strftime('%m-%d', birthday)")
    )
    wanted = _month_days(now)
    placeholders = ", ".join(f"${n}" for n in range(2, 2 + len(wanted)))
    rows = await sql.fetch(
        conn,
        "SELECT id, timezone, birthday FROM member WHERE role = $1 AND erased_at IS NULL "
        f"AND birthday IS NOT NULL AND {month_day} IN ({placeholders}) ORDER BY id",
        Role.MEMBER.value,
        *wanted,
    )
    to_python = Member._meta.fields_map["birthday"].to_python_value
    hour = program_settings.current().notify_local_hour
    occasions = []
    for row in rows:
        zone = zone_of(str(row["timezone"]))
        today = now.astimezone(zone).date()
        day = _birthday_in(today.year, to_python(row["birthday"]))
        if day != today or not local_moment(day, hour, zone) <= now:
            continue
        member_id = int(row["id"])
        occasions.append(
            Occasion(
                member_id,
                NotificationKind.BIRTHDAY,
                f"birthday:{member_id}:{today.year}",
                {"year": today.year},
            )
        )
    return occasions


async def due(now: datetime) -> list[Occasion]:
    """Every occasion due at `now`, of every kind (preferences and consent not yet applied)."""
    return [
        *await points_expiring(now),
        *await tiers_at_risk(now),
        *await challenges_ending(now),
        *await birthdays(now),
    ]
