"""GraphQL documents (and their inputs) that several test modules send."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gamification.members.models import Member
from schema.relay import to_global_id

RECORD_PURCHASE = """
mutation RecordPurchase($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) {
    purchase { id externalId channel storeId memberId amount currency pointsEarned }
    pointsEarned
    balance
    replayed
    errors { code field message }
  }
}
"""


def purchase_input(
    *,
    member: Member | None = None,
    card_number: str | None = None,
    member_id: str | None = None,
    amount: str = "10.00",
    currency: str = "EUR",
    external_id: str = "receipt-1",
    occurred_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "externalId": external_id,
        "occurredAt": (occurred_at or datetime.now(UTC)).isoformat(),
        **extra,
    }
    if member is not None:
        data["memberId"] = to_global_id("Member", member.id)
    if member_id is not None:
        data["memberId"] = member_id
    if card_number is not None:
        data["cardNumber"] = card_number
    return data


CHECK_IN = "mutation { checkIn { checkIn { localDate } errors { code } } }"


UPDATE_CHALLENGE = """
mutation Update($id: ID!, $input: UpdateChallengeInput!) {
  updateChallenge(id: $id, input: $input) {
    challenge { title target status }
    errors { code field }
  }
}
"""
