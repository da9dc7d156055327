"""One scheduler run inserts each due notice once, respecting the member's preferences and
marketing consent, and publishes it on the member's stream; the inbox pages and marks them."""

from __future__ import annotations

from datetime import date

import pytest
from starlette.applications import Starlette

from gamification.errors import InvalidInput
from gamification.events import realtime
from gamification.members.models import Role
from gamification.notifications import inbox, preferences, scheduler
from gamification.notifications.models import (
    Notification,
    NotificationKind,
    NotificationPreference,
)
from gamification.outbox import catalog
from gamification.outbox.models import OutboxEvent
from gamification.privacy import consents, erasure
from gamification.privacy.models import ConsentChannel, ConsentKind
from gamification.stores.models import Channel
from tests.barriers import publish_barrier, until_barrier
from tests.factories import OverrideSettings, actor_of, create_member, credit_points
from tests.gamification.notifications.helpers import member_in, utc

NOON = utc(2027, 3, 30, 12)  # two days before 1 April: expiring points are due


@pytest.fixture(autouse=True)
def notify_settings(override_settings: OverrideSettings) -> None:
    override_settings(notify_points_expiring_days=3, notify_local_hour=9)


async def test_a_second_run_sends_nothing_again() -> None:
    # given
    member = await member_in("UTC", birthday=date(1990, 3, 30))
    await credit_points(member=member, points=70, expires_at=utc(2027, 4, 1))

    # when
    first = await scheduler.notify(NOON)
    second = await scheduler.notify(NOON.replace(hour=15))

    # then
    assert {n.kind for n in first.created} == {
        NotificationKind.POINTS_EXPIRING,
        NotificationKind.BIRTHDAY,
    }
    assert second.created == []
    assert second.already_sent == 2
    assert await Notification.filter(member_id=member.id).count() == 2


async def test_kinds_turned_off_and_marketing_without_consent_are_not_sent() -> None:
    # given: one member turned expiring points off; another gave no marketing consent
    quiet = await member_in("UTC", birthday=date(1990, 3, 30))
    await preferences.set_preferences(quiet.id, {NotificationKind.POINTS_EXPIRING: False})
    no_consent = await member_in("UTC", birthday=date(1990, 3, 30), marketing_consent=False)
    for member in (quiet, no_consent):
        await credit_points(member=member, points=10, expires_at=utc(2027, 4, 1))

    # when
    report = await scheduler.notify(NOON)

    # then
    assert sorted((n.member_id, n.kind) for n in report.created) == [
        (quiet.id, NotificationKind.BIRTHDAY),
        (no_consent.id, NotificationKind.POINTS_EXPIRING),
    ]
    assert report.not_wanted == 2


async def test_preferences_list_every_kind_and_marketing() -> None:
    member = await member_in("UTC")

    before = await preferences.preferences_of(member.id)
    after = await preferences.set_preferences(
        member.id, {NotificationKind.BIRTHDAY: False, NotificationKind.TIER_AT_RISK: False}
    )
    again = await preferences.set_preferences(member.id, {NotificationKind.BIRTHDAY: True})

    assert all(p.enabled for p in before)
    assert [p.needs_marketing_consent for p in before] == [
        k is NotificationKind.BIRTHDAY for k in NotificationKind
    ]
    assert {p.kind for p in after if not p.enabled} == {
        NotificationKind.BIRTHDAY,
        NotificationKind.TIER_AT_RISK,
    }
    assert {p.kind for p in again if not p.enabled} == {NotificationKind.TIER_AT_RISK}


async def test_new_notices_are_published_on_the_members_stream(app: Starlette) -> None:
    # given: the member's stream open in this process
    member = await member_in("UTC")
    await credit_points(member=member, points=25, expires_at=utc(2027, 4, 1))
    channel = realtime.member_channel(member.id)
    redis = app.state.redis
    async with app.state.broker.subscribe(channel) as notices:
        # when: two runs; only the first has anything new
        report = await scheduler.notify(NOON, redis=redis)
        await scheduler.notify(NOON, redis=redis)
        await publish_barrier(redis, channel)

        # then
        received = await until_barrier(notices)
    [created] = report.created
    assert [(n.topic, n.version, n.data["kind"]) for n in received] == [
        (realtime.Topic.NOTIFICATION, created.id, "POINTS_EXPIRING")
    ]
    assert received[0].data["data"]["points"] == 25


