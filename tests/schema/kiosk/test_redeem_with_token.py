from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from channels.credentials import issue_member_token
from channels.tokens import read_redemption_token, sign_redemption_token
from gamification.ledger import points
from gamification.ledger.models import IdempotencyKey, LedgerEntry
from gamification.members.models import Member
from gamification.rewards.models import Redemption, RedemptionToken, Reward, RewardKind
from gamification.stores.models import Channel, Device
from schema.relay import to_global_id
from server.settings import Settings
from tests.factories import (
    create_device,
    create_member,
    credit_points,
    execute,
    issue_redemption_token,
)
from tests.invariants import assert_books_balance

REDEEM_WITH_TOKEN = """
mutation RedeemWithToken($token: String!, $key: String!) {
  redeemWithToken(token: $token, idempotencyKey: $key) {
    redemption { id status voucherCode points channel reward { id name } }
    replayed
    errors { code field message }
  }
}
"""


async def _reward(name: str, cost_points: int, stock: int | None = None) -> Reward:
    return await Reward.create(
        name=name, kind=RewardKind.PRODUCT, cost_points=cost_points, stock=stock
    )


async def _member_with(balance: int) -> Member:
    member = await create_member()
    await credit_points(member=member, points=balance)
    return member


async def _redeem(app: Starlette, device: Device | Member, token: str, key: str = "k-1") -> Any:
    return await execute(app, REDEEM_WITH_TOKEN, {"token": token, "key": key}, as_=device)


def _codes(result: Any) -> list[str]:
    payload = result.data["redeemWithToken"]
    assert payload["redemption"] is None
    return [e["code"] for e in payload["errors"]]


async def assert_nothing_changed(member: Member, *, balance: int = 500) -> None:
    assert await Redemption.all().count() == 0
    assert await LedgerEntry.all().count() == 1  # the member's points, credited in the test
    assert await IdempotencyKey.all().count() == 0
    assert await RedemptionToken.filter(used_at__isnull=False).count() == 0
    assert (await points.summary(member.id)).balance == balance
    await assert_books_balance()


async def test_a_kiosk_redeems_the_reward_a_token_names_and_no_other(
    app: Starlette, settings: Settings
) -> None:
    # given: a token for the tote, and a mug the member could afford too
    member = await _member_with(500)
    tote, mug = await _reward("Tote", 100, stock=3), await _reward("Mug", 200, stock=3)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, reward_id=tote.id)

    # when
    result = await _redeem(app, kiosk, token)

    # then
    assert result.errors is None
    payload = result.data["redeemWithToken"]
    assert payload["errors"] == []
    assert payload["replayed"] is False
    redemption = payload["redemption"]
    assert redemption["reward"] == {"id": to_global_id("Reward", tote.id), "name": "Tote"}
    assert (redemption["status"], redemption["points"], redemption["channel"]) == (
        "ISSUED",
        100,
        "KIOSK",
    )
    assert len(redemption["voucherCode"]) == 16
    stored = await Redemption.get()
    assert redemption["id"] == to_global_id("Redemption", stored.id)
    assert (stored.store_id, stored.device_id) == (kiosk.store_id, kiosk.id)  # type: ignore[attr-defined]
    assert ((await Reward.get(id=tote.id)).stock, (await Reward.get(id=mug.id)).stock) == (2, 3)
    assert (await points.summary(member.id)).balance == 400
    await assert_books_balance()


async def test_a_token_for_points_redeems_that_many_points(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=75)

    result = await _redeem(app, kiosk, token)

    redemption = result.data["redeemWithToken"]["redemption"]
    assert (redemption["points"], redemption["reward"]) == (75, None)
    assert (await points.summary(member.id)).balance == 425


