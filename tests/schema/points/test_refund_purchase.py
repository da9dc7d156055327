from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.earning.models import Purchase
from gamification.ledger import points
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.members.models import Member, Role
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import (
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    create_store,
    execute,
)
from tests.invariants import assert_books_balance

REFUND_PURCHASE = """
mutation RefundPurchase($purchaseId: ID!, $amount: Decimal!, $key: String!, $reason: String!) {
  refundPurchase(
    purchaseId: $purchaseId, amount: $amount, idempotencyKey: $key, reason: $reason
  ) {
    purchase { id amount refundedAmount pointsEarned pointsRefunded }
    pointsClawedBack
    pointsOutstanding
    replayed
    errors { code field message }
  }
}
"""

ADJUST_POINTS = """
mutation AdjustPoints($memberId: ID!, $points: Int!, $reason: String!, $key: String!) {
  adjustPoints(memberId: $memberId, points: $points, reason: $reason, idempotencyKey: $key) {
    balance
    errors { code }
  }
}
"""

RECORD_PURCHASE = """
mutation RecordPurchase($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) {
    pointsEarned
    balance
    errors { code }
  }
}
"""

MY_POINTS = """
query { me { points { balance available lifetimeEarned clawbackOutstanding } } }
"""


def refund_variables(
    purchase: Purchase, *, amount: str, key: str, reason: str = "returned"
) -> dict[str, Any]:
    return {
        "purchaseId": to_global_id("Purchase", purchase.id),
        "amount": amount,
        "key": key,
        "reason": reason,
    }


async def my_points(app: Starlette, member: Member) -> dict[str, int]:
    result = await execute(app, MY_POINTS, as_=member)
    assert result.errors is None
    points_: dict[str, int] = result.data["me"]["points"]
    return points_


async def test_partial_refunds_claw_back_exactly_the_points_earned(app: Starlette) -> None:
    # given: 0.7 points per euro, 10.00 euros = 7 points
    await create_earn_rule(points_per_unit="0.7")
    member = await create_member()
    kiosk = await create_device()
    purchase = await create_purchase(member=member, recorded_by=kiosk, amount="10.00")
    assert purchase.points_earned == 7

    # when: refunded in three parts that do not divide the points evenly
    results = [
        await execute(
            app, REFUND_PURCHASE, refund_variables(purchase, amount=part, key=f"r-{i}"), as_=kiosk
        )
        for i, part in enumerate(["3.33", "3.33", "3.34"])
    ]

    # then
    payloads = [r.data["refundPurchase"] for r in results]
    assert all(p["errors"] == [] for p in payloads)
    clawed = [p["pointsClawedBack"] for p in payloads]
    assert clawed == [2, 2, 3]
    assert sum(clawed) == 7
    assert payloads[-1]["purchase"]["refundedAmount"] == "10.00"
    assert payloads[-1]["purchase"]["pointsRefunded"] == 7
    assert await my_points(app, member) == {
        "balance": 0,
        "available": 0,
        "lifetimeEarned": 0,
        "clawbackOutstanding": 0,
    }
    await assert_books_balance()


async def test_a_partial_refund_then_the_rest(app: Starlette) -> None:
    # given
    await create_earn_rule(points_per_unit="1")
    member = await create_member()
    kiosk = await create_device()
    purchase = await create_purchase(member=member, recorded_by=kiosk, amount="99.99")

    # when
    first = await execute(
        app, REFUND_PURCHASE, refund_variables(purchase, amount="33.33", key="r-1"), as_=kiosk
    )
    rest = await execute(
        app, REFUND_PURCHASE, refund_variables(purchase, amount="66.66", key="r-2"), as_=kiosk
    )

    # then
    clawed = (
        first.data["refundPurchase"]["pointsClawedBack"],
        rest.data["refundPurchase"]["pointsClawedBack"],
    )
    assert clawed == (33, 66)
    assert sum(clawed) == purchase.points_earned == 99
    assert (await points.summary(member.id)).balance == 0
    refunds = await LedgerEntry.filter(kind=EntryKind.REFUND).order_by("id")
    assert [e.points for e in refunds] == [-33, -66]
    await assert_books_balance()


