"""Marketing and notification consents: a history of records, the latest one deciding.

A member gives or withdraws a consent (a kind: marketing or notifications, on a channel: email,
push or SMS) for a version of the wording they were shown; each change is a new
`ConsentRecord`, never an update, so the history shows what was agreed and when. Nothing is
given until the member gives it.

`may_contact(member_id, kind, channel)` is the one question any module that messages members
asks (notifications, marketing sends): True only when the member's latest record for that
kind and channel gives consent, and never for an erased member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification.errors import ErrorCode, InvalidInput, NotFound
from gamification.members.models import Member
from gamification.privacy.models import ConsentChannel, ConsentKind, ConsentRecord
from gamification.stores.models import Channel

MAX_TEXT_VERSION: Final = 32


@dataclass(frozen=True, slots=True)
class ConsentState:
    kind: ConsentKind
    channel: ConsentChannel
    given: bool
    text_version: str
    recorded_at: datetime | None  # None: never asked, so not given


def _check_text_version(text_version: str) -> str:
    """Raises InvalidInput(INVALID_CONSENT) for an empty or overlong wording version."""
    version = text_version.strip()
    if not version or len(version) > MAX_TEXT_VERSION:
        raise InvalidInput(
            f"textVersion must have 1 to {MAX_TEXT_VERSION} characters",
            code=ErrorCode.INVALID_CONSENT,
            field="textVersion",
        )
    return version


async def set_consent(
    *,
    member_id: int,
    kind: ConsentKind,
    channel: ConsentChannel,
    given: bool,
    text_version: str,
    source: Channel,
) -> ConsentRecord:
    """Record the member's choice. Raises InvalidInput(INVALID_CONSENT) for a bad wording
    version, NotFound(MEMBER_ERASED) for an erased member, NotFound for no member."""
    version = _check_text_version(text_version)
    async with in_transaction() as conn:
        member = await Member.filter(id=member_id).using_db(conn).first()
        if member is None:
            raise NotFound("Member not found", field="memberId")
        if member.erased_at is not None:
            raise NotFound("This member was erased", code=ErrorCode.MEMBER_ERASED)
        record = await ConsentRecord.create(
            member_id=member_id,
            kind=kind,
            channel=channel,
            given=given,
            text_version=version,
            source=source,
            recorded_at=datetime.now(UTC),
            using_db=conn,
        )
        if kind is ConsentKind.MARKETING:
            # The profile's flag mirrors "marketing by any channel", for older clients.
            given_anywhere = given or await _given_elsewhere(conn, member_id, channel)
            await (
                Member.filter(id=member_id).using_db(conn).update(marketing_consent=given_anywhere)
            )
    return record


async def _given_elsewhere(
    conn: BaseDBAsyncClient, member_id: int, channel: ConsentChannel
) -> bool:
    for state in await _latest(member_id, conn):
        if state.kind is ConsentKind.MARKETING and state.channel != channel and state.given:
            return True
    return False


async def _latest(member_id: int, conn: BaseDBAsyncClient | None = None) -> list[ConsentRecord]:
    """The latest record per (kind, channel): the member's choices now."""
    records = (
        await ConsentRecord.filter(member_id=member_id).order_by("id").using_db(conn)
        if conn is not None
        else await ConsentRecord.filter(member_id=member_id).order_by("id")
    )
    latest: dict[tuple[str, str], ConsentRecord] = {}
    for record in records:
        latest[(record.kind, record.channel)] = record
    return list(latest.values())


async def current(member_id: int) -> list[ConsentState]:
    """Every kind and channel, as the member's latest record has it (not given if none)."""
    latest = {(r.kind, r.channel): r for r in await _latest(member_id)}
    states = []
    for kind in ConsentKind:
        for channel in ConsentChannel:
            record = latest.get((kind, channel))
            states.append(
                ConsentState(
                    kind,
                    channel,
                    bool(record and record.given),
                    record.text_version if record else "",
                    record.recorded_at if record else None,
                )
            )
    return states


async def history(member_id: int) -> Sequence[ConsentRecord]:
    """Every record, newest first."""
    return await ConsentRecord.filter(member_id=member_id).order_by("-id")


async def may_contact(member_id: int, kind: ConsentKind, channel: ConsentChannel) -> bool:
    """May we send the member this kind of message on this channel? Only with their latest
    record giving it; never for an erased member (their consents are withdrawn at erasure)."""
    record = (
        await ConsentRecord.filter(member_id=member_id, kind=kind, channel=channel)
        .order_by("-id")
        .first()
    )
    return bool(record and record.given)


async def withdraw_all(conn: BaseDBAsyncClient, member_id: int, *, now: datetime) -> None:
    """At erasure: a withdrawal record for every consent still given."""
    withdrawn = [
        ConsentRecord(
            member_id=member_id,
            kind=record.kind,
            channel=record.channel,
            given=False,
            text_version=record.text_version,
            source=Channel.SYSTEM,
            recorded_at=now,
        )
        for record in await _latest(member_id, conn)
        if record.given
    ]
    if withdrawn:
        await ConsentRecord.bulk_create(withdrawn, using_db=conn)
