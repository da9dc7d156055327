"""The event catalog: every type of event the outbox carries, its version and its payload's JSON
Schema (draft 2020-12). `docs/events.md` is generated from it (`docs/gen_events.py`), and
tests/gamification/outbox/test_catalog.py checks every event a journey emits against it.

A payload's shape changes only with a new version: a field added, removed or retyped makes
`version` 2, and emitters keep sending version 1 until subscribers have moved.
Ids inside payloads are the database ids (the number inside the GraphQL global ID); points are
integers; money amounts are decimal strings; times are ISO 8601 in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    version: int
    description: str
    schema: dict[str, Any]


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    properties = {**required, **(optional or {})}
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,
    }


_ID: Final = {"type": "integer", "minimum": 1}
_OPTIONAL_ID: Final = {"type": ["integer", "null"]}
_POINTS: Final = {"type": "integer"}
_TEXT: Final = {"type": "string"}
_OPTIONAL_TEXT: Final = {"type": ["string", "null"]}
_TIME: Final = {"type": "string", "format": "date-time"}
_DECIMAL: Final = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}

_ENTRY: Final = {
    "memberId": _ID,
    "entryId": _ID,
    "points": _POINTS,
    "heldChange": _POINTS,
    "balance": _POINTS,
    "held": _POINTS,
    "referenceType": _TEXT,
    "referenceId": _TEXT,
}
_FACT: Final = {
    "memberId": _ID,
    "domainEventId": _ID,
    "sourceKey": _TEXT,
    "occurredAt": _TIME,
    "channel": _TEXT,
    "storeId": _OPTIONAL_ID,
    "amount": _DECIMAL,
    "quantity": {"type": "integer"},
    "categories": {"type": "array", "items": _TEXT},
    "subject": _TEXT,
    "qualifyingPoints": _POINTS,
}

_TYPES: Final = (
    EventType(
        "points.changed",
        1,
        "A ledger entry changed the member's points (earned, spent, held, expired, adjusted…): "
        "`kind` says which, `balance` and `held` are the account's figures after it.",
        _object({**_ENTRY, "kind": _TEXT, "reason": _TEXT}),
    ),
    EventType(
        "points.expired",
        1,
        "Points reached their expiry date and left the balance (`points` is negative).",
        _object(_ENTRY),
    ),
    EventType(
        "hold.placed",
        1,
        "A till or kiosk held the member's points (`heldChange` > 0); `referenceId` names "
        "the hold.",
        _object(_ENTRY),
    ),
    EventType(
        "hold.captured",
        1,
        "Held points were spent (`points` < 0, `heldChange` < 0).",
        _object(_ENTRY),
    ),
    EventType(
        "hold.released",
        1,
        "Held points went back to the member's available points (`heldChange` < 0).",
        _object(_ENTRY),
    ),
    EventType(
        "purchase.recorded",
        1,
        "A purchase was recorded for the member; `qualifyingPoints` count towards tiers.",
        _object(_FACT),
    ),
    EventType(
        "purchase.refunded",
        1,
        "A purchase was refunded, wholly or in part (`amount` refunded now).",
        _object(_FACT),
    ),
    EventType(
        "reward.redeemed",
        1,
        "The member redeemed a reward (`amount`: the points it cost).",
        _object(_FACT),
    ),
    EventType(
        "donation.made",
        1,
        "The member donated points to a cause (`amount`: the points).",
        _object(_FACT),
    ),
    EventType(
        "eco_action.recorded",
        1,
        "An eco action was recorded (`subject`: its kind, `quantity`: how many).",
        _object(_FACT),
    ),
    EventType(
        "member.checked_in",
        1,
        "The member checked in at a store.",
        _object(_FACT),
    ),
    EventType(
        "tier.changed",
        1,
        "The member's tier changed: `reason` is UPGRADE, DOWNGRADE or FLOOR (an admin's floor); "
        "`tier` is null when the member has no tier any more.",
        _object(
            {
                "memberId": _ID,
                "tier": _OPTIONAL_TEXT,
                "previousTier": _OPTIONAL_TEXT,
                "reason": {"enum": ["UPGRADE", "DOWNGRADE", "FLOOR"]},
            }
        ),
    ),
    EventType(
        "challenge.completed",
        1,
        "The member completed a challenge (`number`: the how-manieth completion in the "
        "window; `rewardPoints`: the bonus credited).",
        _object(
            {
                "memberId": _ID,
                "challengeId": _ID,
                "title": _TEXT,
                "windowKey": _TEXT,
                "number": {"type": "integer", "minimum": 1},
                "rewardPoints": _POINTS,
            }
        ),
    ),
    EventType(
        "badge.awarded",
        1,
        "The member earned a badge they did not hold.",
        _object({"memberId": _ID, "badgeId": _ID, "name": _TEXT, "level": {"type": "integer"}}),
    ),
    EventType(
        "notification.created",
        1,
        "A scheduled notice to the member (docs/notifications.md), for the brand's push or "
        "e-mail provider: `kind` says which, `data` what it says (POINTS_EXPIRING: points, "
        "expiresAt, lastDay; TIER_AT_RISK: tier, pointsNeeded, periodEndsAt, lastDay; "
        "CHALLENGE_ENDING: challengeId, title, current, target, percent, streak, endsAt; "
        "BIRTHDAY: year). `channels` are those the member's consent records give for it "
        "(marketing for BIRTHDAY, notifications for the others): send on these only; none "
        "means in-app only. Sent once per `occasion`.",
        _object(
            {
                "memberId": _ID,
                "notificationId": _ID,
                "kind": {
                    "enum": ["POINTS_EXPIRING", "TIER_AT_RISK", "CHALLENGE_ENDING", "BIRTHDAY"]
                },
                "occasion": _TEXT,
                "createdAt": _TIME,
                "channels": {"type": "array", "items": {"enum": ["EMAIL", "PUSH", "SMS"]}},
                "data": {"type": "object"},
            }
        ),
    ),
    EventType(
        "member.erased",
        1,
        "The member's account was erased (docs/privacy.md): their personal data is gone here and "
        "their remaining points forfeited. Erase what your system keeps about `memberId`; later "
        "events never name them again.",
        _object(
            {
                "memberId": _ID,
                "requestedBy": {"enum": ["member", "admin", "operator"]},
                "forfeitedPoints": {"type": "integer", "minimum": 0},
                "erasedAt": _TIME,
            }
        ),
    ),
    EventType(
        "webhook_endpoint.disabled",
        1,
        "A webhook endpoint was switched off after failing without a break (see "
        "LOYALTY_WEBHOOK_DISABLE_AFTER_FAILURES and _MINUTES); its undelivered events wait "
        "for it to be switched on again.",
        _object(
            {
                "endpointId": _ID,
                "url": _TEXT,
                "consecutiveFailures": {"type": "integer", "minimum": 1},
                "failingSince": _TIME,
            }
        ),
    ),
)

EVENT_TYPES: Final[dict[str, EventType]] = {event_type.name: event_type for event_type in _TYPES}


def is_free_text(event_type: str, key: str) -> bool:
    """Whether `key` of the type's payload is free text (a string that is not one of a set of
    values, nor a date or an id): what erasure blanks, since people write names there."""
    known = EVENT_TYPES.get(event_type)
    spec = known.schema.get("properties", {}).get(key) if known is not None else None
    return (
        isinstance(spec, dict)
        and spec.get("type") == "string"
        and not {"enum", "format", "const", "pattern"} & spec.keys()
    )


def is_known(name: str) -> bool:
    return name in EVENT_TYPES


def markdown() -> str:
    """docs/events.md: every type, its version, its description and its payload's schema."""
    import json

    lines = [
        "# Events",
        "",
        "<!-- Generated by `python docs/gen_events.py` from gamification/outbox/catalog.py. -->",
        "",
        "Every event the service emits: written to the outbox in the transaction that made it, "
        "then delivered (webhooks: see [webhooks](webhooks.md)). A delivery's body is "
        '`{"id", "type", "version", "timestamp", "data"}`; `data` follows the schema below.',
        "",
        "| type | version | what happened |",
        "|---|---|---|",
    ]
    for event_type in _TYPES:
        lines.append(f"| `{event_type.name}` | {event_type.version} | {event_type.description} |")
    for event_type in _TYPES:
        lines += [
            "",
            f"## `{event_type.name}` (version {event_type.version})",
            "",
            "```json",
            json.dumps(event_type.schema, indent=2),
            "```",
        ]
    return "\n".join(lines) + "\n"
