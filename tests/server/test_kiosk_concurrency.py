"""Kiosk, till and app redemptions racing each other through a real uvicorn process, on
PostgreSQL: concurrent GraphQL requests over HTTP, each in its own transaction."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gamification.ledger import accounts, points
from gamification.ledger.models import EntryKind, LedgerAccount, LedgerEntry
from gamification.members.models import Member
from gamification.rewards import holds
from gamification.rewards.models import (
    HoldStatus,
    PointsHold,
    Redemption,
    RedemptionToken,
    Reward,
    RewardKind,
)
from gamification.stores.models import Channel, Device, Store
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    create_device,
    create_member,
    create_reward,
    create_store,
    credit_points,
    device_token,
    hold_member_points,
    member_token,
)
from tests.invariants import assert_books_balance
from tests.server.conftest import LiveServer

pytestmark = pytest.mark.postgres

CREATE_REDEMPTION_TOKEN = """
mutation ($points: Int) {
  createRedemptionToken(points: $points) { token errors { code } }
}
"""
REDEEM_REWARD = """
mutation ($rewardId: ID!, $key: String!) {
  redeemReward(rewardId: $rewardId, idempotencyKey: $key) {
    redemption { id points } errors { code }
  }
}
"""
REDEEM_WITH_TOKEN = """
mutation ($token: String!, $key: String!) {
  redeemWithToken(token: $token, idempotencyKey: $key) {
    redemption { id points } errors { code }
  }
}
"""
HOLD_POINTS = """
mutation ($token: String!, $points: Int!, $reference: String!, $key: String!) {
  holdPoints(
    token: $token, points: $points, reference: $reference, ttlSeconds: 300, idempotencyKey: $key
  ) {
    hold { id } errors { code }
  }
}
"""
CAPTURE_HOLD = """
mutation ($holdId: ID!, $points: Int!, $key: String!) {
  captureHold(holdId: $holdId, points: $points, idempotencyKey: $key) {
    hold { status captured } errors { code }
  }
}
"""
RELEASE_HOLD = """
mutation ($holdId: ID!, $key: String!) {
  releaseHold(holdId: $holdId, idempotencyKey: $key) { hold { status } errors { code } }
}
"""

_keys = itertools.count(1)


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=live_server.http_url, limits=limits, timeout=120
    ) as client:
        yield client


async def _mutate(
    http: httpx.AsyncClient, bearer: str, document: str, **variables: Any
) -> dict[str, Any]:
    """The mutation's payload (its only root field). Fails on any GraphQL-level error."""
    response = await http.post(
        "/graphql",
        json={"query": document, "variables": variables},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    assert isinstance(payload, dict)
    return payload


def _codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


def _key() -> str:
    return f"race-{next(_keys)}"


async def _member_with(balance: int) -> Member:
    member = await create_member()
    await credit_points(member=member, points=balance)
    return member


async def _devices(store: Store, channel: Channel, n: int) -> list[Device]:
    return [await create_device(store=store, channel=channel) for _ in range(n)]


async def _tokens(http: httpx.AsyncClient, app_token: str, n: int, amount: int) -> list[str]:
    payloads = [
        await _mutate(http, app_token, CREATE_REDEMPTION_TOKEN, points=amount) for _ in range(n)
    ]
    assert all(p["errors"] == [] for p in payloads)
    return [p["token"] for p in payloads]


async def _summary(member: Member) -> tuple[int, int]:
    summary = await points.summary(member.id)
    return summary.balance, summary.held


async def assert_never_negative(member: Member) -> None:
    """Replays the member's hash chain: neither the balance nor the available points ever went
    below zero at any entry."""
    account = await LedgerAccount.get(code=accounts.member_account_code(member.id))
    balance = held = 0
    for entry in await LedgerEntry.filter(account_id=account.id).order_by("seq"):
        balance += entry.points
        held += entry.held_change
        assert balance >= 0, entry.id
        assert 0 <= held <= balance, entry.id


async def test_200_concurrent_app_kiosk_and_till_redemptions_on_a_balance_for_k(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    # given: 370 points, which cover 37 spends of 10, and 200 attempts from three channels
    member = await _member_with(370)
    app_token = member_token(member, settings)
    coffee = await Reward.create(name="Coffee", kind=RewardKind.PRODUCT, cost_points=10)
    store = await create_store()
    kiosks = [device_token(d, settings) for d in await _devices(store, Channel.KIOSK, 5)]
    tills = [device_token(d, settings) for d in await _devices(store, Channel.POS, 5)]
    kiosk_codes = await _tokens(http, app_token, 70, amount=10)
    till_codes = await _tokens(http, app_token, 60, amount=10)

    def _outcome(payload: dict[str, Any]) -> bool:
        assert _codes(payload) in ([], ["INSUFFICIENT_POINTS"]), payload
        return not payload["errors"]

    async def in_the_app() -> bool:
        payload = await _mutate(
            http,
            app_token,
            REDEEM_REWARD,
            rewardId=to_global_id("Reward", coffee.id),
            key=_key(),
        )
        return _outcome(payload)

    async def at_a_kiosk(i: int, code: str) -> bool:
        payload = await _mutate(http, kiosks[i % 5], REDEEM_WITH_TOKEN, token=code, key=_key())
        return _outcome(payload)

    async def at_a_till(i: int, code: str) -> bool:
        till = tills[i % 5]
        held = await _mutate(
            http, till, HOLD_POINTS, token=code, points=10, reference=f"sale-{i}", key=_key()
        )
        if not _outcome(held):
            return False
        captured = await _mutate(
            http, till, CAPTURE_HOLD, holdId=held["hold"]["id"], points=10, key=_key()
        )
        assert captured["errors"] == [], captured  # a hold, once placed, can be captured
        return True

    attempts = [in_the_app() for _ in range(70)]
    attempts += [at_a_kiosk(i, code) for i, code in enumerate(kiosk_codes)]
    attempts += [at_a_till(i, code) for i, code in enumerate(till_codes)]

    # when
    outcomes = await asyncio.gather(*attempts)

    # then
    assert len(outcomes) == 200
    assert sum(outcomes) == 37
    summary = await points.summary(member.id)
    assert (summary.balance, summary.held) == (0, 0)
    spent = await Redemption.filter(member_id=member.id).count()
    captured = await PointsHold.filter(status=HoldStatus.CAPTURED).count()
    assert spent + captured == 37
    assert await PointsHold.filter(status=HoldStatus.ACTIVE).count() == 0
    await assert_never_negative(member)
    await assert_books_balance()


async def test_one_qr_code_presented_at_10_kiosks_at_once_redeems_once(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    # given
    member = await _member_with(500)
    (code,) = await _tokens(http, member_token(member, settings), 1, amount=100)
    kiosks = await _devices(await create_store(), Channel.KIOSK, 10)

    # when
    payloads = await asyncio.gather(
        *(
            _mutate(http, device_token(k, settings), REDEEM_WITH_TOKEN, token=code, key=_key())
            for k in kiosks
        )
    )

    # then
    outcomes = Counter(tuple(_codes(p)) for p in payloads)
    assert outcomes == {(): 1, ("TOKEN_USED",): 9}
    assert await Redemption.all().count() == 1
    assert (await RedemptionToken.get()).used_at is not None
    assert (await points.summary(member.id)).balance == 400
    await assert_never_negative(member)
    await assert_books_balance()


async def test_a_hold_captured_and_released_at_once_has_one_outcome(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    # given: a hold, and five tills of its store that each try to capture or release it
    member = await _member_with(500)
    store = await create_store()
    tills = await _devices(store, Channel.POS, 10)
    hold = await hold_member_points(member=member, device=tills[0], points=200)
    hold_id = to_global_id("PointsHold", hold.id)

    # when
    captures = [
        _mutate(
            http, device_token(t, settings), CAPTURE_HOLD, holdId=hold_id, points=150, key=_key()
        )
        for t in tills[:5]
    ]
    releases = [
        _mutate(http, device_token(t, settings), RELEASE_HOLD, holdId=hold_id, key=_key())
        for t in tills[5:]
    ]
    payloads = await asyncio.gather(*captures, *releases)

    # then: one request settled it, the others were told it is no longer active
    outcomes = Counter(tuple(_codes(p)) for p in payloads)
    assert outcomes == {(): 1, ("HOLD_NOT_ACTIVE",): 9}
    settled = await PointsHold.get(id=hold.id)
    winner = next(p for p in payloads if not p["errors"])
    assert winner["hold"]["status"] == settled.status.value
    entries = Counter(
        e.kind for e in await LedgerEntry.filter(reference_type="hold", reference_id=str(hold.id))
    )
    if settled.status is HoldStatus.CAPTURED:
        assert entries == {EntryKind.HOLD: 1, EntryKind.CAPTURE: 1, EntryKind.RELEASE: 1}
        assert await _summary(member) == (350, 0)
    else:
        assert settled.status is HoldStatus.RELEASED
        assert entries == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
        assert await _summary(member) == (500, 0)
    await assert_never_negative(member)
    await assert_books_balance()


async def test_holds_captured_as_they_expire_have_one_outcome_each(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    # given: ten members' holds, each about to be captured while the expiry runs for the
    # moment they expire
    store = await create_store()
    till = (await _devices(store, Channel.POS, 1))[0]
    bearer = device_token(till, settings)
    members = [await _member_with(500) for _ in range(10)]
    held = [await hold_member_points(member=m, device=till, points=200) for m in members]
    deadline = max(h.expires_at for h in held)

    # when: every hold is captured over HTTP while three expiry runs sweep them in this process
    captures, sweeps = await asyncio.gather(
        asyncio.gather(
            *(
                _mutate(
                    http,
                    bearer,
                    CAPTURE_HOLD,
                    holdId=to_global_id("PointsHold", h.id),
                    points=120,
                    key=_key(),
                )
                for h in held
            )
        ),
        asyncio.gather(*(holds.expire_holds(now=deadline) for _ in range(3))),
    )

    # then: each hold was captured or expired, never both, and nothing was settled twice
    assert all(_codes(c) in ([], ["HOLD_NOT_ACTIVE"]) for c in captures)
    assert sum(not c["errors"] for c in captures) + sum(sweeps) == 10
    for member, hold in zip(members, held, strict=True):
        settled = await PointsHold.get(id=hold.id)
        kinds = Counter(
            e.kind
            for e in await LedgerEntry.filter(reference_type="hold", reference_id=str(hold.id))
        )
        if settled.status is HoldStatus.CAPTURED:
            assert kinds == {EntryKind.HOLD: 1, EntryKind.CAPTURE: 1, EntryKind.RELEASE: 1}
            assert await _summary(member) == (380, 0)
        else:
            assert settled.status is HoldStatus.EXPIRED
            assert kinds == {EntryKind.HOLD: 1, EntryKind.RELEASE: 1}
            assert await _summary(member) == (500, 0)
        await assert_never_negative(member)
    await assert_books_balance()


async def test_50_members_racing_for_a_reward_with_stock_5_get_exactly_5(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    # given: 50 members who can all afford it, and 5 in stock
    reward = await create_reward(cost_points=100, stock=5)
    racers = [await _member_with(100) for _ in range(50)]

    # when: they all press "redeem" in the app at once
    answers = await asyncio.gather(
        *(
            _mutate(
                http,
                member_token(member, settings),
                REDEEM_REWARD,
                rewardId=to_global_id("Reward", reward.id),
                key=f"race-{member.id}",
            )
            for member in racers
        )
    )

    # then
    codes = Counter("OK" if a["redemption"] else _codes(a)[0] for a in answers)
    assert codes == {"OK": 5, "OUT_OF_STOCK": 45}
    assert await Redemption.filter(reward_id=reward.id).count() == 5
    assert (await Reward.get(id=reward.id)).stock == 0
    await assert_books_balance()
