from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from gamification.ledger import accounts, movements, points
from gamification.ledger.entries import Reference
from gamification.ledger.models import EntryKind, LedgerEntry, PointsLot
from gamification.ledger.movements import InsufficientPoints
from gamification.members.models import Member
from tests.factories import consent_of, create_member
from tests.gamification.ledger.helpers import LATER, NOW, ORIGIN, earn
from tests.invariants import assert_books_balance

SOON = NOW + timedelta(days=10)


async def spend(member: Member, amount: int, *, now: datetime = NOW) -> LedgerEntry:
    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn, now)
        entry = await movements.debit(
            account,
            amount,
            kind=EntryKind.REDEEM,
            origin=ORIGIN,
            reference=Reference("test"),
            consent=consent_of(member.id),
        )
        await accounts.save_account(account)
    return entry


async def test_earning_creates_an_entry_and_a_lot() -> None:
    member = await create_member()

    entry = await earn(member, 120)

    summary = await points.summary(member.id)
    assert (summary.balance, summary.available, summary.lifetime_earned) == (120, 120, 120)
    lot = await PointsLot.get(entry_id=entry.id)
    assert (lot.points, lot.remaining) == (120, 120)
    await assert_books_balance()


async def test_spending_takes_the_earliest_expiring_lot_first() -> None:
    # given: a late-expiring lot earned first, then an early-expiring one
    member = await create_member()
    late = await earn(member, 100, expires_at=LATER)
    early = await earn(member, 50, expires_at=SOON)

    # when
    entry = await spend(member, 70)

    # then
    assert (await PointsLot.get(entry_id=early.id)).remaining == 0
    assert (await PointsLot.get(entry_id=late.id)).remaining == 80
    assert entry.points == -70
    await assert_books_balance()


async def test_spending_walks_many_lots_across_pages_in_expiry_order() -> None:
    # given: 150 lots of 2 points (several pages of lots), expiring on 50 days, three per day
    member = await create_member()
    lots = [
        await earn(member, 2, expires_at=SOON + timedelta(days=day))
        for day in range(50)
        for _ in range(3)
    ]

    # when: a spend that needs all but the last lot and half of it
    entry = await spend(member, 2 * 149 + 1)

    # then: taken earliest expiry first, ties in creation order; the last lot keeps 1
    remaining = [(await PointsLot.get(entry_id=lot.id)).remaining for lot in lots]
    assert remaining == [0] * 149 + [1]
    assert len(entry.lots) == 150
    await assert_books_balance()


async def test_spending_more_than_available_writes_nothing() -> None:
    member = await create_member()
    await earn(member, 30)

    with pytest.raises(InsufficientPoints):
        await spend(member, 31)

    assert (await points.summary(member.id)).balance == 30
    assert await LedgerEntry.all().count() == 1
    await assert_books_balance()


async def test_held_points_are_not_available_and_capture_consumes_lots() -> None:
    member = await create_member()
    await earn(member, 100)
    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn, NOW)
        await movements.place_hold(
            account,
            60,
            origin=ORIGIN,
            reference=Reference("hold"),
            consent=consent_of(member.id),
        )
        await accounts.save_account(account)
    with pytest.raises(InsufficientPoints):
        await spend(member, 41)

    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn, NOW)
        await movements.settle_hold(
            account,
            60,
            45,
            origin=ORIGIN,
            reference=Reference("hold"),
            consent=consent_of(member.id),
        )
        await accounts.save_account(account)

    summary = await points.summary(member.id)
    assert (summary.balance, summary.held, summary.available) == (55, 0, 55)
    await assert_books_balance()


async def test_expiry_runs_exactly_once_even_when_run_twice_at_once() -> None:
    member = await create_member()
    await earn(member, 40, expires_at=SOON)
    await earn(member, 25, expires_at=LATER)
    after_expiry = SOON + timedelta(seconds=1)

    results = await asyncio.gather(
        points.expire_points(now=after_expiry), points.expire_points(now=after_expiry)
    )
    again = await points.expire_points(now=after_expiry)

    assert sorted(results) == [0, 40]
    assert again == 0
    assert (await points.summary(member.id)).balance == 25
    assert await LedgerEntry.filter(kind=EntryKind.EXPIRE).count() == 1
    await assert_books_balance()


async def test_expiry_never_takes_held_points() -> None:
    member = await create_member()
    await earn(member, 50, expires_at=SOON)
    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn, NOW)
        await movements.place_hold(
            account,
            30,
            origin=ORIGIN,
            reference=Reference("hold"),
            consent=consent_of(member.id),
        )
        await accounts.save_account(account)

    expired = await points.expire_points(now=SOON + timedelta(days=1))

    summary = await points.summary(member.id)
    assert expired == 20
    assert (summary.balance, summary.held) == (30, 30)
    await assert_books_balance()


async def test_a_clawback_the_balance_cannot_cover_is_repaid_by_the_next_earning() -> None:
    member = await create_member()
    await earn(member, 100)
    await spend(member, 80)

    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn, NOW)
        _, owed = await movements.claw_back(account, 50, origin=ORIGIN, reference=Reference("r"))
        await accounts.save_account(account)
    assert owed == 30
    assert (await points.summary(member.id)).balance == 0

    await earn(member, 100)

    summary = await points.summary(member.id)
    assert (summary.balance, summary.clawback_outstanding) == (70, 0)
    await assert_books_balance()


async def test_verification_detects_an_edited_entry() -> None:
    member = await create_member()
    await earn(member, 10)
    second = await earn(member, 20)
    await earn(member, 30)

    await LedgerEntry.filter(id=second.id).update(points=2000)

    check = await points.proof(member.id)
    assert not check.ok
    assert check.first_broken_entry_id == second.id


async def test_verification_detects_a_deleted_entry() -> None:
    member = await create_member()
    await earn(member, 10)
    second = await earn(member, 20)
    await earn(member, 30)

    await PointsLot.filter(entry_id=second.id).delete()
    await LedgerEntry.filter(id=second.id).delete()

    check = await points.proof(member.id)
    assert not check.ok
    assert check.problem == "a missing entry"


async def test_verification_detects_a_deleted_latest_entry() -> None:
    member = await create_member()
    await earn(member, 10)
    last = await earn(member, 20)

    await PointsLot.filter(entry_id=last.id).delete()
    await LedgerEntry.filter(id=last.id).delete()

    assert not (await points.proof(member.id)).ok
    broken = await points.verify_all()
    assert [b.account_id for b in broken] == [last.account_id]  # type: ignore[attr-defined]
