"""Till holds: placed, captured (up to the held amount) or released, or expired, exactly once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gamification.actors import Actor, ActorKind
from gamification.errors import LoyaltyError
from gamification.ledger import points
from gamification.ledger.models import EntryKind, IdempotencyKey, LedgerEntry
from gamification.members.models import Member
from gamification.rewards import holds
from gamification.rewards.models import HoldStatus, PointsHold
from gamification.stores.models import Channel, Device
from tests.factories import (
    actor_of,
    consent_of,
    create_device,
    create_member,
    create_store,
    credit_points,
    hold_member_points,
)
from tests.invariants import assert_books_balance

AN_HOUR_AGO = timedelta(hours=1)


async def _member_with(balance: int) -> Member:
    member = await create_member()
    await credit_points(member=member, points=balance)
    return member


async def _capture(till: Device, hold: PointsHold, amount: int, key: str = "c-1") -> PointsHold:
    captured, _ = await holds.capture_hold(
        actor=actor_of(till), hold_id=hold.id, points=amount, idempotency_key=key
    )
    return captured


async def _release(till: Device, hold: PointsHold, key: str = "r-1") -> PointsHold:
    released, _ = await holds.release_hold(
        actor=actor_of(till), hold_id=hold.id, idempotency_key=key
    )
    return released


async def _summary(member: Member) -> tuple[int, int, int]:
    summary = await points.summary(member.id)
    return summary.balance, summary.held, summary.available


async def _kinds() -> list[EntryKind]:
    return [e.kind for e in await LedgerEntry.all().order_by("id")]


async def assert_unchanged(
    hold: PointsHold, member: Member, *, status: HoldStatus, summary: tuple[int, int, int]
) -> None:
    assert (await PointsHold.get(id=hold.id)).status is status
    assert await _summary(member) == summary
    await assert_books_balance()


# Placing


async def test_a_hold_reserves_points_without_spending_them() -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)

    hold, replayed = await holds.place_hold(
        actor=actor_of(till),
        member_consent=consent_of(member.id),
        points=200,
        reference=" sale-1 ",
        ttl_seconds=300,
        idempotency_key="h-1",
    )

    assert not replayed
    assert (hold.status, hold.points, hold.captured, hold.reference) == (
        HoldStatus.ACTIVE,
        200,
        0,
        "sale-1",
    )
    assert (hold.store_id, hold.device_id, hold.channel) == (till.store_id, till.id, Channel.POS)  # type: ignore[attr-defined]
    assert hold.expires_at - hold.created_at == timedelta(seconds=300)
    assert await _summary(member) == (500, 200, 300)
    assert await _kinds() == [EntryKind.BONUS, EntryKind.HOLD]
    await assert_books_balance()


async def test_a_hold_beyond_the_available_points_writes_nothing() -> None:
    member = await _member_with(100)
    till = await create_device(channel=Channel.POS)
    await hold_member_points(member=member, device=till, points=60)

    with pytest.raises(LoyaltyError) as refused:
        await holds.place_hold(
            actor=actor_of(till),
            member_consent=consent_of(member.id),
            points=50,
            reference="sale-2",
            ttl_seconds=300,
            idempotency_key="h-2",
        )

    assert refused.value.code == "INSUFFICIENT_POINTS"
    assert await PointsHold.all().count() == 1
    assert await IdempotencyKey.all().count() == 0
    assert await _summary(member) == (100, 60, 40)
    await assert_books_balance()


async def test_held_points_cannot_be_spent_elsewhere() -> None:
    member = await _member_with(100)
    till = await create_device(channel=Channel.POS)
    await hold_member_points(member=member, device=till, points=80)

    with pytest.raises(LoyaltyError) as refused:
        await points.adjust_points(
            actor=Actor(kind=ActorKind.ADMIN, id=10_000),
            member_id=member.id,
            points=-30,
            reason="correction",
            idempotency_key="a-1",
        )

    assert refused.value.code == "INSUFFICIENT_POINTS"
    assert await _summary(member) == (100, 80, 20)


@pytest.mark.parametrize(
    ("amount", "reference", "ttl", "field"),
    [
        (0, "sale", 60, "points"),
        (10, "  ", 60, "reference"),
        (10, "x" * 129, 60, "reference"),
        (10, "sale", 0, "ttlSeconds"),
        (10, "sale", 24 * 3600 + 1, "ttlSeconds"),
    ],
)
async def test_a_malformed_hold_is_refused(
    amount: int, reference: str, ttl: int, field: str
) -> None:
    member = await _member_with(100)
    till = await create_device(channel=Channel.POS)

    with pytest.raises(LoyaltyError) as refused:
        await holds.place_hold(
            actor=actor_of(till),
            member_consent=consent_of(member.id),
            points=amount,
            reference=reference,
            ttl_seconds=ttl,
            idempotency_key="h-1",
        )

    assert refused.value.field == field
    assert await PointsHold.all().count() == 0
    assert await _summary(member) == (100, 0, 100)


@pytest.mark.parametrize("who", ["web", "member"])
async def test_only_kiosks_and_tills_hold_points(who: str) -> None:
    member = await _member_with(100)
    actor = actor_of(await create_device(channel=Channel.WEB)) if who == "web" else actor_of(member)

    with pytest.raises(LoyaltyError) as refused:
        await holds.place_hold(
            actor=actor,
            member_consent=consent_of(member.id),
            points=10,
            reference="sale",
            ttl_seconds=60,
            idempotency_key="h-1",
        )

    assert refused.value.code == "CHANNEL_MISMATCH"
    assert await PointsHold.all().count() == 0


# Capturing


async def test_capturing_part_of_a_hold_spends_it_and_releases_the_rest() -> None:
    # given
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(member=member, device=till, points=200)

    # when
    captured = await _capture(till, hold, 120)

    # then
    assert (captured.status, captured.captured) == (HoldStatus.CAPTURED, 120)
    assert captured.settled_at is not None
    assert await _summary(member) == (380, 0, 380)
    assert await _kinds() == [EntryKind.BONUS, EntryKind.HOLD, EntryKind.CAPTURE, EntryKind.RELEASE]
    await assert_books_balance()


async def test_capturing_all_of_a_hold_releases_nothing() -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(member=member, device=till, points=200)

    await _capture(till, hold, 200)

    assert await _summary(member) == (300, 0, 300)
    assert await _kinds() == [EntryKind.BONUS, EntryKind.HOLD, EntryKind.CAPTURE]
    await assert_books_balance()


async def test_another_device_of_the_same_store_may_capture() -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    kiosk = await create_device(channel=Channel.KIOSK, store=await till.store)
    hold = await hold_member_points(member=member, device=till, points=200)

    captured = await _capture(kiosk, hold, 50)

    assert captured.status is HoldStatus.CAPTURED


# What happens to the hold before the refused settlement.
Before = Callable[[Device, PointsHold], Awaitable[object]]


async def _nothing(till: Device, hold: PointsHold) -> None:
    return None


def _captured(amount: int) -> Before:
    async def step(till: Device, hold: PointsHold) -> PointsHold:
        return await _capture(till, hold, amount, key="c-0")

    return step


async def _released(till: Device, hold: PointsHold) -> PointsHold:
    return await _release(till, hold, key="r-0")


async def _expired(till: Device, hold: PointsHold) -> int:
    return await holds.expire_holds()


@dataclass(frozen=True)
class Refusal:
    """`settle` (capture `amount`, or release) refused with `code` after `before`; then the
    hold has `status` and the member (balance, held, available) `summary`."""

    settle: str
    code: str
    status: HoldStatus
    summary: tuple[int, int, int]
    amount: int = 100
    before: Before = _nothing
    placed: timedelta = timedelta(0)  # how long ago the (five-minute) hold was placed


_ACTIVE = (HoldStatus.ACTIVE, (500, 200, 300))
_REFUSALS = {
    "capturing more than held": Refusal("capture", "CAPTURE_EXCEEDS_HOLD", *_ACTIVE, amount=201),
    "capturing nothing": Refusal("capture", "INVALID_AMOUNT", *_ACTIVE, amount=0),
    "capturing less than nothing": Refusal("capture", "INVALID_AMOUNT", *_ACTIVE, amount=-1),
    "capturing twice": Refusal(
        "capture", "HOLD_NOT_ACTIVE", HoldStatus.CAPTURED, (400, 0, 400), before=_captured(100)
    ),
    "capturing after release": Refusal(
        "capture", "HOLD_NOT_ACTIVE", HoldStatus.RELEASED, (500, 0, 500), before=_released
    ),
    "releasing after capture": Refusal(
        "release", "HOLD_NOT_ACTIVE", HoldStatus.CAPTURED, (350, 0, 350), before=_captured(150)
    ),
    "releasing twice": Refusal(
        "release", "HOLD_NOT_ACTIVE", HoldStatus.RELEASED, (500, 0, 500), before=_released
    ),
    "releasing an expired hold": Refusal(
        "release",
        "HOLD_NOT_ACTIVE",
        HoldStatus.EXPIRED,
        (500, 0, 500),
        before=_expired,
        placed=AN_HOUR_AGO,
    ),
}


@pytest.mark.parametrize("case", list(_REFUSALS.values()), ids=list(_REFUSALS))
async def test_a_refused_settlement_changes_nothing(case: Refusal) -> None:
    # given
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(
        member=member, device=till, points=200, now=datetime.now(UTC) - case.placed
    )
    await case.before(till, hold)
    keys = await IdempotencyKey.all().count()

    settle = _capture(till, hold, case.amount) if case.settle == "capture" else _release(till, hold)

    # when
    with pytest.raises(LoyaltyError) as refused:
        await settle

    # then: no answer stored for the key either
    assert refused.value.code == case.code
    assert await IdempotencyKey.all().count() == keys
    await assert_unchanged(hold, member, status=case.status, summary=case.summary)


async def test_a_retried_capture_replays_the_first_answer() -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(member=member, device=till, points=200)
    await _capture(till, hold, 100, key="c-1")

    again, replayed = await holds.capture_hold(
        actor=actor_of(till), hold_id=hold.id, points=100, idempotency_key="c-1"
    )

    assert replayed
    assert again.captured == 100
    assert await _summary(member) == (400, 0, 400)


async def test_capturing_after_expiry_releases_the_hold_and_says_so() -> None:
    # given: a five-minute hold placed an hour ago that nobody swept yet
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(
        member=member, device=till, points=200, now=datetime.now(UTC) - AN_HOUR_AGO
    )

    # when
    with pytest.raises(LoyaltyError) as refused:
        await _capture(till, hold, 100, key="c-1")

    # then: nothing spent, the hold closed as expired, and a retry gives the same answer
    assert refused.value.code == "HOLD_EXPIRED"
    expired = await PointsHold.get(id=hold.id)
    assert (expired.status, expired.captured) == (HoldStatus.EXPIRED, 0)
    assert await _summary(member) == (500, 0, 500)
    with pytest.raises(LoyaltyError) as again:
        await _capture(till, hold, 100, key="c-1")
    assert again.value.code == "HOLD_EXPIRED"
    assert await _kinds() == [EntryKind.BONUS, EntryKind.HOLD, EntryKind.RELEASE]
    await assert_books_balance()


async def test_a_device_of_another_store_does_not_find_the_hold() -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    elsewhere = await create_device(channel=Channel.POS, store=await create_store())
    hold = await hold_member_points(member=member, device=till, points=200)

    with pytest.raises(LoyaltyError) as capture:
        await _capture(elsewhere, hold, 100)
    with pytest.raises(LoyaltyError) as release:
        await _release(elsewhere, hold)

    assert (capture.value.code, release.value.code) == ("NOT_FOUND", "NOT_FOUND")
    await assert_unchanged(hold, member, status=HoldStatus.ACTIVE, summary=(500, 200, 300))


async def test_an_unknown_hold_is_not_found() -> None:
    till = await create_device(channel=Channel.POS)

    with pytest.raises(LoyaltyError) as refused:
        await holds.capture_hold(
            actor=actor_of(till), hold_id=987_654, points=1, idempotency_key="c-1"
        )

    assert refused.value.code == "NOT_FOUND"


# Releasing


async def test_releasing_gives_every_held_point_back() -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(member=member, device=till, points=200)

    released = await _release(till, hold)

    assert (released.status, released.captured) == (HoldStatus.RELEASED, 0)
    assert await _summary(member) == (500, 0, 500)
    assert await _kinds() == [EntryKind.BONUS, EntryKind.HOLD, EntryKind.RELEASE]
    await assert_books_balance()


# Expiry


async def test_expiry_releases_each_expired_hold_once() -> None:
    # given: one expired hold and one still running
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    old = await hold_member_points(
        member=member, device=till, points=200, now=datetime.now(UTC) - AN_HOUR_AGO
    )
    current = await hold_member_points(member=member, device=till, points=100)

    # when: the expiry runs twice
    first, second = await holds.expire_holds(), await holds.expire_holds()

    # then
    assert (first, second) == (1, 0)
    assert (await PointsHold.get(id=old.id)).status is HoldStatus.EXPIRED
    assert (await PointsHold.get(id=current.id)).status is HoldStatus.ACTIVE
    assert await _summary(member) == (500, 100, 400)
    assert (await _kinds()).count(EntryKind.RELEASE) == 1
    await assert_books_balance()


async def test_expiry_leaves_settled_holds_alone() -> None:
    member = await _member_with(500)
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(member=member, device=till, points=200, ttl_seconds=60)
    await _capture(till, hold, 200)

    released = await holds.expire_holds(now=datetime.now(UTC) + timedelta(minutes=5))

    assert released == 0
    await assert_unchanged(hold, member, status=HoldStatus.CAPTURED, summary=(300, 0, 300))


async def test_points_are_not_expired_while_held_and_expire_once_released() -> None:
    # given: 300 points whose lot expires in a day, 200 of them held
    member = await create_member()
    await credit_points(member=member, points=300, expires_at=datetime.now(UTC) + timedelta(days=1))
    till = await create_device(channel=Channel.POS)
    hold = await hold_member_points(member=member, device=till, points=200)
    later = datetime.now(UTC) + timedelta(days=2)

    # when: points expire while the hold is active, then after it is released
    expired_while_held = await points.expire_points(now=later)
    await _release(till, hold)
    expired_after = await points.expire_points(now=later)

    # then
    assert (expired_while_held, expired_after) == (100, 200)
    assert await _summary(member) == (0, 0, 0)
    await assert_books_balance()
