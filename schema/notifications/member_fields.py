"""The notification fields of `Member`: the notices, how many are unread, the preferences. Only
the member and admins reach them, because only they can reach the `Member` object (see
`schema.members.types`)."""

from __future__ import annotations

import strawberry

from gamification.notifications import inbox, preferences
from schema.context import Info
from schema.notifications.types import NotificationPreferenceType, NotificationType
from schema.relay import MAX_PK, Connection, page_args


@strawberry.type
class MemberNotificationFields:
    pk: strawberry.Private[int]

    @strawberry.field(description="Your notices, newest first; `unreadOnly` for the unread.")
    async def notifications(
        self, info: Info, first: int = 20, after: str | None = None, unread_only: bool = False
    ) -> Connection[NotificationType]:
        first, before_id = page_args(info, first, after, max_pk=MAX_PK)  # 64-bit ids
        page = await inbox.page(self.pk, first=first, before_id=before_id, unread_only=unread_only)
        return Connection[NotificationType].of(page, NotificationType.from_model)

    @strawberry.field(description="How many of your notices are unread.")
    async def unread_notifications(self) -> int:
        return await inbox.unread_count(self.pk)

    @strawberry.field(description="Which kinds of notices you receive (all, until turned off).")
    async def notification_preferences(self) -> list[NotificationPreferenceType]:
        return [NotificationPreferenceType.of(p) for p in await preferences.preferences_of(self.pk)]
