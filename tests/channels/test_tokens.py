"""Redemption tokens checked directly: what they say, that they work once, before expiry, for
the reward they name only, and that no other token passes for one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import jwt
import pytest

from channels import tokens
from channels.credentials import InvalidCredential, authenticate_bearer, issue_member_token
from gamification import points
from gamification.errors import LoyaltyError
from gamification.models import (
    Channel,
    Device,
    IdempotencyKey,
    LedgerEntry,
    Member,
    PointsHold,
    Redemption,
    RedemptionToken,
    Reward,
    RewardKind,
)
from server.settings import Settings
from tests.factories import (
    actor_of,
    create_device,
    create_member,
    credit_points,
    issue_redemption_token,
)
from tests.invariants import assert_books_balance

TEN_MINUTES_AGO = timedelta(minutes=10)


async def _reward(*, cost_points: int = 100, **overrides: Any) -> Reward:
    return await Reward.create(
        name=overrides.pop("name", "Tote bag"),
        kind=RewardKind.PRODUCT,
        cost_points=cost_points,
        **overrides,
    )


async def _member_with(balance: int) -> Member:
    member = await create_member()
    if balance:
        await credit_points(member=member, points=balance)
    return member


async def _redeem(kiosk: Device, token: str, key: str, settings: Settings) -> Redemption:
    redemption, _ = await tokens.redeem_with_token(
        actor=actor_of(kiosk), token=token, idempotency_key=key, settings=settings
    )
    return redemption


async def _refused(kiosk: Device, token: str, settings: Settings, key: str = "k-refused") -> str:
    with pytest.raises(LoyaltyError) as refused:
        await _redeem(kiosk, token, key, settings)
    return str(refused.value.code)


def _secret(settings: Settings) -> str:
    return settings.jwt_secret.get_secret_value()


async def assert_nothing_redeemed(member: Member, *, balance: int, entries: int) -> None:
    assert await Redemption.all().count() == 0
    assert await LedgerEntry.all().count() == entries
    assert await IdempotencyKey.all().count() == 0
    assert (await points.summary(member.id)).balance == balance
    await assert_books_balance()


# Issuing


async def test_a_token_names_its_member_reward_and_row_for_the_redeem_audience(
    settings: Settings,
) -> None:
    # given
    member = await create_member()
    reward = await _reward()
    now = datetime.now(UTC)

    # when
    issued = await tokens.create_redemption_token(
        actor=actor_of(member), reward_id=reward.id, points=None, settings=settings, now=now
    )

    # then
    claims = jwt.decode(
        issued.token,
        _secret(settings),
        algorithms=["HS256"],
        audience=f"{settings.jwt_audience}:redeem",
    )
    row = await RedemptionToken.get(id=uuid.UUID(claims["jti"]))
    assert claims["typ"] == "redeem"
    assert claims["sub"] == str(member.id)
    assert claims["reward"] == reward.id
    assert "points" not in claims
    assert claims["exp"] - claims["iat"] == settings.redemption_token_ttl_seconds
    assert row.member_id == member.id  # type: ignore[attr-defined]
    assert (row.reward_id, row.points, row.used_at) == (reward.id, None, None)
    assert row.expires_at == issued.expires_at
    assert int(row.expires_at.timestamp()) == claims["exp"]


async def test_a_token_for_an_amount_of_points_names_the_amount(settings: Settings) -> None:
    member = await create_member()

    token = await issue_redemption_token(member=member, settings=settings, points=250)

    claims = tokens.read_redemption_token(token, settings)
    assert (claims.member_id, claims.reward_id, claims.points) == (member.id, None, 250)
    assert (await RedemptionToken.get(id=claims.token_id)).points == 250


async def test_the_qr_code_is_an_svg_data_url_that_decodes(settings: Settings) -> None:
    member = await create_member()

    issued = await tokens.create_redemption_token(
        actor=actor_of(member), reward_id=None, points=10, settings=settings
    )

    header, _, body = issued.qr_code.partition(",")
    assert header.startswith("data:image/svg+xml")
    root = ElementTree.fromstring(unquote(body))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.attrib["width"]) > 0
    assert issued.token not in issued.qr_code  # an image of the token, not the token as text


@pytest.mark.parametrize(("reward", "amount"), [(True, 10), (False, None)], ids=["both", "neither"])
async def test_a_token_names_a_reward_or_an_amount_not_both_nor_neither(
    settings: Settings, reward: bool, amount: int | None
) -> None:
    member = await create_member()
    reward_id = (await _reward()).id if reward else None

    with pytest.raises(LoyaltyError) as refused:
        await tokens.create_redemption_token(
            actor=actor_of(member), reward_id=reward_id, points=amount, settings=settings
        )

    assert refused.value.code == "INVALID_INPUT"
    assert await RedemptionToken.all().count() == 0


@pytest.mark.parametrize("amount", [0, -5, 100_000_001])
async def test_a_token_for_an_amount_out_of_range_is_refused(
    settings: Settings, amount: int
) -> None:
    member = await create_member()

    with pytest.raises(LoyaltyError) as refused:
        await issue_redemption_token(member=member, settings=settings, points=amount)

    assert refused.value.code == "INVALID_AMOUNT"
    assert await RedemptionToken.all().count() == 0


async def test_a_token_for_an_unknown_reward_is_refused(settings: Settings) -> None:
    member = await create_member()

    with pytest.raises(LoyaltyError) as refused:
        await issue_redemption_token(member=member, settings=settings, reward_id=999_999)

    assert refused.value.code == "REWARD_NOT_FOUND"
    assert await RedemptionToken.all().count() == 0


async def test_a_token_for_a_reward_kiosks_do_not_offer_is_refused(settings: Settings) -> None:
    member = await create_member()
    app_only = await _reward(channels=[Channel.APP.value])

    with pytest.raises(LoyaltyError) as refused:
        await issue_redemption_token(member=member, settings=settings, reward_id=app_only.id)

    assert refused.value.code == "WRONG_CHANNEL"
    assert await RedemptionToken.all().count() == 0


async def test_a_device_cannot_issue_a_token(settings: Settings) -> None:
    kiosk = await create_device(channel=Channel.KIOSK)

    with pytest.raises(LoyaltyError):
        await tokens.create_redemption_token(
            actor=actor_of(kiosk), reward_id=None, points=10, settings=settings
        )

    assert await RedemptionToken.all().count() == 0


# Redeeming at a kiosk


async def test_a_kiosk_redeems_the_reward_the_token_names(settings: Settings) -> None:
    # given
    member = await _member_with(500)
    tote, mug = (
        await _reward(name="Tote", cost_points=100, stock=5),
        await _reward(name="Mug", cost_points=300, stock=5),
    )
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, reward_id=tote.id)

    # when
    redemption = await _redeem(kiosk, token, "k-1", settings)

    # then: that reward, at that kiosk's store, and no other reward touched
    assert redemption.reward_id == tote.id  # type: ignore[attr-defined]
    assert (redemption.points, redemption.channel) == (100, Channel.KIOSK)
    assert (redemption.store_id, redemption.device_id) == (kiosk.store_id, kiosk.id)  # type: ignore[attr-defined]
    assert (await Reward.get(id=tote.id)).stock == 4
    assert (await Reward.get(id=mug.id)).stock == 5
    assert (await points.summary(member.id)).balance == 400
    used = await RedemptionToken.get(member_id=member.id)
    assert used.used_at is not None
    await assert_books_balance()


async def test_a_token_for_an_amount_redeems_that_amount(settings: Settings) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=120)

    redemption = await _redeem(kiosk, token, "k-1", settings)

    assert (redemption.reward_id, redemption.points) == (None, 120)  # type: ignore[attr-defined]
    assert (await points.summary(member.id)).balance == 380
    await assert_books_balance()


async def test_a_token_works_once(settings: Settings) -> None:
    # given: a token already redeemed at one kiosk
    member = await _member_with(500)
    first, second = await create_device(channel=Channel.KIOSK), await create_device()
    token = await issue_redemption_token(member=member, settings=settings, points=100)
    await _redeem(first, token, "k-1", settings)
    entries = await LedgerEntry.all().count()

    # when: it is presented again, at another kiosk and at the same one with a new key
    codes = [
        await _refused(second, token, settings, "k-2"),
        await _refused(first, token, settings, "k-3"),
    ]

    # then
    assert codes == ["TOKEN_USED", "TOKEN_USED"]
    assert await Redemption.all().count() == 1
    assert await LedgerEntry.all().count() == entries
    assert (await points.summary(member.id)).balance == 400
    await assert_books_balance()


async def test_the_same_key_replays_the_first_answer(settings: Settings) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=100)
    first, _ = await tokens.redeem_with_token(
        actor=actor_of(kiosk), token=token, idempotency_key="k-1", settings=settings
    )

    again, replayed = await tokens.redeem_with_token(
        actor=actor_of(kiosk), token=token, idempotency_key="k-1", settings=settings
    )

    assert replayed
    assert again.id == first.id
    assert (await points.summary(member.id)).balance == 400


async def test_an_expired_token_is_refused(settings: Settings) -> None:
    # given: a token issued ten minutes ago (it lived two)
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(
        member=member, settings=settings, points=100, now=datetime.now(UTC) - TEN_MINUTES_AGO
    )
    entries = await LedgerEntry.all().count()

    # when
    code = await _refused(kiosk, token, settings)

    # then
    assert code == "TOKEN_EXPIRED"
    assert (await RedemptionToken.get(member_id=member.id)).used_at is None
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_a_token_signed_with_another_key_is_refused(settings: Settings) -> None:
    # given: the claims of a genuine token, signed by someone without the service's secret
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=100)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forged = jwt.encode(claims, "someone-elses-secret-of-at-least-32-bytes", algorithm="HS256")
    entries = await LedgerEntry.all().count()

    # when
    code = await _refused(kiosk, forged, settings)

    # then
    assert code == "TOKEN_INVALID"
    assert (await RedemptionToken.get(member_id=member.id)).used_at is None
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_a_token_with_altered_claims_is_refused(settings: Settings) -> None:
    # given: a token for 10 points whose payload was swapped for one asking 400
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=10)
    header, _, signature = genuine.split(".")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    greedy = jwt.encode({**claims, "points": 400}, "x" * 32, algorithm="HS256").split(".")[1]
    entries = await LedgerEntry.all().count()

    code = await _refused(kiosk, f"{header}.{greedy}.{signature}", settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_an_unsigned_token_is_refused(settings: Settings) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=10)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    unsigned = jwt.encode(claims, "", algorithm="none")
    entries = await LedgerEntry.all().count()

    code = await _refused(kiosk, unsigned, settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_an_access_token_is_not_a_redemption_token(settings: Settings) -> None:
    # given: the member's own, valid access token, signed with the same secret
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    access = issue_member_token(member, settings)
    entries = await LedgerEntry.all().count()

    code = await _refused(kiosk, access, settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_an_access_token_retyped_as_redeem_is_still_refused(settings: Settings) -> None:
    # given: someone with the secret's signature on an access token cannot change its audience,
    # so the closest they get is an access-audience token that says typ=redeem
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=10)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    wrong_audience = jwt.encode(
        {**claims, "aud": settings.jwt_audience}, _secret(settings), algorithm="HS256"
    )
    entries = await LedgerEntry.all().count()

    code = await _refused(kiosk, wrong_audience, settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_a_redemption_token_is_not_a_bearer_credential(settings: Settings) -> None:
    member = await create_member()
    token = await issue_redemption_token(member=member, settings=settings, points=10)

    with pytest.raises(InvalidCredential):
        await authenticate_bearer(token, settings)


@pytest.mark.parametrize("garbage", ["", "not-a-token", "a.b.c", "x" * 5000])
async def test_garbage_is_refused(settings: Settings, garbage: str) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)

    code = await _refused(kiosk, garbage, settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=1)


async def test_a_token_whose_row_is_missing_is_refused(settings: Settings) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=10)
    await RedemptionToken.all().delete()

    code = await _refused(kiosk, token, settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=1)


async def test_a_failed_redemption_leaves_the_token_usable(settings: Settings) -> None:
    # given: a token for more points than the member has
    member = await _member_with(50)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=100)

    # when
    code = await _refused(kiosk, token, settings, "k-1")

    # then: nothing spent, the token unused, and the same token works once points suffice
    assert code == "INSUFFICIENT_POINTS"
    assert (await RedemptionToken.get(member_id=member.id)).used_at is None
    await assert_nothing_redeemed(member, balance=50, entries=1)
    await credit_points(member=member, points=50)
    assert (await _redeem(kiosk, token, "k-1", settings)).points == 100


@pytest.mark.parametrize("channel", [Channel.POS, Channel.WEB])
async def test_only_kiosks_redeem_tokens(settings: Settings, channel: Channel) -> None:
    member = await _member_with(500)
    till = await create_device(channel=channel)
    token = await issue_redemption_token(member=member, settings=settings, points=100)

    code = await _refused(till, token, settings)

    assert code == "CHANNEL_MISMATCH"
    assert (await RedemptionToken.get(member_id=member.id)).used_at is None
    await assert_nothing_redeemed(member, balance=500, entries=1)


# Holding at a till


async def test_a_till_holds_points_with_a_token_and_uses_it_up(settings: Settings) -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    token = await issue_redemption_token(member=member, settings=settings, points=200)

    hold, replayed = await tokens.hold_points_with_token(
        actor=actor_of(till),
        token=token,
        points=150,
        reference="sale-1",
        ttl_seconds=300,
        idempotency_key="h-1",
        settings=settings,
    )

    assert not replayed
    assert (hold.points, hold.member_id) == (150, member.id)  # type: ignore[attr-defined]
    assert (await RedemptionToken.get(member_id=member.id)).used_at is not None
    summary = await points.summary(member.id)
    assert (summary.balance, summary.held, summary.available) == (500, 150, 350)
    await assert_books_balance()


async def test_a_hold_beyond_what_the_token_authorises_is_refused(settings: Settings) -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    token = await issue_redemption_token(member=member, settings=settings, points=100)

    with pytest.raises(LoyaltyError) as refused:
        await tokens.hold_points_with_token(
            actor=actor_of(till),
            token=token,
            points=101,
            reference="sale-1",
            ttl_seconds=300,
            idempotency_key="h-1",
            settings=settings,
        )

    assert refused.value.code == "HOLD_EXCEEDS_TOKEN"
    assert (await RedemptionToken.get(member_id=member.id)).used_at is None
    assert await PointsHold.all().count() == 0
    assert (await points.summary(member.id)).held == 0


async def test_a_reward_token_cannot_hold_points(settings: Settings) -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    reward = await _reward()
    token = await issue_redemption_token(member=member, settings=settings, reward_id=reward.id)

    with pytest.raises(LoyaltyError) as refused:
        await tokens.hold_points_with_token(
            actor=actor_of(till),
            token=token,
            points=100,
            reference="sale-1",
            ttl_seconds=300,
            idempotency_key="h-1",
            settings=settings,
        )

    assert refused.value.code == "TOKEN_INVALID"
    assert (await RedemptionToken.get(member_id=member.id)).used_at is None
    assert await PointsHold.all().count() == 0
