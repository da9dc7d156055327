from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.ledger import points
from gamification.ledger.models import EntryKind, LedgerEntry
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

CAPTURE_HOLD = """
mutation CaptureHold($holdId: ID!, $points: Int!, $key: String!) {
  captureHold(holdId: $holdId, points: $points, idempotencyKey: $key) {
    hold { id status points captured settledAt }
    replayed
    errors { code field message }
  }
}
"""

RELEASE_HOLD = """
mutation ReleaseHold($holdId: ID!, $key: String!) {
  releaseHold(holdId: $holdId, idempotencyKey: $key) { errors { code } }
}
"""


async def _held(
    balance: int = 500, held: int = 200, **hold: Any
) -> tuple[Member, Device, PointsHold]:
    member = await create_member()
    await credit_points(member=member, points=balance)
    till = await create_device(channel=Channel.POS)
    return member, till, await hold_member_points(member=member, device=till, points=held, **hold)


async def _capture(
    app: Starlette, device: Device | Member, hold: PointsHold, amount: int, key: str = "c-1"
) -> Any:
    variables = {"holdId": to_global_id("PointsHold", hold.id), "points": amount, "key": key}
    return await execute(app, CAPTURE_HOLD, variables, as_=device)


def _codes(result: Any) -> list[str]:
    payload = result.data["captureHold"]
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


async def test_a_till_captures_part_of_a_hold_and_the_rest_is_released(app: Starlette) -> None:
    # given
    member, till, hold = await _held(balance=500, held=200)

    # when
    result = await _capture(app, till, hold, 120)

    # then
    assert result.errors is None
    payload = result.data["captureHold"]
    assert payload["errors"] == []
    assert payload["replayed"] is False
    assert payload["hold"]["id"] == to_global_id("PointsHold", hold.id)
    assert (payload["hold"]["status"], payload["hold"]["points"], payload["hold"]["captured"]) == (
        "CAPTURED",
        200,
        120,
    )
    assert payload["hold"]["settledAt"] is not None
    assert await _summary(member) == (380, 0)
    kinds = [e.kind for e in await LedgerEntry.all().order_by("id")]
    assert kinds[-2:] == [EntryKind.CAPTURE, EntryKind.RELEASE]
    await assert_books_balance()


async def test_a_retry_with_the_same_key_replays_the_capture(app: Starlette) -> None:
    member, till, hold = await _held()
    first = await _capture(app, till, hold, 120, key="c-1")

    again = await _capture(app, till, hold, 120, key="c-1")

    assert again.data["captureHold"]["replayed"] is True
    assert again.data["captureHold"]["hold"] == first.data["captureHold"]["hold"]
    assert await _summary(member) == (380, 0)


async def test_capturing_more_than_held_is_refused(app: Starlette) -> None:
    member, till, hold = await _held(balance=500, held=200)

    result = await _capture(app, till, hold, 201)

    assert _codes(result) == ["CAPTURE_EXCEEDS_HOLD"]
    await assert_unchanged(hold, member, status=HoldStatus.ACTIVE, summary=(500, 200), entries=2)


async def test_capturing_twice_is_refused(app: Starlette) -> None:
    member, till, hold = await _held(balance=500, held=200)
    await _capture(app, till, hold, 100, key="c-1")

    result = await _capture(app, till, hold, 100, key="c-2")

    assert _codes(result) == ["HOLD_NOT_ACTIVE"]
    await assert_unchanged(hold, member, status=HoldStatus.CAPTURED, summary=(400, 0), entries=4)


async def test_capturing_after_release_is_refused(app: Starlette) -> None:
    member, till, hold = await _held(balance=500, held=200)
    released = await execute(
        app, RELEASE_HOLD, {"holdId": to_global_id("PointsHold", hold.id), "key": "r-1"}, as_=till
    )
    assert released.data["releaseHold"]["errors"] == []

    result = await _capture(app, till, hold, 100)

    assert _codes(result) == ["HOLD_NOT_ACTIVE"]
    await assert_unchanged(hold, member, status=HoldStatus.RELEASED, summary=(500, 0), entries=3)


async def test_capturing_after_expiry_releases_the_hold(app: Starlette) -> None:
    # given: a five-minute hold placed an hour ago, not swept yet
    member, till, hold = await _held(
        balance=500, held=200, ttl_seconds=300, now=datetime.now(UTC) - timedelta(hours=1)
    )

    # when
    result = await _capture(app, till, hold, 100)

    # then: refused, and the points are free again
    assert _codes(result) == ["HOLD_EXPIRED"]
    await assert_unchanged(hold, member, status=HoldStatus.EXPIRED, summary=(500, 0), entries=3)


async def test_a_device_of_another_store_does_not_find_the_hold(app: Starlette) -> None:
    member, _, hold = await _held(balance=500, held=200)
    elsewhere = await create_device(channel=Channel.POS, store=await create_store())

    result = await _capture(app, elsewhere, hold, 100)

    assert _codes(result) == ["NOT_FOUND"]
    await assert_unchanged(hold, member, status=HoldStatus.ACTIVE, summary=(500, 200), entries=2)


async def test_a_member_cannot_capture(app: Starlette) -> None:
    member, _, hold = await _held(balance=500, held=200)

    result = await _capture(app, member, hold, 100)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    await assert_unchanged(hold, member, status=HoldStatus.ACTIVE, summary=(500, 200), entries=2)


@pytest.mark.parametrize(
    "hold_id", [to_global_id("Purchase", 1), "not-an-id"], ids=["another-type", "garbage"]
)
async def test_a_malformed_hold_id_is_refused(app: Starlette, hold_id: str) -> None:
    till = await create_device(channel=Channel.POS)

    result = await execute(
        app, CAPTURE_HOLD, {"holdId": hold_id, "points": 1, "key": "c-1"}, as_=till
    )

    errors = result.data["captureHold"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "holdId")]
