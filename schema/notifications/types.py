"""GraphQL types for member notifications: the notice, what it says per kind, preferences."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

import strawberry

from gamification.notifications import inbox
from gamification.notifications import models as notifications_models
from gamification.notifications.preferences import Preference
from schema.context import Info
from schema.relay import MAX_PK, Node, register_node, to_global_id

NotificationKind = strawberry.enum(
    notifications_models.NotificationKind,
    name="NotificationKind",
    description="What a notice is about. BIRTHDAY is marketing: it needs marketingConsent.",
)
_CENTS: Final = Decimal("0.01")


@strawberry.type(description="Points that expire soon.")
class PointsExpiringNotice:
    points: int
    expires_at: datetime
    last_day: date = strawberry.field(description="The last day, in your timezone, to use them.")


@strawberry.type(description="Your tier drops when the period ends unless you earn more.")
class TierAtRiskNotice:
    tier: str
    points_needed: int = strawberry.field(description="Qualifying points still needed to keep it.")
    period_ends_at: datetime
    last_day: date = strawberry.field(description="The period's last day, in your timezone.")


@strawberry.type(description="A challenge window closes soon and you have not completed it yet.")
class ChallengeEndingNotice:
    challenge_id: strawberry.ID
    title: str
    current: Decimal
    target: Decimal
    percent: int
    ends_at: datetime = strawberry.field(description="When the current window closes.")


@strawberry.type(description="Happy birthday (sent only with your marketing consent).")
class BirthdayNotice:
    year: int


NotificationDetails = Annotated[
    PointsExpiringNotice | TierAtRiskNotice | ChallengeEndingNotice | BirthdayNotice,
    strawberry.union("NotificationDetails", description="What the notice says, per kind."),
]


def details_of(
    kind: notifications_models.NotificationKind, data: dict[str, Any]
) -> NotificationDetails:
    kinds = notifications_models.NotificationKind
    if kind is kinds.POINTS_EXPIRING:
        return PointsExpiringNotice(
            points=int(data["points"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            last_day=date.fromisoformat(data["last_day"]),
        )
    if kind is kinds.TIER_AT_RISK:
        return TierAtRiskNotice(
            tier=str(data["tier"]),
            points_needed=int(data["points_needed"]),
            period_ends_at=datetime.fromisoformat(data["period_ends_at"]),
            last_day=date.fromisoformat(data["last_day"]),
        )
    if kind is kinds.CHALLENGE_ENDING:
        return ChallengeEndingNotice(
            challenge_id=to_global_id("Challenge", int(data["challenge_id"])),
            title=str(data["title"]),
            current=Decimal(data["current"]).quantize(_CENTS),
            target=Decimal(data["target"]).quantize(_CENTS),
            percent=int(data["percent"]),
            ends_at=datetime.fromisoformat(data["ends_at"]),
        )
    return BirthdayNotice(year=int(data["year"]))


@strawberry.type(name="Notification", description="A notice to you. Only you and admins see it.")
class NotificationType(Node):
    kind: NotificationKind  # type: ignore[valid-type]
    created_at: datetime
    read_at: datetime | None
    details: NotificationDetails

    @strawberry.field(description="`readAt` is set.")
    def read(self) -> bool:
        return self.read_at is not None

    @classmethod
    def of(
        cls,
        pk: int,
        kind: notifications_models.NotificationKind,
        data: dict[str, Any],
        created_at: datetime,
        read_at: datetime | None = None,
    ) -> NotificationType:
        return cls(
            id=to_global_id("Notification", pk),
            kind=kind,
            created_at=created_at,
            read_at=read_at,
            details=details_of(kind, data),
        )

    @classmethod
    def from_model(cls, notice: notifications_models.Notification) -> NotificationType:
        return cls.of(notice.id, notice.kind, notice.data, notice.created_at, notice.read_at)


@strawberry.type(name="NotificationPreference")
class NotificationPreferenceType:
    kind: NotificationKind  # type: ignore[valid-type]
    enabled: bool
    needs_marketing_consent: bool = strawberry.field(
        description="Sent only while your `marketingConsent` is on, too."
    )

    @classmethod
    def of(cls, preference: Preference) -> NotificationPreferenceType:
        return cls(
            kind=preference.kind,
            enabled=preference.enabled,
            needs_marketing_consent=preference.needs_marketing_consent,
        )


@strawberry.input
class NotificationPreferenceInput:
    kind: NotificationKind  # type: ignore[valid-type]
    enabled: bool


async def load_notification_node(info: Info, pk: int) -> NotificationType | None:
    actor = info.context.actor
    if actor is None or not actor.is_person:
        return None
    notice = (
        await notifications_models.Notification.get_or_none(id=pk)
        if actor.is_admin
        else await inbox.notice_of(actor.id, pk)
    )
    return NotificationType.from_model(notice) if notice else None


register_node("Notification", load_notification_node, max_pk=MAX_PK)  # 64-bit ids
