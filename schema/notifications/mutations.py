"""Marking notices read and choosing which kinds to receive: the caller's own."""

from __future__ import annotations

import strawberry

from gamification.notifications import inbox
from gamification.notifications import models as notifications_models
from gamification.notifications import preferences as notification_preferences
from schema.context import Info
from schema.notifications.types import NotificationPreferenceInput, NotificationPreferenceType
from schema.payloads import payload_of, payload_type
from schema.permissions import IsPerson
from schema.relay import pk_of

MarkNotificationsReadPayload = payload_type(
    "MarkNotificationsReadPayload",
    marked=(int, "Notices marked read now."),
    unread=(int, "Your notices still unread."),
)
SetNotificationPreferencesPayload = payload_type(
    "SetNotificationPreferencesPayload", preferences=list[NotificationPreferenceType]
)


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Mark your notices read: `ids`, or every one up to and including `upTo` "
        "(the newest you have shown). Give one of the two; others' notices are never touched.",
    )
    async def mark_notifications_read(
        self,
        info: Info,
        ids: list[strawberry.ID] | None = None,
        up_to: strawberry.ID | None = None,
    ) -> MarkNotificationsReadPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()

        async def mark() -> MarkNotificationsReadPayload:  # type: ignore[valid-type]
            marked = await inbox.mark_read(
                actor.id,
                ids=[pk_of(i, "Notification", field="ids") for i in ids]
                if ids is not None
                else None,
                up_to=pk_of(up_to, "Notification", field="upTo") if up_to is not None else None,
            )
            return MarkNotificationsReadPayload(
                marked=marked, unread=await inbox.unread_count(actor.id)
            )

        return await payload_of(MarkNotificationsReadPayload, mark)

    @strawberry.mutation(
        permission_classes=[IsPerson],
        description="Turn kinds of notices on or off for yourself (kinds not named stay as "
        "they are). Birthday notices also need your marketing consent.",
    )
    async def set_notification_preferences(
        self, info: Info, preferences: list[NotificationPreferenceInput]
    ) -> SetNotificationPreferencesPayload:  # type: ignore[valid-type]
        actor = info.context.require_person()
        choices = {notifications_models.NotificationKind(p.kind): p.enabled for p in preferences}

        async def choose() -> SetNotificationPreferencesPayload:  # type: ignore[valid-type]
            found = await notification_preferences.set_preferences(actor.id, choices)
            return SetNotificationPreferencesPayload(
                preferences=[NotificationPreferenceType.of(p) for p in found]
            )

        return await payload_of(SetNotificationPreferencesPayload, choose)
