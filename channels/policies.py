"""Which store and channel an action happens in, given who performs it.

A device acts only for the store and channel it was registered for; staff act in their own
store; admins name both. Members never act for a store.
"""

from __future__ import annotations

from gamification.actors import Actor, ActorKind
from gamification.errors import ErrorCode, InvalidInput, Refused
from gamification.stores.models import Channel


def store_action_origin(
    actor: Actor, *, channel: Channel | None, store_id: int | None
) -> tuple[Channel, int]:
    """The (channel, store) an action by `actor` happens in.

    Raises Refused(STORE_MISMATCH / CHANNEL_MISMATCH) when the caller names another store or
    channel than its own, InvalidInput when an admin leaves either out.
    """
    if actor.kind is ActorKind.DEVICE:
        if actor.channel is None or actor.store_id is None:
            raise Refused("A device without store or channel", code=ErrorCode.STORE_MISMATCH)
        if channel is not None and channel != actor.channel:
            raise Refused(
                "This device acts for another channel",
                code=ErrorCode.CHANNEL_MISMATCH,
                field="channel",
            )
        if store_id is not None and store_id != actor.store_id:
            raise Refused(
                "This device belongs to another store",
                code=ErrorCode.STORE_MISMATCH,
                field="storeId",
            )
        return actor.channel, actor.store_id
    if actor.kind is ActorKind.STAFF:
        if actor.store_id is None:
            raise Refused("Staff without a store", code=ErrorCode.STORE_MISMATCH, field="storeId")
        if store_id is not None and store_id != actor.store_id:
            raise Refused(
                "Staff act in their own store", code=ErrorCode.STORE_MISMATCH, field="storeId"
            )
        chosen = channel or Channel.POS
        if chosen not in (Channel.POS, Channel.KIOSK):
            raise Refused(
                "Staff record in-store channels only",
                code=ErrorCode.CHANNEL_MISMATCH,
                field="channel",
            )
        return chosen, actor.store_id
    if actor.kind is ActorKind.ADMIN:
        if channel is None or store_id is None:
            raise InvalidInput("Admins must name the channel and the store", field="storeId")
        return channel, store_id
    raise Refused("Members cannot act for a store", code=ErrorCode.SELF_PURCHASE)


# Members redeem on their own in the app or on the web; at a kiosk or till they redeem through
# a QR token the device scans (`channels.tokens`), never by naming the channel themselves.
SELF_SERVICE_REDEMPTION_CHANNELS = frozenset({Channel.APP, Channel.WEB})


def self_service_redemption_channel(channel: Channel) -> Channel:
    """The channel a member's own redemption happens on.

    Raises Refused(WRONG_CHANNEL) for any channel other than APP and WEB.
    """
    if channel not in SELF_SERVICE_REDEMPTION_CHANNELS:
        raise Refused(
            "Redeem in the app or on the web; at a kiosk or till, show your QR code",
            code=ErrorCode.WRONG_CHANNEL,
            field="channel",
        )
    return channel
