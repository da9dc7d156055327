"""At most one pooled database connection per query or mutation (server.request_connection).

Two proofs, on PostgreSQL (SQLite has one connection per process and no pool to count):
- in this process, the pool's acquire and release wrapped and each acquisition charged to the
  HTTP request it served: the home screen and the write mutations, sent at once, never hold two
  connections in one request;
- a real server whose pool holds ONE connection serves the home screen and the write mutations
  at once, every answer a success: a request that needed a second connection while holding the
  first would wait for itself until the pool's bounded wait answered UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from tortoise import connections

from gamification.members.models import Member
from gamification.stores.models import Channel
from schema.persisted import OPERATIONS_DIR
from schema.relay import to_global_id
from server.settings import Settings
from tests.documents import RECORD_PURCHASE, purchase_input
from tests.factories import (
    bearer,
    create_cause,
    create_device,
    create_earn_rule,
    create_member,
    create_reward,
    credit_points,
    device_token,
    member_token,
)
from tests.server.graphql_ws import ProgramServer, server_with_program_account

pytestmark = pytest.mark.postgres

HOME_SCREEN = (OPERATIONS_DIR / "HomeScreen.graphql").read_text()
REDEEM_REWARD = """
mutation ($rewardId: ID!, $key: String!) {
  redeemReward(rewardId: $rewardId, idempotencyKey: $key) {
    redemption { id points } errors { code }
  }
}
"""
DONATE_POINTS = """
mutation ($causeId: ID!, $key: String!) {
  donatePoints(causeId: $causeId, points: 10, idempotencyKey: $key) {
    donation { id points } balance errors { code }
  }
}
"""
CREATE_REDEMPTION_TOKEN = """
mutation ($points: Int) {
  createRedemptionToken(points: $points) { token errors { code } }
}
"""
REDEEM_WITH_TOKEN = """
mutation ($token: String!, $key: String!) {
  redeemWithToken(token: $token, idempotencyKey: $key) {
    redemption { id points } errors { code }
  }
}
"""

_keys = itertools.count()


async def _post(
    http: httpx.AsyncClient, document: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": document, "variables": variables}, headers=bearer(token)
    )
    body: dict[str, Any] = response.json()
    assert response.status_code == 200, body
    assert not body.get("errors"), body
    for payload in body["data"].values():
        assert not (payload or {}).get("errors"), body
    return body


async def _kiosk_pair(http: httpx.AsyncClient, member_bearer: str, kiosk_bearer: str) -> None:
    issued = await _post(http, CREATE_REDEMPTION_TOKEN, {"points": 10}, member_bearer)
    token = issued["data"]["createRedemptionToken"]["token"]
    await _post(http, REDEEM_WITH_TOKEN, {"token": token, "key": f"k{next(_keys)}"}, kiosk_bearer)


async def _home_screen_and_writes(http: httpx.AsyncClient, settings: Settings) -> int:
    """Send the home screen and every write kind at once, several of each; the number sent."""
    members: list[Member] = []
    for _ in range(4):
        member = await create_member()
        await credit_points(member=member, points=1_000)
        members.append(member)
    await create_earn_rule()
    reward = await create_reward(cost_points=10)
    cause = await create_cause(points_per_unit=10)
    till = device_token(await create_device(channel=Channel.POS), settings)
    kiosk = device_token(await create_device(channel=Channel.KIOSK), settings)
    calls: list[Awaitable[Any]] = []
    for member in members:
        own = member_token(member, settings)
        reward_id = to_global_id("Reward", reward.id)
        cause_id = to_global_id("Cause", cause.id)
        for _ in range(3):
            n = next(_keys)
            calls += [
                _post(http, HOME_SCREEN, {}, own),
                _post(
                    http,
                    RECORD_PURCHASE,
                    {"input": purchase_input(member=member, external_id=f"r{n}"), "key": f"p{n}"},
                    till,
                ),
                _post(http, REDEEM_REWARD, {"rewardId": reward_id, "key": f"rr{n}"}, own),
                _post(http, DONATE_POINTS, {"causeId": cause_id, "key": f"d{n}"}, own),
                _kiosk_pair(http, own, kiosk),
            ]
    # Every call finishes before the test looks, so that none outlives the test's tables.
    answers = await asyncio.gather(*calls, return_exceptions=True)
    failures = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not failures, failures[:3]
    return len(calls)


# --- in this process: acquisitions charged to requests ---------------------------------------

_request_number: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "request_number", default=None
)


class ConnectionsPerRequest:
    """How many pooled connections each request held at once, at most."""

    def __init__(self) -> None:
        self.holding: Counter[int] = Counter()
        self.most: Counter[int] = Counter()
        self._holder: dict[int, int] = {}

    def acquired(self, connection: object) -> None:
        request = _request_number.get()
        if request is None:  # the test's own factories, outside any request
            return
        self._holder[id(connection)] = request
        self.holding[request] += 1
        self.most[request] = max(self.most[request], self.holding[request])

    def released(self, connection: object) -> None:
        request = self._holder.pop(id(connection), None)
        if request is not None:
            self.holding[request] -= 1


@contextmanager
def counted_acquisitions(pool: Any) -> Iterator[ConnectionsPerRequest]:
    counts = ConnectionsPerRequest()
    acquire, release = pool.acquire, pool.release

    async def counted_acquire(*args: Any, **kwargs: Any) -> Any:
        connection = await acquire(*args, **kwargs)
        counts.acquired(connection)
        return connection

    async def counted_release(connection: Any, *args: Any, **kwargs: Any) -> Any:
        counts.released(connection)
        return await release(connection, *args, **kwargs)

    pool.acquire, pool.release = counted_acquire, counted_release
    try:
        yield counts
    finally:
        del pool.acquire, pool.release


def numbered_requests(app: Starlette) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    numbers = itertools.count(1)

    async def numbered(scope: Scope, receive: Receive, send: Send) -> None:
        token = _request_number.set(next(numbers))
        try:
            await app(scope, receive, send)
        finally:
            _request_number.reset(token)

    return numbered


@pytest.fixture
async def counting_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=numbered_requests(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_no_request_holds_two_pooled_connections(
    counting_client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: the pool's acquire and release counted per request
    pool = connections.get("default")._pool
    with counted_acquisitions(pool) as counts:
        # when: the home screen and the writes, all at once
        sent = await _home_screen_and_writes(counting_client, settings)

    # then: every request that reached the database held one connection at a time
    assert sent > 0
    assert counts.most, "no request reached the database"
    assert set(counts.most.values()) == {1}, counts.most
    assert sum(counts.holding.values()) == 0, counts.holding


# --- a real server with a pool of one ---------------------------------------------------------


@pytest.fixture(scope="module")
async def server_with_one_connection(
    app: Starlette, service_env: dict[str, str]
) -> AsyncIterator[ProgramServer]:
    # A generous bounded wait: every request queues for the one connection, none needs two.
    env = {
        **service_env,
        "LOYALTY_DATABASE_POOL_MAX": "1",
        "LOYALTY_DATABASE_POOL_TIMEOUT_SECONDS": "30",
    }
    async with server_with_program_account(env) as started:
        yield started


async def test_a_pool_of_one_serves_the_home_screen_and_writes_at_once(
    server_with_one_connection: ProgramServer, settings: Settings
) -> None:
    # given
    await server_with_one_connection.pin_program_account()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=server_with_one_connection.server.http_url, limits=limits, timeout=120
    ) as http:
        # when / then: every answer a success (`_post` checks each)
        assert await _home_screen_and_writes(http, settings) > 0
