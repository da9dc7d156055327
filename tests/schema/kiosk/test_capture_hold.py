from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette

from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.rewards.models import HoldStatus
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import (
    create_device,
    execute,
)
from tests.invariants import assert_books_balance
from tests.schema.kiosk.holds import (
    CAPTURE_HOLD,
    Refusal,
    assert_unchanged,
    balance_and_held,
    capture,
    captured,
    device_of_another_store,
    held,
    refusal_codes,
    released,
)


async def test_a_till_captures_part_of_a_hold_and_the_rest_is_released(app: Starlette) -> None:
    # given
    member, till, hold = await held(balance=500, held=200)

    # when
    result = await capture(app, till, hold, 120)

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
    assert await balance_and_held(member) == (380, 0)
    kinds = [e.kind for e in await LedgerEntry.all().order_by("id")]
    assert kinds[-2:] == [EntryKind.CAPTURE, EntryKind.RELEASE]
    await assert_books_balance()


async def test_a_retry_with_the_same_key_replays_the_capture(app: Starlette) -> None:
    member, till, hold = await held()
    first = await capture(app, till, hold, 120, key="c-1")

    again = await capture(app, till, hold, 120, key="c-1")

    assert again.data["captureHold"]["replayed"] is True
    assert again.data["captureHold"]["hold"] == first.data["captureHold"]["hold"]
    assert await balance_and_held(member) == (380, 0)


_REFUSALS = {
    "more than held": (201, Refusal("CAPTURE_EXCEEDS_HOLD", HoldStatus.ACTIVE, (500, 200), 2)),
    "twice": (
        100,
        Refusal("HOLD_NOT_ACTIVE", HoldStatus.CAPTURED, (400, 0), 4, before=captured(100)),
    ),
    "after release": (
        100,
        Refusal("HOLD_NOT_ACTIVE", HoldStatus.RELEASED, (500, 0), 3, before=released),
    ),
    # A five-minute hold placed an hour ago, not swept yet: refused, and the points are free.
    "after expiry releases the hold": (
        100,
        Refusal(
            "HOLD_EXPIRED",
            HoldStatus.EXPIRED,
            (500, 0),
            3,
            hold={"ttl_seconds": 300, "now": datetime.now(UTC) - timedelta(hours=1)},
        ),
    ),
    "by a device of another store, which does not find the hold": (
        100,
        Refusal(
            "NOT_FOUND",
            HoldStatus.ACTIVE,
            (500, 200),
            2,
            before=device_of_another_store(Channel.POS),
        ),
    ),
}


@pytest.mark.parametrize(("amount", "refusal"), list(_REFUSALS.values()), ids=list(_REFUSALS))
async def test_capturing_is_refused(app: Starlette, amount: int, refusal: Refusal) -> None:
    # given
    member, till, hold = await held(balance=500, held=200, **refusal.hold)
    device = await refusal.before(app, till, hold)

    # when
    result = await capture(app, device, hold, amount)

    # then
    assert refusal_codes(result, "captureHold") == [refusal.code]
    await assert_unchanged(
        hold, member, status=refusal.status, summary=refusal.summary, entries=refusal.entries
    )


async def test_a_member_cannot_capture(app: Starlette) -> None:
    member, _, hold = await held(balance=500, held=200)

    result = await capture(app, member, hold, 100)

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
