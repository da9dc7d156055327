from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from gamification.earning import rules as earning
from gamification.ledger import accounts, movements
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import LedgerEntry
from gamification.members.models import Member, Role
from gamification.stores.models import Channel
from schema.relay import encode_cursor, to_global_id
from server.settings import Settings
from tests.factories import (
    consent_of,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    credit_points,
    execute,
)

MY_POINTS = """
query {
  me {
    points {
      balance
      available
      held
      lifetimeEarned
      clawbackOutstanding
      expiringSoon(days: 400) { expiresAt points }
    }
  }
}
"""

MY_EXPIRING_SOON = """
query MyExpiringSoon($days: Int!) { me { points { expiringSoon(days: $days) { points } } } }
"""

MY_LEDGER = """
query MyLedger($first: Int!, $after: String, $kinds: [EntryKind!], $channels: [Channel!]) {
  me {
    ledger(first: $first, after: $after, kinds: $kinds, channels: $channels) {
      edges { cursor node { id seq kind points channel } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

MY_LEDGER_PROOF = """
query { me { ledgerProof { verified entries headHash firstBrokenEntryId } } }
"""

ADJUST_POINTS = """
mutation AdjustPoints($memberId: ID!, $points: Int!, $key: String!) {
  adjustPoints(memberId: $memberId, points: $points, reason: "correction", idempotencyKey: $key) {
    errors { code }
  }
}
"""


def at_midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


async def adjust(app: Starlette, admin: Member, member: Member, points: int, key: str) -> None:
    result = await execute(
        app,
        ADJUST_POINTS,
        {"memberId": to_global_id("Member", member.id), "points": points, "key": key},
        as_=admin,
    )
    assert result.data["adjustPoints"]["errors"] == []


async def read_ledger(app: Starlette, member: Member, **variables: Any) -> dict[str, Any]:
    result = await execute(app, MY_LEDGER, {"first": 20, **variables}, as_=member)
    assert result.errors is None, result.errors
    ledger_: dict[str, Any] = result.data["me"]["ledger"]
    return ledger_


async def test_my_points_after_purchases(app: Starlette) -> None:
    # given
    await create_earn_rule(points_per_unit="1")
    member = await create_member()
    await create_purchase(member=member, amount="10.00")
    await create_purchase(member=member, amount="25.50")
    expected_expiry = earning.expiry_for(datetime.now(UTC), months=12)

    # when
    result = await execute(app, MY_POINTS, as_=member)

    # then
    assert result.errors is None, result.errors
    my_points = result.data["me"]["points"]
    assert {k: v for k, v in my_points.items() if k != "expiringSoon"} == {
        "balance": 35,
        "available": 35,
        "held": 0,
        "lifetimeEarned": 35,
        "clawbackOutstanding": 0,
    }
    assert [
        (datetime.fromisoformat(row["expiresAt"]), row["points"])
        for row in my_points["expiringSoon"]
    ] == [(expected_expiry, 35)]


async def test_points_of_a_member_who_never_earned_are_zero(app: Starlette) -> None:
    # given
    member = await create_member()

    # when
    result = await execute(app, MY_POINTS, as_=member)

    # then
    assert result.data["me"]["points"] == {
        "balance": 0,
        "available": 0,
        "held": 0,
        "lifetimeEarned": 0,
        "clawbackOutstanding": 0,
        "expiringSoon": [],
    }


async def test_expiring_soon_lists_the_unspent_lots_by_expiry(app: Starlette) -> None:
    # given: lots expiring in 200, 10 (twice, same day) and 500 days; 4 points spent
    member = await create_member()
    admin = await create_member(role=Role.ADMIN)
    today = at_midnight(datetime.now(UTC))
    in_10, in_200, in_500 = (today + timedelta(days=d) for d in (10, 200, 500))
    await credit_points(member=member, points=40, expires_at=in_200)
    await credit_points(member=member, points=10, expires_at=in_10)
    await credit_points(member=member, points=5, expires_at=in_10)
    await credit_points(member=member, points=99, expires_at=in_500)
    await adjust(app, admin, member, -4, "spend-1")

    # when
    result = await execute(app, MY_POINTS, as_=member)

    # then: earliest first, same expiry together, spent points gone, beyond 400 days left out
    rows = result.data["me"]["points"]["expiringSoon"]
    assert [(datetime.fromisoformat(r["expiresAt"]), r["points"]) for r in rows] == [
        (in_10, 11),
        (in_200, 40),
    ]
    assert result.data["me"]["points"]["balance"] == 150


async def test_held_points_are_in_the_balance_but_not_available(app: Starlette) -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=100)
    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn)
        await movements.place_hold(
            account,
            30,
            origin=Origin.system(),
            reference=Reference("test"),
            consent=consent_of(member.id),
        )
        await accounts.save_account(account)

    # when
    result = await execute(app, MY_POINTS, as_=member)

    # then
    my_points = result.data["me"]["points"]
    assert (my_points["balance"], my_points["held"], my_points["available"]) == (100, 30, 70)


async def test_my_ledger_pages_newest_first_and_returns_each_entry_once(app: Starlette) -> None:
    # given: seven entries
    member = await create_member()
    for points in range(1, 8):
        await credit_points(member=member, points=points)

    # when: paged three at a time, with a new entry arriving after the first page
    pages = [await read_ledger(app, member, first=3)]
    await credit_points(member=member, points=100)
    while pages[-1]["pageInfo"]["hasNextPage"]:
        pages.append(
            await read_ledger(app, member, first=3, after=pages[-1]["pageInfo"]["endCursor"])
        )

    # then
    seqs = [[edge["node"]["seq"] for edge in page["edges"]] for page in pages]
    assert seqs == [[7, 6, 5], [4, 3, 2], [1]]
    ids = [edge["node"]["id"] for page in pages for edge in page["edges"]]
    assert len(set(ids)) == 7
    assert [edge["node"]["points"] for edge in pages[0]["edges"]] == [7, 6, 5]
    assert pages[-1]["pageInfo"]["hasNextPage"] is False


async def test_my_ledger_filters_by_kind(app: Starlette) -> None:
    # given: two purchases and one adjustment
    await create_earn_rule()
    member = await create_member()
    admin = await create_member(role=Role.ADMIN)
    await create_purchase(member=member, amount="10.00")
    await adjust(app, admin, member, 3, "adj-1")
    await create_purchase(member=member, amount="20.00")

    # when
    earned = await read_ledger(app, member, kinds=["EARN"])
    adjusted = await read_ledger(app, member, kinds=["ADJUST"])

    # then
    assert [(e["node"]["kind"], e["node"]["points"]) for e in earned["edges"]] == [
        ("EARN", 20),
        ("EARN", 10),
    ]
    assert [(e["node"]["kind"], e["node"]["points"]) for e in adjusted["edges"]] == [("ADJUST", 3)]


async def test_my_ledger_filters_by_channel(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member, recorded_by=await create_device(channel=Channel.WEB))
    await create_purchase(member=member, recorded_by=await create_device(channel=Channel.KIOSK))

    # when
    online = await read_ledger(app, member, channels=["WEB"])

    # then
    assert [e["node"]["channel"] for e in online["edges"]] == ["WEB"]


async def test_a_ledger_page_larger_than_the_maximum_is_refused(
    app: Starlette, settings: Settings
) -> None:
    # given
    member = await create_member()

    # when
    result = await execute(app, MY_LEDGER, {"first": settings.max_page_size + 1}, as_=member)

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["PAGE_SIZE_TOO_LARGE"]


async def test_a_ledger_cursor_that_was_not_issued_is_refused(app: Starlette) -> None:
    # given
    member = await create_member()

    # when
    result = await execute(app, MY_LEDGER, {"first": 5, "after": "not-a-cursor"}, as_=member)

    # then
    assert [e.extensions["code"] for e in result.errors] == ["INVALID_CURSOR"]


async def test_my_ledger_proof_verifies(app: Starlette) -> None:
    # given
    await create_earn_rule()
    member = await create_member()
    await create_purchase(member=member)
    await credit_points(member=member, points=5)
    latest = await LedgerEntry.all().order_by("-id").first()
    assert latest is not None

    # when
    result = await execute(app, MY_LEDGER_PROOF, as_=member)

    # then
    assert result.data["me"]["ledgerProof"] == {
        "verified": True,
        "entries": 2,
        "headHash": latest.hash,
        "firstBrokenEntryId": None,
    }


async def test_the_proof_of_an_empty_ledger_verifies(app: Starlette) -> None:
    # given
    member = await create_member()

    # when
    result = await execute(app, MY_LEDGER_PROOF, as_=member)

    # then
    assert result.data["me"]["ledgerProof"]["verified"] is True
    assert result.data["me"]["ledgerProof"]["entries"] == 0


async def test_the_proof_finds_an_entry_edited_in_the_database(app: Starlette) -> None:
    # given: the second of three entries rewritten behind the ledger's back
    member = await create_member()
    await credit_points(member=member, points=10)
    tampered = await credit_points(member=member, points=20)
    await credit_points(member=member, points=30)
    await LedgerEntry.filter(id=tampered.id).update(points=999)

    # when
    result = await execute(app, MY_LEDGER_PROOF, as_=member)

    # then
    proof = result.data["me"]["ledgerProof"]
    assert proof["verified"] is False
    assert proof["firstBrokenEntryId"] == to_global_id("LedgerEntry", tampered.id)


async def test_the_proof_finds_a_deleted_latest_entry(app: Starlette) -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=10)
    latest = await credit_points(member=member, points=20)
    await LedgerEntry.filter(id=latest.id).delete()

    # when
    result = await execute(app, MY_LEDGER_PROOF, as_=member)

    # then
    proof = result.data["me"]["ledgerProof"]
    assert proof["verified"] is False
    assert proof["entries"] == 1


async def test_the_proof_finds_a_deleted_entry_in_the_middle(app: Starlette) -> None:
    # given
    member = await create_member()
    await credit_points(member=member, points=10)
    deleted = await credit_points(member=member, points=20)
    following = await credit_points(member=member, points=30)
    await LedgerEntry.filter(id=deleted.id).delete()

    # when
    result = await execute(app, MY_LEDGER_PROOF, as_=member)

    # then
    proof = result.data["me"]["ledgerProof"]
    assert proof["verified"] is False
    assert proof["firstBrokenEntryId"] == to_global_id("LedgerEntry", following.id)


@pytest.mark.parametrize("query", [MY_POINTS, MY_LEDGER_PROOF])
async def test_a_device_has_no_points_of_its_own(app: Starlette, query: str) -> None:
    # given
    kiosk = await create_device()

    # when
    result = await execute(app, query, as_=kiosk)

    # then
    assert result.data is None
    assert [e.extensions["code"] for e in result.errors] == ["FORBIDDEN"]


async def test_an_anonymous_caller_has_no_points(app: Starlette) -> None:
    # when
    result = await execute(app, MY_POINTS)

    # then
    assert [e.extensions["code"] for e in result.errors] == ["UNAUTHENTICATED"]


async def test_a_ledger_cursor_beyond_32_bits_is_accepted(app: Starlette) -> None:
    # given: entry ids are 64-bit, so cursors past 2^31 are ones this API may issue
    member = await create_member()
    await credit_points(member=member, points=1)

    # when
    result = await execute(app, MY_LEDGER, {"first": 5, "after": encode_cursor(2**40)}, as_=member)

    # then
    assert result.errors is None
    assert len(result.data["me"]["ledger"]["edges"]) == 1


@pytest.mark.parametrize("days", [0, -1, 10_000])
async def test_expiring_soon_outside_its_window_is_refused(app: Starlette, days: int) -> None:
    # given
    member = await create_member()

    # when
    result = await execute(app, MY_EXPIRING_SOON, {"days": days}, as_=member)

    # then
    assert [e.extensions for e in result.errors] == [
        {"code": "INVALID_INPUT", "field": "days", "retryable": False}
    ]
