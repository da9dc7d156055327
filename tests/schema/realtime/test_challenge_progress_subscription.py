"""`challengeProgress` through the schema: subscribe, let an event move progress, receive, after
commit, only on the member's own stream."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.challenges.models import Challenge, GoalType
from gamification.events.models import DomainEvent, EventKind
from gamification.events.realtime import Topic, leaderboard_channel, member_channel
from gamification.leaderboards import keys
from gamification.members.models import Member
from gamification.stores.models import Channel, Device
from schema.context import Context
from schema.relay import to_global_id
from server.pubsub import Broker
from tests.barriers import (
    BARRIER_CHALLENGE,
    challenge_progress_barrier,
    publish_barrier,
    until_barrier,
)
from tests.documents import CHECK_IN, RECORD_PURCHASE, purchase_input
from tests.factories import (
    actor_of,
    create_challenge,
    create_device,
    create_earn_rule,
    create_member,
    execute,
    schema_for,
)

CHALLENGE_PROGRESS = """
subscription {
  challengeProgress {
    version challengeId current target percent completions completed completedAt streakLength
    endsAt
  }
}
"""

_receipts = itertools.count(1)


@pytest.fixture
async def till() -> Device:
    await create_earn_rule(points_per_unit="1")
    return await create_device(channel=Channel.POS)


async def buy(app: Starlette, till: Device, member: Member, amount: str) -> int:
    """A purchase through the API; returns its domain event's id."""
    number = next(_receipts)
    result = await execute(
        app,
        RECORD_PURCHASE,
        {
            "input": purchase_input(member=member, amount=amount, external_id=f"cp-{number}"),
            "key": f"cp-{number}",
        },
        as_=till,
    )
    assert result.data["recordPurchase"]["errors"] == []
    event = await DomainEvent.filter(member_id=member.id).order_by("-id").first()
    assert event is not None
    return event.id


@asynccontextmanager
async def streams(app: Starlette, *members: Member) -> AsyncIterator[list[asyncio.Queue[Any]]]:
    """Each member's `challengeProgress` subscription through the schema, forwarded to a
    queue, in place (Redis confirmed it) when the block starts."""
    broker: Broker = app.state.broker
    schema = schema_for(app.state.settings)
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in members]
    async with AsyncExitStack() as stack:
        # Open each member's channel first, so the schema's subscriptions join confirmed ones.
        for member in members:
            await stack.enter_async_context(broker.subscribe(member_channel(member.id)))
        before = broker.stats()["subscriptions"]
        tasks = []
        for member, queue in zip(members, queues, strict=True):
            context = Context(
                settings=app.state.settings,
                redis=app.state.redis,
                actor=actor_of(member),
                feed=broker,
            )
            stream = await schema.subscribe(CHALLENGE_PROGRESS, context_value=context)
            assert isinstance(stream, AsyncGenerator), stream
            tasks.append(asyncio.create_task(_forward(stream, queue)))
        for _ in range(500):  # each subscription joins its channel when its task first runs
            if broker.stats()["subscriptions"] >= before + len(members):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the subscriptions did not start")
        try:
            yield queues
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _forward(stream: AsyncGenerator[Any, None], queue: asyncio.Queue[Any]) -> None:
    try:
        async for result in stream:
            assert result.errors is None, result.errors
            queue.put_nowait(result.data["challengeProgress"])
    finally:
        await stream.aclose()


async def receive(queue: asyncio.Queue[Any]) -> Any:
    async with asyncio.timeout(5):
        return await queue.get()


async def assert_quiet(app: Starlette, queue: asyncio.Queue[Any], member: Member) -> None:
    """Nothing (more) reached `member`'s stream: a barrier published now is the next message."""
    await publish_barrier(
        app.state.redis,
        member_channel(member.id),
        Topic.CHALLENGE_PROGRESS,
        **challenge_progress_barrier(),
    )
    update = await receive(queue)
    assert update["challengeId"] == to_global_id("Challenge", BARRIER_CHALLENGE), update


async def spending(target: str = "100", **fields: Any) -> Challenge:
    return await create_challenge(
        goal_type=GoalType.SUM, target=target, event_kind=EventKind.PURCHASE_RECORDED, **fields
    )


