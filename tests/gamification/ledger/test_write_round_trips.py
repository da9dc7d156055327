"""The points write paths in few round trips: held-back writes sent with the idempotency claim,
lots taken in one UPDATE, program configuration cached per process — and the ledger's
guarantees unchanged by any of it."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from redis.asyncio import Redis
from tortoise import connections
from tortoise.transactions import in_transaction

from gamification import program_cache
from gamification.badges.models import BadgeRule
from gamification.challenges.models import (
    Challenge,
    ChallengeContribution,
    ChallengeProgress,
    GoalType,
    WindowKind,
)
from gamification.earning import rules as earning
from gamification.earning.models import EarnPromotion, EarnRule
from gamification.errors import ErrorCode, NotFound
from gamification.events import facts as domain_events
from gamification.events import progress as progress_updates
from gamification.events import realtime
from gamification.events.models import EventKind
from gamification.leaderboards import reconcile, updates
from gamification.ledger import accounts, movements, points
from gamification.ledger.entries import Origin, Reference
from gamification.ledger.models import EntryKind, PointsLot
from gamification.ledger.written import collect_written_entries
from gamification.members.models import Member, Role
from gamification.stores.models import Channel, Device
from server.database import _keep_session, tortoise_config
from server.settings import Settings
from tests.factories import (
    actor_of,
    create_badge,
    create_challenge,
    create_device,
    create_earn_rule,
    create_member,
    create_purchase,
    create_tier_ladder,
    credit_points,
)
from tests.invariants import assert_books_balance


def _statements(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"]


def _is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


async def test_a_spend_locks_reads_lots_and_writes_in_few_statements(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: a member with points in three lots
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    for days in (10, 20, 30):
        await credit_points(
            member=member, points=10, expires_at=datetime.now(UTC) + timedelta(days=days)
        )

    # when: a spend that takes from all three lots
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        result = await points.adjust_points(
            actor=actor_of(admin), member_id=member.id, points=-25, reason="x", idempotency_key="k"
        )

    # then: lock, lots, entry, then the lots, the outbox, the account and the claim: one
    # statement on PostgreSQL, one each on SQLite
    statements = _statements(caplog)
    lot_updates = [s for s in statements if re.search(r'UPDATE "points_lot"', s)]
    assert len(lot_updates) == 1, statements
    assert len(statements) == (4 if _is_postgres() else 7), statements
    assert result.balance == 5
    remaining = await PointsLot.all().order_by("expires_at").values_list("remaining", flat=True)
    assert list(remaining) == [0, 0, 5]
    await assert_books_balance()


async def test_a_retry_of_a_spend_that_emptied_the_balance_replays_the_first_answer() -> None:
    # given: a spend of the whole balance
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    await credit_points(member=member, points=40)
    first = await points.adjust_points(
        actor=actor_of(admin), member_id=member.id, points=-40, reason="x", idempotency_key="k"
    )

    # when: the client retries it (its work alone would now find no points)
    again = await points.adjust_points(
        actor=actor_of(admin), member_id=member.id, points=-40, reason="x", idempotency_key="k"
    )

    # then: the first answer, not INSUFFICIENT_POINTS, and nothing spent twice
    assert (again.entry_id, again.balance, again.replayed) == (first.entry_id, 0, True)
    assert (await points.summary(member.id)).balance == 0
    await assert_books_balance()


async def test_a_failed_request_leaves_its_key_free() -> None:
    # given: a spend refused for want of points
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    with pytest.raises(movements.InsufficientPoints):
        await points.adjust_points(
            actor=actor_of(admin), member_id=member.id, points=-5, reason="x", idempotency_key="k"
        )

    # when: the member earns points and the same key is used again
    await credit_points(member=member, points=5)
    result = await points.adjust_points(
        actor=actor_of(admin), member_id=member.id, points=-5, reason="x", idempotency_key="k"
    )

    # then
    assert (result.balance, result.replayed) == (0, False)


async def test_an_unknown_member_is_refused_when_its_account_is_locked() -> None:
    admin = await create_member(role=Role.ADMIN)

    with pytest.raises(NotFound) as refused:
        await points.adjust_points(
            actor=actor_of(admin), member_id=987_654, points=5, reason="x", idempotency_key="k"
        )

    assert refused.value.code is ErrorCode.UNKNOWN_MEMBER


async def test_an_earn_rule_changed_through_this_process_applies_at_once() -> None:
    await create_earn_rule(points_per_unit="1")
    assert (await earning.rule_for("EUR")).points_per_unit == Decimal(1)

    await create_earn_rule(points_per_unit="3")

    assert (await earning.rule_for("EUR")).points_per_unit == Decimal(3)


async def test_a_change_made_by_another_process_applies_once_the_cache_time_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the rule and the app channel's promotions read (and cached) by this process
    await create_earn_rule(points_per_unit="1")
    now = datetime.now(UTC)
    assert (await earning.rule_for("EUR")).points_per_unit == Decimal(1)
    assert await earning.best_promotion(Channel.APP, now) == Decimal(1)

    # when: another process changes both behind this one's back
    await EarnRule.filter(currency="EUR").update(points_per_unit=Decimal(2))
    await EarnPromotion.create(
        name="Double",
        channel=Channel.APP,
        multiplier=Decimal(2),
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )

    # then: this process keeps its copy for the cache time, then reads the change
    assert (await earning.rule_for("EUR")).points_per_unit == Decimal(1)
    later = time.monotonic() + Settings().program_cache_seconds + 1
    monkeypatch.setattr(program_cache.time, "monotonic", lambda: later)
    assert (await earning.rule_for("EUR")).points_per_unit == Decimal(2)
    assert await earning.best_promotion(Channel.APP, now) == Decimal(2)


def test_pooled_postgresql_connections_skip_the_reset_query() -> None:
    settings = Settings(database_url="postgres://postgres@127.0.0.1:5432/loyalty")

    connection = tortoise_config(settings)["connections"]["default"]

    assert connection["credentials"]["reset"] is _keep_session
    assert int(connection["credentials"]["maxsize"]) == settings.database_pool_max


# The gamification engine inside the write transaction, and the after-commit work.


async def _gamified_member() -> tuple[Member, Device]:
    """A member with a tier, both milestone badges and two challenges whose windows already
    have rows (one earlier purchase), recorded by a kiosk."""
    await create_earn_rule(points_per_unit="1")
    await create_tier_ladder()
    await create_badge(rule=BadgeRule.FIRST_PURCHASE)
    await create_badge(rule=BadgeRule.PURCHASE_COUNT, threshold=50)
    for goal in (GoalType.COUNT, GoalType.SUM):
        await create_challenge(
            goal_type=goal,
            target="1000",
            event_kind=EventKind.PURCHASE_RECORDED,
            window_kind=WindowKind.MONTHLY,
        )
    member = await create_member()
    device = await create_device(channel=Channel.KIOSK)
    await create_purchase(member=member, recorded_by=device)
    return member, device


async def test_a_purchase_moving_challenges_tiers_and_badges_costs_six_statements(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    member, device = await _gamified_member()

    # when: a purchase that counts for both challenges and qualifies for the tier
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        purchase = await create_purchase(member=member, recorded_by=device, amount="20.00")
    statements = _statements(caplog)[:-1]  # the last one is the factory's read-back

    # then: lock, member state, purchase, entry, the event with the progress read, and the
    # held-back writes (the qualifying-point totals among them) with the idempotency claim (one
    # by one on SQLite)
    assert len(statements) == (6 if _is_postgres() else 15), statements
    assert not any(
        re.search(r'FROM "(challenge|tier|badge|member_tier|member_badge)"', s) for s in statements
    ), statements
    rows = await ChallengeProgress.filter(member_id=member.id).values_list("current", flat=True)
    assert sorted(Decimal(r) for r in rows) == [Decimal(2), Decimal("30.00")]
    assert await ChallengeContribution.filter(event_id__gt=0).count() == 4
    assert purchase.points_earned == 20


async def test_a_purchase_that_matches_no_challenge_reads_no_progress(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: no challenge counts purchases
    await create_earn_rule(points_per_unit="1")
    await create_challenge(event_kind=EventKind.CHECK_IN)
    member = await create_member()
    device = await create_device(channel=Channel.KIOSK)
    await create_purchase(member=member, recorded_by=device)  # the caches are warm

    # when
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        await create_purchase(member=member, recorded_by=device)
    statements = _statements(caplog)[:-1]

    # then: lock, member state, purchase, entry, event, the held-back writes with the claim
    assert not any("challenge" in s for s in statements), statements
    assert len(statements) == (6 if _is_postgres() else 11), statements


async def test_after_commit_the_boards_and_notices_share_one_read(
    caplog: pytest.LogCaptureFixture, redis: Redis
) -> None:
    # given: a purchase that moves two challenges and earns a first badge, collected as the
    # GraphQL layer collects them
    member, device = await _gamified_member()
    await reconcile.reconcile_member(redis, member.id)  # the first purchase is on the board
    await create_badge(rule=BadgeRule.FIRST_PURCHASE)  # new: awarded by the next purchase
    with (
        collect_written_entries() as written,
        progress_updates.collect_progress_updates() as progress,
    ):
        await create_purchase(member=member, recorded_by=device)

    # when: the leaderboards, then the notices, as the extensions run them
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        await updates.record_committed(redis, written.entries)
        notices = await realtime.committed_entry_notices(written.entries)
        notices += await realtime.challenge_progress_notices(progress.changes)
        notices += await realtime.gamification_notices(progress)

    # then: one read for the entries, whatever the rest
    statements = _statements(caplog)
    assert len(statements) == 1, statements
    topics = sorted(
        n.topic.value for n in notices if n.channel == realtime.member_channel(member.id)
    )
    assert topics == ["badgeAwarded", "challengeProgress", "challengeProgress", "pointsChanged"]
    [points_notice] = [n for n in notices if n.topic is realtime.Topic.POINTS_CHANGED]
    assert points_notice.data["balance"] == (await points.summary(member.id)).balance
    assert points_notice.version == written.entries[-1].id


class _RolledBack(Exception):
    pass


async def _purchase_event_then_roll_back(member: Member) -> None:
    async with in_transaction() as conn:
        account = await accounts.lock_member_account(member.id, conn)
        entry = await movements.credit(
            account,
            5,
            kind=EntryKind.EARN,
            origin=Origin.system(),
            reference=Reference("test", "1"),
            expires_at=datetime.now(UTC) + timedelta(days=30),
        )
        await domain_events.record(
            account,
            member.id,
            domain_events.Fact(
                kind=EventKind.PURCHASE_RECORDED,
                source_key="purchase:rolled-back",
                occurred_at=datetime.now(UTC),
                channel=Channel.KIOSK,
                amount=Decimal(5),
                qualifying_points=entry.points,
            ),
        )
        raise _RolledBack


async def test_notices_of_a_rolled_back_transaction_are_not_sent() -> None:
    # given: a purchase event that moves challenges and awards a badge, then rolls back
    member, _ = await _gamified_member()
    await create_badge(rule=BadgeRule.FIRST_PURCHASE)
    with (
        collect_written_entries() as written,
        progress_updates.collect_progress_updates() as progress,
        pytest.raises(_RolledBack),
    ):
        await _purchase_event_then_roll_back(member)
    assert progress.changes
    assert progress.awards

    # when
    notices = await realtime.committed_entry_notices(written.entries)
    notices += await realtime.challenge_progress_notices(progress.changes)
    notices += await realtime.gamification_notices(progress)

    # then
    assert notices == []


async def test_a_challenge_created_by_another_process_counts_once_the_cache_time_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: this process has cached the (empty) catalog of purchase challenges
    await create_earn_rule(points_per_unit="1")
    member = await create_member()
    device = await create_device(channel=Channel.KIOSK)
    await create_purchase(member=member, recorded_by=device)

    # when: another process creates one
    challenge = await Challenge.create(
        title="Elsewhere",
        goal_type=GoalType.COUNT,
        target=Decimal(5),
        event_kind=EventKind.PURCHASE_RECORDED,
        window_kind=WindowKind.FIXED,
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2030, 1, 1, tzinfo=UTC),
    )

    # then: it counts from the moment this process's copy runs out
    await create_purchase(member=member, recorded_by=device)
    assert not await ChallengeProgress.filter(challenge_id=challenge.id).exists()
    later = time.monotonic() + Settings().program_cache_seconds + 1
    monkeypatch.setattr(program_cache.time, "monotonic", lambda: later)
    await create_purchase(member=member, recorded_by=device)
    [progress] = await ChallengeProgress.filter(challenge_id=challenge.id)
    assert progress.current == Decimal(1)
