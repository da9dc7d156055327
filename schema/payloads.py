"""Mutation payloads: what every mutation returns. Its results, each null when the mutation
fails; `replayed` where it takes an idempotency key (true when a retry got the first answer);
then `errors`, the expected failures (`UserError`), empty on success.

`payload_type` makes such a type from its results; `payload_of` runs a mutation's use case and
returns its payload, or the payload of its expected failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from gamification.errors import LoyaltyError
from schema.errors import UserError

P = TypeVar("P")


def payload_type(name: str, *, replayed: bool = False, **results: Any) -> Any:
    """A payload type called `name`: `results` maps each field to its type, or to `(type,
    description)`; every result is nullable and null by default; `replayed` adds that flag.

    Typed Any: annotations that name it carry `# type: ignore[valid-type]`, like enums."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name}
    for field, result in results.items():
        kind, description = result if isinstance(result, tuple) else (result, None)
        annotations[field] = kind | None
        namespace[field] = strawberry.field(default=None, description=description)
    if replayed:
        annotations["replayed"] = bool
        namespace["replayed"] = False
    annotations["errors"] = list[UserError]
    namespace["errors"] = strawberry.field(default_factory=list)
    namespace["__annotations__"] = annotations
    return strawberry.type(type(name, (), namespace))


async def payload_of(payload: Callable[..., P], action: Callable[[], Awaitable[P]]) -> P:
    """Run a mutation's use case, `action`, for its payload; on an expected failure (a
    LoyaltyError), a `payload` with that error and no results."""
    try:
        return await action()
    except LoyaltyError as error:
        return payload(errors=[UserError.from_domain(error)])
