"""Eco actions (recycling, refills, bring-your-own-bag, ...) recorded by a device or staff, and
the members' daily app check-ins. Both are domain events that feed challenges; eco actions also
earn points through the ledger, and those points qualify for tiers.

One transaction per use case: member ledger account lock, then the action, its points and its
event. The same external id from the same recorder is the same action (replayed, not repeated).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from gamification.actors import Actor
from gamification.copies import copy_into
from gamification.earning import rules as earning
from gamification.earning.models import EcoAction, EcoActionKind
from gamification.errors import Conflict, ErrorCode, InvalidInput, NotFound, Refused
from gamification.events import engine_state
from gamification.events import facts as domain_events
from gamification.events.models import EventKind
from gamification.ledger import accounts, movements
from gamification.ledger.entries import MAX_POINTS_PER_ENTRY, Origin, Reference
from gamification.ledger.models import EntryKind
from gamification.members.models import Member
from gamification.stores.models import Channel

_CODE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_POINTS_PER_UNIT: Final = 10_000
MAX_QUANTITY: Final = 100_000


@dataclass(frozen=True, slots=True)
class EcoActionKindInput:
    code: str
    name: str
    points_per_unit: int
    unit: str = "item"
    max_quantity: int = 100
    active: bool = True


def _invalid_kind(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=ErrorCode.INVALID_ECO_ACTION_KIND, field=field)


def _check_kind(data: EcoActionKindInput) -> EcoActionKindInput:
    """The kind with its texts trimmed. Raises InvalidInput(INVALID_ECO_ACTION_KIND) for an
    empty or malformed code, an empty or long name or unit, negative or huge points per unit,
    a maximum quantity out of range, or a maximum action worth more than one ledger entry."""
    code, name, unit = data.code.strip(), data.name.strip(), data.unit.strip()
    if not code:
        raise _invalid_kind("The code must not be empty", "code")
    if not _CODE.match(code):
        raise _invalid_kind(
            "The code must be a lower-case letter, then up to 39 lower-case letters, digits or _",
            "code",
        )
    if not 0 < len(name) <= 120:
        raise _invalid_kind("The name must have 1 to 120 characters", "name")
    if not 0 < len(unit) <= 40:
        raise _invalid_kind("The unit must have 1 to 40 characters", "unit")
    if not isinstance(data.points_per_unit, int) or data.points_per_unit < 0:
        raise _invalid_kind("Points per unit must not be negative", "pointsPerUnit")
    if data.points_per_unit > MAX_POINTS_PER_UNIT:
        raise _invalid_kind(
            f"Points per unit must be at most {MAX_POINTS_PER_UNIT}", "pointsPerUnit"
        )
    if not isinstance(data.max_quantity, int) or not 1 <= data.max_quantity <= MAX_QUANTITY:
        raise _invalid_kind(f"The maximum quantity must be 1 to {MAX_QUANTITY}", "maxQuantity")
    if data.points_per_unit * data.max_quantity > MAX_POINTS_PER_ENTRY:
        raise _invalid_kind(
            "One action of the maximum quantity would earn more than a ledger entry may carry",
            "maxQuantity",
        )
    return replace(data, code=code, name=name, unit=unit)


def _code_taken(code: str) -> Conflict:
    return Conflict(
        f"An eco action kind with code {code!r} exists",
        code=ErrorCode.ECO_ACTION_KIND_TAKEN,
        field="code",
    )


async def create_kind(data: EcoActionKindInput) -> EcoActionKind:
    """Add an eco action kind.

    Raises InvalidInput(INVALID_ECO_ACTION_KIND), Conflict(ECO_ACTION_KIND_TAKEN) when the code
    is in use (also when another admin creates it at the same moment)."""
    data = _check_kind(data)
    if await EcoActionKind.filter(code=data.code).exists():
        raise _code_taken(data.code)
    try:
        async with in_transaction() as conn:
            return await EcoActionKind.create(**asdict(data), using_db=conn)
    except IntegrityError:
        raise _code_taken(data.code) from None


async def update_kind(kind_id: int, changes: dict[str, Any]) -> EcoActionKind:
    """Change a kind's name, unit, points per unit, maximum quantity or active flag (the code,
    which challenges and recorded actions refer to, stays). New points apply to actions
    recorded from now on. An inactive kind cannot be recorded.

    Raises NotFound(UNKNOWN_ECO_ACTION), InvalidInput(INVALID_ECO_ACTION_KIND)."""
    unknown = set(changes) - {"name", "unit", "points_per_unit", "max_quantity", "active"}
    if unknown:
        raise _invalid_kind(f"These cannot be changed: {sorted(unknown)}", "input")
    kind = await EcoActionKind.get_or_none(id=kind_id)
    if kind is None:
        raise NotFound("No such eco action kind", code=ErrorCode.UNKNOWN_ECO_ACTION, field="id")
    data = _check_kind(replace(copy_into(EcoActionKindInput, kind), **changes))
    for name, value in asdict(data).items():
        setattr(kind, name, value)
    await kind.save()
    return kind


async def list_kinds(*, active: bool | None = None) -> list[EcoActionKind]:
    query = EcoActionKind.all() if active is None else EcoActionKind.filter(active=active)
    return list(await query.order_by("code"))


async def define_kind(
    *, code: str, name: str, points_per_unit: int, unit: str = "item", max_quantity: int = 100
) -> EcoActionKind:
    """Create or replace an eco action kind (the demo seed and tests). Raises InvalidInput."""
    data = _check_kind(EcoActionKindInput(code, name, points_per_unit, unit, max_quantity))
    kind, _ = await EcoActionKind.update_or_create(
        code=data.code,
        defaults={
            "name": data.name,
            "unit": data.unit,
            "points_per_unit": data.points_per_unit,
            "max_quantity": data.max_quantity,
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

    Raises NotFound(UNKNOWN_ECO_ACTION, UNKNOWN_MEMBER), Refused(ECO_ACTION_INACTIVE) for a
    kind an admin deactivated, InvalidInput(INVALID_QUANTITY) for a
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
    if not kind.active:
        raise Refused(
            "This eco action is no longer recorded",
            code=ErrorCode.ECO_ACTION_INACTIVE,
            field="kind",
        )
    used_channel = actor.channel or channel or Channel.POS
    points = kind.points_per_unit * quantity
    try:
        async with in_transaction() as conn:
            account = await accounts.lock_member_account(member_id, conn, now)
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
                entry = await movements.credit(
                    account,
                    points,
                    kind=EntryKind.EARN,
                    origin=Origin.of(actor, used_channel),
                    reference=Reference("eco_action", str(action.id), kind.name),
                    expires_at=earning.points_expiry(now),
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
            await accounts.save_account(account)
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
        account = await accounts.lock_member_account(member_id, conn, now)
        state = await engine_state.state_of(account)
        day = domain_events.local_date_of(now, state.timezone)
        # Once per local day: the event's key is the day, so a second check-in finds it taken.
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
        if event is None:
            raise Refused(
                "You already checked in today", code=ErrorCode.ALREADY_CHECKED_IN, field=None
            )
        await accounts.save_account(account)
    assert event is not None  # the day was free under the member's lock
    return CheckInResult(day, event.id)
