"""`loyalty evaluate-tiers` with a calendar year in the program's timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gamification.tiers import ladder as tiers
from gamification.tiers.models import MemberTier, TierChange, TierChangeReason
from tests.factories import create_earn_rule, create_member, create_purchase, create_tier_ladder
from tests.server.helpers import loyalty_command

AUCKLAND = ZoneInfo("Pacific/Auckland")


async def test_the_command_evaluates_the_programs_local_year(service_env: dict[str, str]) -> None:
    # given: a Gold member of local 2025 whose 600 points came at 01:00 on 1 January 2025 in
    # Auckland (12:00 UTC on 31 December 2024: outside a UTC year 2025)
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(
        member=member, amount="600.00", occurred_at=datetime(2024, 12, 31, 12, tzinfo=UTC)
    )
    gold = next(t for t in await tiers.ladder() if t.name == "Gold")
    await MemberTier.filter(member_id=member.id).update(
        tier_id=gold.id,
        period_starts_at=datetime(2025, 1, 1, tzinfo=AUCKLAND),
        period_ends_at=datetime(2026, 1, 1, tzinfo=AUCKLAND),
    )
    env = {
        **service_env,
        "LOYALTY_TIER_WINDOW": "calendar_year",
        "LOYALTY_PROGRAM_TIMEZONE": "Pacific/Auckland",
    }

    # when
    done = await loyalty_command(env, "evaluate-tiers")

    # then: kept, and the next period ends at local midnight on 31 December 2026
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Evaluated 1 ended qualification periods."
    change = await TierChange.filter(member_id=member.id).order_by("-id").first()
    assert change is not None
    assert (change.reason, change.qualifying_points) == (TierChangeReason.RETAINED, 600)
    status = await MemberTier.get(member_id=member.id)
    assert status.period_ends_at == datetime(2026, 12, 31, 11, tzinfo=UTC)
