"""Signing deliveries per the Standard Webhooks specification, with its reference library
(`standardwebhooks`): `webhook-id` (the event's id, the same on every retry: receivers dedupe by
it), `webhook-timestamp` (seconds since the epoch, of this attempt) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), the secret being `whsec_<base64>`."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

_SECRET_BYTES = 32


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def body_of(
    *, event_id: str, type: str, version: int, occurred_at: datetime, data: dict[str, Any]
) -> str:
    """The JSON body every endpoint receives for an event (the same bytes on every attempt)."""
    return json.dumps(
        {
            "id": event_id,
            "type": type,
            "version": version,
            "timestamp": occurred_at.isoformat(),
            "data": data,
        },
        separators=(",", ":"),
    )


def signed_headers(secret: str, event_id: str, body: str, now: datetime) -> dict[str, str]:
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
        "content-type": "application/json",
    }
