"""Rate limits on the mutations attackers lean on: guessing passwords, farming accounts, draining
or testing stolen balances and tokens; and on the catalog reads anyone may make without a token
(`AnonymousReadLimit`), which would otherwise be a free way to load the database.

Each call of a limited mutation counts, so two aliases or a batch count twice: the check runs
per field resolution (a field extension), not per HTTP request. Counters live in Redis in fixed
windows, so several processes share them (this module alone reads and writes them; key names
in `gamification.redis_keys`). Three counters per call, each with its own limit:
the member (or staff/admin) who calls, the device that calls, and the client address.

When Redis cannot be reached the call goes ahead (and a warning is logged): earning and
spending must not stop because the counters are down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from graphql import GraphQLError
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection
from strawberry.extensions.field_extension import FieldExtension
from strawberry.types.base import StrawberryObjectDefinition

from gamification import redis_keys
from schema.context import Context, Info
from schema.partial_updates import camel

logger = logging.getLogger("loyalty.rate_limits")

# The mutations that are limited, by their GraphQL names. Those without a caller yet count
# against the tighter per-address sign-in limit.
LIMITED_MUTATIONS = frozenset(
    {
        "logIn",
        "signUp",
        "redeemReward",
        "createRedemptionToken",
        "redeemWithToken",
        "recordPurchase",
        "donatePoints",
        "checkIn",
    }
)
SIGN_IN_MUTATIONS = frozenset({"logIn", "signUp"})
# The one counter every anonymous catalog read of an address goes to, whatever the field: a
# signed-out app reading tiers, rewards and causes on one screen spends three.
ANONYMOUS_READS = "anonymousRead"


class RateLimited(GraphQLError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many requests; retry in {retry_after} s",
            extensions={"code": "RATE_LIMITED", "retryAfter": retry_after},
        )


def _client_address(context: Context) -> str | None:
    request = context.request
    # An HTTP request or a WebSocket (mutations may come over either).
    if isinstance(request, HTTPConnection) and request.client is not None:
        return request.client.host
    return None


def _counters(context: Context, operation: str) -> list[tuple[str, int]]:
    """(counter name, limit) for this call; limits of 0 are off."""
    settings = context.settings
    counters: list[tuple[str, int]] = []
    actor = context.actor
    if actor is not None:
        if actor.is_device:
            counters.append((f"device:{actor.id}", settings.rate_limit_per_device))
        else:
            counters.append((f"member:{actor.id}", settings.rate_limit_per_member))
    address = _client_address(context)
    if address is not None:
        limit = (
            settings.rate_limit_sign_in_per_address
            if operation in SIGN_IN_MUTATIONS
            else settings.rate_limit_per_address
        )
        counters.append((f"address:{address}", limit))
    return [(name, limit) for name, limit in counters if limit > 0]


async def check_rate_limit(context: Context, operation: str) -> None:
    """Count one call of `operation`. Raises RateLimited when a counter is over its limit."""
    counters = _counters(context, operation)
    if not counters:
        return
    window = context.settings.rate_limit_window_seconds
    now = time.time()
    bucket = int(now // window)
    try:
        async with context.redis.pipeline(transaction=False) as pipe:
            for name, _ in counters:
                key = redis_keys.rate_limit_counter(operation, name, bucket)
                pipe.incr(key)
                pipe.expire(key, window + 1)
            replies = await pipe.execute()
    except (RedisError, OSError) as exc:
        logger.warning("rate limit of %s not checked, Redis unavailable: %s", operation, exc)
        return
    counts = replies[::2]
    if any(count > limit for count, (_, limit) in zip(counts, counters, strict=True)):
        raise RateLimited(retry_after=max(1, math.ceil((bucket + 1) * window - now)))


class RateLimit(FieldExtension):
    """Counts each resolution of the field against the caller's limits (see the module)."""

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        await check_rate_limit(info.context, info.field_name)
        return await next_(source, info, **kwargs)


class AnonymousReadLimit(FieldExtension):
    """Counts each resolution of a public catalog field by a caller without a token against
    the client address's limit (`rate_limit_per_address`, one counter for all such fields).
    Reads by signed-in callers are not counted."""

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        if info.context.actor is None:
            await check_rate_limit(info.context, ANONYMOUS_READS)
        return await next_(source, info, **kwargs)


def limit_mutations(mutation_type: type, names: Iterable[str] = LIMITED_MUTATIONS) -> None:
    """Add the RateLimit extension to the named fields of `mutation_type` (once, at import).

    Inserted first so that it runs after the permission check: refused callers spend nothing."""
    definition: StrawberryObjectDefinition = mutation_type.__strawberry_definition__  # type: ignore[attr-defined]
    wanted = frozenset(names)
    for field in definition.fields:
        named = field.graphql_name in wanted or camel(field.python_name) in wanted
        if named and not any(isinstance(e, RateLimit) for e in field.extensions):
            field.extensions.insert(0, RateLimit())
