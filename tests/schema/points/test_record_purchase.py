from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.earning.models import Purchase
from gamification.ledger import points
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.members.models import Member, Role
from gamification.stores.models import Channel, Store
from schema.relay import to_global_id
from tests.documents import RECORD_PURCHASE, purchase_input
from tests.factories import (
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    create_store,
    execute,
)
from tests.invariants import assert_books_balance

CREATE_EARN_PROMOTION = """
mutation CreateEarnPromotion(
  $name: String!, $channel: Channel!, $multiplier: Decimal!,
  $startsAt: DateTime!, $endsAt: DateTime!
) {
  createEarnPromotion(
    name: $name, channel: $channel, multiplier: $multiplier, startsAt: $startsAt, endsAt: $endsAt
  ) {
    promotion { multiplier }
    errors { code }
  }
}
"""


def forged_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def assert_nothing_written(*, purchases: int = 0, entries: int = 0) -> None:
    assert await Purchase.all().count() == purchases
    assert await LedgerEntry.all().count() == entries


async def test_kiosk_records_a_purchase_for_a_member_named_by_id(app: Starlette) -> None:
    # given
    await create_earn_rule(currency="EUR", points_per_unit="1")
    member = await create_member()
    kiosk = await create_device(channel=Channel.KIOSK)

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, amount="42.50"), "key": "k-1"},
        as_=kiosk,
    )

    # then
    assert result.errors is None
    payload = result.data["recordPurchase"]
    assert payload["errors"] == []
    assert (payload["pointsEarned"], payload["balance"], payload["replayed"]) == (42, 42, False)
    assert payload["purchase"]["channel"] == "KIOSK"
    assert payload["purchase"]["storeId"] == to_global_id("Store", kiosk.store_id)  # type: ignore[attr-defined]
    assert payload["purchase"]["memberId"] == to_global_id("Member", member.id)
    entry = await LedgerEntry.get()
    assert (entry.kind, entry.points, entry.channel) == (EntryKind.EARN, 42, Channel.KIOSK)
    await assert_books_balance()


async def test_pos_device_records_a_purchase_for_a_member_named_by_card(app: Starlette) -> None:
    # given
    await create_earn_rule(currency="EUR", points_per_unit="2")
    member = await create_member()
    till = await create_device(channel=Channel.POS)

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(card_number=member.card_number, amount="15.00"), "key": "k-1"},
        as_=till,
    )

    # then
    payload = result.data["recordPurchase"]
    assert payload["errors"] == []
    assert (payload["pointsEarned"], payload["balance"]) == (30, 30)
    assert payload["purchase"]["channel"] == "POS"
    assert payload["purchase"]["memberId"] == to_global_id("Member", member.id)
    await assert_books_balance()


async def test_staff_record_a_purchase_in_their_own_store(app: Starlette) -> None:
    # given
    await create_earn_rule()
    store = await create_store()
    cashier = await create_member(role=Role.STAFF, store=store)
    member = await create_member()

    # when
    result = await execute(
        app, RECORD_PURCHASE, {"input": purchase_input(member=member), "key": "k-1"}, as_=cashier
    )

    # then
    payload = result.data["recordPurchase"]
    assert payload["errors"] == []
    assert payload["pointsEarned"] == 10
    assert payload["purchase"]["storeId"] == to_global_id("Store", store.id)
    assert payload["purchase"]["channel"] == "POS"


async def test_web_shop_server_records_an_online_purchase(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    web_shop = await create_device(channel=Channel.WEB)

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, amount="99.99"), "key": "order-1"},
        as_=web_shop,
    )

    # then
    payload = result.data["recordPurchase"]
    assert payload["errors"] == []
    assert payload["pointsEarned"] == 99
    assert payload["purchase"]["channel"] == "WEB"
    assert (await LedgerEntry.get()).channel == Channel.WEB


