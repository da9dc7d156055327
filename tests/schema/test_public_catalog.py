"""The catalog a signed-out app shows answers without a token: tiers, rewards on offer, causes,
challenges that are not hidden, stores. Member data still needs one, and anonymous reads count
against the client address's rate limit."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from schema.rate_limits import AnonymousReadLimit
from schema.relay import to_global_id
from schema.schema import Query
from server.app import create_app
from server.settings import Settings
from tests.factories import (
    bearer,
    create_cause,
    create_challenge,
    create_member,
    create_reward,
    create_store,
    create_tier_ladder,
    execute,
    member_token,
)

TIERS = "{ tiers { name threshold } }"
REWARDS = """
query Rewards($affordable: Boolean! = false) {
  rewards(affordable: $affordable) { edges { node { name costPoints } } }
}
"""
CAUSES = "{ causes { edges { node { name status } } } }"
CAUSE = "query Cause($id: ID!) { cause(id: $id) { name } }"
CHALLENGES = "{ challenges { edges { node { title progress { current } } } } }"
STORES = "{ stores { edges { node { code } } } }"
ME = "{ me { email } }"
LEADERBOARD = "{ leaderboard { total } }"

PUBLIC_FIELDS = {"tiers", "rewards", "causes", "cause", "challenges", "stores"}


def _names(connection: dict[str, Any], key: str = "name") -> list[str]:
    return [edge["node"][key] for edge in connection["edges"]]


def _codes(result: Any) -> list[str]:
    return [error.extensions["code"] for error in result.errors or []]


def test_exactly_the_catalog_is_public() -> None:
    fields = Query.__strawberry_definition__.fields  # type: ignore[attr-defined]

    public = {
        field.graphql_name or field.python_name
        for field in fields
        if any(isinstance(e, AnonymousReadLimit) for e in field.extensions)
    }

    assert public == PUBLIC_FIELDS


async def test_the_tier_ladder_needs_no_token(app: Starlette) -> None:
    # given
    await create_tier_ladder()

    # when
    result = await execute(app, TIERS)

    # then
    assert result.errors is None
    assert result.data["tiers"] == [
        {"name": "Bronze", "threshold": 0},
        {"name": "Silver", "threshold": 100},
        {"name": "Gold", "threshold": 500},
    ]


async def test_a_signed_out_app_sees_the_rewards_on_offer(app: Starlette) -> None:
    # given: one reward on offer, one withdrawn
    await create_reward(name="Free coffee", cost_points=100)
    await create_reward(name="Old mug", active=False)

    # when
    result = await execute(app, REWARDS)

    # then: what members see
    assert result.errors is None
    assert result.data["rewards"]["edges"] == [{"node": {"name": "Free coffee", "costPoints": 100}}]


async def test_the_causes_need_no_token(app: Starlette) -> None:
    # given
    cause = await create_cause(name="Trees")

    # when
    listed = await execute(app, CAUSES)
    one = await execute(app, CAUSE, {"id": to_global_id("Cause", cause.id)})

    # then
    assert listed.errors is None
    assert listed.data["causes"]["edges"] == [{"node": {"name": "Trees", "status": "ACTIVE"}}]
    assert one.errors is None
    assert one.data["cause"] == {"name": "Trees"}


async def test_public_challenges_show_without_progress(app: Starlette) -> None:
    # given: a public challenge and a hidden one
    await create_challenge(title="Three visits")
    await create_challenge(title="Secret", hidden=True)

    # when
    result = await execute(app, CHALLENGES)

    # then
    assert result.errors is None
    assert result.data["challenges"]["edges"] == [
        {"node": {"title": "Three visits", "progress": None}}
    ]


async def test_the_stores_need_no_token(app: Starlette) -> None:
    await create_store(code="LYON1")

    result = await execute(app, STORES)

    assert result.errors is None
    assert _names(result.data["stores"], "code") == ["LYON1"]


async def test_member_data_still_needs_a_token(app: Starlette) -> None:
    # given: a member and a reward they might afford
    await create_member()
    await create_reward(name="Free coffee")

    # when: a caller without a token asks for member data
    me = await execute(app, ME)
    affordable = await execute(app, REWARDS, {"affordable": True})
    leaderboard = await execute(app, LEADERBOARD)

    # then
    assert _codes(me) == ["UNAUTHENTICATED"]
    assert _codes(affordable) == ["UNAUTHENTICATED"]
    assert _codes(leaderboard) == ["UNAUTHENTICATED"]


def _app_allowing(app: Starlette, reads: int) -> Starlette:
    """The app with `reads` anonymous catalog reads per address and window, on the test Redis."""
    settings: Settings = app.state.settings
    limited = create_app(settings.model_copy(update={"rate_limit_per_address": reads}))
    limited.state.redis = app.state.redis
    return limited


async def _post(
    application: Starlette, query: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=application, client=("203.0.113.20", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answer: dict[str, Any] = (
            await http.post("/graphql", json={"query": query}, headers=headers)
        ).json()
    return answer


async def test_anonymous_reads_are_rate_limited_per_address(app: Starlette) -> None:
    # given: 3 anonymous catalog reads allowed per address and window
    limited = _app_allowing(app, reads=3)
    await create_tier_ladder()

    # when: one request reads two catalogs, then two more requests read one each
    both = await _post(limited, "{ tiers { name } causes { edges { node { name } } } }")
    third = await _post(limited, TIERS)
    fourth = await _post(limited, TIERS)

    # then: every field read counts, in one counter for all of them
    assert "errors" not in both
    assert "errors" not in third
    assert fourth["data"] is None
    assert fourth["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert fourth["errors"][0]["extensions"]["retryAfter"] >= 1


async def test_signed_in_reads_are_not_counted(app: Starlette) -> None:
    # given: one anonymous catalog read allowed per address and window, and a member
    limited = _app_allowing(app, reads=1)
    member = await create_member()
    token = bearer(member_token(member, app.state.settings))

    # when: the member reads the catalog three times from that address
    answers = [await _post(limited, TIERS, headers=token) for _ in range(3)]

    # then
    assert all("errors" not in answer for answer in answers)
