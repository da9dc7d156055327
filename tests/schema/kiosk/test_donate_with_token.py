"""`donateWithToken`: a kiosk donates with the member's donation code (made in the app with
`createRedemptionToken(causeId, points)`). The code is the member's consent: used once, for
that cause and amount only, at a kiosk only. Every refusal changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.causes.models import Cause, Donation
from gamification.ledger import points
from gamification.members.models import Member
from gamification.rewards.models import RedemptionToken
from gamification.stores.models import Channel
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    create_cause,
    create_device,
    create_member,
    create_reward,
    credit_points,
    execute,
    issue_redemption_token,
)
from tests.invariants import assert_books_balance

DONATE_WITH_TOKEN = """
mutation Donate($token: String!, $key: String!) {
  donateWithToken(token: $token, idempotencyKey: $key) {
    donation { id points channel cause { id } }
    balance
    replayed
    errors { code field }
  }
}
"""

CREATE_TOKEN = """
mutation Code($causeId: ID, $rewardId: ID, $points: Int) {
  createRedemptionToken(causeId: $causeId, rewardId: $rewardId, points: $points) {
    token
    errors { code field }
  }
}
"""

REDEEM_WITH_TOKEN = """
mutation Redeem($token: String!, $key: String!) {
  redeemWithToken(token: $token, idempotencyKey: $key) {
    redemption { id }
    errors { code }
  }
}
"""


async def _member_with(balance: int) -> Member:
    member = await create_member()
    await credit_points(member=member, points=balance)
    return member


def _codes(result: Any, name: str = "donateWithToken") -> list[str]:
    assert result.errors is None, result.errors
    return [e["code"] for e in result.data[name]["errors"]]


async def _untouched(member: Member, balance: int) -> None:
    assert (await points.summary(member.id)).balance == balance
    assert await Donation.all().count() == 0
    assert await Cause.filter(raised_member_points__gt=0).count() == 0


async def test_a_kiosk_donates_with_the_members_code(app: Starlette) -> None:
    # given: the member makes a donation code in the app
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    kiosk = await create_device(channel=Channel.KIOSK)
    made = await execute(
        app, CREATE_TOKEN, {"causeId": to_global_id("Cause", cause.id), "points": 30}, as_=member
    )
    token = made.data["createRedemptionToken"]["token"]

    # when: the kiosk scans it
    result = await execute(app, DONATE_WITH_TOKEN, {"token": token, "key": "d-1"}, as_=kiosk)

    # then
    payload = result.data["donateWithToken"]
    assert payload["errors"] == []
    assert payload["donation"]["points"] == 30
    assert payload["donation"]["channel"] == "KIOSK"
    assert payload["donation"]["cause"]["id"] == to_global_id("Cause", cause.id)
    assert payload["balance"] == 70
    assert (await points.summary(member.id)).balance == 70
    await assert_books_balance()


async def test_a_retry_with_the_same_key_replays_and_another_key_finds_the_code_used(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(
        member=member, settings=settings, points=30, cause_id=cause.id
    )
    first = await execute(app, DONATE_WITH_TOKEN, {"token": token, "key": "d-1"}, as_=kiosk)

    again = await execute(app, DONATE_WITH_TOKEN, {"token": token, "key": "d-1"}, as_=kiosk)
    other_key = await execute(app, DONATE_WITH_TOKEN, {"token": token, "key": "d-2"}, as_=kiosk)

    assert again.data["donateWithToken"]["replayed"] is True
    assert again.data["donateWithToken"]["donation"] == first.data["donateWithToken"]["donation"]
    assert again.data["donateWithToken"]["balance"] == 70
    assert _codes(other_key) == ["TOKEN_USED"]
    assert await Donation.all().count() == 1
    assert (await points.summary(member.id)).balance == 70


async def test_the_same_key_with_another_code_is_refused(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    kiosk = await create_device(channel=Channel.KIOSK)
    first = await issue_redemption_token(
        member=member, settings=settings, points=30, cause_id=cause.id
    )
    second = await issue_redemption_token(
        member=member, settings=settings, points=20, cause_id=cause.id
    )
    await execute(app, DONATE_WITH_TOKEN, {"token": first, "key": "d-1"}, as_=kiosk)

    result = await execute(app, DONATE_WITH_TOKEN, {"token": second, "key": "d-1"}, as_=kiosk)

    assert _codes(result) == ["IDEMPOTENCY_KEY_REUSED"]
    assert (await points.summary(member.id)).balance == 70


async def test_a_donation_code_redeems_nothing_and_stays_usable(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(
        member=member, settings=settings, points=30, cause_id=cause.id
    )

    refused = await execute(app, REDEEM_WITH_TOKEN, {"token": token, "key": "r-1"}, as_=kiosk)

    assert _codes(refused, "redeemWithToken") == ["TOKEN_WRONG_PURPOSE"]
    await _untouched(member, 100)
    donated = await execute(app, DONATE_WITH_TOKEN, {"token": token, "key": "d-1"}, as_=kiosk)
    assert donated.data["donateWithToken"]["balance"] == 70


async def test_a_redemption_code_donates_nothing(app: Starlette, settings: Settings) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    reward = await create_reward(cost_points=100)
    for_reward = await issue_redemption_token(member=member, settings=settings, reward_id=reward.id)
    for_points = await issue_redemption_token(member=member, settings=settings, points=50)

    results = [
        await execute(app, DONATE_WITH_TOKEN, {"token": token, "key": f"d-{i}"}, as_=kiosk)
        for i, token in enumerate((for_reward, for_points))
    ]

    assert [_codes(r) for r in results] == [["TOKEN_WRONG_PURPOSE"], ["TOKEN_WRONG_PURPOSE"]]
    await _untouched(member, 500)
    assert await RedemptionToken.filter(used_at__isnull=False).count() == 0


@pytest.mark.parametrize(
    ("channel", "balance", "code"),
    [
        pytest.param(Channel.POS, 100, "CHANNEL_MISMATCH", id="at a till: only kiosks take codes"),
        pytest.param(Channel.WEB, 100, "CHANNEL_MISMATCH", id="by a web shop: only kiosks"),
        pytest.param(Channel.KIOSK, 20, "INSUFFICIENT_POINTS", id="too few points"),
    ],
)
async def test_a_refused_donation_leaves_the_code_usable(
    app: Starlette, settings: Settings, channel: Channel, balance: int, code: str
) -> None:
    member = await _member_with(balance)
    cause = await create_cause(points_per_unit=10)
    device = await create_device(channel=channel)
    token = await issue_redemption_token(
        member=member, settings=settings, points=30, cause_id=cause.id
    )

    result = await execute(app, DONATE_WITH_TOKEN, {"token": token, "key": "d-1"}, as_=device)

    assert _codes(result) == [code]
    await _untouched(member, balance)
    assert await RedemptionToken.filter(used_at__isnull=True).count() == 1


async def test_tampered_and_expired_codes_are_refused(app: Starlette, settings: Settings) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10, starts_at=datetime.now(UTC) - timedelta(days=1))
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(
        member=member, settings=settings, points=30, cause_id=cause.id
    )
    expired = await issue_redemption_token(
        member=member,
        settings=settings,
        points=30,
        cause_id=cause.id,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    version, row_id, expiry, signature = token.split(".")
    tampered = f"{version}.{row_id}.{expiry}.{signature[::-1]}"

    results = [
        await execute(app, DONATE_WITH_TOKEN, {"token": t, "key": f"d-{i}"}, as_=kiosk)
        for i, t in enumerate((tampered, expired))
    ]

    assert [_codes(r) for r in results] == [["TOKEN_INVALID"], ["TOKEN_EXPIRED"]]
    await _untouched(member, 100)


async def test_a_donation_code_names_points_and_an_open_cause(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    closed = await create_cause(
        points_per_unit=10, ends_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    await Cause.filter(id=closed.id).update(ends_at=datetime.now(UTC) - timedelta(seconds=1))

    no_points = await execute(
        app, CREATE_TOKEN, {"causeId": to_global_id("Cause", cause.id)}, as_=member
    )
    to_closed = await execute(
        app, CREATE_TOKEN, {"causeId": to_global_id("Cause", closed.id), "points": 30}, as_=member
    )
    unknown = await execute(
        app, CREATE_TOKEN, {"causeId": to_global_id("Cause", 999_999), "points": 30}, as_=member
    )

    assert _codes(no_points, "createRedemptionToken") == ["INVALID_INPUT"]
    assert _codes(to_closed, "createRedemptionToken") == ["CAUSE_CLOSED"]
    assert _codes(unknown, "createRedemptionToken") == ["CAUSE_NOT_FOUND"]
    assert await RedemptionToken.all().count() == 0
