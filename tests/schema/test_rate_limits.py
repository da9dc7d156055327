"""Rate limits: per member, per device and per client address, counted per call in Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.rewards.models import Redemption
from gamification.stores.models import Channel
from schema.context import Context
from schema.rate_limits import LIMITED_MUTATIONS
from schema.relay import to_global_id
from schema.schema import Mutation
from server.app import create_app
from server.settings import Settings
from tests.factories import (
    actor_of,
    create_device,
    create_earn_rule,
    create_member,
    create_reward,
    credit_points,
    schema_for,
)

REDEEM_THREE_TIMES = """
mutation Redeem($rewardId: ID!) {
  a: redeemReward(rewardId: $rewardId, idempotencyKey: "key-a") { redemption { id } }
  b: redeemReward(rewardId: $rewardId, idempotencyKey: "key-b") { redemption { id } }
  c: redeemReward(rewardId: $rewardId, idempotencyKey: "key-c") { redemption { id } }
}
"""

RECORD_PURCHASE = """
mutation Record($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) { pointsEarned errors { code } }
}
"""

LOG_IN = """
mutation { logIn(email: "nobody@example.com", password: "wrong password") { errors { code } } }
"""


def _limited(app: Starlette, **limits: Any) -> Settings:
    settings: Settings = app.state.settings
    return settings.model_copy(update=limits)


async def _execute(
    settings: Settings, redis: Redis, query: str, variables: dict[str, Any], actor: Any
) -> Any:
    context = Context(settings=settings, redis=redis, actor=actor)
    return await schema_for(settings).execute(
        query, variable_values=variables, context_value=context
    )


def test_every_sensitive_mutation_is_limited() -> None:
    fields = {f.python_name: f for f in Mutation.__strawberry_definition__.fields}  # type: ignore[attr-defined]
    limited = {
        name
        for name, field in fields.items()
        if any(type(e).__name__ == "RateLimit" for e in field.extensions)
    }
    expected = {
        "log_in",
        "sign_up",
        "redeem_reward",
        "create_redemption_token",
        "redeem_with_token",
        "record_purchase",
        "donate_points",
    } | ({"check_in"} if "check_in" in fields else set())
    assert limited == expected
    assert len(LIMITED_MUTATIONS) >= len(expected)


async def test_aliases_count_one_call_each(app: Starlette, redis: Redis) -> None:
    # given: a member allowed 2 redemptions a window, with points for 3
    settings = _limited(app, rate_limit_per_member=2)
    member = await create_member()
    await credit_points(member=member, points=300)
    reward = await create_reward(cost_points=100)

    # when: three aliased calls in one operation
    result = await _execute(
        settings,
        redis,
        REDEEM_THREE_TIMES,
        {"rewardId": to_global_id("Reward", reward.id)},
        actor_of(member),
    )

    # then: two go through, the third is refused with the seconds to wait (payloads are
    # non-null, so the refusal nulls the whole answer: the keys replay the first two)
    assert result.data is None
    [error] = result.errors
    assert error.path == ["c"]
    assert error.extensions["code"] == "RATE_LIMITED"
    assert 1 <= error.extensions["retryAfter"] <= settings.rate_limit_window_seconds
    assert await Redemption.filter(member_id=member.id).count() == 2


async def test_the_count_is_shared_by_every_process(app: Starlette, redis: Redis) -> None:
    # given: two schemas, as two server processes would build them, on one Redis
    first_process = _limited(app, rate_limit_per_member=2)
    second_process = _limited(app, rate_limit_per_member=2)
    assert schema_for(first_process) is not schema_for(second_process)
    member = await create_member()
    await credit_points(member=member, points=300)
    reward = await create_reward(cost_points=100)
    redeem = (
        "mutation R($r: ID!, $k: String!) "
        "{ redeemReward(rewardId: $r, idempotencyKey: $k) { redemption { id } } }"
    )

    # when
    results = [
        await _execute(
            settings,
            redis,
            redeem,
            {"r": to_global_id("Reward", reward.id), "k": key},
            actor_of(member),
        )
        for settings, key in [(first_process, "k1"), (second_process, "k2"), (first_process, "k3")]
    ]

    # then
    assert [r.errors is None for r in results] == [True, True, False]
    assert results[2].errors[0].extensions["code"] == "RATE_LIMITED"


async def test_a_device_is_limited(app: Starlette, redis: Redis) -> None:
    # given
    settings = _limited(app, rate_limit_per_device=1)
    await create_earn_rule()
    device = await create_device(channel=Channel.POS)
    member = await create_member()

    def purchase(n: int) -> dict[str, Any]:
        return {
            "key": f"purchase-{n}",
            "input": {
                "memberId": to_global_id("Member", member.id),
                "amount": "10.00",
                "currency": "EUR",
                "externalId": f"receipt-{n}",
                "occurredAt": datetime.now(UTC).isoformat(),
            },
        }

    # when
    first = await _execute(settings, redis, RECORD_PURCHASE, purchase(1), actor_of(device))
    second = await _execute(settings, redis, RECORD_PURCHASE, purchase(2), actor_of(device))

    # then
    assert first.errors is None
    assert first.data["recordPurchase"]["pointsEarned"] == 10
    assert second.errors[0].extensions["code"] == "RATE_LIMITED"


async def test_log_in_is_limited_per_client_address(app: Starlette) -> None:
    # given: an app that allows 2 sign-in attempts per address and window
    application = create_app(_limited(app, rate_limit_sign_in_per_address=2))
    application.state.redis = app.state.redis
    transport = httpx.ASGITransport(app=application, client=("203.0.113.7", 4000))

    # when
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        answers = [(await http.post("/graphql", json={"query": LOG_IN})).json() for _ in range(3)]

    # then
    assert [a["data"] for a in answers[:2]] == [
        {"logIn": {"errors": [{"code": "INVALID_CREDENTIALS"}]}}
    ] * 2
    assert answers[2]["data"] is None
    assert answers[2]["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert answers[2]["errors"][0]["extensions"]["retryAfter"] >= 1


async def test_other_addresses_are_not_affected(app: Starlette) -> None:
    application = create_app(_limited(app, rate_limit_sign_in_per_address=1))
    application.state.redis = app.state.redis

    answers = []
    for address in ("203.0.113.8", "203.0.113.9"):
        transport = httpx.ASGITransport(app=application, client=(address, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            answers.append((await http.post("/graphql", json={"query": LOG_IN})).json())

    assert all(a.get("errors") is None for a in answers)
