"""`checkIn`: once per local day, from the app."""

from __future__ import annotations

from starlette.applications import Starlette

from gamification.events.models import DomainEvent
from tests.documents import CHECK_IN
from tests.factories import create_device, create_member, execute


async def test_a_member_checks_in_once_a_day(app: Starlette) -> None:
    member = await create_member()

    first = await execute(app, CHECK_IN, as_=member)
    second = await execute(app, CHECK_IN, as_=member)

    assert first.data["checkIn"]["checkIn"]["localDate"]
    assert second.data["checkIn"] == {"checkIn": None, "errors": [{"code": "ALREADY_CHECKED_IN"}]}
    assert await DomainEvent.filter(member_id=member.id).count() == 1


async def test_devices_do_not_check_in(app: Starlette) -> None:
    result = await execute(app, CHECK_IN, as_=await create_device())

    assert result.errors[0].extensions["code"] == "FORBIDDEN"
