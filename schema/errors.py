"""How domain errors reach clients: payload errors for mutations, coded GraphQL errors for queries,
and a masked message for everything unexpected."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import redis.exceptions
import strawberry
from graphql import GraphQLError

from gamification.errors import ErrorCode as DomainErrorCode
from gamification.errors import LoyaltyError
from schema.error_contract import PAYLOAD_CODES

logger = logging.getLogger("loyalty.graphql")

# A backend that cannot serve the request now: lost, refused or shutting-down database
# connections, a database out of connections (or memory, or disk), no pooled connection within
# LOYALTY_DATABASE_POOL_TIMEOUT_SECONDS, Redis unreachable. Nothing about the request is wrong:
# a retry (with the same idempotency key) is safe and tells the truth.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # tortoise's DBConnectionError, refused and reset sockets
    TimeoutError,  # the pool's bounded wait (server.pg_pool), a backend that does not answer
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # "sorry, too many clients already", ...
    asyncpg.exceptions.InterfaceError,  # "the underlying connection is closed"
    asyncpg.exceptions.InternalClientError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)

ErrorCode = strawberry.enum(
    DomainErrorCode,
    name="ErrorCode",
    description="Stable codes of expected failures (docs/errors.md).",
)
# Each value described with its meaning from the one error contract.
for _value in ErrorCode.__strawberry_definition__.values:  # type: ignore[attr-defined]
    _value.description = PAYLOAD_CODES[DomainErrorCode(_value.value)]

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
    if isinstance(original, LoyaltyError):
        # A domain failure in a query, or refusing a subscription (neither has a payload to
        # carry it): expose its code.
        extensions: dict[str, Any] = {**(error.extensions or {}), "code": str(original.code)}
        if original.field:
            extensions["field"] = original.field
        error.extensions = extensions
        return False
    if original is None or isinstance(original, GraphQLError) or error.path is None:
        # Errors about the request itself (syntax, validation, variable coercion).
        return False
    if is_unavailable(original):
        # A backend cannot serve the request now (a restart, a failover, no free connection):
        # say so, and that a retry with the same idempotency key is safe, in words that name
        # no driver. Before the commit nothing happened; after it, the retry replays.
        logger.warning("backend unavailable in %s: %r", error.path, original)
        error.message = UNAVAILABLE_MESSAGE
        error.extensions = {"code": "UNAVAILABLE", "retryable": True}
        return False
    logger.error("unexpected error in %s", error.path, exc_info=original)
    return True


UNAVAILABLE_MESSAGE = "The service is briefly unavailable; retry with the same idempotency key."


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a lost or refused database connection."""
    seen: BaseException | None = error
    for _ in range(8):  # the cause chain is short; bound it all the same
        if seen is None:
            return False
        if isinstance(seen, _CONNECTION_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
