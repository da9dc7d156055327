"""`requestDonation`: a kiosk asks a member, by card number or member id, to donate points to a
cause; nothing moves until the member approves in the app (`respondToRedemptionRequest`), and
then it moves exactly once. Declines, other members and devices move nothing."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from gamification.causes.models import Cause, Donation
from gamification.ledger import points
from gamification.members.models import Member
from gamification.stores.models import Channel
from schema.relay import to_global_id
from tests.factories import create_cause, create_device, create_member, credit_points, execute
from tests.invariants import assert_books_balance

REQUEST_DONATION = """
mutation Ask($causeId: ID!, $points: Int!, $card: String, $memberId: ID, $ref: String!) {
  requestDonation(
    causeId: $causeId, points: $points, cardNumber: $card, memberId: $memberId, reference: $ref
  ) {
    request { id status points causeId causeName rewardId donation { id } }
    replayed
    errors { code field }
  }
}
"""

RESPOND = """
mutation Respond($id: ID!, $answer: RedemptionAnswer!) {
  respondToRedemptionRequest(requestId: $id, answer: $answer) {
    request { id status donation { id points channel } error { code } }
    errors { code }
  }
}
"""


async def _member_with(balance: int) -> Member:
    member = await create_member()
    await credit_points(member=member, points=balance)
    return member


def _ask_variables(cause: Cause, member: Member, amount: int = 30, ref: str = "r-1") -> Any:
    return {
        "causeId": to_global_id("Cause", cause.id),
        "points": amount,
        "card": member.card_number,
        "ref": ref,
    }


async def _asked(app: Starlette, cause: Cause, member: Member, amount: int = 30) -> str:
    kiosk = await create_device(channel=Channel.KIOSK)
    result = await execute(app, REQUEST_DONATION, _ask_variables(cause, member, amount), as_=kiosk)
    payload = result.data["requestDonation"]
    assert payload["errors"] == []
    request_id: str = payload["request"]["id"]
    return request_id


async def test_the_kiosk_asks_and_nothing_moves_until_the_member_approves(
    app: Starlette,
) -> None:
    # given
    member = await _member_with(100)
    cause = await create_cause(name="Trees", points_per_unit=10)
    kiosk = await create_device(channel=Channel.KIOSK)

    # when: the kiosk asks
    asked = await execute(app, REQUEST_DONATION, _ask_variables(cause, member), as_=kiosk)

    # then: a pending request, no points moved
    request = asked.data["requestDonation"]["request"]
    assert (request["status"], request["points"], request["causeName"]) == ("PENDING", 30, "Trees")
    assert request["causeId"] == to_global_id("Cause", cause.id)
    assert request["rewardId"] is None
    assert (await points.summary(member.id)).balance == 100

    # when: the member approves, twice
    approved = await execute(app, RESPOND, {"id": request["id"], "answer": "APPROVE"}, as_=member)
    again = await execute(app, RESPOND, {"id": request["id"], "answer": "APPROVE"}, as_=member)

    # then: one donation, on the kiosk channel
    answer = approved.data["respondToRedemptionRequest"]["request"]
    assert answer["status"] == "APPROVED"
    assert answer["donation"]["points"] == 30
    assert answer["donation"]["channel"] == "KIOSK"
    assert again.data["respondToRedemptionRequest"]["request"]["donation"] == answer["donation"]
    assert await Donation.all().count() == 1
    assert (await points.summary(member.id)).balance == 70
    await assert_books_balance()


async def test_a_decline_moves_nothing(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    request_id = await _asked(app, cause, member)

    declined = await execute(app, RESPOND, {"id": request_id, "answer": "DECLINE"}, as_=member)

    assert declined.data["respondToRedemptionRequest"]["request"]["status"] == "DECLINED"
    assert (await points.summary(member.id)).balance == 100
    assert await Donation.all().count() == 0


async def test_nobody_else_approves(app: Starlette) -> None:
    member = await _member_with(100)
    other = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    request_id = await _asked(app, cause, member)
    kiosk = await create_device(channel=Channel.KIOSK)

    by_other = await execute(app, RESPOND, {"id": request_id, "answer": "APPROVE"}, as_=other)
    by_kiosk = await execute(app, RESPOND, {"id": request_id, "answer": "APPROVE"}, as_=kiosk)

    assert by_other.data["respondToRedemptionRequest"]["errors"] == [{"code": "REQUEST_NOT_FOUND"}]
    assert [e.extensions["code"] for e in by_kiosk.errors] == ["FORBIDDEN"]
    assert (await points.summary(member.id)).balance == 100
    assert (await points.summary(other.id)).balance == 100
    assert await Donation.all().count() == 0


async def test_an_approval_without_the_points_fails_and_moves_nothing(app: Starlette) -> None:
    member = await _member_with(10)
    cause = await create_cause(points_per_unit=10)
    request_id = await _asked(app, cause, member, amount=30)

    approved = await execute(app, RESPOND, {"id": request_id, "answer": "APPROVE"}, as_=member)

    request = approved.data["respondToRedemptionRequest"]["request"]
    assert request["status"] == "FAILED"
    assert request["error"] == {"code": "INSUFFICIENT_POINTS"}
    assert (await points.summary(member.id)).balance == 10


async def test_a_reference_reused_for_another_ask_is_refused(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    kiosk = await create_device(channel=Channel.KIOSK)
    first = await execute(app, REQUEST_DONATION, _ask_variables(cause, member, 30), as_=kiosk)

    same = await execute(app, REQUEST_DONATION, _ask_variables(cause, member, 30), as_=kiosk)
    other = await execute(app, REQUEST_DONATION, _ask_variables(cause, member, 40), as_=kiosk)

    assert same.data["requestDonation"]["replayed"] is True
    assert (
        same.data["requestDonation"]["request"]["id"]
        == first.data["requestDonation"]["request"]["id"]
    )
    assert other.data["requestDonation"]["errors"] == [
        {"code": "IDEMPOTENCY_KEY_REUSED", "field": "reference"}
    ]


async def test_only_kiosks_ask(app: Starlette) -> None:
    member = await _member_with(100)
    cause = await create_cause(points_per_unit=10)
    till = await create_device(channel=Channel.POS)

    by_till = await execute(app, REQUEST_DONATION, _ask_variables(cause, member), as_=till)
    by_member = await execute(app, REQUEST_DONATION, _ask_variables(cause, member), as_=member)

    assert by_till.data["requestDonation"]["errors"] == [
        {"code": "CHANNEL_MISMATCH", "field": "channel"}
    ]
    assert [e.extensions["code"] for e in by_member.errors] == ["FORBIDDEN"]
