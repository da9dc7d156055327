"""Members in a timezone, with a birthday and consent, for the notification tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gamification.members.models import Member
from tests.factories import create_member


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def member_in(
    timezone: str = "UTC", *, birthday: date | None = None, marketing_consent: bool = True
) -> Member:
    member = await create_member(timezone=timezone)
    member.birthday = birthday
    member.marketing_consent = marketing_consent
    await member.save(update_fields=["birthday", "marketing_consent"])
    return member
