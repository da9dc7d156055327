"""The event catalog against what the service emits: a member's journey through every kind of
write, and every event it left in the outbox checked against its type's JSON Schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from gamification.badges.models import BadgeRule
from gamification.earning import eco_actions
from gamification.earning.purchases import refund_purchase
from gamification.events.models import EventKind
from gamification.ledger import points
from gamification.members.models import Role
from gamification.notifications import scheduler
from gamification.outbox import catalog
from gamification.outbox.models import OutboxEvent
from gamification.privacy import erasure
from gamification.rewards import holds
from gamification.stores.models import Channel
from gamification.tiers import ladder
from tests.factories import (
    actor_of,
    check_in,
    create_badge,
    create_cause,
    create_challenge,
    create_device,
    create_earn_rule,
    create_eco_kind,
    create_member,
    create_purchase,
    create_reward,
    create_tier_ladder,
    credit_points,
    donate,
    hold_member_points,
    redeem_reward,
)

_EVENTS_DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"


@pytest.mark.parametrize("event_type", sorted(catalog.EVENT_TYPES))
def test_every_schema_is_a_valid_json_schema(event_type: str) -> None:
    jsonschema.Draft202012Validator.check_schema(catalog.EVENT_TYPES[event_type].schema)


def test_the_docs_show_the_catalog() -> None:
    assert _EVENTS_DOC.read_text() == catalog.markdown()


async def test_every_event_of_a_journey_matches_its_schema() -> None:
    # given: a program with tiers, a challenge with a badge, a reward, a cause, an eco action
    await create_earn_rule()
    await create_tier_ladder()
    badge = await create_badge(rule=BadgeRule.FIRST_PURCHASE)
    await create_challenge(
        event_kind=EventKind.CHECK_IN, target="1", reward_points=5, reward_badge_id=None
    )
    del badge
    reward = await create_reward(cost_points=10, channels=(Channel.APP, Channel.KIOSK))
    cause = await create_cause(points_per_unit=10)
    await create_eco_kind(code="refill")
    admin = await create_member(role=Role.ADMIN)
    member = await create_member()
    till = await create_device(channel=Channel.POS)

    # when: the member goes through every kind of write
    purchase = await create_purchase(member=member, recorded_by=till, amount="150.00")
    await refund_purchase(
        actor=actor_of(admin),
        purchase_id=purchase.id,
        amount=Decimal("10.00"),
        reason="broken",
        idempotency_key="refund-1",
    )
    await eco_actions.record_eco_action(
        actor=actor_of(till), member_id=member.id, kind_code="refill", quantity=2, external_id="e1"
    )
    await check_in(member=member, at=datetime.now(UTC))
    await redeem_reward(member=member, reward=reward)
    await donate(member=member, cause=cause, points=10)
    captured = await hold_member_points(member=member, device=till, points=20)
    await holds.capture_hold(
        actor=actor_of(till), hold_id=captured.id, points=15, idempotency_key="cap-1"
    )
    released = await hold_member_points(member=member, device=till, points=5)
    await holds.release_hold(actor=actor_of(till), hold_id=released.id, idempotency_key="rel-1")
    await points.adjust_points(
        actor=actor_of(admin), member_id=member.id, points=-1, reason="fix", idempotency_key="a1"
    )
    await credit_points(member=member, points=7, expires_at=datetime.now(UTC) + timedelta(days=1))
    await scheduler.notify()  # the points expiring tomorrow: a notice
    await points.expire_points(now=datetime.now(UTC) + timedelta(days=2))
    await ladder.set_tier_floor(member.id, "Gold")
    await erasure.erase_member(actor=actor_of(admin), member_id=member.id, reason="asked")

    # then: every event matches its type's schema and version
    events = await OutboxEvent.all().order_by("seq")
    for event in events:
        event_type = catalog.EVENT_TYPES[event.type]
        assert event.version == event_type.version
        jsonschema.validate(
            event.payload,
            event_type.schema,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
    # and: the journey reached every type a member's writes emit
    emitted = {event.type for event in events}
    assert emitted == set(catalog.EVENT_TYPES) - {"webhook_endpoint.disabled"}, emitted