@dataclass(frozen=True)
class RefundRefusal:
    """After a first refund of `before` (if any, key r-1), a refund of `amount` under `key` is
    refused with `code`; what stays is the first refund: `refunded` of the purchase, `entries`
    ledger entries (the purchase's and the first refund's) and the member's `balance`."""

    amount: str
    key: str
    code: str
    balance: int
    before: str | None = None

    @property
    def refunded(self) -> Decimal:
        return Decimal(self.before or "0")

    @property
    def entries(self) -> int:
        return 2 if self.before else 1


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            RefundRefusal("10.01", "r-1", "REFUND_EXCEEDS_PURCHASE", 10),
            id="larger than the purchase",
        ),
        pytest.param(
            RefundRefusal("5.00", "r-2", "REFUND_EXCEEDS_PURCHASE", 4, before="6.00"),
            id="larger than what is left",
        ),
        pytest.param(
            RefundRefusal("5.00", "r-1", "IDEMPOTENCY_KEY_REUSED", 6, before="4.00"),
            id="the same key with another amount",
        ),
    ],
)
async def test_a_refused_refund_changes_nothing(app: Starlette, case: RefundRefusal) -> None:
    # given: a purchase of 10.00 that earned 10 points
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device()
    purchase = await create_purchase(member=member, recorded_by=kiosk, amount="10.00")
    if case.before:
        first = await execute(
            app,
            REFUND_PURCHASE,
            refund_variables(purchase, amount=case.before, key="r-1"),
            as_=kiosk,
        )
        assert first.data["refundPurchase"]["errors"] == []

    # when
    result = await execute(
        app,
        REFUND_PURCHASE,
        refund_variables(purchase, amount=case.amount, key=case.key),
        as_=kiosk,
    )

    # then
    assert [e["code"] for e in result.data["refundPurchase"]["errors"]] == [case.code]
    assert await LedgerEntry.all().count() == case.entries
    assert (await points.summary(member.id)).balance == case.balance
    stored = await Purchase.get(id=purchase.id)
    assert Decimal(stored.refunded_amount) == case.refunded
    assert stored.points_refunded == 10 - case.balance


async def test_refunding_an_unknown_purchase_is_not_found(app: Starlette) -> None:
    # given
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        REFUND_PURCHASE,
        {
            "purchaseId": to_global_id("Purchase", 4242),
            "amount": "1.00",
            "key": "r-1",
            "reason": "",
        },
        as_=kiosk,
    )

    # then
    assert result.errors is None
    assert [e["code"] for e in result.data["refundPurchase"]["errors"]] == ["NOT_FOUND"]
    assert await LedgerEntry.all().count() == 0


async def test_refunding_a_garbage_purchase_id_is_a_typed_error(app: Starlette) -> None:
    # given
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        REFUND_PURCHASE,
        {"purchaseId": "not-an-id", "amount": "1.00", "key": "r-1", "reason": ""},
        as_=kiosk,
    )

    # then
    assert result.errors is None
    assert [e["code"] for e in result.data["refundPurchase"]["errors"]] == ["INVALID_INPUT"]


