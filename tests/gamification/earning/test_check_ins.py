"""Daily check-ins: once per local day, in the member's timezone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gamification.earning import eco_actions
from gamification.errors import ErrorCode, Refused
from gamification.events.models import DomainEvent, EventKind
from tests.factories import create_member


async def test_a_second_check_in_the_same_local_day_is_refused() -> None:
    member = await create_member()
    await eco_actions.check_in(member_id=member.id, now=datetime(2026, 11, 3, 8, tzinfo=UTC))

    with pytest.raises(Refused) as error:
        await eco_actions.check_in(member_id=member.id, now=datetime(2026, 11, 3, 22, tzinfo=UTC))

    assert error.value.code is ErrorCode.ALREADY_CHECKED_IN
    assert await DomainEvent.filter(kind=EventKind.CHECK_IN).count() == 1


async def test_the_local_day_decides_not_the_utc_day() -> None:
    # 09:30 and 10:30 UTC are two different days in Kiritimati (UTC+14): 23:30 and 00:30.
    member = await create_member(timezone="Pacific/Kiritimati")

    first = await eco_actions.check_in(
        member_id=member.id, now=datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    )
    second = await eco_actions.check_in(
        member_id=member.id, now=datetime(2026, 11, 3, 10, 30, tzinfo=UTC)
    )

    assert (first.local_date.isoformat(), second.local_date.isoformat()) == (
        "2026-11-03",
        "2026-11-04",
    )
