"""A calendar year of tier qualification is the program's local year (`program_timezone`): it
ends at local midnight on 31 December, not at midnight UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from gamification.members.models import Member
from gamification.tiers import ladder as tiers
from gamification.tiers import windows as tier_windows
from gamification.tiers.models import MemberTier, TierChange, TierChangeReason
from server.settings import Settings, TierWindow
from tests.factories import (
    OverrideSettings,
    create_earn_rule,
    create_member,
    create_purchase,
    create_tier_ladder,
)

AUCKLAND = ZoneInfo("Pacific/Auckland")  # UTC+13 around the new year (daylight saving time)
# Local midnight, 1 January 2026, in Auckland: 11:00 UTC on 31 December 2025.
NEW_YEAR_2026 = datetime(2026, 1, 1, tzinfo=AUCKLAND)


@pytest.fixture
def in_auckland(override_settings: OverrideSettings) -> None:
    override_settings(tier_window=TierWindow.CALENDAR_YEAR, program_timezone="Pacific/Auckland")


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.usefixtures("in_auckland")
def test_the_year_starts_and_ends_at_local_midnight() -> None:
    assert NEW_YEAR_2026.astimezone(UTC) == _utc(2025, 12, 31, 11)
    # The last second of 2025 in Auckland is still in 2025; the next one starts 2026.
    assert tier_windows.window_start(_utc(2025, 12, 31, 10, 59, 59)) == _utc(2024, 12, 31, 11)
    assert tier_windows.window_start(_utc(2025, 12, 31, 11, 0, 1)) == _utc(2025, 12, 31, 11)
    # A period ending at local midnight is evaluated on the local year before it.
    assert tier_windows.window_start(_utc(2025, 12, 31, 11)) == _utc(2024, 12, 31, 11)
    # A period that starts on 31 December UTC, already 1 January in Auckland, runs a year.
    assert tier_windows.period_end_after(_utc(2025, 12, 31, 12)) == _utc(2026, 12, 31, 11)
    assert tier_windows.period_end_after(_utc(2025, 12, 31, 10)) == _utc(2025, 12, 31, 11)


def test_a_timezone_west_of_utc(override_settings: OverrideSettings) -> None:
    override_settings(tier_window=TierWindow.CALENDAR_YEAR, program_timezone="America/New_York")

    # 23:00 UTC on 31 December is 18:00 in New York: the year ends five hours later.
    assert tier_windows.period_end_after(_utc(2025, 12, 31, 23)) == _utc(2026, 1, 1, 5)
    assert tier_windows.window_start(_utc(2026, 1, 1, 4)) == _utc(2025, 1, 1, 5)


@pytest.mark.usefixtures("in_auckland")
async def test_points_count_in_the_local_year_they_were_earned() -> None:
    # given: one purchase before local midnight, one after (both on 31 December UTC)
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="40.00", occurred_at=_utc(2025, 12, 31, 10, 30))
    await create_purchase(member=member, amount="25.00", occurred_at=_utc(2025, 12, 31, 11, 30))

    # when / then
    before_midnight = await tiers.progress(member.id, now=_utc(2025, 12, 31, 10, 45))
    after_midnight = await tiers.progress(member.id, now=_utc(2025, 12, 31, 12))
    assert before_midnight.qualifying_points == 40
    assert after_midnight.qualifying_points == 25


async def _gold_until(member: Member, start: datetime, end: datetime) -> None:
    gold = next(t for t in await tiers.ladder() if t.name == "Gold")
    await MemberTier.filter(member_id=member.id).update(
        tier_id=gold.id, period_starts_at=start, period_ends_at=end
    )


@pytest.mark.usefixtures("in_auckland")
async def test_the_period_end_evaluation_counts_the_local_year() -> None:
    # given: Gold (500) for local 2025; 600 points at 01:00 on 1 January 2025 local time, which
    # is still 2024 in UTC, and 600 more at 00:30 on 1 January 2026 local time (2025 in UTC)
    await create_tier_ladder()
    await create_earn_rule()
    kept = await create_member()
    dropped = await create_member()
    await create_purchase(member=kept, amount="600.00", occurred_at=_utc(2024, 12, 31, 12))
    await create_purchase(member=dropped, amount="600.00", occurred_at=_utc(2025, 12, 31, 11, 30))
    for member in (kept, dropped):
        await _gold_until(member, datetime(2025, 1, 1, tzinfo=AUCKLAND), NEW_YEAR_2026)

    # when
    evaluated = await tiers.evaluate_due_tiers(now=_utc(2026, 1, 2))

    # then
    assert evaluated == 2
    change = await TierChange.filter(member_id=kept.id).order_by("-id").first()
    assert change is not None
    assert (change.reason, change.qualifying_points) == (TierChangeReason.RETAINED, 600)
    assert change.period_ends_at == datetime(2027, 1, 1, tzinfo=AUCKLAND)
    dropped_change = await TierChange.filter(member_id=dropped.id).order_by("-id").first()
    assert dropped_change is not None
    assert (dropped_change.reason, dropped_change.qualifying_points) == (
        TierChangeReason.DOWNGRADE,
        0,
    )


@pytest.mark.usefixtures("in_auckland")
async def test_a_period_stored_before_the_timezone_changed_keeps_its_year() -> None:
    # given: a period computed in UTC (ends at midnight UTC, 13:00 on 1 January in Auckland)
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="600.00", occurred_at=_utc(2025, 6, 1))
    await _gold_until(member, _utc(2025, 1, 1), _utc(2026, 1, 1))

    # when
    await tiers.evaluate_due_tiers(now=_utc(2026, 1, 2))

    # then: evaluated on 2025, not on the 13 hours of 2026 before the stored end
    change = await TierChange.filter(member_id=member.id).order_by("-id").first()
    assert change is not None
    assert (change.reason, change.qualifying_points) == (TierChangeReason.RETAINED, 600)


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "", "America", "utc"])
def test_an_unknown_program_timezone_is_refused(timezone: str) -> None:
    with pytest.raises(ValidationError):
        Settings(program_timezone=timezone)
