"""How many points a purchase earns, and when they expire.

Rounding rule: every multiplier is applied in exact decimal arithmetic and the result is
rounded down to a whole point once, at the very end. Splitting a purchase into line items can
therefore never earn more than the same spend in one line at the same multiplier.

points = floor( Σ(line amount × category multiplier) + unlisted remainder) × points per unit
               × best active channel promotion × tier multiplier )

Promotions do not stack: the highest multiplier active on the channel at the purchase time
applies. A purchase below the currency's minimum spend earns nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Final

from tortoise.backends.base.client import BaseDBAsyncClient

from gamification import program_cache, program_settings
from gamification.earning.models import EarnPromotion, EarnRule
from gamification.errors import ErrorCode, InvalidInput
from gamification.stores.models import Channel
from gamification.tiers import ladder as tiers

MAX_PURCHASE_AMOUNT: Final = Decimal("1000000")
MAX_LINE_ITEMS: Final = 200
_CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
_CATEGORY: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Read on every purchase, changed by admins: see program_cache for how long a change takes.
_rules: program_cache.TimedCache[str, EarnRule | None] = program_cache.TimedCache()
_promotions: program_cache.TimedCache[Channel, list[tuple[datetime, datetime, Decimal]]] = (
    program_cache.TimedCache()
)


@dataclass(frozen=True, slots=True)
class LineItem:
    category: str
    amount: Decimal
    sku: str = ""


def check_amount(value: Decimal, *, field: str = "amount") -> Decimal:
    """Raises InvalidInput(INVALID_AMOUNT) for NaN, infinite, non-positive, over-precise or
    absurd amounts."""
    try:
        ok = (
            value.is_finite()
            and value > 0
            and value <= MAX_PURCHASE_AMOUNT
            and value == value.quantize(Decimal("0.01"))
        )
    except (InvalidOperation, AttributeError):
        ok = False
    if not ok:
        raise InvalidInput(
            f"Amount must be a positive number with at most 2 decimals, up to "
            f"{MAX_PURCHASE_AMOUNT}",
            code=ErrorCode.INVALID_AMOUNT,
            field=field,
        )
    return value


def check_line_items(items: list[LineItem], amount: Decimal) -> list[LineItem]:
    """Raises InvalidInput when a line is malformed or the lines add up to more than the total."""
    if len(items) > MAX_LINE_ITEMS:
        raise InvalidInput(f"At most {MAX_LINE_ITEMS} line items", field="lineItems")
    for i, item in enumerate(items):
        check_amount(item.amount, field=f"lineItems.{i}.amount")
        if not _CATEGORY.match(item.category):
            raise InvalidInput("Unknown category format", field=f"lineItems.{i}.category")
    if sum((item.amount for item in items), Decimal(0)) > amount:
        raise InvalidInput(
            "Line items add up to more than the purchase",
            code=ErrorCode.INVALID_AMOUNT,
            field="lineItems",
        )
    return items


async def rule_for(currency: str, conn: BaseDBAsyncClient | None = None) -> EarnRule:
    """Raises InvalidInput(UNKNOWN_CURRENCY) when no earn rule covers the currency."""
    rule = (
        await _rules.get(currency, EarnRule.filter(currency=currency).using_db(conn).first)
        if _CURRENCY.match(currency)
        else None
    )
    if rule is None:
        raise InvalidInput(
            f"Purchases in {currency[:8]!r} do not earn points here",
            code=ErrorCode.UNKNOWN_CURRENCY,
            field="currency",
        )
    return rule


async def best_promotion(
    channel: Channel, at: datetime, conn: BaseDBAsyncClient | None = None
) -> Decimal:
    """The highest multiplier among the channel's promotions active at `at` (1 without any)."""

    async def load() -> list[tuple[datetime, datetime, Decimal]]:
        rows = await EarnPromotion.filter(channel=channel).using_db(conn)
        return [(p.starts_at, p.ends_at, Decimal(p.multiplier)) for p in rows]

    promotions = await _promotions.get(channel, load)
    return max(
        (multiplier for starts, ends, multiplier in promotions if starts <= at < ends),
        default=Decimal(1),
    )