async def test_a_refund_of_spent_points_leaves_a_clawback_that_later_earnings_repay(
    app: Starlette,
) -> None:
    # given: 100 points earned, then 80 of them spent
    await create_earn_rule(points_per_unit="1")
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    kiosk = await create_device()
    purchase = await create_purchase(member=member, recorded_by=kiosk, amount="100.00")
    spent = await execute(
        app,
        ADJUST_POINTS,
        {
            "memberId": to_global_id("Member", member.id),
            "points": -80,
            "reason": "spent at the partner shop",
            "key": "spend-1",
        },
        as_=admin,
    )
    assert spent.data["adjustPoints"]["balance"] == 20

    # when: the whole purchase is refunded
    refund = await execute(
        app, REFUND_PURCHASE, refund_variables(purchase, amount="100.00", key="r-1"), as_=kiosk
    )

    # then: the 20 available are taken now, 80 stay outstanding, the balance stops at zero
    payload = refund.data["refundPurchase"]
    assert (payload["pointsClawedBack"], payload["pointsOutstanding"]) == (20, 80)
    assert await my_points(app, member) == {
        "balance": 0,
        "available": 0,
        "lifetimeEarned": 0,
        "clawbackOutstanding": 80,
    }
    await assert_books_balance()

    # when: the next purchase earns 50, all of which repay the outstanding clawback
    later = await execute(
        app,
        RECORD_PURCHASE,
        {
            "input": {
                "memberId": to_global_id("Member", member.id),
                "amount": "50.00",
                "currency": "EUR",
                "externalId": "later-1",
                "occurredAt": datetime.now(UTC).isoformat(),
            },
            "key": "p-2",
        },
        as_=kiosk,
    )

    # then
    assert later.data["recordPurchase"]["pointsEarned"] == 50
    assert later.data["recordPurchase"]["balance"] == 0
    assert await my_points(app, member) == {
        "balance": 0,
        "available": 0,
        "lifetimeEarned": 50,
        "clawbackOutstanding": 30,
    }

    # when: a third purchase earns more than is still owed
    await create_purchase(member=member, recorded_by=kiosk, amount="100.00")

    # then: 30 repay the rest, 70 stay with the member
    assert await my_points(app, member) == {
        "balance": 70,
        "available": 70,
        "lifetimeEarned": 150,
        "clawbackOutstanding": 0,
    }
    clawbacks = await LedgerEntry.filter(kind=EntryKind.CLAWBACK).order_by("id")
    assert [e.points for e in clawbacks] == [-50, -30]
    await assert_books_balance()


async def test_retrying_a_refund_with_the_same_key_claws_back_once(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device()
    purchase = await create_purchase(member=member, recorded_by=kiosk, amount="10.00")
    variables = refund_variables(purchase, amount="4.00", key="r-1")
    first = await execute(app, REFUND_PURCHASE, variables, as_=kiosk)

    # when
    retry = await execute(app, REFUND_PURCHASE, variables, as_=kiosk)

    # then
    assert first.data["refundPurchase"]["replayed"] is False
    assert retry.data["refundPurchase"]["replayed"] is True
    assert retry.data["refundPurchase"]["pointsClawedBack"] == 4
    assert await LedgerEntry.filter(kind=EntryKind.REFUND).count() == 1
    assert (await points.summary(member.id)).balance == 6


async def test_a_refund_with_an_invalid_amount_is_refused(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device()
    purchase = await create_purchase(member=member, recorded_by=kiosk)

    # when
    result = await execute(
        app, REFUND_PURCHASE, refund_variables(purchase, amount="-1.00", key="r-1"), as_=kiosk
    )

    # then
    assert [e["code"] for e in result.data["refundPurchase"]["errors"]] == ["INVALID_AMOUNT"]
    assert await LedgerEntry.all().count() == 1


async def test_a_device_of_another_store_cannot_refund(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    purchase = await create_purchase(member=member, amount="10.00")
    other_kiosk = await create_device(store=await create_store())

    # when
    result = await execute(
        app, REFUND_PURCHASE, refund_variables(purchase, amount="10.00", key="r-1"), as_=other_kiosk
    )

    # then
    assert [e["code"] for e in result.data["refundPurchase"]["errors"]] == ["STORE_MISMATCH"]
    assert (await points.summary(member.id)).balance == 10


async def test_staff_of_the_store_can_refund(app: Starlette) -> None:
    # given
    await create_earn_rule()
    store = await create_store()
    till = await create_device(store=store, channel=Channel.POS)
    cashier = await create_member(role=Role.STAFF, store=store)
    member = await create_member()
    purchase = await create_purchase(member=member, recorded_by=till, amount="10.00")

    # when
    result = await execute(
        app, REFUND_PURCHASE, refund_variables(purchase, amount="10.00", key="r-1"), as_=cashier
    )

    # then
    assert result.data["refundPurchase"]["errors"] == []
    assert result.data["refundPurchase"]["pointsClawedBack"] == 10


async def test_a_member_cannot_refund_purchases(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    purchase = await create_purchase(member=member)

    # when
    result = await execute(
        app, REFUND_PURCHASE, refund_variables(purchase, amount="10.00", key="r-1"), as_=member
    )

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert (await points.summary(member.id)).balance == 10
