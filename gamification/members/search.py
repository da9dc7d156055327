"""Finding members for support: by e-mail, card number or the start of their name (admins), and
one card holder by card number (staff, tills and kiosks).

Erased members are never found: their e-mail and card number were replaced (see
`gamification.privacy.erasure`), and the search leaves out their rows altogether, so that not even
the placeholder name leads to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from tortoise.functions import Lower

from gamification.errors import InvalidInput
from gamification.members.models import Member
from gamification.members.profiles import MAX_DISPLAY_NAME_LENGTH, normalize_email
from gamification.pagination import Page, keyset_page
from gamification.rewards.models import HoldStatus, PointsHold

MAX_CARD_NUMBER_LENGTH: Final = 20
# What people type between the digits of a card number: "1234 5678-9012 3456".
_CARD_SEPARATORS: Final = str.maketrans("", "", " -\t")


@dataclass(frozen=True, slots=True)
class MemberFilter:
    """What an admin searches by; the given ones must all match. None: not searched by."""

    email: str | None = None
    card_number: str | None = None
    name_prefix: str | None = None


def normalize_card_number(card_number: str) -> str:
    """The card number without the spaces and dashes people type into it.

    Raises InvalidInput unless what is left is 1 to 20 digits."""
    number = card_number.translate(_CARD_SEPARATORS)
    if not number.isdigit() or not number.isascii() or len(number) > MAX_CARD_NUMBER_LENGTH:
        raise InvalidInput("A card number is 1 to 20 digits", field="cardNumber")
    return number


def normalize_name_prefix(name_prefix: str) -> str:
    """Raises InvalidInput when the prefix is blank or longer than a display name can be."""
    prefix = name_prefix.strip().lower()
    if not prefix or len(prefix) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidInput(
            f"A name prefix has 1 to {MAX_DISPLAY_NAME_LENGTH} characters", field="namePrefix"
        )
    return prefix


async def search_members(search: MemberFilter, *, first: int, after_id: int | None) -> Page[Member]:
    """Members matching every criterion given, oldest first, never an erased one.

    The e-mail is compared as sign-up stored it (normalised, lower-cased) and the card number
    without separators, both exactly; the name prefix ignores case. On PostgreSQL the name prefix
    is served by the index on lower(display_name) (migration 0014).
    Raises InvalidInput (INVALID_EMAIL, INVALID_INPUT) for a malformed value."""
    queryset = Member.filter(erased_at__isnull=True)
    if search.email is not None:
        queryset = queryset.filter(email=normalize_email(search.email.strip()))
    if search.card_number is not None:
        queryset = queryset.filter(card_number=normalize_card_number(search.card_number))
    if search.name_prefix is not None:
        queryset = queryset.annotate(name_key=Lower("display_name")).filter(
            name_key__startswith=normalize_name_prefix(search.name_prefix)
        )
    return await keyset_page(queryset, first=first, after_id=after_id)


async def card_holder(card_number: str) -> Member | None:
    """The member who holds the card, or None (unknown card, erased member).

    Raises InvalidInput for what cannot be a card number."""
    return await Member.get_or_none(
        card_number=normalize_card_number(card_number), erased_at__isnull=True
    )


async def open_holds(member_id: int, *, store_id: int | None) -> list[PointsHold]:
    """The member's holds not yet settled nor expired, oldest first; only one store's when
    `store_id` is given."""
    queryset = PointsHold.filter(
        member_id=member_id, status=HoldStatus.ACTIVE, expires_at__gt=datetime.now(UTC)
    )
    if store_id is not None:
        queryset = queryset.filter(store_id=store_id)
    return await queryset.order_by("id")


def first_name(display_name: str) -> str:
    """What a kiosk may greet the card holder by: the first word of their display name."""
    words = display_name.split()
    return words[0] if words else display_name
