"""Who donates whose points, on which channel.

A person donates their own points, signed in, in the app or on the web. In a store, a kiosk
donates a member's points only with that member's proof (`gamification.ledger.consent`): a donation
code the member made in the app (`createRedemptionToken(causeId, points)`, scanned by
`donateWithToken`), or the member's approval in the app of the kiosk's request
(`requestDonation`, see `channels.redemption_requests`). Knowing a card number or a member id
moves no points. Tills and the web shop's server do not take donations.
"""

from __future__ import annotations

from typing import Final

from gamification.actors import Actor
from gamification.causes import donations as causes_donations
from gamification.errors import ErrorCode, Refused
from gamification.ledger import consent
from gamification.stores.models import Channel

SELF_SERVICE_DONATION_CHANNELS: Final = frozenset({Channel.APP, Channel.WEB})


def donation_channel(requested: Channel) -> Channel:
    """The channel a person's own donation happens on: the one they name, APP or WEB.

    Raises Refused(WRONG_CHANNEL) for any other channel.
    """
    if requested not in SELF_SERVICE_DONATION_CHANNELS:
        raise Refused(
            "Donate in the app or on the web; in a store, show the kiosk your donation code",
            code=ErrorCode.WRONG_CHANNEL,
            field="channel",
        )
    return requested


async def donate_own_points(
    *,
    actor: Actor,
    cause_id: int,
    points: int,
    idempotency_key: str,
    channel: Channel,
) -> causes_donations.DonationResult:
    """The signed-in person donates their own points. Raises Refused(MEMBER_PROOF_REQUIRED)
    for devices, what `donation_channel` and `gamification.causes.donations.donate_points` raise."""
    member_consent = consent.by_access_token(actor)
    return await causes_donations.donate_points(
        actor=actor,
        member_consent=member_consent,
        cause_id=cause_id,
        points=points,
        channel=donation_channel(channel),
        idempotency_key=idempotency_key,
    )
