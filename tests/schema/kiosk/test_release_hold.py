from __future__ import annotations

import pytest
from starlette.applications import Starlette

from gamification.rewards.models import HoldStatus, PointsHold
from gamification.stores.models import Channel, Device
from tests.factories import (
    create_device,
)
from tests.invariants import assert_books_balance
from tests.schema.kiosk.holds import (
    Refusal,
    assert_unchanged,
    balance_and_held,
    captured,
    device_of_another_store,
    held,
    refusal_codes,
    release,
    released,
)


async def test_a_till_releases_a_hold(app: Starlette) -> None:
    # given
    member, till, hold = await held(balance=500, held=200)

    # when
    result = await release(app, till, hold)

    # then
    assert result.errors is None
    payload = result.data["releaseHold"]
    assert payload["errors"] == []
    assert (payload["hold"]["status"], payload["hold"]["captured"]) == ("RELEASED", 0)
    assert payload["hold"]["settledAt"] is not None
    assert await balance_and_held(member) == (500, 0)
    await assert_books_balance()


async def test_a_retry_with_the_same_key_replays_the_release(app: Starlette) -> None:
    member, till, hold = await held()
    first = await release(app, till, hold, key="r-1")

    again = await release(app, till, hold, key="r-1")

    assert again.data["releaseHold"]["replayed"] is True
    assert again.data["releaseHold"]["hold"] == first.data["releaseHold"]["hold"]
    await assert_unchanged(hold, member, status=HoldStatus.RELEASED, summary=(500, 0), entries=3)


async def _web_shop_of_the_same_store(app: Starlette, till: Device, hold: PointsHold) -> Device:
    return await create_device(channel=Channel.WEB, store=await till.store)


_REFUSALS = {
    "twice": Refusal("HOLD_NOT_ACTIVE", HoldStatus.RELEASED, (500, 0), 3, before=released),
    "after capture": Refusal(
        "HOLD_NOT_ACTIVE", HoldStatus.CAPTURED, (300, 0), 3, before=captured(200)
    ),
    "by a device of another store, which does not find the hold": Refusal(
        "NOT_FOUND", HoldStatus.ACTIVE, (500, 200), 2, before=device_of_another_store(Channel.KIOSK)
    ),
    "by a web shop server of the same store": Refusal(
        "CHANNEL_MISMATCH", HoldStatus.ACTIVE, (500, 200), 2, before=_web_shop_of_the_same_store
    ),
}


@pytest.mark.parametrize("refusal", list(_REFUSALS.values()), ids=list(_REFUSALS))
async def test_releasing_is_refused(app: Starlette, refusal: Refusal) -> None:
    # given
    member, till, hold = await held(balance=500, held=200)
    device = await refusal.before(app, till, hold)

    # when
    result = await release(app, device, hold)

    # then
    assert refusal_codes(result, "releaseHold") == [refusal.code]
    await assert_unchanged(
        hold, member, status=refusal.status, summary=refusal.summary, entries=refusal.entries
    )


async def test_a_member_cannot_release(app: Starlette) -> None:
    member, _, hold = await held()

    result = await release(app, member, hold)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    await assert_unchanged(hold, member, status=HoldStatus.ACTIVE, summary=(500, 200), entries=2)
