from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.ledger import points
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.members.models import Member, Role
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import create_device, create_member, create_store, credit_points, execute
from tests.invariants import assert_books_balance

ADJUST_POINTS = """
mutation AdjustPoints($memberId: ID!, $points: Int!, $reason: String!, $key: String!) {
  adjustPoints(memberId: $memberId, points: $points, reason: $reason, idempotencyKey: $key) {
    entry { id kind points channel reason referenceType }
    balance
    replayed
    errors { code field message }
  }
}
"""


def adjust_variables(
    member: Member, *, points: int, reason: str = "goodwill", key: str = "adj-1"
) -> dict[str, Any]:
    return {
        "memberId": to_global_id("Member", member.id),
        "points": points,
        "reason": reason,
        "key": key,
    }


async def test_an_admin_credits_goodwill_points(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()

    # when
    result = await execute(
        app,
        ADJUST_POINTS,
        adjust_variables(member, points=250, reason="Sorry about the queue"),
        as_=admin,
    )

    # then
    payload = result.data["adjustPoints"]
    assert payload["errors"] == []
    assert payload["balance"] == 250
    assert payload["entry"]["kind"] == "ADJUST"
    assert payload["entry"]["points"] == 250
    assert payload["entry"]["channel"] == "SYSTEM"
    assert payload["entry"]["reason"] == "Sorry about the queue"
    summary = await points.summary(member.id)
    # Goodwill is not earned: it does not count towards lifetime earnings.
    assert (summary.balance, summary.lifetime_earned) == (250, 0)
    await assert_books_balance()


async def test_an_admin_corrects_points_downwards(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    await credit_points(member=member, points=100)

    # when
    result = await execute(
        app, ADJUST_POINTS, adjust_variables(member, points=-40, reason="Double credit"), as_=admin
    )

    # then
    payload = result.data["adjustPoints"]
    assert payload["errors"] == []
    assert (payload["balance"], payload["entry"]["points"]) == (60, -40)
    assert (await points.summary(member.id)).balance == 60
    await assert_books_balance()


async def test_retrying_an_adjustment_with_the_same_key_applies_it_once(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    variables = adjust_variables(member, points=10)
    first = await execute(app, ADJUST_POINTS, variables, as_=admin)

    # when
    retry = await execute(app, ADJUST_POINTS, variables, as_=admin)

    # then
    assert retry.data["adjustPoints"]["replayed"] is True
    assert retry.data["adjustPoints"]["entry"] == first.data["adjustPoints"]["entry"]
    assert await LedgerEntry.all().count() == 1
    assert (await points.summary(member.id)).balance == 10


async def test_a_member_cannot_adjust_points(app: Starlette) -> None:
    # given
    member = await create_member()

    # when
    result = await execute(app, ADJUST_POINTS, adjust_variables(member, points=1000), as_=member)

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await LedgerEntry.all().count() == 0


async def test_staff_cannot_adjust_points(app: Starlette) -> None:
    # given
    cashier = await create_member(role=Role.STAFF, store=await create_store())
    member = await create_member()

    # when
    result = await execute(app, ADJUST_POINTS, adjust_variables(member, points=5), as_=cashier)

    # then
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await LedgerEntry.all().count() == 0


@pytest.mark.parametrize("channel", [Channel.KIOSK, Channel.POS, Channel.WEB])
async def test_a_device_cannot_adjust_points(app: Starlette, channel: Channel) -> None:
    # given
    device = await create_device(channel=channel)
    member = await create_member()

    # when
    result = await execute(app, ADJUST_POINTS, adjust_variables(member, points=5), as_=device)

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]
    assert await LedgerEntry.all().count() == 0


@pytest.mark.parametrize("reason", ["", "   "])
async def test_an_adjustment_needs_a_reason(app: Starlette, reason: str) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()

    # when
    result = await execute(
        app, ADJUST_POINTS, adjust_variables(member, points=5, reason=reason), as_=admin
    )

    # then
    errors = result.data["adjustPoints"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("REASON_REQUIRED", "reason")]
    assert await LedgerEntry.all().count() == 0


@pytest.mark.parametrize("amount", [0, 1_000_001, -1_000_001])
async def test_a_zero_or_absurd_adjustment_is_refused(app: Starlette, amount: int) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()

    # when
    result = await execute(app, ADJUST_POINTS, adjust_variables(member, points=amount), as_=admin)

    # then
    errors = result.data["adjustPoints"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_AMOUNT", "points")]
    assert await LedgerEntry.all().count() == 0


async def test_taking_more_than_is_available_is_refused(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    await credit_points(member=member, points=30)

    # when
    result = await execute(app, ADJUST_POINTS, adjust_variables(member, points=-31), as_=admin)

    # then
    assert [e["code"] for e in result.data["adjustPoints"]["errors"]] == ["INSUFFICIENT_POINTS"]
    assert await LedgerEntry.all().count() == 1
    assert (await points.summary(member.id)).balance == 30
    await assert_books_balance()


async def test_adjusting_an_unknown_member_is_refused(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    result = await execute(
        app,
        ADJUST_POINTS,
        {
            "memberId": to_global_id("Member", admin.id + 1000),
            "points": 5,
            "reason": "goodwill",
            "key": "adj-1",
        },
        as_=admin,
    )

    # then
    assert [e["code"] for e in result.data["adjustPoints"]["errors"]] == ["UNKNOWN_MEMBER"]
    assert await LedgerEntry.all().count() == 0


async def test_an_adjustment_beyond_a_32_bit_integer_is_a_request_error(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()

    # when
    result = await execute(app, ADJUST_POINTS, adjust_variables(member, points=2**31), as_=admin)

    # then
    assert result.data is None
    assert "Unexpected error" not in result.errors[0].message
    assert await LedgerEntry.all().count() == 0


async def test_an_adjustment_entry_is_recorded_with_its_kind(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()

    # when
    await execute(app, ADJUST_POINTS, adjust_variables(member, points=7), as_=admin)

    # then
    entry = await LedgerEntry.get()
    assert (entry.kind, entry.actor_kind, entry.actor_id) == (EntryKind.ADJUST, "admin", admin.id)
