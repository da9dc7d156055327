"""`me { notifications }`, `markNotificationsRead`, `setNotificationPreferences`, `node(id:)` and
the `notifications` subscription, through the schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import date
from typing import Any

import pytest
from starlette.applications import Starlette

from gamification.members.models import Member
from gamification.notifications import scheduler
from gamification.notifications.models import Notification
from schema.context import Context
from schema.relay import to_global_id
from server.pubsub import Broker
from tests.factories import (
    OverrideSettings,
    actor_of,
    credit_points,
    execute,
    schema_for,
)
from tests.gamification.notifications.helpers import member_in, utc

NOTIFICATIONS = """
query Notifications($first: Int!, $after: String, $unreadOnly: Boolean!) {
  me {
    unreadNotifications
    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
      edges { node {
        id kind read readAt createdAt
        details {
          __typename
          ... on PointsExpiringNotice { points expiresAt lastDay }
          ... on ChallengeEndingNotice { challengeId title current target percent endsAt }
          ... on BirthdayNotice { year }
        }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

MARK_READ = """
mutation MarkRead($ids: [ID!], $upTo: ID) {
  markNotificationsRead(ids: $ids, upTo: $upTo) { marked unread errors { code field } }
}
"""

PREFERENCES = "{ me { notificationPreferences { kind enabled needsMarketingConsent } } }"

SET_PREFERENCES = """
mutation Set($preferences: [NotificationPreferenceInput!]!) {
  setNotificationPreferences(preferences: $preferences) {
    preferences { kind enabled }
    errors { code }
  }
}
"""

NODE = "query Node($id: ID!) { node(id: $id) { id ... on Notification { kind } } }"

SUBSCRIPTION = """
subscription { notifications { id kind read details { ... on PointsExpiringNotice { points } } } }
"""

NOON = utc(2027, 3, 30, 12)


@pytest.fixture(autouse=True)
def notify_settings(override_settings: OverrideSettings) -> None:
    override_settings(notify_points_expiring_days=3, notify_local_hour=9)


async def test_notices_page_newest_first_and_mark_read(app: Starlette) -> None:
    # given: a birthday and expiring points
    member = await member_in("UTC", birthday=date(1990, 3, 30))
    await credit_points(member=member, points=30, expires_at=utc(2027, 4, 1))
    await scheduler.notify(NOON)
    ids = [
        to_global_id("Notification", notice.id)
        for notice in await Notification.filter(member_id=member.id).order_by("id")
    ]
    assert len(ids) == 2

    # when: the first page of one
    first = await execute(app, NOTIFICATIONS, {"first": 1, "unreadOnly": False}, as_=member)

    # then
    assert first.errors is None, first.errors
    me = first.data["me"]
    assert me["unreadNotifications"] == 2
    [edge] = me["notifications"]["edges"]
    assert edge["node"]["id"] == ids[-1]
    assert me["notifications"]["pageInfo"]["hasNextPage"] is True
    rest = await execute(
        app,
        NOTIFICATIONS,
        {"first": 5, "after": me["notifications"]["pageInfo"]["endCursor"], "unreadOnly": False},
        as_=member,
    )
    [older] = rest.data["me"]["notifications"]["edges"]
    assert older["node"]["id"] == ids[0]
    details = {e["node"]["kind"]: e["node"]["details"] for e in [edge, older]}
    assert details["POINTS_EXPIRING"] == {
        "__typename": "PointsExpiringNotice",
        "points": 30,
        "expiresAt": "2027-04-01T00:00:00+00:00",
        "lastDay": "2027-03-31",
    }
    assert details["BIRTHDAY"] == {"__typename": "BirthdayNotice", "year": 2027}

    # when: one marked read by id
    marked = await execute(app, MARK_READ, {"ids": [ids[0]]}, as_=member)
    assert marked.data["markNotificationsRead"] == {"marked": 1, "unread": 1, "errors": []}
    unread = await execute(app, NOTIFICATIONS, {"first": 5, "unreadOnly": True}, as_=member)
    assert [e["node"]["id"] for e in unread.data["me"]["notifications"]["edges"]] == [ids[1]]

    # when: the rest, up to the newest
    marked = await execute(app, MARK_READ, {"upTo": ids[-1]}, as_=member)
    assert marked.data["markNotificationsRead"] == {"marked": 1, "unread": 0, "errors": []}
    unread = await execute(app, NOTIFICATIONS, {"first": 5, "unreadOnly": True}, as_=member)
    assert unread.data["me"]["notifications"]["edges"] == []


async def test_another_members_notices_are_neither_read_nor_marked(app: Starlette) -> None:
    # given
    owner = await member_in("UTC", birthday=date(1990, 3, 30))
    other = await member_in("UTC")
    await scheduler.notify(NOON)
    [notice] = await Notification.filter(member_id=owner.id)
    pk = notice.id
    notice_id = to_global_id("Notification", pk)

    # when
    seen = await execute(app, NODE, {"id": notice_id}, as_=other)
    mine = await execute(app, NODE, {"id": notice_id}, as_=owner)
    marked = await execute(app, MARK_READ, {"ids": [notice_id]}, as_=other)
    marked_up_to = await execute(app, MARK_READ, {"upTo": notice_id}, as_=other)

    # then
    assert seen.data["node"] is None
    assert mine.data["node"] == {"id": notice_id, "kind": "BIRTHDAY"}
    assert marked.data["markNotificationsRead"]["marked"] == 0
    assert marked_up_to.data["markNotificationsRead"]["marked"] == 0
    assert await Notification.filter(id=pk, read_at__isnull=True).exists()


async def test_marking_needs_ids_or_up_to(app: Starlette) -> None:
    member = await member_in("UTC")

    neither = await execute(app, MARK_READ, {}, as_=member)
    not_an_id = await execute(app, MARK_READ, {"ids": ["nope"]}, as_=member)

    assert neither.data["markNotificationsRead"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "ids"}
    ]
    assert not_an_id.data["markNotificationsRead"]["errors"] == [
        {"code": "INVALID_INPUT", "field": "ids"}
    ]


async def test_preferences_turn_a_kind_off(app: Starlette) -> None:
    # given
    member = await member_in("UTC", birthday=date(1990, 3, 30))

    # when
    changed = await execute(
        app,
        SET_PREFERENCES,
        {"preferences": [{"kind": "BIRTHDAY", "enabled": False}]},
        as_=member,
    )
    listed = await execute(app, PREFERENCES, as_=member)
    report = await scheduler.notify(NOON)

    # then
    assert changed.data["setNotificationPreferences"]["errors"] == []
    assert {"kind": "BIRTHDAY", "enabled": False} in changed.data["setNotificationPreferences"][
        "preferences"
    ]
    assert listed.data["me"]["notificationPreferences"] == [
        {"kind": "POINTS_EXPIRING", "enabled": True, "needsMarketingConsent": False},
        {"kind": "TIER_AT_RISK", "enabled": True, "needsMarketingConsent": False},
        {"kind": "CHALLENGE_ENDING", "enabled": True, "needsMarketingConsent": False},
        {"kind": "BIRTHDAY", "enabled": False, "needsMarketingConsent": True},
    ]
    assert report.created == []


async def test_the_subscription_delivers_new_notices_to_their_member_only(
    app: Starlette,
) -> None:
    # given: both members subscribed through the schema
    maya = await member_in("UTC")
    theo = await member_in("UTC")
    await credit_points(member=maya, points=45, expires_at=utc(2027, 4, 1))
    broker: Broker = app.state.broker
    schema = schema_for(app.state.settings)
    queues: dict[int, asyncio.Queue[Any]] = {maya.id: asyncio.Queue(), theo.id: asyncio.Queue()}

    async def forward(member: Member) -> None:
        context = Context(
            settings=app.state.settings,
            redis=app.state.redis,
            actor=actor_of(member),
            feed=broker,
        )
        stream = await schema.subscribe(SUBSCRIPTION, context_value=context)
        assert isinstance(stream, AsyncGenerator), stream
        try:
            async for result in stream:
                assert result.errors is None, result.errors
                assert result.data is not None
                queues[member.id].put_nowait(result.data["notifications"])
        finally:
            await stream.aclose()

    before = broker.stats()["subscriptions"]
    tasks = [asyncio.create_task(forward(m)) for m in (maya, theo)]
    try:
        for _ in range(500):  # each subscription joins its channel when its task first runs
            if broker.stats()["subscriptions"] >= before + 2:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the subscriptions did not start")

        # when
        report = await scheduler.notify(NOON, redis=app.state.redis)

        # then
        [created] = report.created
        async with asyncio.timeout(5):
            update = await queues[maya.id].get()
        assert update == {
            "id": to_global_id("Notification", created.id),
            "kind": "POINTS_EXPIRING",
            "read": False,
            "details": {"points": 45},
        }
        # theo's stream got nothing: his next message is the one sent to him now
        await credit_points(member=theo, points=5, expires_at=utc(2027, 4, 1))
        report = await scheduler.notify(NOON, redis=app.state.redis)
        [for_theo] = report.created
        async with asyncio.timeout(5):
            update = await queues[theo.id].get()
        assert update["id"] == to_global_id("Notification", for_theo.id)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
