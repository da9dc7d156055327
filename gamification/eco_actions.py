"""Eco actions (recycling, refills, bring-your-own-bag, ...) recorded by a device or staff, and
the members' daily app check-ins. Both are domain events that feed challenges; eco actions also
earn points through the ledger, and those points qualify for tiers.

One transaction per use case: member ledger account lock, then the action, its points and its
event. The same external id from the same recorder is the same action (replayed, not repeated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gamification import domain_events, earning, ledger
from gamification.actors import Actor
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from gamification.models import (
    Channel,
    DomainEvent,
    EcoAction,
    EcoActionKind,
    EntryKind,
    EventKind,
    Member,
)
from server.settings import get_settings

_CODE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


async def define_kind(
    *, code: str, name: str, points_per_unit: int, unit: str = "item", max_quantity: int = 100
) -> EcoActionKind:
    """Create or replace an eco action kind. Raises InvalidInput for bad values."""
    if not _CODE.match(code):
        raise InvalidInput("Code must be lower-case letters, digits or _", field="code")
    if not 0 <= points_per_unit <= 10_000 or not 1 <= max_quantity <= 100_000:
        raise InvalidInput("Points per unit or maximum quantity out of range", field="points")
    kind, _ = await EcoActionKind.update_or_create(
        code=code,
        defaults={
            "name": name.strip()[:120],
            "unit": unit,
            "points_per_unit": points_per_unit,
            "max_quantity": max_quantity,
        },
    )
    return kind


@dataclass(frozen=True, slots=True)
class EcoActionResult:
    action: EcoAction
    points: int
    replayed: bool


def _same(
    existing: EcoAction, member_id: int, kind: EcoActionKind, quantity: int
) -> EcoActionResult:
    if (
        existing.member_id != member_id  # type: ignore[attr-defined]
        or existing.kind_id != kind.id  # type: ignore[attr-defined]
        or existing.quantity != quantity
    ):
        raise Conflict(
            "This external id was recorded for another action",
            code=ErrorCode.ECO_ACTION_CONFLICT,
            field="externalId",
        )
    return EcoActionResult(existing, existing.points, True)


async def record_eco_action(
    *,
    actor: Actor,
    member_id: int,
    kind_code: str,
    quantity: int,
    external_id: str,
    channel: Channel | None = None,
    now: datetime | None = None,
) -> EcoActionResult:
    """Record an eco action for a member and credit its points.

    Raises NotFound(UNKNOWN_ECO_ACTION, UNKNOWN_MEMBER), InvalidInput(INVALID_QUANTITY) for a
    quantity ≤ 0 or above the kind's maximum, InvalidInput for a bad external id,
    Refused(SELF_PURCHASE) when staff record their own action, Conflict(ECO_ACTION_CONFLICT).
    """
    now = now or datetime.now(UTC)
    external_id = external_id.strip()
    if not 0 < len(external_id) <= 128:
        raise InvalidInput("externalId must have 1 to 128 characters", field="externalId")
    kind = await EcoActionKind.get_or_none(code=kind_code)
    if kind is None:
        raise NotFound("No such eco action", code=ErrorCode.UNKNOWN_ECO_ACTION, field="kind")
    if not isinstance(quantity, int) or not 0 < quantity <= kind.max_quantity:
        raise InvalidInput(
            f"Quantity must be from 1 to {kind.max_quantity}",
            code=ErrorCode.INVALID_QUANTITY,
            field="quantity",
        )
    if not await Member.filter(id=member_id).exists():
        raise NotFound("No such member", code=ErrorCode.UNKNOWN_MEMBER, field="member")
    if actor.is_person and actor.id == member_id:
        raise Refused(
            "Eco actions are recorded by the store, not by the member",
            code=ErrorCode.SELF_PURCHASE,
            field="member",
        )
    recorded_by = f"{actor.kind.value}:{actor.id}"
    existing = await EcoAction.get_or_none(recorded_by=recorded_by, external_id=external_id)
    if existing is not None:
        return _same(existing, member_id, kind, quantity)
    used_channel = actor.channel or channel or Channel.POS
    points = kind.points_per_unit * quantity
    try:
        async with in_transaction() as conn:
            account = await ledger.lock_member_account(member_id, conn, now)
            action = await EcoAction.create(
                member_id=member_id,
                kind_id=kind.id,
                quantity=quantity,
                points=points,
                channel=used_channel,
                store_id=actor.store_id,
                recorded_by=recorded_by,
                external_id=external_id,
                occurred_at=now,
                using_db=conn,
            )
            if points > 0:
                entry = await ledger.credit(
                    account,
                    points,
                    kind=EntryKind.EARN,
                    origin=ledger.Origin.of(actor, used_channel),
                    reference=ledger.Reference("eco_action", str(action.id), kind.name),
                    expires_at=earning.expiry_for(now, get_settings().points_expiry_months),
                )
                action.entry_id = entry.id
                await action.save(using_db=conn, update_fields=["entry_id"])
            await domain_events.record(
                account,
                member_id,
                domain_events.Fact(
                    kind=EventKind.ECO_ACTION_RECORDED,
                    source_key=f"eco:{action.id}",
                    occurred_at=now,
                    channel=used_channel,
                    amount=Decimal(quantity),
                    quantity=quantity,
                    store_id=actor.store_id,
                    subject=kind.code,
                    qualifying_points=points,
                ),
            )
            await ledger.save_account(account)
    except IntegrityError:
        # The same action arrived concurrently and won.
        existing = await EcoAction.get_or_none(recorded_by=recorded_by, external_id=external_id)
        if existing is None:
            raise
        return _same(existing, member_id, kind, quantity)
    return EcoActionResult(action, points, False)


@dataclass(frozen=True, slots=True)
class CheckInResult:
    local_date: date
    event_id: int


async def check_in(*, member_id: int, now: datetime | None = None) -> CheckInResult:
    """The member's daily app check-in, at most once per local day.

    Raises Refused(ALREADY_CHECKED_IN) for a second check-in on the same local day."""
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        account = await ledger.lock_member_account(member_id, conn, now)
        timezone = await domain_events.member_timezone(member_id, conn)
        day = domain_events.local_date_of(now, timezone)
        if (
            await DomainEvent.filter(member_id=member_id, kind=EventKind.CHECK_IN, local_date=day)
            .using_db(conn)
            .exists()
        ):
            raise Refused(
                "You already checked in today", code=ErrorCode.ALREADY_CHECKED_IN, field=None
            )
        event = await domain_events.record(
            account,
            member_id,
            domain_events.Fact(
                kind=EventKind.CHECK_IN,
                source_key=f"checkin:{member_id}:{day.isoformat()}",
                occurred_at=now,
                channel=Channel.APP,
            ),
        )
        await ledger.save_account(account)
    assert event is not None  # the day was free under the member's lock
    return CheckInResult(day, event.id)
