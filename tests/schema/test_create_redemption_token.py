from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
from starlette.applications import Starlette

from channels.tokens import read_redemption_token
from gamification.models import Channel, RedemptionToken, Reward, RewardKind, Role
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import create_device, create_member, execute

CREATE_REDEMPTION_TOKEN = """
mutation CreateRedemptionToken($rewardId: ID, $points: Int) {
  createRedemptionToken(rewardId: $rewardId, points: $points) {
    token
    qrCode
    expiresAt
    errors { code field message }
  }
}
"""


async def _reward(**overrides: Any) -> Reward:
    values: dict[str, Any] = {"name": "Tote bag", "kind": RewardKind.PRODUCT, "cost_points": 100}
    return await Reward.create(**{**values, **overrides})


async def test_a_member_gets_a_token_and_its_qr_code_for_a_reward(
    app: Starlette, settings: Settings
) -> None:
    # given
    member = await create_member()
    reward = await _reward()

    # when
    result = await execute(
        app, CREATE_REDEMPTION_TOKEN, {"rewardId": to_global_id("Reward", reward.id)}, as_=member
    )

    # then
    assert result.errors is None
    payload = result.data["createRedemptionToken"]
    assert payload["errors"] == []
    claims = read_redemption_token(payload["token"], settings)
    assert (claims.member_id, claims.reward_id, claims.points) == (member.id, reward.id, None)
    header, _, body = payload["qrCode"].partition(",")
    assert header.startswith("data:image/svg+xml")
    assert ElementTree.fromstring(unquote(body)).tag.endswith("svg")
    expires_at = datetime.fromisoformat(payload["expiresAt"])
    ttl = timedelta(seconds=settings.redemption_token_ttl_seconds)
    assert datetime.now(UTC) < expires_at <= datetime.now(UTC) + ttl
    row = await RedemptionToken.get(id=claims.token_id)
    assert (row.used_at, row.expires_at) == (None, expires_at)


async def test_a_member_gets_a_token_for_an_amount_of_points(
    app: Starlette, settings: Settings
) -> None:
    member = await create_member()

    result = await execute(app, CREATE_REDEMPTION_TOKEN, {"points": 300}, as_=member)

    payload = result.data["createRedemptionToken"]
    assert payload["errors"] == []
    assert read_redemption_token(payload["token"], settings).points == 300


async def test_a_device_cannot_create_a_token(app: Starlette) -> None:
    kiosk = await create_device(channel=Channel.KIOSK)

    result = await execute(app, CREATE_REDEMPTION_TOKEN, {"points": 300}, as_=kiosk)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await RedemptionToken.all().count() == 0


async def test_anonymous_callers_cannot_create_a_token(app: Starlette) -> None:
    result = await execute(app, CREATE_REDEMPTION_TOKEN, {"points": 300})

    assert [e.extensions["code"] for e in result.errors] == ["UNAUTHENTICATED"]
    assert await RedemptionToken.all().count() == 0


async def test_staff_get_tokens_for_themselves(app: Starlette, settings: Settings) -> None:
    staff = await create_member(role=Role.STAFF)

    result = await execute(app, CREATE_REDEMPTION_TOKEN, {"points": 10}, as_=staff)

    token = result.data["createRedemptionToken"]["token"]
    assert read_redemption_token(token, settings).member_id == staff.id


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({}, "INVALID_INPUT", "rewardId"),
        ({"points": 10, "rewardId": "reward"}, "INVALID_INPUT", "rewardId"),
        ({"points": 0}, "INVALID_AMOUNT", "points"),
        ({"points": -10}, "INVALID_AMOUNT", "points"),
        ({"rewardId": to_global_id("Reward", 424_242)}, "REWARD_NOT_FOUND", "rewardId"),
        ({"rewardId": to_global_id("Member", 1)}, "INVALID_INPUT", "rewardId"),
        ({"rewardId": "not an id"}, "INVALID_INPUT", "rewardId"),
    ],
    ids=["neither", "both", "zero", "negative", "unknown", "not-a-reward", "garbage"],
)
async def test_a_malformed_request_is_refused(
    app: Starlette, variables: dict[str, object], code: str, field: str
) -> None:
    member = await create_member()
    if variables.get("rewardId") == "reward":
        variables = {**variables, "rewardId": to_global_id("Reward", (await _reward()).id)}

    result = await execute(app, CREATE_REDEMPTION_TOKEN, variables, as_=member)

    payload = result.data["createRedemptionToken"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert payload["token"] is None
    assert await RedemptionToken.all().count() == 0


async def test_a_token_for_a_reward_no_longer_offered_is_refused(app: Starlette) -> None:
    member = await create_member()
    reward = await _reward(active=False)

    result = await execute(
        app, CREATE_REDEMPTION_TOKEN, {"rewardId": to_global_id("Reward", reward.id)}, as_=member
    )

    assert [e["code"] for e in result.data["createRedemptionToken"]["errors"]] == [
        "REWARD_INACTIVE"
    ]
    assert await RedemptionToken.all().count() == 0