async def test_a_retry_with_the_same_key_replays_the_first_answer(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=75)
    first = await _redeem(app, kiosk, token, key="k-1")

    again = await _redeem(app, kiosk, token, key="k-1")

    payload = again.data["redeemWithToken"]
    assert payload["replayed"] is True
    assert payload["redemption"] == first.data["redeemWithToken"]["redemption"]
    assert await Redemption.all().count() == 1
    assert (await points.summary(member.id)).balance == 425


async def test_a_used_token_is_refused(app: Starlette, settings: Settings) -> None:
    member = await _member_with(500)
    kiosk, other = await create_device(channel=Channel.KIOSK), await create_device()
    token = await issue_redemption_token(member=member, settings=settings, points=75)
    await _redeem(app, kiosk, token, key="k-1")

    result = await _redeem(app, other, token, key="k-2")

    assert _codes(result) == ["TOKEN_USED"]
    assert await Redemption.all().count() == 1
    assert (await points.summary(member.id)).balance == 425
    await assert_books_balance()


async def test_a_member_cannot_redeem_a_token_themselves(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(500)
    token = await issue_redemption_token(member=member, settings=settings, points=75)

    result = await _redeem(app, member, token)

    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    await assert_nothing_changed(member)


# The token the device presents, made for the case.
Token = Callable[[Member, Settings], Awaitable[str]]


async def points_token(member: Member, settings: Settings) -> str:
    return await issue_redemption_token(member=member, settings=settings, points=75)


async def expired_token(member: Member, settings: Settings) -> str:
    issued = datetime.now(UTC) - timedelta(seconds=settings.redemption_token_ttl_seconds + 1)
    return await issue_redemption_token(member=member, settings=settings, points=75, now=issued)


async def forged_token(member: Member, settings: Settings) -> str:
    """A genuine token's claims signed with another secret."""
    genuine = await points_token(member, settings)
    other = settings.model_copy(
        update={"jwt_secret": SecretStr("not-the-service-secret-but-32-bytes-long")}
    )
    claims = read_redemption_token(genuine, settings)
    return sign_redemption_token(claims.token_id, claims.expires_at, other)


async def access_token(member: Member, settings: Settings) -> str:
    return issue_member_token(member, settings)


@dataclass(frozen=True)
class Refusal:
    code: str
    token: Token = points_token
    channel: Channel = Channel.KIOSK
    balance: int = 500


_REFUSALS = {
    "an expired token": Refusal("TOKEN_EXPIRED", expired_token),
    "a forged token": Refusal("TOKEN_INVALID", forged_token),
    "an access token": Refusal("TOKEN_INVALID", access_token),
    "at a till: only kiosks redeem tokens": Refusal("CHANNEL_MISMATCH", channel=Channel.POS),
    "by a web shop: only kiosks redeem tokens": Refusal("CHANNEL_MISMATCH", channel=Channel.WEB),
    "too few points, leaving the token usable": Refusal("INSUFFICIENT_POINTS", balance=50),
}


@pytest.mark.parametrize("case", list(_REFUSALS.values()), ids=list(_REFUSALS))
async def test_a_refused_token_changes_nothing(
    app: Starlette, settings: Settings, case: Refusal
) -> None:
    # given
    member = await _member_with(case.balance)
    device = await create_device(channel=case.channel)
    token = await case.token(member, settings)

    # when
    result = await _redeem(app, device, token)

    # then
    assert _codes(result) == [case.code]
    await assert_nothing_changed(member, balance=case.balance)


async def test_a_key_reused_for_another_token_is_refused(
    app: Starlette, settings: Settings
) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    first = await issue_redemption_token(member=member, settings=settings, points=75)
    second = await issue_redemption_token(member=member, settings=settings, points=75)
    await _redeem(app, kiosk, first, key="k-1")

    result = await _redeem(app, kiosk, second, key="k-1")

    assert _codes(result) == ["IDEMPOTENCY_KEY_REUSED"]
    assert await Redemption.all().count() == 1
    assert await RedemptionToken.filter(used_at__isnull=True).count() == 1
    assert (await points.summary(member.id)).balance == 425
