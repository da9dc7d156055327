"""Admins' webhook endpoints: registering, changing, switching off and deleting them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from gamification import program_settings
from gamification.changes import UNCHANGED, Unchanged
from gamification.errors import ErrorCode, InvalidInput, NotFound
from gamification.outbox import catalog
from gamification.webhooks import signing, targets
from gamification.webhooks.models import WebhookEndpoint

_MAX_DESCRIPTION = 200


def _event_types(names: Sequence[str]) -> list[str]:
    unknown = sorted({name for name in names if not catalog.is_known(name)})
    if unknown:
        raise InvalidInput(
            f"Unknown event types: {', '.join(unknown)[:200]}",
            code=ErrorCode.UNKNOWN_EVENT_TYPE,
            field="eventTypes",
        )
    return sorted(set(names))


def _description(text: str) -> str:
    if len(text) > _MAX_DESCRIPTION:
        raise InvalidInput(
            f"The description is longer than {_MAX_DESCRIPTION} characters", field="description"
        )
    return text.strip()


async def _checked_url(url: str) -> str:
    url = url.strip()
    await targets.check_target(url, program_settings.current().webhook_allowed_hosts)
    return url


async def create_endpoint(
    *, url: str, event_types: Sequence[str] = (), description: str = ""
) -> WebhookEndpoint:
    """Register a receiver for `event_types` (empty: every type), with a new signing secret.

    Raises InvalidInput (INVALID_WEBHOOK_URL, UNKNOWN_EVENT_TYPE) and UnsafeTarget
    (WEBHOOK_TARGET_REFUSED)."""
    types = _event_types(event_types)
    text = _description(description)
    checked = await _checked_url(url)
    now = datetime.now(UTC)
    return await WebhookEndpoint.create(
        url=checked,
        event_types=types,
        description=text,
        secret=signing.new_secret(),
        created_at=now,
        updated_at=now,
    )


async def _get(endpoint_id: int) -> WebhookEndpoint:
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id)
    if endpoint is None:
        raise NotFound(
            "No such webhook endpoint", code=ErrorCode.WEBHOOK_ENDPOINT_NOT_FOUND, field="id"
        )
    return endpoint


async def update_endpoint(
    endpoint_id: int,
    *,
    url: str | Unchanged = UNCHANGED,
    event_types: Sequence[str] | Unchanged = UNCHANGED,
    description: str | Unchanged = UNCHANGED,
    active: bool | Unchanged = UNCHANGED,
) -> WebhookEndpoint:
    """Change what is given. Switching an endpoint on again starts its failure count afresh;
    its pending deliveries go out again.

    Raises NotFound(WEBHOOK_ENDPOINT_NOT_FOUND) and what `create_endpoint` raises."""
    endpoint = await _get(endpoint_id)
    if url is not UNCHANGED:
        endpoint.url = await _checked_url(url)
    if event_types is not UNCHANGED:
        endpoint.event_types = _event_types(event_types)
    if description is not UNCHANGED:
        endpoint.description = _description(description)
    if active is not UNCHANGED and active != endpoint.active:
        endpoint.active = active
        endpoint.consecutive_failures = 0
        endpoint.failing_since = None
        endpoint.disabled_at = None if active else datetime.now(UTC)
    endpoint.updated_at = datetime.now(UTC)
    await endpoint.save()
    return endpoint


async def deactivate_endpoint(endpoint_id: int) -> WebhookEndpoint:
    """Stop delivering to the endpoint (its deliveries wait). Raises NotFound."""
    return await update_endpoint(endpoint_id, active=False)


async def delete_endpoint(endpoint_id: int) -> WebhookEndpoint:
    """Delete the endpoint and its delivery log; an attempt in flight finds nothing to record.
    Raises NotFound(WEBHOOK_ENDPOINT_NOT_FOUND)."""
    async with in_transaction() as conn:
        endpoint = await WebhookEndpoint.filter(id=endpoint_id).using_db(conn).first()
        if endpoint is None:
            raise NotFound(
                "No such webhook endpoint", code=ErrorCode.WEBHOOK_ENDPOINT_NOT_FOUND, field="id"
            )
        await endpoint.delete(using_db=conn)
    return endpoint
