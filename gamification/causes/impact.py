"""What causes achieve, in their impact units: a cause's progress toward its goal, and a
member's lifetime impact (what their own points achieved; the brand's match counts for the
cause, not for them). Units are points / the cause's points per unit, rounded down to 4 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from tortoise.functions import Sum

from gamification.causes.models import Cause, Donation


@dataclass(frozen=True, slots=True)
class CauseProgress:
    member_points: int
    matched_points: int
    donors: int
    impact_delivered: Decimal  # (member + matched points) / points per unit
    percent_of_goal: Decimal | None  # None without a goal; above 100 once it is passed


@dataclass(frozen=True, slots=True)
class ImpactTotal:
    unit: str
    units: Decimal


def impact_of(points: int, points_per_unit: int) -> Decimal:
    return (Decimal(points) / Decimal(points_per_unit)).quantize(Decimal("0.0001"), ROUND_FLOOR)


def progress_of(cause: Cause) -> CauseProgress:
    raised = cause.raised_member_points + cause.raised_matched_points
    percent = None
    if cause.goal_points:
        percent = (Decimal(raised) * 100 / Decimal(cause.goal_points)).quantize(
            Decimal("0.01"), ROUND_FLOOR
        )
    return CauseProgress(
        member_points=cause.raised_member_points,
        matched_points=cause.raised_matched_points,
        donors=cause.donor_count,
        impact_delivered=impact_of(raised, cause.points_per_unit),
        percent_of_goal=percent,
    )


async def lifetime_impact(member_id: int) -> list[ImpactTotal]:
    """What the member's own points achieved, per impact unit, over donations not reversed.

    Matched points are the brand's gift and count toward the cause's impact, not the
    member's. Units are computed per cause (Σ points / points per unit, rounded down to 4
    decimals) and summed over causes that share a unit name. Sorted by unit.
    """
    rows = (
        await Donation.filter(member_id=member_id, reversed_at__isnull=True)
        .group_by("cause_id")
        .annotate(total=Sum("points"))
        .values("cause_id", "total")
    )
    if not rows:
        return []
    by_id = {c.id: c for c in await Cause.filter(id__in=[r["cause_id"] for r in rows])}
    units: dict[str, Decimal] = {}
    for row in rows:
        cause = by_id[row["cause_id"]]
        given = impact_of(int(row["total"] or 0), cause.points_per_unit)
        units[cause.impact_unit] = units.get(cause.impact_unit, Decimal(0)) + given
    return [ImpactTotal(unit, total) for unit, total in sorted(units.items())]
