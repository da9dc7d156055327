"""`loyalty evaluate-tiers` evaluates each ended qualification period exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gamification.tiers import ladder as tiers
from gamification.tiers.models import MemberTier
from tests.factories import create_earn_rule, create_member, create_purchase, create_tier_ladder
from tests.server.helpers import loyalty_command


async def test_the_command_lowers_an_ended_period_once(service_env: dict[str, str]) -> None:
    # given: a Gold member whose qualification period ended yesterday with no new points
    await create_tier_ladder()
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, amount="600.00")
    await MemberTier.filter(member_id=member.id).update(
        period_starts_at=datetime.now(UTC) - timedelta(days=366),
        period_ends_at=datetime.now(UTC) - timedelta(days=1),
    )

    # when
    first = await loyalty_command(service_env, "evaluate-tiers")
    second = await loyalty_command(service_env, "evaluate-tiers")

    # then
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert first.stdout.strip() == "Evaluated 1 ended qualification periods."
    assert second.stdout.strip() == "Evaluated 0 ended qualification periods."
    tier = await tiers.current_tier(member.id)
    assert tier is not None
    assert tier.name == "Silver"
