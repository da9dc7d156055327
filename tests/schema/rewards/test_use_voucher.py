"""`useVoucher`: a device takes a voucher, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.ledger import points
from gamification.members.models import Member, Role
from gamification.rewards import redemptions
from gamification.rewards.models import Redemption, RedemptionStatus
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import (
    actor_of,
    consent_of,
    create_device,
    create_member,
    create_reward,
    create_store,
    credit_points,
    execute,
    redeem_reward,
)
from tests.invariants import assert_books_balance

USE_VOUCHER = """
mutation UseVoucher($code: String!) {
  useVoucher(code: $code) {
    redemption { id status usedAt points reward { name } }
    errors { code field message }
  }
}
"""


async def _issued() -> Redemption:
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(name="Tote bag", cost_points=100)
    return await redeem_reward(member=member, reward=reward)


def codes(result: Any) -> list[tuple[str, str | None]]:
    assert result.errors is None, result.errors
    payload = result.data["useVoucher"]
    assert payload["redemption"] is None
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def test_a_till_takes_a_voucher(app: Starlette) -> None:
    # given
    redemption = await _issued()
    till = await create_device(channel=Channel.POS)

    # when
    result = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=till)

    # then
    payload = result.data["useVoucher"]
    assert payload["errors"] == []
    assert payload["redemption"]["id"] == to_global_id("Redemption", redemption.id)
    assert payload["redemption"]["status"] == "USED"
    assert payload["redemption"]["usedAt"] is not None
    assert payload["redemption"]["reward"] == {"name": "Tote bag"}
    stored = await Redemption.get(id=redemption.id)
    assert stored.status is RedemptionStatus.USED
    # Taking a voucher moves no points: they were spent when it was issued.
    assert (await points.summary(redemption.member_id)).balance == 0  # type: ignore[attr-defined]
    await assert_books_balance()


async def test_a_code_is_read_without_case_or_surrounding_spaces(app: Starlette) -> None:
    redemption = await _issued()
    kiosk = await create_device(channel=Channel.KIOSK)

    result = await execute(
        app, USE_VOUCHER, {"code": f"  {redemption.voucher_code.lower()} "}, as_=kiosk
    )

    assert result.data["useVoucher"]["redemption"]["status"] == "USED"


async def test_a_voucher_used_twice_is_refused(app: Starlette) -> None:
    # given
    redemption = await _issued()
    till = await create_device(channel=Channel.POS)
    await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=till)
    first_use = (await Redemption.get(id=redemption.id)).used_at

    # when
    again = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=till)

    # then
    assert codes(again) == [("VOUCHER_USED", "code")]
    assert (await Redemption.get(id=redemption.id)).used_at == first_use


async def test_an_unknown_voucher_is_refused(app: Starlette) -> None:
    till = await create_device(channel=Channel.POS)

    result = await execute(app, USE_VOUCHER, {"code": "ABCDEFGHJKLMNPQR"}, as_=till)

    assert codes(result) == [("VOUCHER_NOT_FOUND", "code")]


@pytest.mark.parametrize("code", ["", "   ", "X" * 33])
async def test_a_blank_or_overlong_code_is_not_found(app: Starlette, code: str) -> None:
    till = await create_device(channel=Channel.POS)

    result = await execute(app, USE_VOUCHER, {"code": code}, as_=till)

    assert codes(result) == [("VOUCHER_NOT_FOUND", "code")]


async def test_an_expired_voucher_is_refused(app: Starlette) -> None:
    # given
    redemption = await _issued()
    await Redemption.filter(id=redemption.id).update(
        valid_until=datetime.now(UTC) - timedelta(minutes=1)
    )
    till = await create_device(channel=Channel.POS)

    # when
    result = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=till)

    # then
    assert codes(result) == [("VOUCHER_EXPIRED", "code")]
    assert (await Redemption.get(id=redemption.id)).status is RedemptionStatus.ISSUED


async def test_a_cancelled_voucher_is_refused(app: Starlette) -> None:
    # given
    redemption = await _issued()
    owner = await create_member(role=Role.ADMIN)
    await redemptions.cancel_redemption(
        actor=actor_of(owner), redemption_id=redemption.id, idempotency_key="cancel"
    )
    till = await create_device(channel=Channel.POS)

    # when
    result = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=till)

    # then
    assert codes(result) == [("NOT_CANCELLABLE", "code")]
    assert (await Redemption.get(id=redemption.id)).status is RedemptionStatus.CANCELLED


async def test_a_member_cannot_use_a_voucher(app: Starlette) -> None:
    # given: not even their own
    redemption = await _issued()
    member = await Member.get(id=redemption.member_id)  # type: ignore[attr-defined]

    # when
    result = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=member)

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert (await Redemption.get(id=redemption.id)).status is RedemptionStatus.ISSUED


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
async def test_staff_and_admins_cannot_use_a_voucher(app: Starlette, role: Role) -> None:
    redemption = await _issued()
    person = await create_member(role=role, store=await create_store())

    result = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=person)

    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert (await Redemption.get(id=redemption.id)).status is RedemptionStatus.ISSUED


async def test_a_till_records_its_store_and_device(app: Starlette) -> None:
    redemption = await _issued()
    till = await create_device(channel=Channel.POS)

    await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=till)

    stored = await Redemption.get(id=redemption.id)
    assert (stored.used_store_id, stored.used_device_id) == (till.store_id, till.id)  # type: ignore[attr-defined]


async def test_a_device_of_a_channel_the_reward_is_not_offered_on_is_refused(
    app: Starlette,
) -> None:
    # given: a reward redeemed at kiosks only
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=100, channels=(Channel.KIOSK,))
    kiosk = await create_device(channel=Channel.KIOSK)
    redemption = await redeem_reward(member=member, reward=reward, device=kiosk)
    web_shop = await create_device(channel=Channel.WEB, store=await kiosk.store)

    # when
    result = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=web_shop)

    # then
    assert codes(result) == [("WRONG_CHANNEL", "code")]
    assert (await Redemption.get(id=redemption.id)).status is RedemptionStatus.ISSUED


async def test_a_device_of_a_store_the_reward_is_not_offered_in_is_refused(
    app: Starlette,
) -> None:
    # given: a reward offered in one store
    offered_in = await create_store()
    member = await create_member()
    await credit_points(member=member, points=100)
    reward = await create_reward(cost_points=100, store_ids=(offered_in.id,))
    redemption = await redeem_reward(member=member, reward=reward)
    elsewhere = await create_device(channel=Channel.POS)
    here = await create_device(channel=Channel.POS, store=offered_in)

    # when
    refused = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=elsewhere)
    taken = await execute(app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=here)

    # then
    assert codes(refused) == [("STORE_MISMATCH", "code")]
    assert taken.data["useVoucher"]["redemption"]["status"] == "USED"


async def test_a_points_voucher_is_taken_in_the_store_it_was_issued_in(app: Starlette) -> None:
    member = await create_member()
    await credit_points(member=member, points=100)
    kiosk = await create_device(channel=Channel.KIOSK)
    redemption, _ = await redemptions.redeem(
        actor=actor_of(kiosk),
        request=redemptions.RedemptionRequest(
            consent=consent_of(member.id),
            channel=Channel.KIOSK,
            points=50,
            store_id=kiosk.store_id,  # type: ignore[attr-defined]
            device_id=kiosk.id,
        ),
        idempotency_key="points-1",
    )
    other_store_till = await create_device(channel=Channel.POS)

    result = await execute(
        app, USE_VOUCHER, {"code": redemption.voucher_code}, as_=other_store_till
    )

    assert codes(result) == [("STORE_MISMATCH", "code")]
