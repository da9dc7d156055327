"""What the capture and release tests share: a member with points and a till's hold on some of
them, the two mutations, the steps that come before a refused settlement, and the check that
the refusal changed nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette

from gamification.ledger import points
from gamification.ledger.models import LedgerEntry
from gamification.members.models import Member
from gamification.rewards.models import HoldStatus, PointsHold
from gamification.stores.models import Channel, Device
from schema.relay import to_global_id
from tests.factories import (
    create_device,
    create_member,
    create_store,
    credit_points,
    execute,
    hold_member_points,
)
from tests.invariants import assert_books_balance

CAPTURE_HOLD = """
mutation CaptureHold($holdId: ID!, $points: Int!, $key: String!) {
  captureHold(holdId: $holdId, points: $points, idempotencyKey: $key) {
    hold { id status points captured settledAt }
    replayed
    errors { code field message }
  }
}
"""

RELEASE_HOLD = """
mutation ReleaseHold($holdId: ID!, $key: String!) {
  releaseHold(holdId: $holdId, idempotencyKey: $key) {
    hold { id status points captured settledAt }
    replayed
    errors { code field message }
  }
}
"""


async def held(
    balance: int = 500, held: int = 200, **hold: Any
) -> tuple[Member, Device, PointsHold]:
    """A member with `balance` points, a till, and its hold on `held` of them."""
    member = await create_member()
    await credit_points(member=member, points=balance)
    till = await create_device(channel=Channel.POS)
    return member, till, await hold_member_points(member=member, device=till, points=held, **hold)


async def capture(
    app: Starlette, device: Device | Member, hold: PointsHold, amount: int, key: str = "c-1"
) -> Any:
    variables = {"holdId": to_global_id("PointsHold", hold.id), "points": amount, "key": key}
    return await execute(app, CAPTURE_HOLD, variables, as_=device)


async def release(
    app: Starlette, device: Device | Member, hold: PointsHold, key: str = "r-1"
) -> Any:
    variables = {"holdId": to_global_id("PointsHold", hold.id), "key": key}
    return await execute(app, RELEASE_HOLD, variables, as_=device)


def refusal_codes(result: Any, mutation: str) -> list[str]:
    payload = result.data[mutation]
    assert payload["hold"] is None
    return [e["code"] for e in payload["errors"]]


async def balance_and_held(member: Member) -> tuple[int, int]:
    summary = await points.summary(member.id)
    return summary.balance, summary.held


async def assert_unchanged(
    hold: PointsHold, member: Member, *, status: HoldStatus, summary: tuple[int, int], entries: int
) -> None:
    assert (await PointsHold.get(id=hold.id)).status is status
    assert await balance_and_held(member) == summary
    assert await LedgerEntry.all().count() == entries
    await assert_books_balance()


# What happens before the refused settlement; returns the device that then tries it.
Before = Callable[[Starlette, Device, PointsHold], Awaitable[Device]]


async def nothing(app: Starlette, till: Device, hold: PointsHold) -> Device:
    return till


def captured(amount: int) -> Before:
    async def step(app: Starlette, till: Device, hold: PointsHold) -> Device:
        done = await capture(app, till, hold, amount, key="c-0")
        assert done.data["captureHold"]["errors"] == []
        return till

    return step


async def released(app: Starlette, till: Device, hold: PointsHold) -> Device:
    done = await release(app, till, hold, key="r-0")
    assert done.data["releaseHold"]["errors"] == []
    return till


def device_of_another_store(channel: Channel) -> Before:
    async def step(app: Starlette, till: Device, hold: PointsHold) -> Device:
        return await create_device(channel=channel, store=await create_store())

    return step


@dataclass(frozen=True)
class Refusal:
    """A settlement refused with `code`, after which the hold has `status`, the member has
    (balance, held) `summary`, and the ledger `entries` entries."""

    code: str
    status: HoldStatus
    summary: tuple[int, int]
    entries: int
    before: Before = nothing
    hold: dict[str, Any] = field(default_factory=dict)  # how the hold is placed
