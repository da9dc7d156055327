"""Eco action kinds (recycling, refill, bring-your-own-bag, ...): everyone signed in may list
them with their points; admins create and change them. Failures come back in `errors`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from gamification.copies import copy_into
from gamification.earning import eco_actions
from gamification.earning import models as earning_models
from gamification.errors import ErrorCode
from schema.context import Info
from schema.partial_updates import given_fields, input_of
from schema.payloads import payload_of, payload_type
from schema.permissions import IsAdmin
from schema.relay import pk_of, to_global_id


@strawberry.type(
    name="EcoActionKind",
    description="A kind of eco action and what it earns: `pointsPerUnit × quantity`.",
)
class EcoActionKindType:
    id: strawberry.ID
    code: str = strawberry.field(
        description="What `recordEcoAction(kind:)` and challenge filters name it by. Never changes."
    )
    name: str
    unit: str = strawberry.field(description="What one unit is: a bottle, a refill, a bag.")
    points_per_unit: int
    max_quantity: int = strawberry.field(description="The most units one action may record.")
    active: bool = strawberry.field(description="Inactive kinds cannot be recorded.")
    created_at: datetime

    @classmethod
    def from_model(cls, kind: earning_models.EcoActionKind) -> EcoActionKindType:
        return copy_into(cls, kind, id=to_global_id("EcoActionKind", kind.id))


@strawberry.input
class CreateEcoActionKindInput:
    code: str = strawberry.field(
        description="A lower-case letter, then up to 39 lower-case letters, digits or _."
    )
    name: str
    points_per_unit: int
    unit: str = "item"
    max_quantity: int = 100
    active: bool = True


@strawberry.input(description="Only the fields given change; the code never does.")
class UpdateEcoActionKindInput:
    name: str | None = strawberry.UNSET
    unit: str | None = strawberry.UNSET
    points_per_unit: int | None = strawberry.UNSET
    max_quantity: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET


EcoActionKindPayload = payload_type("EcoActionKindPayload", eco_action_kind=EcoActionKindType)

_CHANGEABLE = ("name", "unit", "points_per_unit", "max_quantity", "active")


def _changes(input: UpdateEcoActionKindInput) -> dict[str, Any]:
    """Raises InvalidInput(INVALID_ECO_ACTION_KIND) when a field is given as null."""
    return given_fields(input, _CHANGEABLE, code=ErrorCode.INVALID_ECO_ACTION_KIND)


@strawberry.type
class EcoActionKindQueries:
    @strawberry.field(
        description="The eco action kinds by code, with their points; `active` filters them."
    )
    async def eco_action_kinds(
        self, info: Info, active: bool | None = None
    ) -> list[EcoActionKindType]:
        info.context.require_actor()
        return [
            EcoActionKindType.from_model(k) for k in await eco_actions.list_kinds(active=active)
        ]


@strawberry.type
class EcoActionKindMutations:
    @strawberry.mutation(permission_classes=[IsAdmin], description="Add an eco action kind.")
    async def create_eco_action_kind(
        self, info: Info, input: CreateEcoActionKindInput
    ) -> EcoActionKindPayload:  # type: ignore[valid-type]
        async def create() -> EcoActionKindPayload:  # type: ignore[valid-type]
            kind = await eco_actions.create_kind(input_of(input, eco_actions.EcoActionKindInput))
            return EcoActionKindPayload(eco_action_kind=EcoActionKindType.from_model(kind))

        return await payload_of(EcoActionKindPayload, create)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Change an eco action kind's name, unit, points, maximum or active flag. "
        "New points apply to actions recorded from then on.",
    )
    async def update_eco_action_kind(
        self, info: Info, id: strawberry.ID, input: UpdateEcoActionKindInput
    ) -> EcoActionKindPayload:  # type: ignore[valid-type]
        async def update() -> EcoActionKindPayload:  # type: ignore[valid-type]
            kind = await eco_actions.update_kind(pk_of(id, "EcoActionKind"), _changes(input))
            return EcoActionKindPayload(eco_action_kind=EcoActionKindType.from_model(kind))

        return await payload_of(EcoActionKindPayload, update)
