"""How domain errors reach clients: payload errors for mutations, coded GraphQL errors for queries,
and a masked message for everything unexpected."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError

from gamification.errors import ErrorCode as DomainErrorCode
from gamification.errors import LoyaltyError

logger = logging.getLogger("loyalty.graphql")

ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode", description="Stable error codes.")

T = TypeVar("T")


@strawberry.type(description="An expected failure: `code` is stable, `message` is for people.")
class UserError:
    code: ErrorCode  # type: ignore[valid-type]
    message: str
    field: str | None = None

    @classmethod
    def from_domain(cls, error: LoyaltyError) -> UserError:
        return cls(code=error.code, message=error.message, field=error.field)


async def errors_of(action: Callable[[], Awaitable[T]]) -> tuple[T | None, list[UserError]]:
    """Run a use case; return its result, or the typed errors of an expected failure."""
    try:
        return await action(), []
    except LoyaltyError as error:
        return None, [UserError.from_domain(error)]


def should_mask_error(error: GraphQLError) -> bool:
    """Mask anything that is not a deliberate, client-facing error; log it first."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError) or error.path is None:
        # Errors about the request itself (syntax, validation, variable coercion).
        return False
    if isinstance(original, LoyaltyError):
        # A domain failure in a query (queries have no payload to carry it): expose its code.
        extensions: dict[str, Any] = {**(error.extensions or {}), "code": str(original.code)}
        if original.field:
            extensions["field"] = original.field
        error.extensions = extensions
        return False
    logger.error("unexpected error in %s", error.path, exc_info=original)
    return True
