"""PostgreSQL out of connections under 200 concurrent spends (redeem, donate, capture), through a
real server process whose database role may open only a few connections: every answer is a
success, a typed domain error, or UNAVAILABLE with `retryable: true` (never `Unexpected error.`);
a retry of every UNAVAILABLE with the same idempotency key tells the truth (the effect happened
exactly once, or happens now, once); the ledger's invariants hold afterwards."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from starlette.applications import Starlette
from tortoise import connections

from gamification.causes.models import Donation
from gamification.members.models import Member
from gamification.rewards.models import HoldStatus, PointsHold, Redemption
from gamification.stores.models import Channel
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    create_cause,
    create_device,
    create_member,
    create_reward,
    credit_points,
    device_token,
    hold_member_points,
    member_token,
)
from tests.invariants import assert_books_balance
from tests.server.graphql_ws import ProgramServer, server_with_program_account

pytestmark = pytest.mark.postgres

ROLE = "loyalty_few_connections"
ROLE_CONNECTION_LIMIT = 4

REDEEM = """
mutation ($rewardId: ID!, $key: String!) {
  redeemReward(rewardId: $rewardId, idempotencyKey: $key) {
    redemption { id points } replayed errors { code }
  }
}
"""
DONATE = """
mutation ($causeId: ID!, $key: String!) {
  donatePoints(causeId: $causeId, points: 20, idempotencyKey: $key) {
    donation { id points } balance replayed errors { code }
  }
}
"""
CAPTURE = """
mutation ($holdId: ID!, $key: String!) {
  captureHold(holdId: $holdId, points: 30, idempotencyKey: $key) {
    hold { id status captured } replayed errors { code }
  }
}
"""


@dataclass(frozen=True)
class Spend:
    kind: str  # redeem, donate, capture
    bearer: str
    document: str
    variables: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    outcome: str  # "ok", "refused:<CODE>" or "unavailable"
    replayed: bool


def _limited_url(settings: Settings) -> str:
    parts = urlsplit(settings.database_url)
    netloc = f"{ROLE}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, query=""))


@pytest.fixture(scope="module")
async def starved_server(
    app: Starlette, settings: Settings, service_env: dict[str, str]
) -> AsyncIterator[ProgramServer]:
    """A server whose role may hold ROLE_CONNECTION_LIMIT connections, with a pool that tries
    for more (so PostgreSQL refuses them) and waits briefly for a free one."""
    db = connections.get("default")
    await db.execute_script(f'DROP ROLE IF EXISTS "{ROLE}"')
    # A member of the owner role: the tables' privileges, none of a superuser's exemptions.
    await db.execute_script(
        f'CREATE ROLE "{ROLE}" LOGIN CONNECTION LIMIT {ROLE_CONNECTION_LIMIT} IN ROLE "postgres"'
    )
    env = {
        **service_env,
        "LOYALTY_DATABASE_URL": _limited_url(settings),
        "LOYALTY_DATABASE_POOL_TIMEOUT_SECONDS": "0.5",
    }
    try:
        async with server_with_program_account(
            {"LOYALTY_DATABASE_POOL_MAX": "40", **env}
        ) as started:
            yield started
    finally:
        await db.execute_script(f'DROP ROLE IF EXISTS "{ROLE}"')


async def _answer(http: httpx.AsyncClient, spend: Spend) -> Answer:
    response = await http.post(
        "/graphql",
        json={"query": spend.document, "variables": spend.variables},
        headers={"Authorization": f"Bearer {spend.bearer}"},
    )
    body = response.json()
    assert "Unexpected error." not in response.text, body
    if body.get("errors"):
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "UNAVAILABLE", body
        assert error["extensions"]["retryable"] is True, body
        return Answer("unavailable", False)
    assert response.status_code == 200, body
    (payload,) = body["data"].values()
    if payload["errors"]:
        return Answer(f"refused:{payload['errors'][0]['code']}", payload["replayed"])
    return Answer("ok", payload["replayed"])


async def _spends(settings: Settings) -> list[Spend]:
    reward = await create_reward(cost_points=10)
    cause = await create_cause(points_per_unit=10)
    till = await create_device(channel=Channel.POS)
    till_bearer = device_token(till, settings)
    spends: list[Spend] = []
    members: list[Member] = []
    for _ in range(70):
        member = await create_member()
        # 50 points: room for some spends, refusals (INSUFFICIENT_POINTS) for others.
        await credit_points(member=member, points=50)
        members.append(member)
    for n in range(70):
        member = members[n]
        spends.append(
            Spend(
                "redeem",
                member_token(member, settings),
                REDEEM,
                {"rewardId": to_global_id("Reward", reward.id), "key": f"redeem-{n}"},
            )
        )
        spends.append(
            Spend(
                "donate",
                member_token(member, settings),
                DONATE,
                {"causeId": to_global_id("Cause", cause.id), "key": f"donate-{n}"},
            )
        )
    for n in range(60):
        member = await create_member()
        await credit_points(member=member, points=100)
        hold = await hold_member_points(member=member, device=till, points=40)
        spends.append(
            Spend(
                "capture",
                till_bearer,
                CAPTURE,
                {"holdId": to_global_id("PointsHold", hold.id), "key": f"capture-{n}"},
            )
        )
    return spends


async def test_out_of_connections_every_answer_is_true_and_retries_tell_the_truth(
    starved_server: ProgramServer, settings: Settings
) -> None:
    # given: 200 spends, each with its own idempotency key
    await starved_server.pin_program_account()
    spends = await _spends(settings)
    assert len(spends) == 200
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=starved_server.server.http_url, limits=limits, timeout=60
    ) as http:
        # when: all at once, against a database that refuses most connections
        first = await asyncio.gather(*(_answer(http, spend) for spend in spends))

        # then: only true answers, and the fault did happen
        outcomes = Counter(a.outcome for a in first)
        assert outcomes["unavailable"] > 0, outcomes
        assert set(outcomes) <= {
            "ok",
            "unavailable",
            "refused:INSUFFICIENT_POINTS",
        }, outcomes

        # when: every UNAVAILABLE is retried with its key until the answer is not
        final = list(first)
        for i, answer in enumerate(first):
            while final[i].outcome == "unavailable":
                final[i] = await _answer(http, spends[i])
                if final[i].outcome == "unavailable":
                    await asyncio.sleep(0.05)
            assert answer.outcome != "unavailable" or final[i].outcome != "unavailable"

    # then: the database holds exactly the effects the final answers report
    succeeded = Counter(s.kind for s, a in zip(spends, final, strict=True) if a.outcome == "ok")
    assert await Redemption.all().count() == succeeded["redeem"]
    assert await Donation.all().count() == succeeded["donate"]
    captured = await PointsHold.filter(status=HoldStatus.CAPTURED).count()
    assert captured == succeeded["capture"] == 60
    await assert_books_balance()