async def test_points_are_the_rule_times_the_amount_rounded_down(app: Starlette) -> None:
    # given: 1.5 points per euro, 9.99 euros = 14.985 points
    await create_earn_rule(points_per_unit="1.5")
    member = await create_member()
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, amount="9.99"), "key": "k-1"},
        as_=kiosk,
    )

    # then
    assert result.data["recordPurchase"]["pointsEarned"] == 14


async def test_line_items_earn_their_category_multiplier(app: Starlette) -> None:
    # given: organic earns double, other lines and the unlisted rest earn the base rate
    await create_earn_rule(points_per_unit="1", category_multipliers={"organic": "2"})
    member = await create_member()
    kiosk = await create_device()
    line_items = [
        {"category": "organic", "amount": "10.00", "sku": "apples"},
        {"category": "bakery", "amount": "5.00"},
    ]

    # when: 30.00 in all, of which 15.00 is listed
    result = await execute(
        app,
        RECORD_PURCHASE,
        {
            "input": purchase_input(member=member, amount="30.00", lineItems=line_items),
            "key": "k-1",
        },
        as_=kiosk,
    )

    # then: 10 * 2 + 5 + 15 unlisted
    assert result.data["recordPurchase"]["errors"] == []
    assert result.data["recordPurchase"]["pointsEarned"] == 40


async def test_line_items_adding_up_to_more_than_the_purchase_are_refused(app: Starlette) -> None:
    # given
    await create_earn_rule(category_multipliers={"organic": "2"})
    member = await create_member()
    kiosk = await create_device()
    line_items = [{"category": "organic", "amount": "20.00"}]

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {
            "input": purchase_input(member=member, amount="10.00", lineItems=line_items),
            "key": "k-1",
        },
        as_=kiosk,
    )

    # then
    assert result.data["recordPurchase"]["errors"][0]["code"] == "INVALID_AMOUNT"
    assert result.data["recordPurchase"]["errors"][0]["field"] == "lineItems"
    await assert_nothing_written()


async def test_a_purchase_below_the_minimum_spend_earns_nothing(app: Starlette) -> None:
    # given
    await create_earn_rule(points_per_unit="1", minimum_spend="20.00")
    member = await create_member()
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, amount="19.99"), "key": "k-1"},
        as_=kiosk,
    )

    # then: the purchase is recorded, no points move
    payload = result.data["recordPurchase"]
    assert payload["errors"] == []
    assert (payload["pointsEarned"], payload["balance"]) == (0, 0)
    await assert_nothing_written(purchases=1, entries=0)


@dataclass(frozen=True)
class Promotion:
    channel: str
    multiplier: str
    starts: timedelta  # from now
    ends: timedelta


@dataclass(frozen=True)
class PromotionCase:
    promotions: tuple[Promotion, ...]
    points_earned: int
    points_per_unit: str = "1"
    category_multipliers: dict[str, str] | None = None
    amount: str = "10.00"
    line_items: tuple[dict[str, str], ...] = ()


_DAY = timedelta(days=1)
_PROMOTIONS = {
    # Double points at kiosks now; triple in the app (another channel) does not apply.
    "an active promotion on the channel multiplies the points": PromotionCase(
        (Promotion("KIOSK", "2", -_DAY, _DAY), Promotion("APP", "3", -_DAY, _DAY)), 20
    ),
    "a promotion that has ended does not apply": PromotionCase(
        (Promotion("KIOSK", "2", -8 * _DAY, -_DAY),), 10
    ),
    # Half a point per euro, a 1.5x kiosk promotion, three lines of 1.00 each:
    # floor(3 * 0.5 * 1.5) = floor(2.25) = 2. Rounding each line (0 each) or before the
    # promotion (floor(1.5) * 1.5 → 1) would earn less.
    "points are rounded down once after every multiplier": PromotionCase(
        (Promotion("KIOSK", "1.5", -timedelta(hours=1), timedelta(hours=1)),),
        2,
        points_per_unit="0.5",
        category_multipliers={"snacks": "1"},
        amount="3.00",
        line_items=tuple({"category": "snacks", "amount": "1.00"} for _ in range(3)),
    ),
}


