"""Consents as a history of records; the latest one per kind and channel decides."""

from __future__ import annotations

import pytest

from gamification.errors import ErrorCode, InvalidInput
from gamification.members.models import Member
from gamification.privacy import consents
from gamification.privacy.models import ConsentChannel, ConsentKind
from gamification.stores.models import Channel
from tests.factories import create_member


async def _set(member_id: int, kind: ConsentKind, channel: ConsentChannel, given: bool) -> None:
    await consents.set_consent(
        member_id=member_id,
        kind=kind,
        channel=channel,
        given=given,
        text_version="v1",
        source=Channel.APP,
    )


async def test_nothing_is_given_until_the_member_gives_it_and_the_latest_record_decides() -> None:
    # given
    member = await create_member()
    assert not await consents.may_contact(member.id, ConsentKind.MARKETING, ConsentChannel.EMAIL)

    # when
    await _set(member.id, ConsentKind.MARKETING, ConsentChannel.EMAIL, True)
    await _set(member.id, ConsentKind.NOTIFICATIONS, ConsentChannel.PUSH, True)
    await _set(member.id, ConsentKind.MARKETING, ConsentChannel.EMAIL, False)

    # then
    assert not await consents.may_contact(member.id, ConsentKind.MARKETING, ConsentChannel.EMAIL)
    assert await consents.may_contact(member.id, ConsentKind.NOTIFICATIONS, ConsentChannel.PUSH)
    assert not await consents.may_contact(member.id, ConsentKind.NOTIFICATIONS, ConsentChannel.SMS)
    history = await consents.history(member.id)
    assert [(r.kind, r.channel, r.given) for r in history] == [
        (ConsentKind.MARKETING, ConsentChannel.EMAIL, False),
        (ConsentKind.NOTIFICATIONS, ConsentChannel.PUSH, True),
        (ConsentKind.MARKETING, ConsentChannel.EMAIL, True),
    ]
    states = {(s.kind, s.channel): s.given for s in await consents.current(member.id)}
    assert len(states) == len(ConsentKind) * len(ConsentChannel)
    assert states[(ConsentKind.NOTIFICATIONS, ConsentChannel.PUSH)]
    assert not (await Member.get(id=member.id)).marketing_consent


async def test_the_profile_flag_follows_marketing_on_any_channel() -> None:
    member = await create_member()
    await _set(member.id, ConsentKind.MARKETING, ConsentChannel.SMS, True)
    assert (await Member.get(id=member.id)).marketing_consent
    await _set(member.id, ConsentKind.MARKETING, ConsentChannel.EMAIL, False)
    assert (await Member.get(id=member.id)).marketing_consent
    await _set(member.id, ConsentKind.MARKETING, ConsentChannel.SMS, False)
    assert not (await Member.get(id=member.id)).marketing_consent


@pytest.mark.parametrize("version", ["", "   ", "x" * 33])
async def test_a_wording_version_is_required(version: str) -> None:
    member = await create_member()
    with pytest.raises(InvalidInput) as refused:
        await consents.set_consent(
            member_id=member.id,
            kind=ConsentKind.MARKETING,
            channel=ConsentChannel.EMAIL,
            given=True,
            text_version=version,
            source=Channel.APP,
        )
    assert refused.value.code is ErrorCode.INVALID_CONSENT
