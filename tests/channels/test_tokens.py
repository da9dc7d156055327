"""Redemption tokens checked directly: what they say, that they work once, before expiry, for
the reward they name only, and that no other token passes for one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import jwt
import pytest
import segno
from pydantic import SecretStr

from channels import tokens
from channels.credentials import InvalidCredential, authenticate_bearer, issue_member_token
from gamification.errors import LoyaltyError
from gamification.ledger import points
from gamification.ledger.models import IdempotencyKey, LedgerEntry
from gamification.members.models import Member
from gamification.rewards.models import PointsHold, Redemption, RedemptionToken, Reward, RewardKind
from gamification.stores.models import Channel, Device
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

TOKEN_FORMAT = re.compile(r"1\.[A-Za-z0-9_-]{22}\.[0-9a-z]{6,7}\.[A-Za-z0-9_-]{22}")


async def test_a_token_is_short_and_names_its_row_and_expiry_only(settings: Settings) -> None:
    # given
    member = await create_member()
    reward = await _reward()
    now = datetime.now(UTC)

    # when
    issued = await tokens.create_redemption_token(
        actor=actor_of(member), reward_id=reward.id, points=None, settings=settings, now=now
    )

    # then: version, row id, expiry, signature; the member and the reward live in the row
    assert TOKEN_FORMAT.fullmatch(issued.token)
    assert len(issued.token) <= 60
    _, row_id, expiry, _ = issued.token.split(".")
    claims = tokens.read_redemption_token(issued.token, settings)
    row = await RedemptionToken.get(id=claims.token_id)
    assert base64.urlsafe_b64decode(row_id + "==") == row.id.bytes
    assert int(expiry, 36) == int(row.expires_at.timestamp())
    assert claims.expires_at == row.expires_at == issued.expires_at
    assert row.expires_at - now.replace(microsecond=0) == timedelta(
        seconds=settings.redemption_token_ttl_seconds
    )
    assert row.member_id == member.id  # type: ignore[attr-defined]
    assert (row.reward_id, row.points, row.used_at) == (reward.id, None, None)


async def test_a_token_for_an_amount_of_points_names_the_amount(settings: Settings) -> None:
    member = await create_member()

    token = await issue_redemption_token(member=member, settings=settings, points=250)

    claims = tokens.read_redemption_token(token, settings)
    row = await RedemptionToken.get(id=claims.token_id)
    assert (row.member_id, row.reward_id, row.points) == (member.id, None, 250)  # type: ignore[attr-defined]


async def test_the_qr_code_is_a_small_svg_data_url_of_the_token(settings: Settings) -> None:
    member = await create_member()
    issued = await tokens.create_redemption_token(
        actor=actor_of(member), reward_id=None, points=10, settings=settings
    )

    qr_code = tokens.qr_data_url(issued.token)

    header, _, body = qr_code.partition(",")
    assert header.startswith("data:image/svg+xml")
    root = ElementTree.fromstring(unquote(body))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # 4 pixels a module, a 4-module quiet zone: 33 modules across is QR version 4 (a JWT was 12+)
    modules = int(root.attrib["width"]) // 4 - 2 * 4
    assert modules == int(root.attrib["height"]) // 4 - 2 * 4
    assert modules <= 17 + 4 * 4
    # No decoder is installed: the image is the one segno draws for exactly this text
    symbol = segno.make_qr(issued.token, error="m")
    assert symbol.version in (1, 2, 3, 4)
    assert symbol.symbol_size(scale=1, border=0) == (modules, modules)
    assert qr_code == symbol.svg_data_uri(scale=4)
    assert issued.token not in qr_code  # an image of the token, not the token as text


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


async def test_a_retry_after_the_token_expired_still_gets_the_first_answer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a token redeemed, and then its expiry passes
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=100)
    first, _ = await tokens.redeem_with_token(
        actor=actor_of(kiosk), token=token, idempotency_key="k-1", settings=settings
    )
    later = datetime.now(UTC) + timedelta(seconds=settings.redemption_token_ttl_seconds + 1)
    monkeypatch.setattr(tokens, "_utcnow", lambda: later)

    # when: the kiosk retries with its key, and with a new key
    again, replayed = await tokens.redeem_with_token(
        actor=actor_of(kiosk), token=token, idempotency_key="k-1", settings=settings
    )
    code = await _refused(kiosk, token, settings, "k-2")

    # then
    assert (replayed, again.id) == (True, first.id)
    assert code == "TOKEN_EXPIRED"
    assert await Redemption.all().count() == 1


async def test_an_expired_token_with_a_key_used_for_another_token_is_refused(
    settings: Settings,
) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    await _redeem(
        kiosk,
        await issue_redemption_token(member=member, settings=settings, points=5),
        "k-1",
        settings,
    )
    expired = await issue_redemption_token(
        member=member, settings=settings, points=100, now=datetime.now(UTC) - TEN_MINUTES_AGO
    )

    code = await _refused(kiosk, expired, settings, "k-1")

    assert code == "IDEMPOTENCY_KEY_REUSED"
    assert await Redemption.all().count() == 1


async def test_a_redemption_uses_its_token_in_one_statement(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=100)

    # when
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        await _redeem(kiosk, token, "k-1", settings)

    # then: the conditional UPDATE … RETURNING marks it and says what it pays for
    statements = [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"]
    about_tokens = [s for s in statements if "redemption_token" in s]
    assert len(about_tokens) == 1
    assert about_tokens[0].lstrip().upper().startswith("UPDATE")
    assert "RETURNING" in about_tokens[0].upper()


async def test_a_token_with_a_trailing_line_break_from_a_scanner_works(
    settings: Settings,
) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    token = await issue_redemption_token(member=member, settings=settings, points=100)

    redemption = await _redeem(kiosk, f"{token}\r\n", "k-1", settings)

    assert redemption.points == 100


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


def _tampered(token: str, field: int, value: str) -> str:
    fields = token.split(".")
    fields[field] = value
    return ".".join(fields)


def _base36(number: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits


def _flip_first(text: str) -> str:
    return ("B" if text[0] == "A" else "A") + text[1:]


@pytest.mark.parametrize("field", ["version", "row", "expiry", "signature"])
async def test_a_token_with_any_field_altered_is_refused(settings: Settings, field: str) -> None:
    # given: a genuine token for 10 points, and a genuine one for 400 whose row id is worth
    # stealing, and an expiry a day later
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=10)
    greedy = await issue_redemption_token(member=member, settings=settings, points=400)
    _, _, expiry, signature = genuine.split(".")
    altered = {
        "version": _tampered(genuine, 0, "2"),
        "row": _tampered(genuine, 1, greedy.split(".")[1]),
        "expiry": _tampered(genuine, 2, _base36(int(expiry, 36) + 86_400)),
        "signature": _tampered(genuine, 3, _flip_first(signature)),
    }[field]
    entries = await LedgerEntry.all().count()

    # when
    code = await _refused(kiosk, altered, settings)

    # then
    assert altered != genuine
    assert code == "TOKEN_INVALID"
    assert await RedemptionToken.filter(used_at__isnull=False).count() == 0
    await assert_nothing_redeemed(member, balance=500, entries=entries)


@pytest.mark.parametrize(
    "other",
    [
        {"jwt_secret": SecretStr("another-programs-secret-of-at-least-32-bytes")},
        {"jwt_issuer": "another-program"},
        {"jwt_audience": "another-api"},
    ],
    ids=["secret", "issuer", "audience"],
)
async def test_a_token_of_another_program_is_refused(
    settings: Settings, other: dict[str, Any]
) -> None:
    # given: a row of this program's, signed as another program would sign it
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=100)
    claims = tokens.read_redemption_token(genuine, settings)
    foreign = tokens.sign_redemption_token(
        claims.token_id, claims.expires_at, settings.model_copy(update=other)
    )
    entries = await LedgerEntry.all().count()

    # when
    code = await _refused(kiosk, foreign, settings)

    # then
    assert foreign != genuine
    assert code == "TOKEN_INVALID"
    assert (await RedemptionToken.get(member_id=member.id)).used_at is None
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_a_signature_made_with_the_bare_secret_is_refused(settings: Settings) -> None:
    # given: the same text signed with the service's secret itself, as a JWT's signature is:
    # only the key derived for redemption tokens makes a valid one
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=100)
    body = genuine.rsplit(".", 1)[0]
    signed = "\n".join((settings.jwt_issuer, f"{settings.jwt_audience}:redeem", body))
    mac = hmac.new(_secret(settings).encode(), signed.encode(), hashlib.sha256).digest()
    bare = f"{body}.{base64.urlsafe_b64encode(mac[:16]).rstrip(b'=').decode()}"
    entries = await LedgerEntry.all().count()

    code = await _refused(kiosk, bare, settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=entries)


@pytest.mark.parametrize("cut", ["signature", "half-signature", "last-character"])
async def test_a_truncated_token_is_refused(settings: Settings, cut: str) -> None:
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=10)
    truncated = {
        "signature": genuine.rsplit(".", 1)[0] + ".",
        "half-signature": genuine[:-11],
        "last-character": genuine[:-1],
    }[cut]
    entries = await LedgerEntry.all().count()

    code = await _refused(kiosk, truncated, settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_a_forged_token_is_refused_without_touching_the_database(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=10)
    forged = _tampered(genuine, 3, _flip_first(genuine.split(".")[3]))

    # when
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        code = await _refused(kiosk, forged, settings)

    # then
    assert code == "TOKEN_INVALID"
    assert [r for r in caplog.records if r.name == "tortoise.db_client"] == []


async def test_an_access_token_is_not_a_redemption_token(settings: Settings) -> None:
    # given: the member's own, valid access token, signed with the same secret
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    access = issue_member_token(member, settings)
    entries = await LedgerEntry.all().count()

    code = await _refused(kiosk, access, settings)

    assert code == "TOKEN_INVALID"
    await assert_nothing_redeemed(member, balance=500, entries=entries)


async def test_a_redemption_jwt_of_the_old_format_is_refused(settings: Settings) -> None:
    # given: a JWT with the claims redemption tokens used to carry, signed with the secret
    member = await _member_with(500)
    kiosk = await create_device(channel=Channel.KIOSK)
    genuine = await issue_redemption_token(member=member, settings=settings, points=10)
    claims = tokens.read_redemption_token(genuine, settings)
    old = jwt.encode(
        {
            "typ": "redeem",
            "jti": str(claims.token_id),
            "sub": str(member.id),
            "iss": settings.jwt_issuer,
            "aud": f"{settings.jwt_audience}:redeem",
            "iat": datetime.now(UTC),
            "exp": claims.expires_at,
            "points": 10,
        },
        _secret(settings),
        algorithm="HS256",
    )
    entries = await LedgerEntry.all().count()

    code = await _refused(kiosk, old, settings)

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


async def _points_token(member: Member, settings: Settings) -> str:
    return await issue_redemption_token(member=member, settings=settings, points=100)


async def _reward_token(member: Member, settings: Settings) -> str:
    reward = await _reward()
    return await issue_redemption_token(member=member, settings=settings, reward_id=reward.id)


@pytest.mark.parametrize(
    ("token_for", "hold", "code"),
    [
        pytest.param(_points_token, 101, "HOLD_EXCEEDS_TOKEN", id="beyond what it authorises"),
        pytest.param(_reward_token, 100, "TOKEN_WRONG_PURPOSE", id="a reward token"),
    ],
)
async def test_a_refused_hold_leaves_the_token_usable(
    settings: Settings,
    token_for: Callable[[Member, Settings], Awaitable[str]],
    hold: int,
    code: str,
) -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    token = await token_for(member, settings)

    with pytest.raises(LoyaltyError) as refused:
        await tokens.hold_points_with_token(
            actor=actor_of(till),
            token=token,
            points=hold,
            reference="sale-1",
            ttl_seconds=300,
            idempotency_key="h-1",
            settings=settings,
        )

    assert refused.value.code == code
    assert (await RedemptionToken.get(member_id=member.id)).used_at is None
    assert await PointsHold.all().count() == 0
    assert (await points.summary(member.id)).held == 0