async def test_a_purchase_that_moves_progress_reaches_the_member_and_nobody_else(
    app: Starlette, till: Device
) -> None:
    # given
    challenge = await spending()
    maya, theo = await create_member(), await create_member()
    async with streams(app, maya, theo) as (mine, theirs):
        # when
        event_id = await buy(app, till, maya, "40.00")

        # then
        update = await receive(mine)
        assert update == {
            "version": event_id,
            "challengeId": to_global_id("Challenge", challenge.id),
            "current": "40.00",
            "target": "100.00",
            "percent": 40,
            "completions": 0,
            "completed": False,
            "completedAt": None,
            "streakLength": 0,
            "endsAt": "2030-01-01T00:00:00+00:00",
        }
        await assert_quiet(app, theirs, theo)

        # and the next event, which completes it, comes with a higher version
        next_event_id = await buy(app, till, maya, "75.00")
        done = await receive(mine)
        assert done["version"] == next_event_id > event_id
        assert (done["current"], done["percent"], done["completed"]) == ("115.00", 100, True)
        assert done["completedAt"] is not None
        # Theo's own stream works: his first message is his own progress
        theo_event_id = await buy(app, till, theo, "10.00")
        assert (await receive(theirs))["version"] == theo_event_id
        await assert_quiet(app, mine, maya)


async def test_one_message_per_challenge_the_event_moved(app: Starlette, till: Device) -> None:
    first, second = await spending(), await spending(target="50")
    await spending(filter_min_amount=Decimal(1000))  # not moved by a small purchase
    member = await create_member()
    async with streams(app, member) as (mine,):
        event_id = await buy(app, till, member, "20.00")

        updates = [await receive(mine), await receive(mine)]
        await assert_quiet(app, mine, member)

    assert sorted((u["challengeId"], u["percent"], u["version"]) for u in updates) == sorted(
        [
            (to_global_id("Challenge", first.id), 20, event_id),
            (to_global_id("Challenge", second.id), 40, event_id),
        ]
    )


async def test_a_check_in_that_moves_no_points_is_announced(app: Starlette) -> None:
    challenge = await create_challenge(goal_type=GoalType.COUNT, target="7")
    member = await create_member()
    async with streams(app, member) as (mine,):
        result = await execute(app, CHECK_IN, as_=member)
        assert result.data["checkIn"]["errors"] == []

        update = await receive(mine)

    assert update["challengeId"] == to_global_id("Challenge", challenge.id)
    assert (update["current"], update["percent"]) == ("1.00", 14)


async def test_a_hidden_challenge_is_announced_only_once_earned(
    app: Starlette, till: Device
) -> None:
    hidden = await spending(hidden=True)
    member = await create_member()
    async with streams(app, member) as (mine,):
        await buy(app, till, member, "40.00")
        await assert_quiet(app, mine, member)

        await buy(app, till, member, "60.00")
        update = await receive(mine)

    assert update["challengeId"] == to_global_id("Challenge", hidden.id)
    assert update["completed"] is True


async def test_a_refused_mutation_announces_nothing(app: Starlette, till: Device) -> None:
    await spending()
    member = await create_member()
    async with streams(app, member) as (mine,):
        result = await execute(
            app,
            RECORD_PURCHASE,
            {"input": purchase_input(member=member, amount="-5"), "key": "refused"},
            as_=till,
        )
        assert result.data["recordPurchase"]["errors"]

        await assert_quiet(app, mine, member)


async def test_a_challenge_board_is_pinged_for_leaderboard_changed(
    app: Starlette, till: Device
) -> None:
    visible, hidden = await spending(), await spending(hidden=True)
    member = await create_member()
    broker: Broker = app.state.broker
    channels = [
        leaderboard_channel(keys.challenge_board(c.id), "ALL_TIME") for c in (visible, hidden)
    ]
    async with broker.subscribe(channels[0]) as pings, broker.subscribe(channels[1]) as secret:
        event_id = await buy(app, till, member, "10.00")

        async with asyncio.timeout(5):
            ping = await anext(pings)
        await publish_barrier(app.state.redis, channels[1], Topic.LEADERBOARD_CHANGED)
        assert await until_barrier(secret) == []

    assert (ping.topic, ping.version) == (Topic.LEADERBOARD_CHANGED, event_id)
