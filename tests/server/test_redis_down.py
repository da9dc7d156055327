"""Redis stopped under load: earning and spending go on; the boards answer UNAVAILABLE; a
rebuild afterwards makes them equal the ledger again."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from gamification.challenges.models import GoalType
from gamification.events.models import EventKind
from gamification.leaderboards import keys, reads, reconcile
from gamification.ledger import points
from gamification.members.models import Member
from gamification.rewards.models import Redemption
from gamification.stores.models import Channel
from schema.context import Context
from schema.relay import to_global_id
from server.redis import create_redis
from server.settings import Settings
from tests.factories import (
    actor_of,
    create_challenge,
    create_device,
    create_earn_rule,
    create_member,
    create_reward,
    credit_points,
    schema_for,
)
from tests.invariants import assert_books_balance

RECORD_PURCHASE = """
mutation Record($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) { pointsEarned errors { code } }
}
"""
REDEEM = """
mutation Redeem($rewardId: ID!, $key: String!) {
  redeemReward(rewardId: $rewardId, idempotencyKey: $key) { redemption { id } errors { code } }
}
"""
BOARD = "{ leaderboard { total entries { score } } }"


def _dead_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


async def test_earning_and_spending_go_on_without_redis(
    app: Starlette, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # given: settings that point at a Redis that is not running
    settings: Settings = app.state.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{_dead_port()}/0"}
    )
    dead = create_redis(settings)
    schema = schema_for(settings)
    await create_earn_rule()
    till = await create_device(channel=Channel.POS)
    shoppers = [await create_member() for _ in range(10)]
    spender = await create_member()
    await credit_points(member=spender, points=1000)
    reward = await create_reward(cost_points=100)
    challenge = await create_challenge(
        goal_type=GoalType.SUM, target="100", event_kind=EventKind.PURCHASE_RECORDED
    )

    async def run(query: str, variables: dict[str, Any], actor: Any) -> Any:
        context = Context(settings=settings, redis=dead, actor=actor)
        return await schema.execute(query, variable_values=variables, context_value=context)

    def purchase(member: Member, n: int) -> dict[str, Any]:
        return {
            "key": f"down-{member.id}-{n}",
            "input": {
                "memberId": to_global_id("Member", member.id),
                "amount": "10.00",
                "currency": "EUR",
                "externalId": f"down-{member.id}-{n}",
                "occurredAt": datetime.now(UTC).isoformat(),
            },
        }

    # when: 30 purchases and 5 redemptions at once
    with caplog.at_level(logging.WARNING):
        results = await asyncio.gather(
            *(
                run(RECORD_PURCHASE, purchase(m, n), actor_of(till))
                for m in shoppers
                for n in range(3)
            ),
            *(
                run(
                    REDEEM,
                    {"rewardId": to_global_id("Reward", reward.id), "key": f"r{n}"},
                    actor_of(spender),
                )
                for n in range(5)
            ),
        )
        board = await run(BOARD, {}, actor_of(spender))

    # then: every write went through
    assert [r.errors for r in results] == [None] * 35
    assert all(r.data["recordPurchase"]["pointsEarned"] == 10 for r in results[:30])
    assert all(r.data["redeemReward"]["redemption"] for r in results[30:])
    assert await Redemption.filter(member_id=spender.id).count() == 5
    assert (await points.summary(spender.id)).balance == 500
    await assert_books_balance()
    # ... the parts that need Redis say so, with a typed error
    assert board.data == {"leaderboard": None}
    assert board.errors[0].extensions["code"] == "UNAVAILABLE"
    assert "rate limit of recordPurchase not checked" in caplog.text
    await dead.aclose()

    # when: Redis is back and the operator rebuilds the boards
    await reconcile.rebuild(redis)

    # then: the boards equal the ledger exactly
    assert (await reconcile.check(redis)).clean
    view = await reads.open_board(redis, "points", keys.Period.ALL_TIME, member_id=None)
    total, standings = await view.page(offset=0, limit=50)
    assert total == 11  # the shoppers and the spender (their bonus counts as earned)
    assert sorted(s.points for s in standings) == [30] * 10 + [1000]
    # ... and the challenge progress recorded meanwhile is on its board
    view = await reads.open_board(
        redis,
        keys.challenge_board(challenge.id),
        keys.Period.ALL_TIME,
        member_id=None,
    )
    total, standings = await view.page(offset=0, limit=50)
    assert (total, [s.points for s in standings]) == (10, [30] * 10)
