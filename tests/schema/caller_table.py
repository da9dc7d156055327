"""Who may call each mutation, and with which proof: the table `docs/consent.md` shows, walked
against the live schema by `test_caller_table.py`.

Every mutation has a row; every row says, for each kind of caller, what the call answers when
it names the member `M` (or `M`'s objects): `ok`, a GraphQL error code (`UNAUTHENTICATED`,
`FORBIDDEN`), or a payload error code. A row that takes points out of `M`'s account says which
proof lets it (`gamification.ledger.consent`); the test also checks that no other cell takes a point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from gamification.causes.models import Cause
from gamification.earning.models import Purchase
from gamification.members.models import Member
from gamification.rewards.models import PointsHold, Redemption, Reward
from gamification.stores.models import Device
from schema.relay import to_global_id

CALLERS: Final = (
    "anonymous",
    "member",
    "other_member",
    "staff",
    "admin",
    "kiosk",
    "till",
    "web",
    "kiosk_elsewhere",
)
CALLER_LABELS: Final = {
    "anonymous": "anonymous",
    "member": "M (the member)",
    "other_member": "another member",
    "staff": "staff of M's store",
    "admin": "admin",
    "kiosk": "kiosk of M's store",
    "till": "till of M's store",
    "web": "web shop of M's store",
    "kiosk_elsewhere": "kiosk of another store",
}


@dataclass
class World:
    """One scene per call: member M with 1,000 points in store S, and what M has made."""

    member: Member
    other: Member
    staff: Member
    admin: Member
    kiosk: Device
    till: Device
    web: Device
    kiosk_elsewhere: Device
    reward: Reward
    cause: Cause
    purchase: Purchase  # M's, at the till
    redemption: Redemption  # M's, in the app (voucher issued)
    hold: PointsHold  # M's points held by the till (M's code)
    donation_id: int  # M's
    reward_code: str  # M's one-time codes
    points_code: str
    donation_code: str
    request_id: str  # the kiosk asked M to redeem 50 points
    challenge_id: int
    eco_kind_code: str
    eco_kind_id: int
    webhook_endpoint_id: int
    webhook_delivery_id: int  # of an event of M's, to that endpoint
    n: int  # unique per world

    def caller(self, kind: str) -> Member | Device | None:
        return {
            "anonymous": None,
            "member": self.member,
            "other_member": self.other,
            "staff": self.staff,
            "admin": self.admin,
            "kiosk": self.kiosk,
            "till": self.till,
            "web": self.web,
            "kiosk_elsewhere": self.kiosk_elsewhere,
        }[kind]


def gid(type_name: str, pk: int) -> str:
    return to_global_id(type_name, pk)


def _later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class Row:
    mutation: str
    args: Callable[[World], dict[str, Any]]
    answers: dict[str, str]  # caller kind -> ok / error code
    # For mutations that take points out of M's account: who may, and with which proof.
    debit_proof: dict[str, str] = field(default_factory=dict)
    note: str = ""


def _row(
    mutation: str,
    args: Callable[[World], dict[str, Any]],
    answers: str,
    *,
    debit_proof: dict[str, str] | None = None,
    note: str = "",
) -> Row:
    """`answers`: one word per caller kind, in CALLERS order."""
    words = answers.split()
    assert len(words) == len(CALLERS), mutation
    return Row(mutation, args, dict(zip(CALLERS, words, strict=True)), debit_proof or {}, note)


OK: Final = "ok"
# Answers in CALLERS order, one word each.
ADMIN_ONLY: Final = (
    "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN"
)
PERSONS_OWN: Final = "UNAUTHENTICATED ok ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN"


def _purchase(w: World) -> dict[str, Any]:
    return {
        "input": {
            "cardNumber": w.member.card_number,
            "amount": "10.00",
            "currency": "EUR",
            "externalId": f"receipt-{w.n}",
            "occurredAt": datetime.now(UTC).isoformat(),
        },
        "idempotencyKey": f"p-{w.n}",
    }


def _eco_action(w: World) -> dict[str, Any]:
    return {
        "input": {
            "kind": w.eco_kind_code,
            "quantity": 1,
            "externalId": f"eco-{w.n}",
            "cardNumber": w.member.card_number,
        }
    }


ROWS: Final[tuple[Row, ...]] = (
    # Accounts and profiles: no points move.
    _row(
        "signUp",
        lambda w: {
            "email": f"new{w.n}@example.com",
            "password": "a-long-password-2026",
            "displayName": "New",
        },
        "ok ok ok ok ok ok ok ok ok",
        note="creates an account; no proof needed",
    ),
    _row(
        "logIn",
        lambda w: {"email": w.member.email, "password": "wrong-password-1"},
        " ".join(["INVALID_CREDENTIALS"] * 9),
        note="the password is the proof",
    ),
    _row(
        "updateProfile",
        lambda w: {"displayName": "Renamed"},
        "UNAUTHENTICATED ok ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        note="the caller's own profile",
    ),
    _row(
        "follow",
        lambda w: {"memberId": gid("Member", w.member.id)},
        "UNAUTHENTICATED CANNOT_FOLLOW_SELF ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
    ),
    _row(
        "unfollow",
        lambda w: {"memberId": gid("Member", w.member.id)},
        "UNAUTHENTICATED ok ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
    ),
    # Stores and devices.
    _row("createStore", lambda w: {"code": f"NEW{w.n}", "name": "New store"}, ADMIN_ONLY),
    _row(
        "registerDevice",
        lambda w: {"storeId": gid("Store", w.kiosk.store_id), "channel": "KIOSK", "name": "K"},  # type: ignore[attr-defined]
        ADMIN_ONLY,
    ),
    _row("revokeDevice", lambda w: {"deviceId": gid("Device", w.web.id)}, ADMIN_ONLY),
    # Earning: adds points, so no proof of the member; refunds stay in the purchase's store.
    _row(
        "recordPurchase",
        _purchase,
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN ok INVALID_INPUT ok ok ok ok",
        note="adds points: the card number is enough",
    ),
    _row(
        "refundPurchase",
        lambda w: {
            "purchaseId": gid("Purchase", w.purchase.id),
            "amount": "10.00",
            "idempotencyKey": f"rf-{w.n}",
        },
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN ok ok ok ok ok STORE_MISMATCH",
        debit_proof={
            "staff": "claw-back of the purchase's points, in its store",
            "admin": "claw-back of the purchase's points",
            "kiosk": "claw-back of the purchase's points, in its store",
            "till": "claw-back of the purchase's points, in its store",
            "web": "claw-back of the purchase's points, in its store",
        },
        note="takes back only what the purchase earned, in the purchase's store",
    ),
    _row(
        "recordEcoAction",
        _eco_action,
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN ok ok ok ok ok ok",
        note="adds points: the card number is enough",
    ),
    _row(
        "checkIn",
        lambda w: {},
        "UNAUTHENTICATED ok ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
    ),
    _row(
        "adjustPoints",
        lambda w: {
            "memberId": gid("Member", w.member.id),
            "points": -10,
            "reason": "correction",
            "idempotencyKey": f"adj-{w.n}",
        },
        ADMIN_ONLY,
        debit_proof={"admin": "an admin's correction, with a reason (not a spend)"},
    ),
    # Spending: only with M's proof.
    _row(
        "redeemReward",
        lambda w: {"rewardId": gid("Reward", w.reward.id), "idempotencyKey": f"rr-{w.n}"},
        "UNAUTHENTICATED ok INSUFFICIENT_POINTS INSUFFICIENT_POINTS INSUFFICIENT_POINTS FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        debit_proof={"member": "M's access token"},
        note="spends the caller's own points",
    ),
    _row(
        "createRedemptionToken",
        lambda w: {"points": 50},
        "UNAUTHENTICATED ok ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        note="the caller's own code; moves nothing",
    ),
    _row(
        "redeemWithToken",
        lambda w: {"token": w.reward_code, "idempotencyKey": f"rt-{w.n}"},
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN ok CHANNEL_MISMATCH CHANNEL_MISMATCH ok",
        debit_proof={"kiosk": "M's one-time code", "kiosk_elsewhere": "M's one-time code"},
    ),
    _row(
        "holdPoints",
        lambda w: {
            "token": w.points_code,
            "points": 50,
            "reference": f"sale-{w.n}",
            "ttlSeconds": 300,
            "idempotencyKey": f"hp-{w.n}",
        },
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN ok ok CHANNEL_MISMATCH ok",
        debit_proof={
            "kiosk": "M's one-time code",
            "till": "M's one-time code",
            "kiosk_elsewhere": "M's one-time code",
        },
        note="holds: points stay in the balance but are no longer available",
    ),
    _row(
        "captureHold",
        lambda w: {
            "holdId": gid("PointsHold", w.hold.id),
            "points": 30,
            "idempotencyKey": f"ch-{w.n}",
        },
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN ok ok CHANNEL_MISMATCH NOT_FOUND",
        debit_proof={
            "kiosk": "the hold M's code placed, in its store",
            "till": "the hold M's code placed, in its store",
        },
    ),
    _row(
        "releaseHold",
        lambda w: {"holdId": gid("PointsHold", w.hold.id), "idempotencyKey": f"rh-{w.n}"},
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN ok ok CHANNEL_MISMATCH NOT_FOUND",
        note="gives held points back",
    ),
    _row(
        "cancelRedemption",
        lambda w: {
            "redemptionId": gid("Redemption", w.redemption.id),
            "idempotencyKey": f"cr-{w.n}",
        },
        "UNAUTHENTICATED ok NOT_FOUND NOT_FOUND ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        note="gives points back",
    ),
    _row(
        "useVoucher",
        lambda w: {"code": w.redemption.voucher_code},
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN ok ok WRONG_CHANNEL ok",
        note="moves no points; the reward is offered in the app, taken at tills and kiosks",
    ),
    _row(
        "requestRedemption",
        lambda w: {"reference": f"ask-{w.n}", "cardNumber": w.member.card_number, "points": 50},
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN ok CHANNEL_MISMATCH CHANNEL_MISMATCH ok",
        note="asks M; moves nothing until M approves",
    ),
    _row(
        "requestDonation",
        lambda w: {
            "reference": f"ask-d-{w.n}",
            "cardNumber": w.member.card_number,
            "causeId": gid("Cause", w.cause.id),
            "points": 50,
        },
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN ok CHANNEL_MISMATCH CHANNEL_MISMATCH ok",
        note="asks M; moves nothing until M approves",
    ),
    _row(
        "respondToRedemptionRequest",
        lambda w: {"requestId": w.request_id, "answer": "APPROVE"},
        "UNAUTHENTICATED ok REQUEST_NOT_FOUND REQUEST_NOT_FOUND REQUEST_NOT_FOUND FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        debit_proof={"member": "M's approval in the app (their access token)"},
    ),
    # Donations.
    _row(
        "donatePoints",
        lambda w: {
            "causeId": gid("Cause", w.cause.id),
            "points": 50,
            "idempotencyKey": f"dp-{w.n}",
        },
        "UNAUTHENTICATED ok INSUFFICIENT_POINTS INSUFFICIENT_POINTS INSUFFICIENT_POINTS FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        debit_proof={"member": "M's access token"},
        note="donates the caller's own points; no device names a member",
    ),
    _row(
        "donateWithToken",
        lambda w: {"token": w.donation_code, "idempotencyKey": f"dt-{w.n}"},
        "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN ok CHANNEL_MISMATCH CHANNEL_MISMATCH ok",
        debit_proof={"kiosk": "M's donation code", "kiosk_elsewhere": "M's donation code"},
    ),
    _row(
        "reverseDonation",
        lambda w: {
            "donationId": gid("Donation", w.donation_id),
            "reason": "mistake",
            "idempotencyKey": f"rd-{w.n}",
        },
        ADMIN_ONLY,
        note="gives points back",
    ),
    # Gamification.
    _row(
        "joinChallenge",
        lambda w: {"challengeId": gid("Challenge", w.challenge_id)},
        "UNAUTHENTICATED ok ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
    ),
    # Notifications: the caller's own notices and preferences.
    _row(
        "markNotificationsRead",
        lambda w: {"upTo": gid("Notification", 1)},
        "UNAUTHENTICATED ok ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        note="the caller's own notices only",
    ),
    _row(
        "setNotificationPreferences",
        lambda w: {"preferences": [{"kind": "BIRTHDAY", "enabled": False}]},
        "UNAUTHENTICATED ok ok ok ok FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        note="the caller's own preferences",
    ),
    # The brand's configuration: admins only.
    _row(
        "setEarnRule",
        lambda w: {"currency": "EUR", "pointsPerUnit": "2", "minimumSpend": "0"},
        ADMIN_ONLY,
    ),
    _row(
        "createEarnPromotion",
        lambda w: {
            "name": "Double",
            "channel": "APP",
            "multiplier": "2",
            "startsAt": _later(1),
            "endsAt": _later(2),
        },
        ADMIN_ONLY,
    ),
    _row(
        "createReward",
        lambda w: {"input": {"name": "Mug", "kind": "PRODUCT", "costPoints": 10}},
        ADMIN_ONLY,
    ),
    _row(
        "updateReward",
        lambda w: {"rewardId": gid("Reward", w.reward.id), "input": {"costPoints": 20}},
        ADMIN_ONLY,
    ),
    _row(
        "createCause",
        lambda w: {"input": {"name": "Bees", "impactUnit": "hive", "pointsPerUnit": 10}},
        ADMIN_ONLY,
    ),
    _row(
        "updateCause",
        lambda w: {"causeId": gid("Cause", w.cause.id), "input": {"partner": "WWF"}},
        ADMIN_ONLY,
    ),
    _row("closeCause", lambda w: {"causeId": gid("Cause", w.cause.id)}, ADMIN_ONLY),
    _row(
        "createMatchingCampaign",
        lambda w: {
            "input": {
                "causeId": gid("Cause", w.cause.id),
                "ratio": "1",
                "totalCap": 100,
                "endsAt": _later(7),
            }
        },
        ADMIN_ONLY,
    ),
    _row(
        "defineTier",
        lambda w: {"input": {"name": f"Tier {w.n}", "rank": 9, "threshold": 900}},
        ADMIN_ONLY,
    ),
    _row(
        "setTierFloor",
        lambda w: {"memberId": gid("Member", w.member.id), "tier": None},
        ADMIN_ONLY,
    ),
    _row(
        "createChallenge",
        lambda w: {
            "input": {
                "title": "Visit",
                "goalType": "COUNT",
                "target": "2",
                "eventKind": "CHECK_IN",
                "windowKind": "WEEKLY",
                "startsAt": "2026-01-01T00:00:00+00:00",
            }
        },
        ADMIN_ONLY,
    ),
    _row(
        "updateChallenge",
        lambda w: {"id": gid("Challenge", w.challenge_id), "input": {"description": "New"}},
        ADMIN_ONLY,
    ),
    _row(
        "createBadge",
        lambda w: {"input": {"name": f"Badge {w.n}", "rule": "FIRST_PURCHASE"}},
        ADMIN_ONLY,
    ),
    _row(
        "createEcoActionKind",
        lambda w: {"input": {"code": f"kind{w.n}", "name": "Kind", "pointsPerUnit": 5}},
        ADMIN_ONLY,
    ),
    _row(
        "updateEcoActionKind",
        lambda w: {"id": gid("EcoActionKind", w.eco_kind_id), "input": {"pointsPerUnit": 6}},
        ADMIN_ONLY,
    ),
    # Privacy (docs/privacy.md).
    _row(
        "setConsent",
        lambda w: {"kind": "MARKETING", "channel": "EMAIL", "given": True, "textVersion": "v1"},
        PERSONS_OWN,
        note="the caller's own consent",
    ),
    _row("requestMyData", lambda w: {}, PERSONS_OWN, note="the caller's own data"),
    _row("exportMember", lambda w: {"memberId": gid("Member", w.member.id)}, ADMIN_ONLY),
    _row(
        "deleteMyAccount",
        lambda w: {"password": "correct horse battery"},
        "UNAUTHENTICATED ok ok ERASURE_REFUSED ERASURE_REFUSED "
        "FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN",
        debit_proof={"member": "M's password, re-entered: the points are forfeited"},
        note="the caller's own account (another member erases only theirs)",
    ),
    _row(
        "eraseMember",
        lambda w: {"memberId": gid("Member", w.member.id), "reason": "asked at the desk"},
        ADMIN_ONLY,
        debit_proof={"admin": "an admin's erasure, with a reason: the points are forfeited"},
    ),
    # Webhooks: admins only; no points move.
    _row(
        "createWebhookEndpoint",
        lambda w: {"url": "https://93.184.215.14/hooks", "eventTypes": ["points.changed"]},
        ADMIN_ONLY,
    ),
    _row(
        "updateWebhookEndpoint",
        lambda w: {"id": gid("WebhookEndpoint", w.webhook_endpoint_id), "description": "CRM"},
        ADMIN_ONLY,
    ),
    _row(
        "deactivateWebhookEndpoint",
        lambda w: {"id": gid("WebhookEndpoint", w.webhook_endpoint_id)},
        ADMIN_ONLY,
    ),
    _row(
        "deleteWebhookEndpoint",
        lambda w: {"id": gid("WebhookEndpoint", w.webhook_endpoint_id)},
        ADMIN_ONLY,
    ),
    _row(
        "replayWebhookDelivery",
        lambda w: {"id": gid("WebhookDelivery", w.webhook_delivery_id)},
        ADMIN_ONLY,
    ),
    _row(
        "replayWebhookDeliveries",
        lambda w: {
            "endpointId": gid("WebhookEndpoint", w.webhook_endpoint_id),
            "since": _later(-1),
            "until": _later(1),
        },
        ADMIN_ONLY,
    ),
)

ROWS_BY_MUTATION: Final = {row.mutation: row for row in ROWS}


def markdown_table() -> str:
    """The table for docs/consent.md."""
    head = "| mutation | " + " | ".join(CALLER_LABELS[c] for c in CALLERS) + " |"
    rule = "|---" * (len(CALLERS) + 1) + "|"
    lines = [head, rule]
    for row in sorted(ROWS, key=lambda r: r.mutation):
        cells = []
        for caller in CALLERS:
            answer = row.answers[caller]
            if answer == OK and caller in row.debit_proof:
                cells.append(f"ok: {row.debit_proof[caller]}")
            else:
                cells.append(answer)
        lines.append(f"| `{row.mutation}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
