"""Who donates whose points, on which channel.

Members, staff and admins donate their own points, in the app or on the web. In a store, a
kiosk donates for the member whose card or identity QR it scans, on its own channel (KIOSK).
Tills and the web shop's server do not take donations. The domain (`gamification.causes`) only
hears the member and the channel.
"""

from __future__ import annotations

from typing import Final

from gamification import causes
from gamification.actors import Actor
from gamification.errors import ErrorCode, InvalidInput, Refused
from gamification.models import Channel
from gamification.purchases import find_member

SELF_SERVICE_DONATION_CHANNELS: Final = frozenset({Channel.APP, Channel.WEB})
DONATION_DEVICE_CHANNELS: Final = frozenset({Channel.KIOSK})


def donation_channel(actor: Actor, requested: Channel) -> Channel:
    """The channel a donation by `actor` happens on.

    A person's is the one they name, APP or WEB. A kiosk's is its own: it may name KIOSK or
    leave the API's default (APP), which speaks for people only.
    Raises Refused(WRONG_CHANNEL) for a person naming another channel or a device that is not a
    kiosk, Refused(CHANNEL_MISMATCH) for a kiosk naming WEB.
    """
    if actor.is_device:
        if actor.channel not in DONATION_DEVICE_CHANNELS:
            raise Refused(
                "Donations in a store are made at a kiosk",
                code=ErrorCode.WRONG_CHANNEL,
                field="channel",
            )
        if requested not in (Channel.APP, actor.channel):
            raise Refused(
                "This device acts for another channel",
                code=ErrorCode.CHANNEL_MISMATCH,
                field="channel",
            )
        return actor.channel
    if requested not in SELF_SERVICE_DONATION_CHANNELS:
        raise Refused(
            "Donate in the app or on the web; in a store, a kiosk scans your card",
            code=ErrorCode.WRONG_CHANNEL,
            field="channel",
        )
    return requested


async def donor_of(actor: Actor, *, member_id: int | None, card_number: str | None) -> int:
    """The member whose points are donated: the person themself, or the member a kiosk names
    by id or card number (exactly one of them).

    Raises InvalidInput when a person names a member or a kiosk names none or both,
    NotFound(UNKNOWN_MEMBER).
    """
    named = member_id is not None or bool(card_number)
    if not actor.is_device:
        if named:
            raise InvalidInput(
                "Members donate their own points; only a kiosk names the member",
                field="memberId",
            )
        return actor.id
    if member_id is not None and card_number:
        raise InvalidInput(
            "Name the member by memberId or by cardNumber, not both", field="memberId"
        )
    if not named:
        raise InvalidInput("Name the member by memberId or cardNumber", field="memberId")
    return (await find_member(member_id, card_number)).id


async def donate(
    *,
    actor: Actor,
    cause_id: int,
    points: int,
    idempotency_key: str,
    channel: Channel,
    member_id: int | None = None,
    card_number: str | None = None,
) -> causes.DonationResult:
    """Donate from the channel the caller acts on. Raises what `donation_channel`, `donor_of`
    and `gamification.causes.donate_points` raise."""
    on = donation_channel(actor, channel)
    donor = await donor_of(actor, member_id=member_id, card_number=card_number)
    return await causes.donate_points(
        actor=actor,
        member_id=donor,
        cause_id=cause_id,
        points=points,
        channel=on,
        idempotency_key=idempotency_key,
    )
