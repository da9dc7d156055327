"""One run of the notification scheduler (`loyalty notify`): the occasions due now
(`gamification.notifications.occasions`), less those the member turned off or has not
consented to, each inserted once.

Exactly once per occasion, however many runs overlap: a notice is inserted with
`INSERT ... ON CONFLICT ("occasion") DO NOTHING RETURNING`, so of two runs inserting the same
occasion at once one gets the row back and the other (waiting on the unique index until the
first commits) gets nothing. Only the run that inserted a notice emits its webhook event
(`notification.created`, through the outbox) in the same transaction, and publishes it to the
member's stream after the commit.

In-app notices (the inbox and the subscription) follow the member's preferences, and birthday
notices their marketing consent. The webhook event carries the channels (EMAIL, PUSH, SMS) the
member's consent records give for its kind (notifications, or marketing for a birthday:
`gamification.privacy.consents`): the brand's provider sends on those only, and on none when
the list is empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification import deferred_writes, sql
from gamification.events import realtime
from gamification.notifications import occasions as due_occasions
from gamification.notifications import preferences
from gamification.notifications.models import Notification, NotificationKind
from gamification.notifications.occasions import Occasion
from gamification.outbox.emit import emit
from gamification.privacy import consents
from gamification.privacy.models import ConsentKind

_BATCH: Final = 200
NOTIFICATION_CREATED: Final = "notification.created"
_COLUMNS: Final = 5  # member_id, kind, occasion, data, created_at


@dataclass(frozen=True, slots=True)
class CreatedNotice:
    """A notice this run inserted."""

    id: int
    member_id: int
    kind: NotificationKind
    occasion: str
    data: dict[str, Any]
    created_at: datetime

    def notice(self) -> realtime.Notice:
        """The member's real-time notice (version: the notification's id)."""
        return realtime.member_notice(
            self.member_id,
            realtime.Topic.NOTIFICATION,
            self.id,
            {"kind": self.kind.value, "data": self.data, "created_at": self.created_at.isoformat()},
        )


@dataclass(slots=True)
class NotifyReport:
    due: int = 0
    not_wanted: int = 0  # turned off, or marketing without consent
    created: list[CreatedNotice] = field(default_factory=list)

    @property
    def already_sent(self) -> int:
        return self.due - self.not_wanted - len(self.created)


async def _wanted(found: Sequence[Occasion]) -> list[Occasion]:
    members = await due_occasions.recipients(o.member_id for o in found)
    off = await preferences.turned_off(members)
    wanted = []
    for occasion in found:
        member = members.get(occasion.member_id)
        if member is not None and preferences.may_notify(
            occasion.kind,
            enabled=(occasion.member_id, occasion.kind) not in off,
            marketing_consent=member.marketing_consent,
        ):
            wanted.append(occasion)
    return wanted


def _insert_statement(rows: int) -> str:
    values = ", ".join(
        "(" + ", ".join(f"${row * _COLUMNS + column + 1}" for column in range(_COLUMNS)) + ")"
        for row in range(rows)
    )
    return (
        'INSERT INTO "notification" ("member_id", "kind", "occasion", "data", "created_at") '
        f'VALUES {values} ON CONFLICT ("occasion") DO NOTHING RETURNING "id", "occasion"'
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def webhook_payload(notice: CreatedNotice, channels: Sequence[str]) -> dict[str, Any]:
    """The `notification.created` event's payload (gamification.outbox.catalog)."""
    return {
        "memberId": notice.member_id,
        "notificationId": notice.id,
        "kind": notice.kind.value,
        "occasion": notice.occasion,
        "createdAt": notice.created_at.isoformat(),
        "channels": list(channels),
        "data": {_camel(key): value for key, value in notice.data.items()},
    }


async def consented_channels(member_ids: Iterable[int]) -> dict[tuple[int, ConsentKind], list[str]]:
    """Per member and consent kind, the channels (EMAIL, PUSH, SMS) the member's latest consent
    records give (`gamification.privacy.consents`): one read per member."""
    found: dict[tuple[int, ConsentKind], list[str]] = {}
    for member_id in sorted(set(member_ids)):
        for state in await consents.current(member_id):
            channels = found.setdefault((member_id, state.kind), [])
            if state.given:
                channels.append(state.channel.value)
    return found


def consent_kind(kind: NotificationKind) -> ConsentKind:
    """Birthday notices are marketing; the others are about the member's own account."""
    return ConsentKind.MARKETING if kind in preferences.MARKETING else ConsentKind.NOTIFICATIONS


async def emit_webhook_events(
    conn: BaseDBAsyncClient,
    created: Sequence[CreatedNotice],
    channels: dict[tuple[int, ConsentKind], list[str]],
) -> None:
    """The notices' `notification.created` events, written to the outbox in the transaction
    that inserted them (one statement on PostgreSQL), for the brand's push or e-mail provider:
    each names the channels the member consented to for it, the only ones it may be sent on."""
    with deferred_writes.holding_back_writes(conn):
        for notice in created:
            await emit(
                conn,
                type=NOTIFICATION_CREATED,
                member_id=notice.member_id,
                data=webhook_payload(
                    notice, channels.get((notice.member_id, consent_kind(notice.kind)), [])
                ),
                occurred_at=notice.created_at,
            )
        await deferred_writes.flush_held_writes(conn)


async def _insert(batch: Sequence[Occasion], now: datetime) -> list[CreatedNotice]:
    channels = await consented_channels(occasion.member_id for occasion in batch)
    values: list[Any] = []
    for occasion in batch:
        values += [
            occasion.member_id,
            occasion.kind.value,
            occasion.key,
            json.dumps(occasion.data, separators=(",", ":")),
            now,
        ]
    by_key = {occasion.key: occasion for occasion in batch}
    async with in_transaction() as conn:
        rows = await sql.fetch(conn, _insert_statement(len(batch)), *values)
        created = [
            CreatedNotice(
                int(row["id"]),
                by_key[row["occasion"]].member_id,
                by_key[row["occasion"]].kind,
                row["occasion"],
                by_key[row["occasion"]].data,
                now,
            )
            for row in rows
        ]
        created.sort(key=lambda notice: notice.id)
        await emit_webhook_events(conn, created, channels)
    return created


async def notify(now: datetime | None = None, *, redis: Redis | None = None) -> NotifyReport:
    """Insert every notice due at `now` that was not inserted before, and publish the new ones
    on the members' streams (when `redis` is given). Safe to run twice at once."""
    now = now or datetime.now(UTC)
    found = await due_occasions.due(now)
    wanted = await _wanted(found)
    report = NotifyReport(due=len(found), not_wanted=len(found) - len(wanted))
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        # Occasions notified before cost only the check of their key: no transaction, and no
        # id drawn from the sequence by an insert that conflicts.
        known = set(
            await Notification.filter(occasion__in=[o.key for o in batch]).values_list(
                "occasion", flat=True
            )
        )
        fresh = [occasion for occasion in batch if occasion.key not in known]
        if fresh:
            report.created += await _insert(fresh, now)
    if redis is not None and report.created:
        await realtime.publish(redis, [notice.notice() for notice in report.created])
    return report