async def tier_multiplier(member_id: int, conn: BaseDBAsyncClient | None = None) -> Decimal:
    """The member's tier earn multiplier (1 without a tier)."""
    return await tiers.earn_multiplier(member_id, conn)


def points_for(
    *,
    rule: EarnRule,
    amount: Decimal,
    line_items: list[LineItem],
    promotion: Decimal,
    tier: Decimal,
) -> int:
    if amount < Decimal(rule.minimum_spend):
        return 0
    multipliers = {k: Decimal(v) for k, v in (rule.category_multipliers or {}).items()}
    listed = sum((item.amount for item in line_items), Decimal(0))
    weighted = (amount - listed) + sum(
        (item.amount * multipliers.get(item.category, Decimal(1)) for item in line_items),
        Decimal(0),
    )
    raw = weighted * Decimal(rule.points_per_unit) * promotion * tier
    return int(raw.to_integral_value(rounding=ROUND_FLOOR))


def expiry_for(earned_at: datetime, months: int) -> datetime:
    """Points expire `months` months after the month they were earned: earned any day in
    November 2026 with 12 months, they expire at 2027-12-01 00:00 UTC (the end of Nov 2027)."""
    earned = earned_at.astimezone(UTC)
    month_index = earned.year * 12 + (earned.month - 1) + months + 1
    return datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=UTC)


def points_expiry(earned_at: datetime) -> datetime:
    """When points earned at `earned_at` expire, by the program's `points_expiry_months`."""
    return expiry_for(earned_at, program_settings.current().points_expiry_months)


def _check_multiplier(value: Decimal, field: str) -> Decimal:
    if not value.is_finite() or value <= 0 or value > 100:
        raise InvalidInput("Multipliers must be above 0 and at most 100", field=field)
    return value


async def set_earn_rule(
    *,
    currency: str,
    points_per_unit: Decimal,
    minimum_spend: Decimal,
    category_multipliers: dict[str, Decimal],
) -> EarnRule:
    """Create or replace the earn rule of a currency. Raises InvalidInput for bad values."""
    currency = currency.strip().upper()
    if not _CURRENCY.match(currency):
        raise InvalidInput(
            "Currency must be an ISO 4217 code", code=ErrorCode.UNKNOWN_CURRENCY, field="currency"
        )
    _check_multiplier(points_per_unit, "pointsPerUnit")
    if not minimum_spend.is_finite() or minimum_spend < 0 or minimum_spend > MAX_PURCHASE_AMOUNT:
        raise InvalidInput(
            "minimumSpend must be between 0 and the maximum purchase",
            code=ErrorCode.INVALID_AMOUNT,
            field="minimumSpend",
        )
    multipliers = {}
    for category, multiplier in category_multipliers.items():
        if not _CATEGORY.match(category):
            raise InvalidInput("Unknown category format", field="categoryMultipliers")
        multipliers[category] = str(_check_multiplier(multiplier, "categoryMultipliers"))
    rule, _ = await EarnRule.update_or_create(
        currency=currency,
        defaults={
            "points_per_unit": points_per_unit,
            "minimum_spend": minimum_spend,
            "category_multipliers": multipliers,
        },
    )
    program_cache.invalidate()
    return rule


async def create_promotion(
    *, name: str, channel: Channel, multiplier: Decimal, starts_at: datetime, ends_at: datetime
) -> EarnPromotion:
    """Raises InvalidInput for an empty name, a bad multiplier, a time without a timezone or an
    empty period."""
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("Name must have 1 to 120 characters", field="name")
    _check_multiplier(multiplier, "multiplier")
    # A naive time has no instant to compare with (and comparing it with an aware one raises).
    for field, moment in (("startsAt", starts_at), ("endsAt", ends_at)):
        if moment.tzinfo is None:
            raise InvalidInput(f"{field} needs a timezone", field=field)
    if ends_at <= starts_at:
        raise InvalidInput("endsAt must be after startsAt", field="endsAt")
    promotion = await EarnPromotion.create(
        name=name, channel=channel, multiplier=multiplier, starts_at=starts_at, ends_at=ends_at
    )
    program_cache.invalidate()
    return promotion
