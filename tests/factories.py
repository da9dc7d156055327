"""Keyword-only factories and helpers shared by the tests."""

from __future__ import annotations

import itertools
from typing import Any

import strawberry
from argon2 import PasswordHasher
from starlette.applications import Starlette

from channels.credentials import issue_device_token, issue_member_token
from gamification.actors import Actor, ActorKind
from gamification.members import new_card_number
from gamification.models import Channel, Device, Member, Role, Store
from schema.context import Context
from schema.schema import build_schema
from server.settings import Settings

TEST_JWT_SECRET = "test-secret-that-is-at-least-32-bytes-long"
PASSWORD = "correct horse battery"
# Hashed once: Argon2 is slow on purpose, and most tests only need a member to exist.
PASSWORD_HASH = PasswordHasher().hash(PASSWORD)

_sequence = itertools.count(1)


async def create_store(*, code: str | None = None, timezone: str = "UTC") -> Store:
    n = next(_sequence)
    return await Store.create(code=code or f"STORE{n}", name=f"Store {n}", timezone=timezone)


async def create_member(
    *,
    email: str | None = None,
    display_name: str | None = None,
    role: Role = Role.MEMBER,
    store: Store | None = None,
    timezone: str = "UTC",
) -> Member:
    n = next(_sequence)
    return await Member.create(
        email=email or f"member{n}@example.com",
        password_hash=PASSWORD_HASH,
        display_name=display_name or f"Member {n}",
        role=role,
        store=store,
        timezone=timezone,
        card_number=new_card_number(),
    )


async def create_device(
    *, store: Store | None = None, channel: Channel = Channel.KIOSK, revoked: bool = False
) -> Device:
    import uuid
    from datetime import UTC, datetime

    store = store or await create_store()
    return await Device.create(
        name=f"Device {next(_sequence)}",
        store=store,
        channel=channel,
        credential_id=uuid.uuid4(),
        revoked_at=datetime.now(UTC) if revoked else None,
    )


def member_token(member: Member, settings: Settings) -> str:
    return issue_member_token(member, settings)


def device_token(device: Device, settings: Settings) -> str:
    return issue_device_token(device, settings)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def actor_of(subject: Member | Device) -> Actor:
    if isinstance(subject, Device):
        return Actor(
            kind=ActorKind.DEVICE,
            id=subject.id,
            store_id=subject.store_id,  # type: ignore[attr-defined]
            channel=subject.channel,
        )
    return Actor.for_role(subject.role, subject.id, subject.store_id)  # type: ignore[attr-defined]


# Built once per Settings object (Settings holds a list, so it cannot be a dict key itself).
_schemas: dict[int, tuple[Settings, strawberry.Schema]] = {}


def schema_for(settings: Settings) -> strawberry.Schema:
    if id(settings) not in _schemas:
        _schemas[id(settings)] = (settings, build_schema(settings))
    return _schemas[id(settings)][1]


async def execute(
    app: Starlette,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    as_: Member | Device | None = None,
) -> Any:
    """Run `query` through the schema as `as_` (anonymous when None); return the result."""
    settings: Settings = app.state.settings
    schema = schema_for(settings)
    context = Context(
        settings=settings, redis=app.state.redis, actor=actor_of(as_) if as_ else None
    )
    return await schema.execute(query, variable_values=variables, context_value=context)


# Points factories. Imported here rather than at the top so that this section only appends to
# a file that several people extend at once.
from datetime import UTC, datetime, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

from tortoise.transactions import in_transaction  # noqa: E402

from gamification import ledger  # noqa: E402
from gamification.earning import set_earn_rule  # noqa: E402
from gamification.models import EarnRule, EntryKind, LedgerEntry, Purchase  # noqa: E402
from gamification.purchases import PurchaseInput, record_purchase  # noqa: E402


async def create_earn_rule(
    *,
    currency: str = "EUR",
    points_per_unit: str = "1",
    minimum_spend: str = "0",
    category_multipliers: dict[str, str] | None = None,
) -> EarnRule:
    return await set_earn_rule(
        currency=currency,
        points_per_unit=Decimal(points_per_unit),
        minimum_spend=Decimal(minimum_spend),
        category_multipliers={k: Decimal(v) for k, v in (category_multipliers or {}).items()},
    )


async def create_purchase(
    *,
    member: Member,
    recorded_by: Device | None = None,
    amount: str = "10.00",
    currency: str = "EUR",
    external_id: str | None = None,
) -> Purchase:
    """A purchase recorded through the use case (points credited), by a new kiosk unless told."""
    device = recorded_by or await create_device(channel=Channel.KIOSK)
    n = next(_sequence)
    result = await record_purchase(
        actor=actor_of(device),
        data=PurchaseInput(
            member_id=member.id,
            card_number=None,
            amount=Decimal(amount),
            currency=currency,
            channel=device.channel,
            store_id=device.store_id,  # type: ignore[attr-defined]
            external_id=external_id or f"receipt-{n}",
            occurred_at=datetime.now(UTC),
        ),
        idempotency_key=f"factory-purchase-{n}",
    )
    return await Purchase.get(id=result.purchase_id)


async def credit_points(
    *, member: Member, points: int, expires_at: datetime | None = None
) -> LedgerEntry:
    """A bonus credited straight through the ledger, as one lot with the given expiry."""
    async with in_transaction() as conn:
        account = await ledger.lock_member_account(member.id, conn)
        entry = await ledger.credit(
            account,
            points,
            kind=EntryKind.BONUS,
            origin=ledger.Origin.system(),
            reference=ledger.Reference("test", "", "test bonus"),
            expires_at=expires_at or datetime.now(UTC) + timedelta(days=90),
        )
        await ledger.save_account(account)
    return entry
