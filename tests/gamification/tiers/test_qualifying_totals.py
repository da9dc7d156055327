"""The maintained qualifying-point totals (`gamification.tiers.qualifying`) equal a recomputation
from `domain_event` after any sequence of the writes that change qualifying points, and the
member state reads the same window sum from them as from the events."""

from __future__ import annotations

import contextlib
import importlib
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise import connections
from tortoise.transactions import in_transaction

from gamification import sql
from gamification.challenges.models import GoalType
from gamification.earning import eco_actions, purchases
from gamification.earning.models import Purchase
from gamification.errors import LoyaltyError
from gamification.events.models import EventKind
from gamification.members import state as member_state
from gamification.members.models import Member
from gamification.stores.models import Channel, Device
from gamification.tiers import qualifying
from gamification.tiers.windows import window_start
from tests.factories import (
    OverrideSettings,
    actor_of,
    check_in,
    create_challenge,
    create_device,
    create_earn_rule,
    create_eco_kind,
    create_member,
    create_tier_ladder,
)

_numbers = itertools.count(1)

steps = st.lists(
    st.one_of(
        # a purchase: amount, then how long before now it occurred (up to ~14 months)
        st.tuples(
            st.just("purchase"),
            st.integers(min_value=1, max_value=400),
            st.integers(min_value=0, max_value=430 * 86_400),
        ),
        # a refund: which purchase (modulo), which share of what is left (percent)
        st.tuples(
            st.just("refund"),
            st.integers(min_value=0, max_value=50),
            st.integers(min_value=1, max_value=100),
        ),
        st.tuples(st.just("eco"), st.integers(min_value=1, max_value=5), st.just(0)),
        st.tuples(st.just("check_in"), st.integers(min_value=0, max_value=30), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


async def _window_from_events(member_id: int, since: datetime, until: datetime) -> int:
    [row] = await sql.fetch(
        connections.get("default"),
        "SELECT SUM(qualifying_points) AS total FROM domain_event "
        "WHERE member_id = $1 AND occurred_at >= $2 AND occurred_at < $3",
        member_id,
        since,
        until,
    )
    return int(row["total"] or 0)


async def _window_from_totals(member_id: int, now: datetime, since: datetime) -> int:
    async with in_transaction() as conn:
        state = await member_state.load(conn, member_id, now, since=since, purchase_cap=10)
    return state.qualifying


async def _purchase(device: Device, member: Member, amount: int, occurred_at: datetime) -> int:
    number = next(_numbers)
    result = await purchases.record_purchase(
        actor=actor_of(device),
        data=purchases.PurchaseInput(
            member_id=member.id,
            card_number=None,
            amount=Decimal(amount),
            currency="EUR",
            channel=device.channel,
            store_id=device.store_id,  # type: ignore[attr-defined]
            external_id=f"qualifying-{number}",
            occurred_at=occurred_at,
        ),
        idempotency_key=f"qualifying-purchase-{number}",
    )
    return result.purchase_id


async def _refund(device: Device, purchase_id: int, percent: int) -> None:
    purchase = await Purchase.get(id=purchase_id)
    left = Decimal(purchase.amount) - Decimal(purchase.refunded_amount)
    amount = (left * percent / 100).quantize(Decimal("0.01"))
    if amount <= 0:
        return
    await purchases.refund_purchase(
        actor=actor_of(device),
        purchase_id=purchase_id,
        amount=amount,
        reason="returned",
        idempotency_key=f"qualifying-refund-{next(_numbers)}",
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps, since_days=st.integers(min_value=0, max_value=400))
async def test_the_totals_equal_the_events_after_random_writes(
    override_settings: OverrideSettings,
    steps: list[tuple[str, int, int]],
    since_days: int,
) -> None:
    # given: purchases earn, challenge bonuses qualify, a ladder to climb, an eco kind
    override_settings(tier_bonus_points_qualify=True)
    if not await Device.exists():
        await create_earn_rule()
        await create_tier_ladder()
        await create_challenge(
            goal_type=GoalType.COUNT,
            target="2",
            event_kind=EventKind.PURCHASE_RECORDED,
            reward_points=40,
            max_completions=100,
            starts_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
        await create_challenge(
            goal_type=GoalType.COUNT,
            target="1",
            event_kind=EventKind.ECO_ACTION_RECORDED,
            reward_points=15,
            max_completions=100,
            starts_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
        await create_eco_kind(code="recycling", points_per_unit=5)
    device = await Device.filter(channel=Channel.KIOSK).first() or await create_device()
    member = await create_member()
    bought: list[int] = []

    for kind, number, extra in steps:
        # when
        now = datetime.now(UTC)
        if kind == "purchase":
            bought.append(await _purchase(device, member, number, now - timedelta(seconds=extra)))
        elif kind == "refund" and bought:
            await _refund(device, bought[number % len(bought)], extra)
        elif kind == "eco":
            await eco_actions.record_eco_action(
                actor=actor_of(device),
                member_id=member.id,
                kind_code="recycling",
                quantity=number,
                external_id=f"qualifying-eco-{next(_numbers)}",
            )
        elif kind == "check_in":
            with contextlib.suppress(LoyaltyError):  # already checked in that day
                await check_in(member=member, at=now - timedelta(days=number))

        # then: every bucket is what the events add up to
        assert await qualifying.differences() == []

    # and the state's window sum (buckets plus the boundary days) is the events' sum
    now = datetime.now(UTC)
    for since in (window_start(now), now - timedelta(days=since_days, seconds=since_days * 37)):
        until = now + timedelta(seconds=1)
        expected = await _window_from_events(member.id, since, until)
        assert await _window_from_totals(member.id, now, since) == expected


async def test_a_window_reads_the_boundary_days_from_the_events(
    override_settings: OverrideSettings,
) -> None:
    # given: purchases on both sides of the window's start, on its first day, and one just
    # inside the clock skew after its end
    await create_earn_rule()
    device = await create_device()
    member = await create_member()
    now = datetime.now(UTC)
    since = window_start(now)
    for moment in (
        since - timedelta(days=3),
        since - timedelta(microseconds=1),
        since,
        since + timedelta(hours=1),
        since + timedelta(days=40),
        now - timedelta(hours=1),
        now + timedelta(seconds=30),  # within the allowed clock skew, after `until`
    ):
        await _purchase(device, member, 10, moment)

    # when
    kept = await _window_from_totals(member.id, now, since)

    # then
    assert kept == await _window_from_events(member.id, since, now + timedelta(seconds=1))
    assert kept == 40


async def test_the_migration_backfills_the_totals_from_the_events() -> None:
    # given: a history, and its totals lost (as before the migration)
    await create_earn_rule()
    device = await create_device()
    member = await create_member()
    now = datetime.now(UTC)
    for days in (0, 1, 35, 200, 380):
        await _purchase(device, member, 7 + days, now - timedelta(days=days))
    conn = connections.get("default")
    await sql.fetch(conn, "DELETE FROM qualifying_points_bucket")
    assert await qualifying.differences() != []

    # when
    migration = importlib.import_module("gamification.migrations.0009_qualifying_buckets")
    await migration.backfill(None, SimpleNamespace(client=conn))

    # then
    assert await qualifying.differences() == []
