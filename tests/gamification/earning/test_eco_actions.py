"""Eco actions: points through the ledger, idempotent external ids, challenges fed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gamification.challenges.models import ChallengeCompletion, GoalType
from gamification.earning import eco_actions
from gamification.earning.models import EcoAction
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound
from gamification.events.models import DomainEvent, EventKind
from gamification.ledger.models import LedgerEntry
from tests.factories import (
    actor_of,
    create_challenge,
    create_device,
    create_eco_kind,
    create_member,
    create_tier_ladder,
)
from tests.invariants import assert_books_balance


async def test_an_eco_action_earns_points_and_qualifies_for_tiers() -> None:
    # given
    await create_tier_ladder()
    await create_eco_kind(points_per_unit=25)
    device = await create_device()
    member = await create_member()

    # when
    result = await eco_actions.record_eco_action(
        actor=actor_of(device),
        member_id=member.id,
        kind_code="recycling",
        quantity=4,
        external_id="bottle-machine-1",
    )

    # then
    assert (result.points, result.replayed) == (100, False)
    event = await DomainEvent.get(member_id=member.id, kind=EventKind.ECO_ACTION_RECORDED)
    assert (event.qualifying_points, event.subject, event.amount) == (100, "recycling", 4)
    from gamification.tiers import ladder as tiers

    assert (await tiers.current_tier(member.id)).name == "Silver"  # type: ignore[union-attr]
    await assert_books_balance()


async def test_the_same_external_id_replays() -> None:
    await create_eco_kind()
    device = await create_device()
    member = await create_member()
    args = {"actor": actor_of(device), "member_id": member.id, "kind_code": "recycling"}

    await eco_actions.record_eco_action(**args, quantity=2, external_id="x1")  # type: ignore[arg-type]
    again = await eco_actions.record_eco_action(**args, quantity=2, external_id="x1")  # type: ignore[arg-type]

    assert again.replayed
    assert await EcoAction.all().count() == 1
    assert await LedgerEntry.filter(reference_type="eco_action").count() == 1
    with pytest.raises(Conflict) as error:
        await eco_actions.record_eco_action(**args, quantity=3, external_id="x1")  # type: ignore[arg-type]
    assert error.value.code is ErrorCode.ECO_ACTION_CONFLICT


async def test_an_eco_challenge_sums_quantities() -> None:
    await create_eco_kind()
    await create_eco_kind(code="refill")
    challenge = await create_challenge(
        goal_type=GoalType.SUM,
        target="10",
        event_kind=EventKind.ECO_ACTION_RECORDED,
        filter_eco_kind="recycling",
        reward_points=40,
    )
    device = await create_device()
    member = await create_member()

    for n, (kind, quantity) in enumerate([("recycling", 6), ("refill", 9), ("recycling", 4)]):
        await eco_actions.record_eco_action(
            actor=actor_of(device),
            member_id=member.id,
            kind_code=kind,
            quantity=quantity,
            external_id=f"e{n}",
        )

    assert await ChallengeCompletion.filter(challenge_id=challenge.id).count() == 1
    await assert_books_balance()


@pytest.mark.parametrize("quantity", [0, -1, 51, 10**9])
async def test_a_quantity_at_or_below_zero_or_absurd_is_refused(quantity: int) -> None:
    await create_eco_kind(max_quantity=50)
    device = await create_device()
    member = await create_member()

    with pytest.raises(InvalidInput) as error:
        await eco_actions.record_eco_action(
            actor=actor_of(device),
            member_id=member.id,
            kind_code="recycling",
            quantity=quantity,
            external_id="q",
        )

    assert error.value.code is ErrorCode.INVALID_QUANTITY
    assert not await EcoAction.exists()
    assert not await DomainEvent.exists()


async def test_an_unknown_eco_action_kind_is_refused() -> None:
    device = await create_device()
    member = await create_member()

    with pytest.raises(NotFound) as error:
        await eco_actions.record_eco_action(
            actor=actor_of(device),
            member_id=member.id,
            kind_code="teleporting",
            quantity=1,
            external_id="t",
        )

    assert error.value.code is ErrorCode.UNKNOWN_ECO_ACTION
    assert Decimal(0) == Decimal(await EcoAction.all().count())