@pytest.mark.parametrize("case", list(_PROMOTIONS.values()), ids=list(_PROMOTIONS))
async def test_promotions_multiply_the_points_of_their_channel_while_they_run(
    app: Starlette, case: PromotionCase
) -> None:
    # given
    await create_earn_rule(
        points_per_unit=case.points_per_unit, category_multipliers=case.category_multipliers
    )
    admin = await create_member(role=Role.ADMIN)
    now = datetime.now(UTC)
    for promotion in case.promotions:
        created = await execute(
            app,
            CREATE_EARN_PROMOTION,
            {
                "name": f"{promotion.channel} promotion",
                "channel": promotion.channel,
                "multiplier": promotion.multiplier,
                "startsAt": (now + promotion.starts).isoformat(),
                "endsAt": (now + promotion.ends).isoformat(),
            },
            as_=admin,
        )
        assert created.data["createEarnPromotion"]["errors"] == []
    member = await create_member()
    kiosk = await create_device(channel=Channel.KIOSK)
    extra: dict[str, Any] = {"lineItems": list(case.line_items)} if case.line_items else {}

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, amount=case.amount, **extra), "key": "k-1"},
        as_=kiosk,
    )

    # then
    assert result.data["recordPurchase"]["pointsEarned"] == case.points_earned


async def test_the_same_external_id_under_a_new_key_returns_the_first_purchase(
    app: Starlette,
) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device()
    first = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, external_id="R-7"), "key": "k-1"},
        as_=kiosk,
    )

    # when: the till lost the answer and retries with a fresh idempotency key
    retry = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, external_id="R-7"), "key": "k-2"},
        as_=kiosk,
    )

    # then
    original, replay = first.data["recordPurchase"], retry.data["recordPurchase"]
    assert replay["errors"] == []
    assert replay["replayed"] is True
    assert replay["purchase"]["id"] == original["purchase"]["id"]
    assert (replay["pointsEarned"], replay["balance"]) == (10, 10)
    await assert_nothing_written(purchases=1, entries=1)
    assert (await points.summary(member.id)).balance == 10


async def test_the_same_idempotency_key_and_input_replays_the_answer(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device()
    variables = {"input": purchase_input(member=member), "key": "k-1"}
    first = await execute(app, RECORD_PURCHASE, variables, as_=kiosk)

    # when
    retry = await execute(app, RECORD_PURCHASE, variables, as_=kiosk)

    # then
    assert retry.data["recordPurchase"]["replayed"] is True
    assert retry.data["recordPurchase"]["purchase"] == first.data["recordPurchase"]["purchase"]
    await assert_nothing_written(purchases=1, entries=1)


@pytest.mark.parametrize(
    ("retry", "code"),
    [
        pytest.param(
            {"external_id": "R-1", "amount": "12.00", "key": "k-2"},
            "PURCHASE_CONFLICT",
            id="the same external id with another amount is a conflict",
        ),
        pytest.param(
            {"external_id": "R-2", "amount": "50.00", "key": "k-1"},
            "IDEMPOTENCY_KEY_REUSED",
            id="the same idempotency key with other input is refused",
        ),
    ],
)
async def test_a_retry_that_differs_from_the_first_purchase_is_refused(
    app: Starlette, retry: dict[str, str], code: str
) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device()
    await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, external_id="R-1", amount="10.00"), "key": "k-1"},
        as_=kiosk,
    )

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {
            "input": purchase_input(
                member=member, external_id=retry["external_id"], amount=retry["amount"]
            ),
            "key": retry["key"],
        },
        as_=kiosk,
    )

    # then
    payload = result.data["recordPurchase"]
    assert payload["purchase"] is None
    assert [e["code"] for e in payload["errors"]] == [code]
    await assert_nothing_written(purchases=1, entries=1)
    assert (await points.summary(member.id)).balance == 10


