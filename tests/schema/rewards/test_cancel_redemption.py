"""`cancelRedemption`: points and stock go back exactly once; members cancel their own before
use, staff in their store, admins any. Every refusal leaves the books as they were."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.ledger import points
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.members.models import Member, Role
from gamification.rewards import redemptions
from gamification.rewards.models import Redemption, Reward
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import (
    actor_of,
    create_device,
    create_member,
    create_reward,
    create_store,
    credit_points,
    execute,
    redeem_reward,
)
from tests.invariants import assert_books_balance

CANCEL_REDEMPTION = """
mutation CancelRedemption($redemptionId: ID!, $key: String!, $reason: String! = "") {
  cancelRedemption(redemptionId: $redemptionId, idempotencyKey: $key, reason: $reason) {
    redemption { id status cancelledAt points reward { name stock } }
    replayed
    errors { code field message }
  }
}
"""


def cancel_variables(redemption: Redemption, *, key: str = "cancel-1") -> dict[str, Any]:
    return {"redemptionId": to_global_id("Redemption", redemption.id), "key": key}


async def books(member: Member, reward: Reward) -> tuple[int, int | None, list[str]]:
    """The balance, the stock, and the state of every redemption."""
    balance = (await points.summary(member.id)).balance
    stock = (await Reward.get(id=reward.id)).stock
    statuses = [r.status.value for r in await Redemption.all().order_by("id")]
    return balance, stock, statuses


def codes(result: Any) -> list[tuple[str, str | None]]:
    assert result.errors is None, result.errors
    payload = result.data["cancelRedemption"]
    assert payload["redemption"] is None
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def _redeemed(*, points_: int = 100, cost: int = 100, stock: int | None = 2) -> Any:
    member = await create_member()
    await credit_points(member=member, points=points_)
    reward = await create_reward(name="Tote bag", cost_points=cost, stock=stock)
    redemption = await redeem_reward(member=member, reward=reward)
    return member, reward, redemption


async def test_a_member_cancels_their_redemption(app: Starlette) -> None:
    # given
    member, reward, redemption = await _redeemed()
    assert await books(member, reward) == (0, 1, ["ISSUED"])

    # when
    result = await execute(
        app,
        CANCEL_REDEMPTION,
        {**cancel_variables(redemption), "reason": "changed my mind"},
        as_=member,
    )

    # then
    payload = result.data["cancelRedemption"]
    assert payload["errors"] == []
    assert payload["replayed"] is False
    assert payload["redemption"]["status"] == "CANCELLED"
    assert payload["redemption"]["cancelledAt"] is not None
    assert payload["redemption"]["reward"] == {"name": "Tote bag", "stock": 2}
    assert await books(member, reward) == (100, 2, ["CANCELLED"])
    reversal = await LedgerEntry.get(kind=EntryKind.REVERSAL)
    assert (reversal.points, reversal.reason) == (100, "changed my mind")
    await assert_books_balance()


async def test_cancelling_again_is_refused_and_returns_nothing_more(app: Starlette) -> None:
    # given
    member, reward, redemption = await _redeemed()
    await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption, key="one"), as_=member)

    # when
    again = await execute(
        app, CANCEL_REDEMPTION, cancel_variables(redemption, key="two"), as_=member
    )

    # then
    assert codes(again) == [("NOT_CANCELLABLE", "redemptionId")]
    assert await books(member, reward) == (100, 2, ["CANCELLED"])
    assert await LedgerEntry.filter(kind=EntryKind.REVERSAL).count() == 1
    await assert_books_balance()


async def test_retrying_with_the_same_key_replays_the_cancellation(app: Starlette) -> None:
    # given
    member, reward, redemption = await _redeemed()
    first = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=member)

    # when
    retry = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=member)

    # then
    assert retry.data["cancelRedemption"]["replayed"] is True
    assert retry.data["cancelRedemption"]["errors"] == []
    assert (
        retry.data["cancelRedemption"]["redemption"]["id"]
        == first.data["cancelRedemption"]["redemption"]["id"]
    )
    assert await books(member, reward) == (100, 2, ["CANCELLED"])
    await assert_books_balance()


async def test_a_used_redemption_cannot_be_cancelled(app: Starlette) -> None:
    # given
    member, reward, redemption = await _redeemed()
    till = await create_device(channel=Channel.POS)
    await redemptions.use_voucher(actor=actor_of(till), code=redemption.voucher_code)

    # when
    result = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=member)

    # then
    assert codes(result) == [("NOT_CANCELLABLE", "redemptionId")]
    assert await books(member, reward) == (0, 1, ["USED"])


async def test_an_admin_cannot_cancel_a_used_redemption_either(app: Starlette) -> None:
    member, reward, redemption = await _redeemed()
    admin = await create_member(role=Role.ADMIN)
    till = await create_device(channel=Channel.POS)
    await redemptions.use_voucher(actor=actor_of(till), code=redemption.voucher_code)

    result = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=admin)

    assert codes(result) == [("NOT_CANCELLABLE", "redemptionId")]
    assert await books(member, reward) == (0, 1, ["USED"])


async def test_another_members_redemption_is_not_found(app: Starlette) -> None:
    # given
    member, reward, redemption = await _redeemed()
    snoop = await create_member()

    # when
    result = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=snoop)

    # then: the same answer as for a redemption that does not exist
    assert codes(result) == [("NOT_FOUND", "redemptionId")]
    assert await books(member, reward) == (0, 1, ["ISSUED"])


async def test_an_unknown_redemption_is_not_found(app: Starlette) -> None:
    member = await create_member()

    result = await execute(
        app,
        CANCEL_REDEMPTION,
        {"redemptionId": to_global_id("Redemption", 2**40), "key": "k"},
        as_=member,
    )

    assert codes(result) == [("NOT_FOUND", "redemptionId")]


async def test_an_admin_cancels_any_redemption(app: Starlette) -> None:
    member, reward, redemption = await _redeemed()
    admin = await create_member(role=Role.ADMIN)

    result = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=admin)

    assert result.data["cancelRedemption"]["errors"] == []
    assert await books(member, reward) == (100, 2, ["CANCELLED"])
    await assert_books_balance()


async def test_staff_cancel_a_redemption_made_in_their_store(app: Starlette) -> None:
    # given: redeemed at a kiosk of the cashier's store
    store = await create_store()
    kiosk = await create_device(store=store, channel=Channel.KIOSK)
    cashier = await create_member(role=Role.STAFF, store=store)
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=100, stock=2)
    redemption = await redeem_reward(member=member, reward=reward, device=kiosk)

    # when
    result = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=cashier)

    # then
    assert result.data["cancelRedemption"]["errors"] == []
    assert await books(member, reward) == (100, 2, ["CANCELLED"])
    await assert_books_balance()


async def test_staff_of_another_store_cannot_cancel(app: Starlette) -> None:
    kiosk = await create_device(channel=Channel.KIOSK)
    cashier = await create_member(role=Role.STAFF, store=await create_store())
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=100, stock=2)
    redemption = await redeem_reward(member=member, reward=reward, device=kiosk)

    result = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=cashier)

    assert codes(result) == [("NOT_FOUND", "redemptionId")]
    assert await books(member, reward) == (0, 1, ["ISSUED"])


async def test_staff_cannot_cancel_an_app_redemption(app: Starlette) -> None:
    member, reward, redemption = await _redeemed()
    cashier = await create_member(role=Role.STAFF, store=await create_store())

    result = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=cashier)

    assert codes(result) == [("NOT_FOUND", "redemptionId")]
    assert await books(member, reward) == (0, 1, ["ISSUED"])


@pytest.mark.parametrize("channel", [Channel.KIOSK, Channel.POS])
async def test_a_device_cannot_cancel(app: Starlette, channel: Channel) -> None:
    # given: even the device the redemption was made at
    device = await create_device(channel=channel)
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=100, stock=2)
    redemption = await redeem_reward(member=member, reward=reward, device=device)

    # when
    result = await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=device)

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await books(member, reward) == (0, 1, ["ISSUED"])


async def test_cancelling_an_unlimited_reward_leaves_its_stock_unlimited(app: Starlette) -> None:
    member, reward, redemption = await _redeemed(stock=None)

    await execute(app, CANCEL_REDEMPTION, cancel_variables(redemption), as_=member)

    assert await books(member, reward) == (100, None, ["CANCELLED"])
