"""Which notices are due, each in the member's own timezone: points expiring, a tier at risk, a
challenge ending, a birthday — and the days around daylight-saving changes and the date line."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from gamification.challenges.models import WindowKind
from gamification.notifications import occasions
from gamification.notifications.models import NotificationKind
from gamification.tiers.models import MemberTier
from tests.factories import (
    OverrideSettings,
    check_in,
    create_challenge,
    create_member,
    create_tier_ladder,
    credit_points,
)
from tests.gamification.notifications.helpers import member_in, utc

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(autouse=True)
def notify_settings(override_settings: OverrideSettings) -> None:
    override_settings(
        notify_points_expiring_days=3,
        notify_tier_at_risk_days=10,
        notify_challenge_ending_hours=12,
        notify_local_hour=9,
    )


# --- local time -------------------------------------------------------------------------------


def test_the_local_hour_on_daylight_saving_days() -> None:
    # Last Sunday of March 2027: 02:00 does not exist in Berlin; read as 03:00 CEST (01:00 UTC).
    assert occasions.local_moment(date(2027, 3, 28), 2, BERLIN) == utc(2027, 3, 28, 1)
    # The day before and after: CET (+1), then CEST (+2).
    assert occasions.local_moment(date(2027, 3, 27), 9, BERLIN) == utc(2027, 3, 27, 8)
    assert occasions.local_moment(date(2027, 3, 28), 9, BERLIN) == utc(2027, 3, 28, 7)
    # Last Sunday of October 2027: 02:00 happens twice; the first one (CEST) counts.
    assert occasions.local_moment(date(2027, 10, 31), 2, BERLIN) == utc(2027, 10, 31, 0)
    assert occasions.local_moment(date(2027, 10, 31), 9, BERLIN) == utc(2027, 10, 31, 8)


def test_the_last_local_day_before_an_expiry() -> None:
    expiry = utc(2027, 4, 1)
    assert occasions.last_local_day(expiry, ZoneInfo("UTC")) == date(2027, 3, 31)
    assert occasions.last_local_day(expiry, ZoneInfo("Pacific/Auckland")) == date(2027, 4, 1)
    assert occasions.last_local_day(expiry, ZoneInfo("America/Los_Angeles")) == date(2027, 3, 31)


# --- points expiring ----------------------------------------------------------------------------


async def test_points_expiring_are_told_with_their_amount_and_date() -> None:
    # given: two lots expiring at the start of April, one later
    member = await member_in("UTC")
    await credit_points(member=member, points=40, expires_at=utc(2027, 4, 1))
    await credit_points(member=member, points=60, expires_at=utc(2027, 4, 1))
    await credit_points(member=member, points=500, expires_at=utc(2027, 5, 1))

    # when: 3 days before the last day (31 March), from 09:00
    before = await occasions.points_expiring(utc(2027, 3, 28, 8, 59))
    due = await occasions.points_expiring(utc(2027, 3, 28, 9))

    # then
    assert before == []
    assert [(o.kind, o.key, o.data) for o in due] == [
        (
            NotificationKind.POINTS_EXPIRING,
            f"expiring:{member.id}:2027-04-01",
            {"points": 100, "expires_at": "2027-04-01T00:00:00+00:00", "last_day": "2027-03-31"},
        )
    ]
    assert await occasions.points_expiring(utc(2027, 4, 1)) == []  # expired: too late


async def test_points_expiring_in_each_members_timezone() -> None:
    # given: the same expiry instant for members in Auckland, Los Angeles and UTC
    auckland = await member_in("Pacific/Auckland")
    los_angeles = await member_in("America/Los_Angeles")
    london = await member_in("UTC")
    for member in (auckland, los_angeles, london):
        await credit_points(member=member, points=10, expires_at=utc(2027, 4, 1))

    async def told(hour_utc: tuple[int, int]) -> set[int]:
        found = await occasions.points_expiring(utc(2027, 3, *hour_utc))
        return {o.member_id for o in found}

    # then: Los Angeles (last day 31 March, due 28 March 09:00 PDT = 16:00 UTC) first,
    # Auckland (last day 1 April, due 29 March 09:00 NZDT = 28 March 20:00 UTC) next,
    # UTC (last day 31 March, due 28 March 09:00 UTC)... in UTC order:
    assert await told((28, 8)) == set()
    assert await told((28, 9)) == {london.id}
    assert await told((28, 16)) == {london.id, los_angeles.id}
    assert await told((28, 20)) == {london.id, los_angeles.id, auckland.id}


# --- tier at risk -------------------------------------------------------------------------------


async def _gold_until(member_id: int, ends_at: datetime, *, floor: str | None = None) -> None:
    ladder = {t.name: t for t in await create_tier_ladder()}
    await MemberTier.create(
        member_id=member_id,
        tier_id=ladder["Gold"].id,
        floor_tier_id=ladder[floor].id if floor else None,
        period_starts_at=utc(2026, 5, 1),
        period_ends_at=ends_at,
    )


async def test_a_tier_at_risk_says_how_many_points_are_still_needed() -> None:
    # given: Gold (500) until 1 May 2027, no qualifying points in the window
    member = await member_in("Europe/Berlin")
    await _gold_until(member.id, utc(2027, 5, 1))

    # when: the last local day is 1 May (02:00 CEST); due 10 days before, 21 April 09:00 CEST
    before = await occasions.tiers_at_risk(utc(2027, 4, 21, 6, 59))
    due = await occasions.tiers_at_risk(utc(2027, 4, 21, 7))

    # then
    assert before == []
    assert [(o.key, o.data) for o in due] == [
        (
            f"tier-at-risk:{member.id}:2027-05-01T00:00:00Z",
            {
                "tier": "Gold",
                "points_needed": 500,
                "period_ends_at": "2027-05-01T00:00:00+00:00",
                "last_day": "2027-05-01",
            },
        )
    ]


async def test_a_floor_at_the_tier_means_no_risk() -> None:
    member = await member_in("UTC")
    await _gold_until(member.id, utc(2027, 5, 1), floor="Gold")

    assert await occasions.tiers_at_risk(utc(2027, 4, 25)) == []


# --- challenges ending --------------------------------------------------------------------------


async def test_a_challenge_ending_with_progress_is_told_in_the_members_week() -> None:
    # given: a weekly challenge (3 check-ins), one check-in each, in Berlin and in UTC
    challenge = await create_challenge(target="3", window_kind=WindowKind.WEEKLY)
    berlin = await member_in("Europe/Berlin")
    london = await member_in("UTC")
    await member_in("UTC")  # no progress: never told
    await check_in(member=berlin, at=utc(2027, 3, 24, 10))
    await check_in(member=london, at=utc(2027, 3, 24, 10))

    # The week ends at local midnight on Monday 29 March: in Berlin (after the change to
    # CEST on the 28th) that is 22:00 UTC on the 28th; in UTC 00:00 on the 29th.
    async def told(moment: datetime) -> dict[int, str]:
        return {o.member_id: o.data["ends_at"] for o in await occasions.challenges_ending(moment)}

    assert await told(utc(2027, 3, 28, 9, 59)) == {}
    assert await told(utc(2027, 3, 28, 10)) == {berlin.id: "2027-03-28T22:00:00+00:00"}
    assert await told(utc(2027, 3, 28, 12)) == {
        berlin.id: "2027-03-28T22:00:00+00:00",
        london.id: "2027-03-29T00:00:00+00:00",
    }
    # Past Berlin's window end: a new (empty) week there, nothing to tell.
    assert await told(utc(2027, 3, 28, 22, 30)) == {london.id: "2027-03-29T00:00:00+00:00"}
    [found] = [
        o
        for o in await occasions.challenges_ending(utc(2027, 3, 28, 12))
        if o.member_id == berlin.id
    ]
    assert found.key == f"challenge-ending:{berlin.id}:{challenge.id}:2027-03-28T22:00:00Z"
    assert found.data["current"] == "1.00"
    assert found.data["target"] == "3.00"
    assert found.data["percent"] == 33


async def test_a_completed_challenge_is_not_told() -> None:
    await create_challenge(target="1", window_kind=WindowKind.DAILY)
    member = await member_in("UTC")
    await check_in(member=member, at=utc(2027, 3, 24, 10))

    assert await occasions.challenges_ending(utc(2027, 3, 24, 20)) == []


# --- birthdays ----------------------------------------------------------------------------------


async def test_a_birthday_on_the_local_day_from_the_local_hour() -> None:
    # given: the same birthday in Auckland and in UTC
    auckland = await member_in("Pacific/Auckland", birthday=date(1990, 6, 15))
    london = await member_in("UTC", birthday=date(1990, 6, 15))
    await create_member()  # no birthday

    async def told(moment: datetime) -> set[int]:
        return {o.member_id for o in await occasions.birthdays(moment)}

    # 15 June 09:00 in Auckland (NZST, +12) is 14 June 21:00 UTC.
    assert await told(utc(2027, 6, 14, 20, 59)) == set()
    assert await told(utc(2027, 6, 14, 21)) == {auckland.id}
    assert await told(utc(2027, 6, 15, 9)) == {auckland.id, london.id}
    # The 15th has ended in Auckland at 12:00 UTC; not in UTC.
    assert await told(utc(2027, 6, 15, 12)) == {london.id}
    assert await told(utc(2027, 6, 16, 0)) == set()
    found = await occasions.birthdays(utc(2027, 6, 15, 9, 30))
    [one] = [o for o in found if o.member_id == london.id]
    assert one.key == f"birthday:{london.id}:2027"
    assert one.data == {"year": 2027}


async def test_a_birthday_on_berlins_daylight_saving_days(
    override_settings: OverrideSettings,
) -> None:
    # given: the hour 02:00, skipped in March and repeated in October
    override_settings(notify_local_hour=2)
    spring = await member_in("Europe/Berlin", birthday=date(1980, 3, 28))
    autumn = await member_in("Europe/Berlin", birthday=date(1980, 10, 31))

    async def told(moment: datetime) -> set[int]:
        return {o.member_id for o in await occasions.birthdays(moment)}

    # 28 March 2027: 02:00 is skipped; due at 03:00 CEST (01:00 UTC); the day ends 22:00 UTC.
    assert await told(utc(2027, 3, 28, 0, 59)) == set()
    assert await told(utc(2027, 3, 28, 1)) == {spring.id}
    assert await told(utc(2027, 3, 28, 21, 59)) == {spring.id}
    assert await told(utc(2027, 3, 28, 22)) == set()  # 29 March in Berlin, 28th in UTC
    # 31 October 2027: the first 02:00 (CEST, 00:00 UTC); the day ends 23:00 UTC (CET).
    assert await told(utc(2027, 10, 30, 23, 59)) == set()
    assert await told(utc(2027, 10, 31, 0)) == {autumn.id}
    assert await told(utc(2027, 10, 31, 22, 59)) == {autumn.id}
    assert await told(utc(2027, 10, 31, 23)) == set()


async def test_a_29_february_birthday_is_the_28th_in_other_years() -> None:
    member = await member_in("UTC", birthday=date(2000, 2, 29))

    assert [o.member_id for o in await occasions.birthdays(utc(2027, 2, 28, 10))] == [member.id]
    assert await occasions.birthdays(utc(2027, 3, 1, 10)) == []
    assert [o.member_id for o in await occasions.birthdays(utc(2028, 2, 29, 10))] == [member.id]
    assert await occasions.birthdays(utc(2028, 2, 28, 10)) == []
