from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from gamification.ledger import points
from gamification.ledger.models import LedgerEntry
from gamification.members.models import Member
from gamification.rewards.models import HoldStatus, PointsHold
from gamification.stores.models import Channel, Device
from schema.relay import to_global_id
from tests.factories import (
    create_device,
    create_member,
    create_store,
    credit_points,
    execute,
    hold_member_points,
)
from tests.invariants import assert_books_balance

RELEASE_HOLD = """
mutation ReleaseHold($holdId: ID!, $key: String!) {
  releaseHold(holdId: $holdId, idempotencyKey: $key) {
    hold { id status points captured settledAt }
    replayed
    errors { code field message }
  }
}
"""

CAPTURE_HOLD = """
mutation CaptureHold($holdId: ID!, $points: Int!, $key: String!) {
  captureHold(holdId: $holdId, points: $points, idempotencyKey: $key) { errors { code } }
}
"""


async def _held(balance: int = 500, held: int = 200) -> tuple[Member, Device, PointsHold]:
    member = await create_member()
    await credit_points(member=member, points=balance)
    till = await create_device(channel=Channel.POS)
    return member, till, await hold_member_points(member=member, device=till, points=held)


async def _release(
    app: Starlette, device: Device | Member, hold: PointsHold, key: str = "r-1"
) -> Any:
    variables = {"holdId": to_global_id("PointsHold", hold.id), "key": key}
    return await execute(app, RELEASE_HOLD, variables, as_=device)


def _codes(result: Any) -> list[str]:
    payload = result.data["releaseHold"]
    assert payload["hold"] is None
    return [e["code"] for e in payload["errors"]]


async def _summary(member: Member) -> tuple[int, int]:
    summary = await points.summary(member.id)
    return summary.balance, summary.held


async def assert_unchanged(
    hold: PointsHold, member: Member, *, status: HoldStatus, summary: tuple[int, int], entries: int
) -> None:
    assert (await PointsHold.get(id=hold.id)).status is status
    assert await _summary(member) == summary
    assert await LedgerEntry.all().count() == entries
    await assert_books_balance()


async def test_a_till_releases_a_hold(app: Starlette) -> None:
    # given
    member, till, hold = await _held(balance=500, held=200)

    # when
    result = await _release(app, till, hold)

    # then
    assert result.errors is None
    payload = result.data["releaseHold"]
    assert payload["errors"] == []
    assert (payload["hold"]["status"], payload["hold"]["captured"]) == ("RELEASED", 0)
    assert payload["hold"]["settledAt"] is not None
    assert await _summary(member) == (500, 0)
    await assert_books_balance()


async def test_a_retry_with_the_same_key_replays_the_release(app: Starlette) -> None:
    member, till, hold = await _held()
    first = await _release(app, till, hold, key="r-1")

    again = await _release(app, till, hold, key="r-1")

    assert again.data["releaseHold"]["replayed"] is True
    assert again.data["releaseHold"]["hold"] == first.data["releaseHold"]["hold"]
    await assert_unchanged(hold, member, status=HoldStatus.RELEASED, summary=(500, 0), entries=3)


async def test_releasing_twice_is_refused(app: Starlette) -> None:
    member, till, hold = await _held()
    await _release(app, till, hold, key="r-1")

    result = await _release(app, till, hold, key="r-2")

    assert _codes(result) == ["HOLD_NOT_ACTIVE"]
    await assert_unchanged(hold, member, status=HoldStatus.RELEASED, summary=(500, 0), entries=3)


async def test_releasing_after_capture_is_refused(app: Starlette) -> None:
    member, till, hold = await _held(balance=500, held=200)
    captured = await execute(
        app,
        CAPTURE_HOLD,
        {"holdId": to_global_id("PointsHold", hold.id), "points": 200, "key": "c-1"},
        as_=till,
    )
    assert captured.data["captureHold"]["errors"] == []

    result = await _release(app, till, hold)

    assert _codes(result) == ["HOLD_NOT_ACTIVE"]
    await assert_unchanged(hold, member, status=HoldStatus.CAPTURED, summary=(300, 0), entries=3)


async def test_a_device_of_another_store_does_not_find_the_hold(app: Starlette) -> None:
    member, _, hold = await _held()
    elsewhere = await create_device(channel=Channel.KIOSK, store=await create_store())

    result = await _release(app, elsewhere, hold)

    assert _codes(result) == ["NOT_FOUND"]
    await assert_unchanged(hold, member, status=HoldStatus.ACTIVE, summary=(500, 200), entries=2)


async def test_a_web_shop_server_of_the_same_store_cannot_release(app: Starlette) -> None:
    member, till, hold = await _held()
    web = await create_device(channel=Channel.WEB, store=await till.store)

    result = await _release(app, web, hold)

    assert _codes(result) == ["CHANNEL_MISMATCH"]
    await assert_unchanged(hold, member, status=HoldStatus.ACTIVE, summary=(500, 200), entries=2)


async def test_a_member_cannot_release(app: Starlette) -> None:
    member, _, hold = await _held()

    result = await _release(app, member, hold)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    await assert_unchanged(hold, member, status=HoldStatus.ACTIVE, summary=(500, 200), entries=2)
