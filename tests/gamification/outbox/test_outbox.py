"""The outbox is written in the transaction of what it describes: committed with it, rolled back
with it, and sent with the transaction's last statement."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from gamification import deferred_writes
from gamification.errors import LoyaltyError
from gamification.ledger import points
from gamification.members.models import Role
from gamification.outbox.emit import emit
from gamification.outbox.models import OutboxEvent
from tests.factories import (
    actor_of,
    create_earn_rule,
    create_member,
    create_purchase,
    credit_points,
)


async def test_a_purchase_writes_its_events_with_it() -> None:
    # given
    member = await create_member()
    await create_earn_rule()

    # when
    purchase = await create_purchase(member=member, amount="10.00")

    # then: the points it earned and the purchase, in the order they happened
    events = await OutboxEvent.filter(member_id=member.id).order_by("seq")
    assert sorted(e.type for e in events) == ["points.changed", "purchase.recorded"]
    by_type = {e.type: e for e in events}
    assert by_type["points.changed"].payload["balance"] == purchase.points_earned
    assert by_type["purchase.recorded"].payload["sourceKey"] == f"purchase:{purchase.id}"
    assert all(e.dispatched_at is None for e in events)
    assert len({e.event_id for e in events}) == len(events)


async def test_a_refused_spend_leaves_no_event() -> None:
    # given: a member with 10 points
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    await credit_points(member=member, points=10)
    before = await OutboxEvent.all().count()

    # when: a spend of more than the balance fails
    with pytest.raises(LoyaltyError):
        await points.adjust_points(
            actor=actor_of(admin), member_id=member.id, points=-50, reason="x", idempotency_key="k"
        )

    # then
    assert await OutboxEvent.all().count() == before


async def test_events_held_back_are_dropped_with_a_rolled_back_transaction() -> None:
    # given / when: two events emitted in a transaction that then fails
    class Abandon(Exception):
        pass

    async def emit_then_fail() -> None:
        async with in_transaction() as conn:
            with deferred_writes.holding_back_writes(conn):
                await emit(conn, type="badge.awarded", member_id=None, data={})
                await emit(conn, type="badge.awarded", member_id=None, data={})
                raise Abandon

    with pytest.raises(Abandon):
        await emit_then_fail()

    # then
    assert await OutboxEvent.all().count() == 0


async def test_held_back_events_go_in_one_statement_with_the_last_one() -> None:
    # when: three events in one transaction, flushed with its last statement
    async with in_transaction() as conn:
        with deferred_writes.holding_back_writes(conn):
            ids = [
                await emit(conn, type="badge.awarded", member_id=None, data={"n": n})
                for n in range(3)
            ]
            assert await OutboxEvent.all().using_db(conn).count() == 0  # held back
            await deferred_writes.flush_held_writes(conn)

    # then: in the order they were emitted
    events = await OutboxEvent.all().order_by("seq")
    assert [e.event_id for e in events] == ids
    assert [e.payload for e in events] == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_an_unknown_type_is_a_programming_error() -> None:
    async with in_transaction() as conn:
        with pytest.raises(ValueError, match="unknown event type"):
            await emit(conn, type="no.such", member_id=None, data={})
