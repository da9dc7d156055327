"""Expired till holds are released by `loyalty expire-holds` and by the server's schedule."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from gamification.ledger import points
from gamification.members.models import Member
from gamification.rewards.models import HoldStatus, PointsHold
from gamification.stores.models import Channel
from server.app import run_expiry_schedule
from tests.factories import create_device, create_member, credit_points, hold_member_points
from tests.invariants import assert_books_balance
from tests.server.helpers import loyalty_command

_AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


async def _expired_hold() -> tuple[Member, PointsHold]:
    member = await create_member()
    await credit_points(member=member, points=500)
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(
        member=member, device=till, points=200, ttl_seconds=60, now=_AN_HOUR_AGO
    )
    return member, hold


async def test_the_command_releases_expired_holds_once(service_env: dict[str, str]) -> None:
    # given
    member, hold = await _expired_hold()

    # when
    first = await loyalty_command(service_env, "expire-holds")
    second = await loyalty_command(service_env, "expire-holds")

    # then
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert first.stdout.strip() == "Released 1 expired holds."
    assert second.stdout.strip() == "Released 0 expired holds."
    assert (await PointsHold.get(id=hold.id)).status is HoldStatus.EXPIRED
    assert (await points.summary(member.id)).held == 0
    await assert_books_balance()


async def test_the_servers_expiry_schedule_releases_expired_holds(redis: Redis) -> None:
    # given
    member, hold = await _expired_hold()

    # when: the schedule runs every second for a while
    schedule = asyncio.create_task(run_expiry_schedule(1, redis))
    try:
        for _ in range(100):  # up to ten seconds
            if (await PointsHold.get(id=hold.id)).status is not HoldStatus.ACTIVE:
                break
            await asyncio.sleep(0.1)
    finally:
        schedule.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await schedule

    # then
    assert (await PointsHold.get(id=hold.id)).status is HoldStatus.EXPIRED
    assert (await points.summary(member.id)).held == 0
    await assert_books_balance()
