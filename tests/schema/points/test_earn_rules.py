"""`setEarnRule` and `createEarnPromotion`: how purchases earn, set by admins only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.earning.models import EarnPromotion, EarnRule
from gamification.members.models import Member, Role
from gamification.stores.models import Channel, Device
from tests.factories import create_device, create_earn_rule, create_member, create_store, execute

SET_EARN_RULE = """
mutation SetEarnRule(
  $currency: String!, $pointsPerUnit: Decimal!, $minimumSpend: Decimal! = "0",
  $categoryMultipliers: [CategoryMultiplierInput!]
) {
  setEarnRule(
    currency: $currency, pointsPerUnit: $pointsPerUnit, minimumSpend: $minimumSpend,
    categoryMultipliers: $categoryMultipliers
  ) {
    rule { currency pointsPerUnit minimumSpend }
    errors { code field message }
  }
}
"""

CREATE_EARN_PROMOTION = """
mutation CreateEarnPromotion(
  $name: String!, $channel: Channel!, $multiplier: Decimal!,
  $startsAt: DateTime!, $endsAt: DateTime!
) {
  createEarnPromotion(
    name: $name, channel: $channel, multiplier: $multiplier, startsAt: $startsAt, endsAt: $endsAt
  ) {
    promotion { name channel multiplier startsAt endsAt }
    errors { code field message }
  }
}
"""

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def promotion_variables(
    *,
    name: str = "Double points week",
    channel: str = "APP",
    multiplier: str = "2",
    starts_at: datetime = NOW,
    ends_at: datetime = NOW + timedelta(days=7),
) -> dict[str, Any]:
    return {
        "name": name,
        "channel": channel,
        "multiplier": multiplier,
        "startsAt": starts_at.isoformat(),
        "endsAt": ends_at.isoformat(),
    }


async def test_an_admin_sets_an_earn_rule(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app,
        SET_EARN_RULE,
        {
            "currency": "eur",
            "pointsPerUnit": "1.5",
            "minimumSpend": "5.00",
            "categoryMultipliers": [{"category": "organic", "multiplier": "2"}],
        },
        as_=admin,
    )

    # then
    payload = result.data["setEarnRule"]
    assert payload["errors"] == []
    assert payload["rule"]["currency"] == "EUR"
    assert Decimal(payload["rule"]["pointsPerUnit"]) == Decimal("1.5")
    assert Decimal(payload["rule"]["minimumSpend"]) == Decimal("5.00")
    rule = await EarnRule.get(currency="EUR")
    assert rule.category_multipliers == {"organic": "2"}


async def test_setting_a_rule_again_replaces_it(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    await create_earn_rule(currency="EUR", points_per_unit="1")

    # when
    result = await execute(app, SET_EARN_RULE, {"currency": "EUR", "pointsPerUnit": "3"}, as_=admin)

    # then
    assert Decimal(result.data["setEarnRule"]["rule"]["pointsPerUnit"]) == 3
    assert await EarnRule.all().count() == 1


async def callers() -> list[Member | Device]:
    store = await create_store()
    return [
        await create_member(),
        await create_member(role=Role.STAFF, store=store),
        await create_device(store=store, channel=Channel.POS),
    ]


async def test_only_admins_set_earn_rules(app: Starlette) -> None:
    # given: a member, a cashier and a till
    refused = await callers()

    # when
    results = [
        await execute(app, SET_EARN_RULE, {"currency": "EUR", "pointsPerUnit": "100"}, as_=caller)
        for caller in refused
    ]

    # then
    assert [[e.extensions["code"] for e in r.errors] for r in results] == [["FORBIDDEN"]] * 3
    assert await EarnRule.all().count() == 0


@pytest.mark.parametrize("currency", ["EURO", "E1R", "", "€€€", "US"])
async def test_an_invalid_currency_is_refused(app: Starlette, currency: str) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app, SET_EARN_RULE, {"currency": currency, "pointsPerUnit": "1"}, as_=admin
    )

    # then
    errors = result.data["setEarnRule"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("UNKNOWN_CURRENCY", "currency")]
    assert result.data["setEarnRule"]["rule"] is None
    assert await EarnRule.all().count() == 0


@pytest.mark.parametrize("points_per_unit", ["0", "-1", "NaN", "Infinity", "101"])
async def test_an_invalid_rate_is_refused(app: Starlette, points_per_unit: str) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app, SET_EARN_RULE, {"currency": "EUR", "pointsPerUnit": points_per_unit}, as_=admin
    )

    # then
    errors = result.data["setEarnRule"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "pointsPerUnit")]
    assert await EarnRule.all().count() == 0


@pytest.mark.parametrize("multiplier", ["0", "-2"])
async def test_a_category_multiplier_at_or_below_zero_is_refused(
    app: Starlette, multiplier: str
) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app,
        SET_EARN_RULE,
        {
            "currency": "EUR",
            "pointsPerUnit": "1",
            "categoryMultipliers": [{"category": "organic", "multiplier": multiplier}],
        },
        as_=admin,
    )

    # then
    errors = result.data["setEarnRule"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "categoryMultipliers")]
    assert await EarnRule.all().count() == 0


@pytest.mark.parametrize("minimum_spend", ["-0.01", "NaN"])
async def test_an_invalid_minimum_spend_is_refused(app: Starlette, minimum_spend: str) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app,
        SET_EARN_RULE,
        {"currency": "EUR", "pointsPerUnit": "1", "minimumSpend": minimum_spend},
        as_=admin,
    )

    # then
    errors = result.data["setEarnRule"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_AMOUNT", "minimumSpend")]
    assert await EarnRule.all().count() == 0


async def test_an_admin_creates_a_promotion(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(app, CREATE_EARN_PROMOTION, promotion_variables(), as_=admin)

    # then
    payload = result.data["createEarnPromotion"]
    assert payload["errors"] == []
    assert payload["promotion"]["channel"] == "APP"
    assert Decimal(payload["promotion"]["multiplier"]) == 2
    assert datetime.fromisoformat(payload["promotion"]["startsAt"]) == NOW
    assert await EarnPromotion.all().count() == 1


async def test_only_admins_create_promotions(app: Starlette) -> None:
    # given: a member, a cashier and a till
    refused = await callers()

    # when
    results = [
        await execute(app, CREATE_EARN_PROMOTION, promotion_variables(), as_=caller)
        for caller in refused
    ]

    # then
    assert [[e.extensions["code"] for e in r.errors] for r in results] == [["FORBIDDEN"]] * 3
    assert await EarnPromotion.all().count() == 0


@pytest.mark.parametrize("multiplier", ["0", "-1.5", "NaN", "1000"])
async def test_a_promotion_multiplier_out_of_range_is_refused(
    app: Starlette, multiplier: str
) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app, CREATE_EARN_PROMOTION, promotion_variables(multiplier=multiplier), as_=admin
    )

    # then
    errors = result.data["createEarnPromotion"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "multiplier")]
    assert await EarnPromotion.all().count() == 0


@pytest.mark.parametrize("ends_at", [NOW - timedelta(days=1), NOW])
async def test_a_promotion_ending_before_it_starts_is_refused(
    app: Starlette, ends_at: datetime
) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app, CREATE_EARN_PROMOTION, promotion_variables(ends_at=ends_at), as_=admin
    )

    # then
    errors = result.data["createEarnPromotion"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "endsAt")]
    assert await EarnPromotion.all().count() == 0


async def test_a_promotion_without_a_name_is_refused(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(app, CREATE_EARN_PROMOTION, promotion_variables(name="  "), as_=admin)

    # then
    errors = result.data["createEarnPromotion"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "name")]


async def test_promotion_times_without_a_timezone_are_refused(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    variables = promotion_variables()
    variables["startsAt"] = "2026-06-01T09:00:00"

    # when
    result = await execute(app, CREATE_EARN_PROMOTION, variables, as_=admin)

    # then
    assert result.errors is None
    errors = result.data["createEarnPromotion"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", "startsAt")]
    assert await EarnPromotion.all().count() == 0
