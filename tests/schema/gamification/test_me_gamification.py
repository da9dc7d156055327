"""`me { tier challenges badges }` and `tiers`, `challenges`: the app's home screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette

from gamification.badges.models import BadgeRule
from tests.factories import (
    check_in,
    create_badge,
    create_challenge,
    create_earn_rule,
    create_member,
    create_purchase,
    create_tier_ladder,
    execute,
)

HOME = """
{
  tiers { name threshold earnMultiplier benefitFlags }
  me {
    tier {
      current { name } next { name }
      progress { qualifyingPoints pointsToNext periodEndsAt }
      history { fromTier toTier reason }
    }
    challenges(first: 10) {
      edges { node { title progress { current target percent streakLength endsAt } } }
    }
    badges { badge { name } awardedAt }
  }
}
"""


async def test_the_home_screen(app: Starlette) -> None:
    # given
    await create_tier_ladder()
    await create_earn_rule()
    await create_badge(name="First purchase", rule=BadgeRule.FIRST_PURCHASE)
    await create_challenge(title="Visit twice", target="2")
    await create_challenge(title="Secret", target="1", hidden=True)
    member = await create_member()
    await create_purchase(member=member, amount="120.00")
    await check_in(member=member, at=datetime.now(UTC) - timedelta(minutes=1))

    # when
    result = await execute(app, HOME, as_=member)

    # then
    assert result.errors is None, result.errors
    data = result.data
    assert [t["name"] for t in data["tiers"]] == ["Bronze", "Silver", "Gold"]
    tier = data["me"]["tier"]
    assert (tier["current"], tier["next"]) == ({"name": "Silver"}, {"name": "Gold"})
    assert tier["progress"]["qualifyingPoints"] == 120
    assert tier["progress"]["pointsToNext"] == 380
    assert tier["history"] == [{"fromTier": "Bronze", "toTier": "Silver", "reason": "UPGRADE"}]
    titles = [e["node"]["title"] for e in data["me"]["challenges"]["edges"]]
    assert titles == ["Visit twice", "Secret"]  # the secret one was earned by the check-in
    visit = data["me"]["challenges"]["edges"][0]["node"]["progress"]
    assert (visit["current"], visit["percent"]) == ("1.00", 50)
    assert [b["badge"]["name"] for b in data["me"]["badges"]] == ["First purchase"]


async def test_hidden_challenges_stay_hidden_until_earned(app: Starlette) -> None:
    await create_challenge(title="Secret", target="5", hidden=True)
    member = await create_member()

    result = await execute(app, "{ challenges { edges { node { title } } } }", as_=member)

    assert result.data["challenges"]["edges"] == []


async def test_a_challenge_is_a_node(app: Starlette) -> None:
    from schema.relay import to_global_id

    visible = await create_challenge(title="Open")
    hidden = await create_challenge(title="Secret", hidden=True)
    member = await create_member()
    query = "query N($id: ID!) { node(id: $id) { ... on Challenge { title } } }"

    shown = await execute(app, query, {"id": to_global_id("Challenge", visible.id)}, as_=member)
    secret = await execute(app, query, {"id": to_global_id("Challenge", hidden.id)}, as_=member)

    assert shown.data["node"] == {"title": "Open"}
    assert secret.data["node"] is None
