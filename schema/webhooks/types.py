"""GraphQL types for webhook endpoints and their delivery log (admins only)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gamification.webhooks import models as webhooks_models
from schema.context import Info
from schema.relay import MAX_PK, Node, register_node, to_global_id

DeliveryStatus = strawberry.enum(
    webhooks_models.DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="PENDING: waiting for an attempt; SUCCEEDED: answered 2xx; FAILED: gave up.",
)


@strawberry.type(
    name="WebhookEndpoint",
    description="A receiver of signed event deliveries (Standard Webhooks). Admins only.",
)
class WebhookEndpointType(Node):
    url: str
    description: str
    event_types: list[str] = strawberry.field(
        description="The event types sent here (docs/events.md); empty: every type."
    )
    active: bool = strawberry.field(
        description="False once switched off, by an admin or after failing without a break "
        "(`disabledAt`); its pending deliveries wait for it."
    )
    consecutive_failures: int
    failing_since: datetime | None
    disabled_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, endpoint: webhooks_models.WebhookEndpoint) -> WebhookEndpointType:
        return cls(
            id=to_global_id("WebhookEndpoint", endpoint.id),
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            active=endpoint.active,
            consecutive_failures=endpoint.consecutive_failures,
            failing_since=endpoint.failing_since,
            disabled_at=endpoint.disabled_at,
            created_at=endpoint.created_at,
        )


@strawberry.type(name="WebhookDelivery", description="One event sent to one endpoint.")
class WebhookDeliveryType(Node):
    endpoint_id: strawberry.ID
    event_id: str = strawberry.field(description="The event's id: the `webhook-id` header.")
    event_type: str
    status: DeliveryStatus  # type: ignore[valid-type]
    attempts: int
    response_code: int | None = strawberry.field(description="The last attempt's HTTP status.")
    latency_ms: int | None = strawberry.field(description="The last attempt's duration.")
    last_error: str
    next_attempt_at: datetime | None = strawberry.field(
        description="When a PENDING delivery is tried next."
    )
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, delivery: webhooks_models.WebhookDelivery) -> WebhookDeliveryType:
        pending = delivery.status is webhooks_models.DeliveryStatus.PENDING
        return cls(
            id=to_global_id("WebhookDelivery", delivery.id),
            endpoint_id=to_global_id("WebhookEndpoint", delivery.endpoint_id),  # type: ignore[attr-defined]
            event_id=str(delivery.event_id),
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            response_code=delivery.response_code,
            latency_ms=delivery.latency_ms,
            last_error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            last_attempt_at=delivery.last_attempt_at,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


async def load_endpoint_node(info: Info, pk: int) -> WebhookEndpointType | None:
    actor = info.context.actor
    if actor is None or not actor.is_admin:
        return None
    endpoint = await webhooks_models.WebhookEndpoint.get_or_none(id=pk)
    return WebhookEndpointType.from_model(endpoint) if endpoint else None


async def load_delivery_node(info: Info, pk: int) -> WebhookDeliveryType | None:
    actor = info.context.actor
    if actor is None or not actor.is_admin:
        return None
    delivery = await webhooks_models.WebhookDelivery.get_or_none(id=pk)
    return WebhookDeliveryType.from_model(delivery) if delivery else None


register_node("WebhookEndpoint", load_endpoint_node)
register_node("WebhookDelivery", load_delivery_node, max_pk=MAX_PK)
