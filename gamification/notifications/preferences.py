"""A member's notification preferences (which kinds, on or off) and the rule that decides whether
a notice may go to them.

Every kind is on until the member turns it off. Birthday notices are marketing: they also need
the member's marketing consent (`Member.marketing_consent`, set at sign-up and through
`updateProfile`). The other kinds are about the member's own account (points, tier,
challenges they play) and need only the preference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from tortoise.transactions import in_transaction

from gamification.errors import ErrorCode, NotFound
from gamification.members.models import Member
from gamification.notifications.models import NotificationKind, NotificationPreference

MARKETING: Final = frozenset({NotificationKind.BIRTHDAY})


@dataclass(frozen=True, slots=True)
class Preference:
    kind: NotificationKind
    enabled: bool
    needs_marketing_consent: bool


def may_notify(kind: NotificationKind, *, enabled: bool, marketing_consent: bool) -> bool:
    """Whether a notice of `kind` may go to a member with this preference and consent."""
    return enabled and (kind not in MARKETING or marketing_consent)


async def turned_off(member_ids: Iterable[int]) -> set[tuple[int, NotificationKind]]:
    """The (member, kind) pairs the members turned off."""
    ids = set(member_ids)
    if not ids:
        return set()
    rows = await NotificationPreference.filter(member_id__in=ids, enabled=False).values_list(
        "member_id", "kind"
    )
    return {(int(member_id), NotificationKind(kind)) for member_id, kind in rows}


async def preferences_of(member_id: int) -> list[Preference]:
    """Every kind with the member's choice (on unless turned off)."""
    off = {kind for _, kind in await turned_off([member_id])}
    return [Preference(kind, kind not in off, kind in MARKETING) for kind in NotificationKind]


async def set_preferences(
    member_id: int, choices: Mapping[NotificationKind, bool], now: datetime | None = None
) -> list[Preference]:
    """Turn kinds on or off (the others stay as they are); return every kind's preference.

    Raises NotFound(UNKNOWN_MEMBER)."""
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        if not await Member.filter(id=member_id).using_db(conn).exists():
            raise NotFound("No such member", code=ErrorCode.UNKNOWN_MEMBER)
        for kind, enabled in sorted(choices.items()):
            await NotificationPreference.update_or_create(
                member_id=member_id,
                kind=kind,
                defaults={"enabled": enabled, "updated_at": now},
                using_db=conn,
            )
    return await preferences_of(member_id)
