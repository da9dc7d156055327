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


_schemas: dict[Settings, strawberry.Schema] = {}


async def execute(
    app: Starlette,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    as_: Member | Device | None = None,
) -> Any:
    """Run `query` through the schema as `as_` (anonymous when None); return the result."""
    settings: Settings = app.state.settings
    schema = _schemas.get(settings) or _schemas.setdefault(settings, build_schema(settings))
    context = Context(
        settings=settings, redis=app.state.redis, actor=actor_of(as_) if as_ else None
    )
    return await schema.execute(query, variable_values=variables, context_value=context)
