"""A member's notices: the page they read (newest first, optionally unread only), how many are
unread, and marking them read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from gamification.errors import InvalidInput
from gamification.notifications.models import Notification
from gamification.pagination import Page, keyset_page

MAX_IDS = 100


async def page(
    member_id: int, *, first: int, before_id: int | None, unread_only: bool = False
) -> Page[Notification]:
    """A page of the member's notices, newest first, older than `before_id`."""
    queryset = Notification.filter(member_id=member_id)
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
    return await keyset_page(queryset, first=first, after_id=before_id, newest_first=True)


async def unread_count(member_id: int) -> int:
    return await Notification.filter(member_id=member_id, read_at__isnull=True).count()


async def notice_of(member_id: int, notification_id: int) -> Notification | None:
    """The notice, when it is the member's."""
    return await Notification.filter(id=notification_id, member_id=member_id).first()


async def mark_read(
    member_id: int,
    *,
    ids: Sequence[int] | None = None,
    up_to: int | None = None,
    now: datetime | None = None,
) -> int:
    """Mark the member's notices read: those in `ids`, or every one up to and including
    `up_to` (the newest one the member saw). Notices that are not the member's, or already
    read, are left as they are. Returns how many were marked now.

    Raises InvalidInput unless exactly one of `ids` and `up_to` is given, or for more than
    MAX_IDS ids."""
    if (ids is None) == (up_to is None):
        raise InvalidInput("Give either ids or upTo", field="ids")
    queryset = Notification.filter(member_id=member_id, read_at__isnull=True)
    if ids is not None:
        if len(ids) > MAX_IDS:
            raise InvalidInput(f"At most {MAX_IDS} ids at once", field="ids")
        queryset = queryset.filter(id__in=list(ids))
    else:
        queryset = queryset.filter(id__lte=up_to)
    return await queryset.update(read_at=now or datetime.now(UTC))
