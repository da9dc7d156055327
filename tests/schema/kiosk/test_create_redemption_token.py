from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import httpx
import pytest
from starlette.applications import Starlette

from channels import tokens
from channels.tokens import read_redemption_token
from gamification.members.models import Role
from gamification.rewards.models import RedemptionToken, Reward, RewardKind
from gamification.stores.models import Channel
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import bearer, create_device, create_member, execute

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

CREATE_WITHOUT_QR_CODE = """
mutation CreateRedemptionToken($points: Int) {
  createRedemptionToken(points: $points) { token expiresAt errors { code } }
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
    assert len(payload["token"]) <= 60
    claims = read_redemption_token(payload["token"], settings)
    row = await RedemptionToken.get(id=claims.token_id)
    assert (row.member_id, row.reward_id, row.points) == (member.id, reward.id, None)  # type: ignore[attr-defined]
    header, _, body = payload["qrCode"].partition(",")
    assert header.startswith("data:image/svg+xml")
    svg = ElementTree.fromstring(unquote(body))
    assert svg.tag.endswith("svg")
    assert int(svg.attrib["width"]) <= (33 + 2 * 4) * 4  # QR version 4 at most, 4 px a module
    assert payload["qrCode"] == tokens.qr_data_url(payload["token"])
    expires_at = datetime.fromisoformat(payload["expiresAt"])
    ttl = timedelta(seconds=settings.redemption_token_ttl_seconds)
    assert datetime.now(UTC) < expires_at <= datetime.now(UTC) + ttl
    assert (row.used_at, row.expires_at) == (None, expires_at)


async def test_a_member_gets_a_token_for_an_amount_of_points(
    app: Starlette, settings: Settings
) -> None:
    member = await create_member()

    result = await execute(app, CREATE_REDEMPTION_TOKEN, {"points": 300}, as_=member)

    payload = result.data["createRedemptionToken"]
    assert payload["errors"] == []
    claims = read_redemption_token(payload["token"], settings)
    assert (await RedemptionToken.get(id=claims.token_id)).points == 300


async def test_the_qr_code_is_made_only_when_selected(
    app: Starlette, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a count of the QR codes drawn
    member = await create_member()
    drawn: list[str] = []
    draw = tokens.qr_data_url

    def counting(text: str) -> str:
        drawn.append(text)
        return draw(text)

    monkeypatch.setattr(tokens, "qr_data_url", counting)

    # when: one request without qrCode, then one with it
    without = await execute(app, CREATE_WITHOUT_QR_CODE, {"points": 30}, as_=member)
    drawn_without = list(drawn)
    with_qr = await execute(app, CREATE_REDEMPTION_TOKEN, {"points": 30}, as_=member)

    # then
    assert without.errors is None
    assert without.data["createRedemptionToken"]["token"]
    assert drawn_without == []
    assert drawn == [with_qr.data["createRedemptionToken"]["token"]]
    assert with_qr.data["createRedemptionToken"]["qrCode"].startswith("data:image/svg+xml")


async def test_a_refused_request_draws_no_qr_code(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await create_member()
    drawn: list[str] = []

    def counting(text: str) -> str:
        drawn.append(text)
        return ""

    monkeypatch.setattr(tokens, "qr_data_url", counting)

    result = await execute(app, CREATE_REDEMPTION_TOKEN, {"points": 0}, as_=member)

    assert result.data["createRedemptionToken"]["qrCode"] is None
    assert drawn == []


async def test_a_redemption_token_is_no_bearer_credential(
    app: Starlette, client: httpx.AsyncClient, settings: Settings
) -> None:
    # given: a member's redemption token, presented as if it were their access token
    member = await create_member()
    created = await execute(app, CREATE_WITHOUT_QR_CODE, {"points": 30}, as_=member)
    token = created.data["createRedemptionToken"]["token"]

    # when
    response = await client.post("/graphql", json={"query": "{ me { id } }"}, headers=bearer(token))

    # then
    body = response.json()
    assert not any((body["data"] or {}).values())
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


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
    row = await RedemptionToken.get(id=read_redemption_token(token, settings).token_id)
    assert row.member_id == staff.id  # type: ignore[attr-defined]


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