async def test_the_inbox_pages_newest_first_and_marks_read() -> None:
    # given: three notices
    member = await member_in("UTC", birthday=date(1990, 3, 30))
    await credit_points(member=member, points=10, expires_at=utc(2027, 4, 1))
    await credit_points(member=member, points=10, expires_at=utc(2027, 4, 2))
    other = await member_in("UTC", birthday=date(1990, 3, 30))
    await scheduler.notify(NOON)
    ids = [n.id for n in await Notification.filter(member_id=member.id).order_by("id")]
    [others] = await Notification.filter(member_id=other.id)

    # when / then: paging
    page = await inbox.page(member.id, first=2, before_id=None)
    assert [n.id for n in page.items] == ids[::-1][:2]
    assert page.has_next
    rest = await inbox.page(member.id, first=2, before_id=page.items[-1].id)
    assert [n.id for n in rest.items] == ids[:1]

    # marking by ids (another member's id is left alone), then up to the newest
    assert await inbox.mark_read(member.id, ids=[ids[0], others.id]) == 1
    unread = await inbox.page(member.id, first=10, before_id=None, unread_only=True)
    assert [n.id for n in unread.items] == ids[:0:-1]
    assert await inbox.unread_count(member.id) == 2
    assert await inbox.mark_read(member.id, up_to=ids[-1]) == 2
    assert await inbox.unread_count(member.id) == 0
    assert await inbox.unread_count(other.id) == 1
    with pytest.raises(InvalidInput):
        await inbox.mark_read(member.id)
    with pytest.raises(InvalidInput):
        await inbox.mark_read(member.id, ids=[1], up_to=1)


async def test_an_erased_member_gets_no_notices_and_keeps_none() -> None:
    # given: a member with a notice, then erased
    member = await member_in("UTC", birthday=date(1990, 3, 30))
    await credit_points(member=member, points=10, expires_at=utc(2027, 4, 1))
    await scheduler.notify(NOON)
    await preferences.set_preferences(member.id, {NotificationKind.TIER_AT_RISK: False})
    admin = await create_member(role=Role.ADMIN)
    await erasure.erase_member(actor=actor_of(admin), member_id=member.id, reason="request")

    # when
    report = await scheduler.notify(NOON.replace(day=31))

    # then
    assert report.created == []
    assert not await Notification.filter(member_id=member.id).exists()
    assert not await NotificationPreference.filter(member_id=member.id).exists()


async def test_each_notice_is_one_webhook_event_naming_the_consented_channels() -> None:
    # given: push notifications consented, marketing by e-mail only
    member = await member_in("UTC", birthday=date(1990, 3, 30))
    await credit_points(member=member, points=15, expires_at=utc(2027, 4, 1))
    for kind, channel in (
        (ConsentKind.NOTIFICATIONS, ConsentChannel.PUSH),
        (ConsentKind.MARKETING, ConsentChannel.EMAIL),
    ):
        await consents.set_consent(
            member_id=member.id,
            kind=kind,
            channel=channel,
            given=True,
            text_version="v1",
            source=Channel.APP,
        )

    # when: two runs
    report = await scheduler.notify(NOON)
    await scheduler.notify(NOON)

    # then: one event per notice, shaped as the catalog says
    events = await OutboxEvent.filter(type=scheduler.NOTIFICATION_CREATED).order_by("seq")
    assert len(events) == len(report.created) == 2
    schema = catalog.EVENT_TYPES[scheduler.NOTIFICATION_CREATED].schema
    for event in events:
        assert set(schema["required"]) <= set(event.payload) <= set(schema["properties"])
        assert event.payload["kind"] in schema["properties"]["kind"]["enum"]
    by_kind = {e.payload["kind"]: e.payload for e in events}
    assert by_kind["POINTS_EXPIRING"]["channels"] == ["PUSH"]
    assert by_kind["POINTS_EXPIRING"]["data"] == {
        "points": 15,
        "expiresAt": "2027-04-01T00:00:00+00:00",
        "lastDay": "2027-03-31",
    }
    assert by_kind["BIRTHDAY"]["channels"] == ["EMAIL"]
    assert {e.payload["notificationId"] for e in events} == {n.id for n in report.created}


async def test_without_consent_records_the_event_names_no_channel() -> None:
    member = await member_in("UTC")
    await credit_points(member=member, points=15, expires_at=utc(2027, 4, 1))

    await scheduler.notify(NOON)

    [event] = await OutboxEvent.filter(type=scheduler.NOTIFICATION_CREATED)
    assert event.payload["channels"] == []
    assert event.member_id == member.id
