"""Admin mutations: webhook endpoints (register, change, switch off, delete) and replays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry

from gamification.changes import UNCHANGED
from gamification.webhooks import deliveries, endpoints
from gamification.webhooks.models import WebhookEndpoint
from schema.context import Info
from schema.errors import UserError, errors_of
from schema.permissions import IsAdmin
from schema.relay import pk_of
from schema.webhooks.types import WebhookDeliveryType, WebhookEndpointType


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpointType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateWebhookEndpointPayload:
    endpoint: WebhookEndpointType | None = None
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret (`whsec_…`) receivers verify `webhook-signature` "
        "with. Shown once, here.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDeliveryType | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReplayWebhookDeliveriesPayload:
    replayed: int = strawberry.field(default=0, description="How many events go out again.")
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _endpoint_payload(
    change: Callable[[], Awaitable[WebhookEndpoint]],
) -> WebhookEndpointPayload:
    """Run an endpoint use case: the endpoint it left, or the errors of an expected failure."""
    endpoint, errors = await errors_of(change)
    shown = WebhookEndpointType.from_model(endpoint) if endpoint is not None else None
    return WebhookEndpointPayload(endpoint=shown, errors=errors)


def _given(value: Any) -> Any:
    return UNCHANGED if value is strawberry.UNSET or value is None else value


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Register a receiver of events (`eventTypes` empty: every type). The URL "
        "must be http(s) and reach a public address (WEBHOOK_TARGET_REFUSED otherwise).",
    )
    async def create_webhook_endpoint(
        self,
        info: Info,
        url: str,
        event_types: list[str] | None = None,
        description: str = "",
    ) -> CreateWebhookEndpointPayload:
        endpoint, errors = await errors_of(
            lambda: endpoints.create_endpoint(
                url=url, event_types=event_types or (), description=description
            )
        )
        if endpoint is None:
            return CreateWebhookEndpointPayload(errors=errors)
        return CreateWebhookEndpointPayload(
            endpoint=WebhookEndpointType.from_model(endpoint), secret=endpoint.secret
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Change an endpoint; `active: true` switches it on again after it was "
        "switched off (its pending deliveries go out).",
    )
    async def update_webhook_endpoint(
        self,
        info: Info,
        id: strawberry.ID,
        url: str | None = strawberry.UNSET,
        event_types: list[str] | None = strawberry.UNSET,
        description: str | None = strawberry.UNSET,
        active: bool | None = strawberry.UNSET,
    ) -> WebhookEndpointPayload:
        return await _endpoint_payload(
            lambda: endpoints.update_endpoint(
                pk_of(id, "WebhookEndpoint"),
                url=_given(url),
                event_types=_given(event_types),
                description=_given(description),
                active=_given(active),
            )
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Stop sending to an endpoint (kept, with its log).",
    )
    async def deactivate_webhook_endpoint(
        self, info: Info, id: strawberry.ID
    ) -> WebhookEndpointPayload:
        return await _endpoint_payload(
            lambda: endpoints.deactivate_endpoint(pk_of(id, "WebhookEndpoint"))
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Delete an endpoint and its delivery log."
    )
    async def delete_webhook_endpoint(
        self, info: Info, id: strawberry.ID
    ) -> WebhookEndpointPayload:
        return await _endpoint_payload(
            lambda: endpoints.delete_endpoint(pk_of(id, "WebhookEndpoint"))
        )

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Send one delivery again, now, with a fresh count of attempts.",
    )
    async def replay_webhook_delivery(
        self, info: Info, id: strawberry.ID
    ) -> WebhookDeliveryPayload:
        delivery, errors = await errors_of(
            lambda: deliveries.replay_delivery(pk_of(id, "WebhookDelivery"))
        )
        shown = WebhookDeliveryType.from_model(delivery) if delivery is not None else None
        return WebhookDeliveryPayload(delivery=shown, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Send an endpoint every event of its types that occurred in [since, "
        "until) again (events from before it existed included).",
    )
    async def replay_webhook_deliveries(
        self, info: Info, endpoint_id: strawberry.ID, since: datetime, until: datetime
    ) -> ReplayWebhookDeliveriesPayload:
        replayed, errors = await errors_of(
            lambda: deliveries.replay_range(
                pk_of(endpoint_id, "WebhookEndpoint", field="endpointId"),
                since=since,
                until=until,
            )
        )
        return ReplayWebhookDeliveriesPayload(replayed=replayed or 0, errors=errors)
