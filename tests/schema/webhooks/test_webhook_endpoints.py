"""Admins manage webhook endpoints and read the delivery log through GraphQL; expected failures
come back as payload errors with stable codes (who may call each mutation: the caller table)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.members.models import Role
from gamification.webhooks import deliveries
from gamification.webhooks.models import DeliveryStatus, WebhookDelivery
from schema.relay import to_global_id
from tests.factories import create_member, credit_points, execute

CREATE = """
mutation Create($url: String!, $types: [String!]) {
  createWebhookEndpoint(url: $url, eventTypes: $types, description: "CRM") {
    secret
    endpoint { id url eventTypes active description consecutiveFailures }
    errors { code field }
  }
}
"""
UPDATE = """
mutation Update($id: ID!, $active: Boolean, $types: [String!]) {
  updateWebhookEndpoint(id: $id, active: $active, eventTypes: $types) {
    endpoint { id active eventTypes disabledAt }
    errors { code field }
  }
}
"""
DEACTIVATE = """
mutation Deactivate($id: ID!) {
  deactivateWebhookEndpoint(id: $id) { endpoint { active disabledAt } errors { code } }
}
"""
ENDPOINTS = """
{ webhookEndpoints(first: 10) { edges { node { id url eventTypes active } } } }
"""
LOG = """
query Log($endpoint: ID, $status: WebhookDeliveryStatus) {
  webhookDeliveries(endpointId: $endpoint, status: $status, first: 10) {
    edges { node { id eventId eventType status attempts responseCode latencyMs lastError
                   nextAttemptAt deliveredAt endpointId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
REPLAY = """
mutation Replay($id: ID!) {
  replayWebhookDelivery(id: $id) { delivery { status attempts } errors { code } }
}
"""
PUBLIC_URL = "https://93.184.215.14/hooks"


async def _create(app: Starlette, admin: Any, url: str, types: list[str] | None = None) -> Any:
    result = await execute(app, CREATE, {"url": url, "types": types}, as_=admin)
    assert result.errors is None, result.errors
    return result.data["createWebhookEndpoint"]


async def test_an_admin_registers_an_endpoint_and_sees_its_secret_once(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)

    # when
    created = await _create(app, admin, PUBLIC_URL, ["points.changed", "tier.changed"])

    # then
    assert created["errors"] == []
    assert created["secret"].startswith("whsec_")
    endpoint = created["endpoint"]
    assert endpoint["url"] == PUBLIC_URL
    assert endpoint["eventTypes"] == ["points.changed", "tier.changed"]
    assert endpoint["active"] is True
    # and: the list shows the endpoint, never its secret
    listed = await execute(app, ENDPOINTS, as_=admin)
    assert listed.errors is None
    assert [e["node"]["id"] for e in listed.data["webhookEndpoints"]["edges"]] == [endpoint["id"]]
    assert "whsec_" not in str(listed.data)


@pytest.mark.parametrize(
    ("url", "types", "code", "field"),
    [
        ("ftp://93.184.215.14/x", None, "INVALID_WEBHOOK_URL", "url"),
        ("http://127.0.0.1:8000/hooks", None, "WEBHOOK_TARGET_REFUSED", "url"),
        ("http://169.254.169.254/latest", None, "WEBHOOK_TARGET_REFUSED", "url"),
        ("http://10.0.0.7/hooks", None, "WEBHOOK_TARGET_REFUSED", "url"),
        (PUBLIC_URL, ["points.stolen"], "UNKNOWN_EVENT_TYPE", "eventTypes"),
    ],
)
async def test_bad_endpoints_are_refused_with_a_stable_code(
    app: Starlette, url: str, types: list[str] | None, code: str, field: str
) -> None:
    admin = await create_member(role=Role.ADMIN)
    created = await _create(app, admin, url, types)
    assert created["endpoint"] is None
    assert created["secret"] is None
    assert created["errors"] == [{"code": code, "field": field}]


async def test_an_endpoint_is_switched_off_and_on(app: Starlette) -> None:
    # given
    admin = await create_member(role=Role.ADMIN)
    endpoint_id = (await _create(app, admin, PUBLIC_URL))["endpoint"]["id"]

    # when
    off = await execute(app, DEACTIVATE, {"id": endpoint_id}, as_=admin)
    on = await execute(
        app, UPDATE, {"id": endpoint_id, "active": True, "types": ["badge.awarded"]}, as_=admin
    )

    # then
    assert off.data["deactivateWebhookEndpoint"]["endpoint"]["active"] is False
    assert off.data["deactivateWebhookEndpoint"]["endpoint"]["disabledAt"] is not None
    assert on.data["updateWebhookEndpoint"]["endpoint"] == {
        "id": endpoint_id,
        "active": True,
        "eventTypes": ["badge.awarded"],
        "disabledAt": None,
    }
    missing = await execute(
        app, DEACTIVATE, {"id": to_global_id("WebhookEndpoint", 999_999)}, as_=admin
    )
    assert missing.data["deactivateWebhookEndpoint"]["errors"] == [
        {"code": "WEBHOOK_ENDPOINT_NOT_FOUND"}
    ]


async def test_the_delivery_log_pages_newest_first_and_replays(app: Starlette) -> None:
    # given: three events handed to an endpoint, one of them given up on
    admin = await create_member(role=Role.ADMIN)
    endpoint_id = (await _create(app, admin, PUBLIC_URL, ["points.changed"]))["endpoint"]["id"]
    member = await create_member()
    for points in (1, 2, 3):
        await credit_points(member=member, points=points)
    await deliveries.fan_out()
    oldest = await WebhookDelivery.all().order_by("id").first()
    assert oldest is not None
    await WebhookDelivery.filter(id=oldest.id).update(
        status=DeliveryStatus.FAILED, attempts=15, response_code=500, last_error="HTTP 500"
    )

    # when
    log = await execute(app, LOG, {"endpoint": endpoint_id}, as_=admin)
    failed = await execute(app, LOG, {"status": "FAILED"}, as_=admin)
    replay = await execute(
        app, REPLAY, {"id": to_global_id("WebhookDelivery", oldest.id)}, as_=admin
    )

    # then
    nodes = [edge["node"] for edge in log.data["webhookDeliveries"]["edges"]]
    assert len(nodes) == 3
    assert nodes[-1]["id"] == to_global_id("WebhookDelivery", oldest.id)
    assert all(node["eventType"] == "points.changed" for node in nodes)
    assert all(node["endpointId"] == endpoint_id for node in nodes)
    assert nodes[0]["status"] == "PENDING"
    assert nodes[0]["nextAttemptAt"] is not None
    (given_up,) = [edge["node"] for edge in failed.data["webhookDeliveries"]["edges"]]
    assert given_up["responseCode"] == 500
    assert given_up["lastError"] == "HTTP 500"
    assert given_up["nextAttemptAt"] is None
    assert replay.data["replayWebhookDelivery"] == {
        "delivery": {"status": "PENDING", "attempts": 0},
        "errors": [],
    }


async def test_only_admins_read_endpoints_and_the_log(app: Starlette) -> None:
    member = await create_member()
    for query in (ENDPOINTS, LOG):
        result = await execute(app, query, as_=member)
        assert result.errors is not None
        assert result.errors[0].extensions["code"] == "FORBIDDEN"
