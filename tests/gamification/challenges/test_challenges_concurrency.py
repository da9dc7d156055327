"""Two events completing one challenge at the same moment award it once (row locks)."""

from __future__ import annotations

import asyncio

import pytest

from gamification.challenges.models import ChallengeCompletion
from gamification.earning import eco_actions
from gamification.events.models import EventKind
from gamification.ledger.models import EntryKind, LedgerEntry
from tests.factories import (
    actor_of,
    create_challenge,
    create_device,
    create_eco_kind,
    create_member,
)
from tests.invariants import assert_books_balance

pytestmark = pytest.mark.postgres


async def test_concurrent_events_completing_one_challenge_reward_it_once() -> None:
    # given: one action away from completion, twelve arrive at once
    await create_eco_kind()
    challenge = await create_challenge(
        target="2", event_kind=EventKind.ECO_ACTION_RECORDED, reward_points=100
    )
    devices = [await create_device() for _ in range(4)]
    member = await create_member()
    await eco_actions.record_eco_action(
        actor=actor_of(devices[0]),
        member_id=member.id,
        kind_code="recycling",
        quantity=1,
        external_id="first",
    )

    # when
    await asyncio.gather(
        *(
            eco_actions.record_eco_action(
                actor=actor_of(devices[n % 4]),
                member_id=member.id,
                kind_code="recycling",
                quantity=1,
                external_id=f"race-{n}",
            )
            for n in range(12)
        )
    )

    # then
    assert await ChallengeCompletion.filter(challenge_id=challenge.id).count() == 1
    bonuses = await LedgerEntry.filter(kind=EntryKind.BONUS, reference_type="challenge").count()
    assert bonuses == 1
    await assert_books_balance()