@pytest.mark.parametrize(
    "amount", ["0", "0.00", "-5.00", "10.001", "NaN", "Infinity", "1e12", "1000000.01"]
)
async def test_an_invalid_amount_is_refused(app: Starlette, amount: str) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, amount=amount), "key": "k-1"},
        as_=kiosk,
    )

    # then
    assert result.errors is None
    payload = result.data["recordPurchase"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_AMOUNT", "amount")]
    await assert_nothing_written()


async def test_a_non_numeric_amount_is_a_request_error(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, amount="ten euros"), "key": "k-1"},
        as_=kiosk,
    )

    # then: the variable is refused before any resolver runs, and says why
    assert result.data is None
    assert len(result.errors) == 1
    assert "Unexpected error" not in result.errors[0].message
    assert "$input" in result.errors[0].message
    await assert_nothing_written()


# What a kiosk of one store sends, for member M, that is refused: (input, code, field).
_KIOSK_REFUSALS: dict[str, Callable[[Member, Store], tuple[dict[str, Any], str, str | None]]] = {
    "unknown member id": lambda m, _: (
        purchase_input(member_id=to_global_id("Member", m.id + 1000)),
        "UNKNOWN_MEMBER",
        "memberId",
    ),
    "unknown card number": lambda m, _: (
        purchase_input(card_number="0000111122223333"),
        "UNKNOWN_MEMBER",
        "member",
    ),
    "no member": lambda m, _: (purchase_input(), "UNKNOWN_MEMBER", None),
    "an hour in the future": lambda m, _: (
        purchase_input(member=m, occurred_at=datetime.now(UTC) + timedelta(hours=1)),
        "PURCHASE_IN_FUTURE",
        "occurredAt",
    ),
    "a time without a timezone": lambda m, _: (
        {**purchase_input(member=m), "occurredAt": "2026-01-15T10:00:00"},
        "INVALID_INPUT",
        "occurredAt",
    ),
    "another store": lambda m, other: (
        purchase_input(member=m, storeId=to_global_id("Store", other.id)),
        "STORE_MISMATCH",
        "storeId",
    ),
    "another channel": lambda m, _: (
        purchase_input(member=m, channel="APP"),
        "CHANNEL_MISMATCH",
        "channel",
    ),
}


@pytest.mark.parametrize("case", sorted(_KIOSK_REFUSALS))
async def test_a_kiosk_purchase_with_bad_input_is_refused(app: Starlette, case: str) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    kiosk = await create_device(channel=Channel.KIOSK)
    data, code, field = _KIOSK_REFUSALS[case](member, await create_store())

    # when
    result = await execute(app, RECORD_PURCHASE, {"input": data, "key": "k-1"}, as_=kiosk)

    # then
    errors = result.data["recordPurchase"]["errors"]
    assert [e["code"] for e in errors] == [code]
    if field is not None:
        assert errors[0]["field"] == field
    await assert_nothing_written()


@pytest.mark.parametrize("named_by", ["member id", "card number"])
async def test_staff_cannot_record_their_own_purchase(app: Starlette, named_by: str) -> None:
    # given
    await create_earn_rule()
    cashier = await create_member(role=Role.STAFF, store=await create_store())
    data = (
        purchase_input(member=cashier)
        if named_by == "member id"
        else purchase_input(card_number=cashier.card_number)
    )

    # when
    result = await execute(app, RECORD_PURCHASE, {"input": data, "key": "k-1"}, as_=cashier)

    # then
    assert [e["code"] for e in result.data["recordPurchase"]["errors"]] == ["SELF_PURCHASE"]
    await assert_nothing_written()


