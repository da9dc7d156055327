"""`loyalty notify` sends each due notice once, also when two runs start at the same time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gamification.notifications.models import Notification, NotificationKind
from tests.factories import create_member, credit_points
from tests.server.helpers import loyalty_command


async def test_two_runs_at_once_send_a_notice_once(service_env: dict[str, str]) -> None:
    # given: points expiring in two days (due since 14 days before)
    member = await create_member(timezone="Pacific/Auckland")
    await credit_points(member=member, points=80, expires_at=datetime.now(UTC) + timedelta(days=2))

    # when
    first, second = await asyncio.gather(
        loyalty_command(service_env, "notify"), loyalty_command(service_env, "notify")
    )

    # then
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    outputs = sorted([first.stdout.strip(), second.stdout.strip()])
    assert outputs[0].startswith("Sent 0 notices (1 due")
    assert outputs[1].startswith("Sent 1 notices (1 due")
    [notice] = await Notification.filter(member_id=member.id)
    assert notice.kind is NotificationKind.POINTS_EXPIRING
    assert notice.data["points"] == 80
