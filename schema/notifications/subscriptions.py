"""The `notifications` subscription: your new notices as the scheduler sends them."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from gamification.events import realtime
from gamification.events.realtime import Notice, Topic
from gamification.notifications.models import NotificationKind
from schema.context import Info
from schema.notifications.types import NotificationType
from schema.realtime.subscriptions import feed_of, member_of


def _notification(notice: Notice) -> NotificationType:
    return NotificationType.of(
        notice.version,
        NotificationKind(notice.data["kind"]),
        dict(notice.data["data"]),
        datetime.fromisoformat(notice.data["created_at"]),
    )


@strawberry.type
class NotificationSubscriptions:
    @strawberry.subscription(
        description="Your new notices, as they are sent (members only; your own). Delivery is "
        "at-most-once: after a reconnect, read `me { notifications(unreadOnly: true) }`."
    )
    async def notifications(self, info: Info) -> AsyncGenerator[NotificationType, None]:
        actor = member_of(info)
        async with feed_of(info).subscribe(realtime.member_channel(actor.id)) as notices:
            async for notice in notices:
                if notice.topic is Topic.NOTIFICATION:
                    yield _notification(notice)
