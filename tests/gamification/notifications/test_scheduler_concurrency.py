"""Scheduler runs at the same moment insert each notice exactly once (the occasion's unique key),
and each notice is reported (and so published and emitted) by exactly one of them."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

import pytest

from gamification.notifications import scheduler
from gamification.notifications.models import Notification
from gamification.notifications.scheduler import NOTIFICATION_CREATED
from gamification.outbox.models import OutboxEvent
from tests.factories import OverrideSettings, credit_points
from tests.gamification.notifications.helpers import member_in, utc

pytestmark = pytest.mark.postgres


async def test_four_runs_at_once_notify_each_occasion_once(
    override_settings: OverrideSettings,
) -> None:
    # given: 60 members, each with expiring points and a birthday today
    override_settings(notify_points_expiring_days=3, notify_local_hour=9)
    for n in range(60):
        member = await member_in(
            ["UTC", "Europe/Berlin", "America/New_York"][n % 3], birthday=date(1990, 3, 30)
        )
        await credit_points(member=member, points=10 + n, expires_at=utc(2027, 4, 1))

    # when
    reports = await asyncio.gather(*(scheduler.notify(utc(2027, 3, 30, 18)) for _ in range(4)))

    # then: 120 notices, each once, each reported by one run only
    rows = await Notification.all().values_list("occasion", flat=True)
    assert len(rows) == 120
    assert len(set(rows)) == 120
    reported = Counter(n.occasion for report in reports for n in report.created)
    assert set(reported) == set(rows)
    assert set(reported.values()) == {1}
    assert all(report.due == 120 for report in reports)
    # and one webhook event each, from the run that inserted it
    events = await OutboxEvent.filter(type=NOTIFICATION_CREATED)
    assert sorted(str(e.payload["occasion"]) for e in events) == sorted(rows)