@pytest.mark.parametrize("currency", ["USD", "eur", "EURO", ""])
async def test_a_currency_without_an_earn_rule_is_refused(app: Starlette, currency: str) -> None:
    # given
    await create_earn_rule(currency="EUR")
    member = await create_member()
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, currency=currency), "key": "k-1"},
        as_=kiosk,
    )

    # then
    assert [e["code"] for e in result.data["recordPurchase"]["errors"]] == ["UNKNOWN_CURRENCY"]
    await assert_nothing_written()


async def test_staff_naming_another_store_are_refused(app: Starlette) -> None:
    # given
    await create_earn_rule()
    cashier = await create_member(role=Role.STAFF, store=await create_store())
    member = await create_member()
    other_store = await create_store()

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {
            "input": purchase_input(member=member, storeId=to_global_id("Store", other_store.id)),
            "key": "k-1",
        },
        as_=cashier,
    )

    # then
    assert [e["code"] for e in result.data["recordPurchase"]["errors"]] == ["STORE_MISMATCH"]
    await assert_nothing_written()


@pytest.mark.parametrize(("caller", "code"), [("member", "FORBIDDEN"), (None, "UNAUTHENTICATED")])
async def test_only_stores_record_purchases(app: Starlette, caller: str | None, code: str) -> None:
    # given
    await create_earn_rule()
    member = await create_member()

    # when: the member, or nobody signed in
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member), "key": "k-1"},
        as_=member if caller else None,
    )

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == [code]
    await assert_nothing_written()


@pytest.mark.parametrize(
    ("member_id", "code"),
    [
        ("garbage", "INVALID_INPUT"),
        ("", "UNKNOWN_MEMBER"),
        (forged_id("Store:1"), "INVALID_INPUT"),
        (forged_id("Member:abc"), "INVALID_INPUT"),
        (forged_id("Member:-1"), "INVALID_INPUT"),
        (forged_id("Member:0"), "INVALID_INPUT"),
        (forged_id("Member:3000000000"), "INVALID_INPUT"),
        (forged_id("Member:99999999999999999999"), "INVALID_INPUT"),
        ("x" * 10_000, "INVALID_INPUT"),
    ],
)
async def test_a_forged_member_id_is_a_typed_error(
    app: Starlette, member_id: str, code: str
) -> None:
    # given
    await create_earn_rule()
    await create_member()
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member_id=member_id), "key": "k-1"},
        as_=kiosk,
    )

    # then
    assert result.errors is None
    assert [e["code"] for e in result.data["recordPurchase"]["errors"]] == [code]
    await assert_nothing_written()


async def test_a_purchase_too_large_for_one_ledger_entry_is_a_typed_error(app: Starlette) -> None:
    # given: the largest purchase, at the highest rate, in a 100x promotion
    await create_earn_rule(points_per_unit="100")
    admin = await create_member(role=Role.ADMIN)
    now = datetime.now(UTC)
    await execute(
        app,
        CREATE_EARN_PROMOTION,
        {
            "name": "Launch",
            "channel": "KIOSK",
            "multiplier": "100",
            "startsAt": (now - timedelta(hours=1)).isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
        },
        as_=admin,
    )
    member = await create_member()
    kiosk = await create_device(channel=Channel.KIOSK)

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, amount="1000000.00"), "key": "k-1"},
        as_=kiosk,
    )

    # then
    assert result.errors is None
    assert [e["code"] for e in result.data["recordPurchase"]["errors"]] == ["INVALID_AMOUNT"]
    await assert_nothing_written()


async def test_the_same_receipt_number_at_another_store_is_another_purchase(
    app: Starlette,
) -> None:
    # given: the same receipt number at two stores is two purchases
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, external_id="R-1")
    kiosk = await create_device()

    # when
    result = await execute(
        app,
        RECORD_PURCHASE,
        {"input": purchase_input(member=member, external_id="R-1"), "key": "k-1"},
        as_=kiosk,
    )

    # then
    assert result.data["recordPurchase"]["replayed"] is False
    assert result.data["recordPurchase"]["balance"] == 20
    await assert_nothing_written(purchases=2, entries=2)
