"""Qualification windows and periods, in the program's timezone: where the window of qualifying
points that ends at a moment begins (the rolling 12 months before it, or the program's local
calendar year, from settings), and where a member's qualification period ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gamification import program_settings
from server.settings import TierWindow


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:  # 29-31 in a shorter month
            day -= 1


def program_zone() -> ZoneInfo:
    return ZoneInfo(program_settings.current().program_timezone)


def _new_year(year: int, zone: ZoneInfo) -> datetime:
    """Local midnight on 1 January of `year` in the program's timezone, as UTC."""
    return datetime(year, 1, 1, tzinfo=zone).astimezone(UTC)


def window_start(until: datetime) -> datetime:
    """Where the qualification window that ends at `until` begins. A calendar year is the
    program's local year: it starts and ends at local midnight on 1 January."""
    if program_settings.current().tier_window is TierWindow.CALENDAR_YEAR:
        zone = program_zone()
        moment = (until - timedelta(microseconds=1)).astimezone(zone)
        return _new_year(moment.year, zone)
    return _add_months(until, -12)


def period_window_start(period_starts_at: datetime, period_ends_at: datetime) -> datetime:
    """Where the qualifying window of a period being evaluated begins. For a calendar year,
    the program's local year that holds the middle of the period: the same as
    `window_start(period_ends_at)` for periods computed in the current timezone, and still
    the right year for periods stored before the program's timezone changed."""
    if program_settings.current().tier_window is TierWindow.CALENDAR_YEAR:
        zone = program_zone()
        middle = period_starts_at + (period_ends_at - period_starts_at) / 2
        return _new_year(middle.astimezone(zone).year, zone)
    return window_start(period_ends_at)


def period_end_after(start: datetime) -> datetime:
    """The end of a qualification period that starts at `start` (for a calendar year, the
    next local midnight on 1 January in the program's timezone)."""
    if program_settings.current().tier_window is TierWindow.CALENDAR_YEAR:
        zone = program_zone()
        return _new_year(start.astimezone(zone).year + 1, zone)
    return _add_months(start, 12)
