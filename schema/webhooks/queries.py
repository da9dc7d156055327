"""Queries over webhook endpoints and the delivery log (admins only)."""

from __future__ import annotations

import strawberry

from gamification.pagination import keyset_page
from gamification.webhooks.models import WebhookDelivery, WebhookEndpoint
from schema.context import Info
from schema.permissions import IsAdmin
from schema.relay import MAX_PK, Connection, page_args, pk_of
from schema.webhooks.types import DeliveryStatus, WebhookDeliveryType, WebhookEndpointType


@strawberry.type
class WebhookQueries:
    @strawberry.field(permission_classes=[IsAdmin], description="Registered webhook endpoints.")
    async def webhook_endpoints(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[WebhookEndpointType]:
        first, after_id = page_args(info, first, after)
        page = await keyset_page(WebhookEndpoint.all(), first=first, after_id=after_id)
        return Connection[WebhookEndpointType].of(page, WebhookEndpointType.from_model)

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="The delivery log, newest first: every event sent (or to be sent) to an "
        "endpoint, with its attempts, last response and next attempt.",
    )
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: strawberry.ID | None = None,
        status: DeliveryStatus | None = None,  # type: ignore[valid-type]
        first: int = 20,
        after: str | None = None,
    ) -> Connection[WebhookDeliveryType]:
        first, after_id = page_args(info, first, after, max_pk=MAX_PK)
        query = WebhookDelivery.all()
        if endpoint_id is not None:
            query = query.filter(
                endpoint_id=pk_of(endpoint_id, "WebhookEndpoint", field="endpointId")
            )
        if status is not None:
            query = query.filter(status=status)
        page = await keyset_page(query, first=first, after_id=after_id, newest_first=True)
        return Connection[WebhookDeliveryType].of(page, WebhookDeliveryType.from_model)
