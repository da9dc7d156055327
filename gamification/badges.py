"""Badges: a catalog, each earned by a challenge or a milestone rule, held once per member.

Awards happen inside the transaction of the event that earned them (see
`gamification.domain_events`), under the member's ledger lock, and the unique (member, badge)
index keeps each badge held once. Rarity is counted when read, so no catalog row becomes a hot
row every award must update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count

from gamification.errors import Conflict, ErrorCode, InvalidInput
from gamification.models import (
    Badge,
    BadgeRule,
    DomainEvent,
    EventKind,
    Member,
    MemberBadge,
    Role,
    Tier,
)

_NEEDS_THRESHOLD = frozenset({BadgeRule.PURCHASE_COUNT, BadgeRule.STREAK_DAYS})


@dataclass(frozen=True, slots=True)
class BadgeInput:
    name: str
    rule: BadgeRule
    description: str = ""
    image_url: str = ""
    threshold: int | None = None
    tier_name: str | None = None
    level_thresholds: tuple[int, ...] = ()


def level_for(badge: Badge, value: int) -> int:
    """The level `value` reaches: 0 below the threshold, 1 at it, one more per higher level."""
    steps = [badge.threshold or 0, *badge.level_thresholds]
    return sum(1 for step in steps if value >= step)


async def create_badge(data: BadgeInput) -> Badge:
    """Raises InvalidInput(INVALID_BADGE) for a rule without what it needs, and
    Conflict(BADGE_NAME_TAKEN)."""
    name = data.name.strip()
    if not 0 < len(name) <= 80:
        raise InvalidInput(
            "Name must have 1 to 80 characters", code=ErrorCode.INVALID_BADGE, field="name"
        )
    if data.rule in _NEEDS_THRESHOLD and not (data.threshold and 0 < data.threshold <= 100_000):
        raise InvalidInput(
            "This rule needs a threshold from 1 to 100000",
            code=ErrorCode.INVALID_BADGE,
            field="threshold",
        )
    if data.rule is BadgeRule.TIER_REACHED and not (
        data.tier_name and await Tier.filter(name=data.tier_name).exists()
    ):
        raise InvalidInput(
            "This rule needs an existing tier", code=ErrorCode.INVALID_BADGE, field="tierName"
        )
    levels = list(data.level_thresholds)
    if levels and (
        data.rule not in _NEEDS_THRESHOLD
        or levels != sorted(set(levels))
        or levels[0] <= (data.threshold or 0)
        or levels[-1] > 100_000
        or len(levels) > 20
    ):
        raise InvalidInput(
            "Levels need a counted rule and rising thresholds above the first",
            code=ErrorCode.INVALID_BADGE,
            field="levelThresholds",
        )
    if len(data.image_url) > 500 or len(data.description) > 5000:
        raise InvalidInput(
            "Description or image URL too long", code=ErrorCode.INVALID_BADGE, field="description"
        )
    if await Badge.filter(name=name).exists():
        raise Conflict("A badge has this name", code=ErrorCode.BADGE_NAME_TAKEN, field="name")
    return await Badge.create(
        name=name,
        description=data.description,
        image_url=data.image_url,
        rule=data.rule,
        threshold=data.threshold if data.rule in _NEEDS_THRESHOLD else None,
        tier_name=data.tier_name if data.rule is BadgeRule.TIER_REACHED else None,
        level_thresholds=levels,
    )


async def award(
    conn: BaseDBAsyncClient, member_id: int, badge_id: int, now: datetime, level: int = 1
) -> bool:
    """Give the badge at `level` unless the member holds it at that level or higher (a higher
    level raises the one held). Caller holds the member's ledger lock."""
    held = await MemberBadge.filter(member_id=member_id, badge_id=badge_id).using_db(conn).first()
    if held is None:
        await MemberBadge.create(
            member_id=member_id, badge_id=badge_id, level=level, awarded_at=now, using_db=conn
        )
        return True
    if level > held.level:
        held.level = level
        await held.save(using_db=conn, update_fields=["level"])
        return True
    return False


async def apply_milestones(
    conn: BaseDBAsyncClient,
    member_id: int,
    event: DomainEvent,
    now: datetime,
    longest_streak: int,
) -> None:
    """Award the milestone badges this event earns."""
    rules: set[BadgeRule] = set()
    if event.kind is EventKind.PURCHASE_RECORDED:
        rules |= {BadgeRule.FIRST_PURCHASE, BadgeRule.PURCHASE_COUNT}
    elif event.kind is EventKind.POINTS_DONATED:
        rules.add(BadgeRule.FIRST_DONATION)
    elif event.kind is EventKind.TIER_REACHED:
        rules.add(BadgeRule.TIER_REACHED)
    if longest_streak:
        rules.add(BadgeRule.STREAK_DAYS)
    if not rules:
        return
    catalog = await Badge.filter(rule__in=list(rules)).using_db(conn)
    purchases: int | None = None
    for badge in catalog:
        earned = False
        level = 1
        if badge.rule in (BadgeRule.FIRST_PURCHASE, BadgeRule.FIRST_DONATION):
            earned = True
        elif badge.rule is BadgeRule.PURCHASE_COUNT:
            if purchases is None:
                purchases = (
                    await DomainEvent.filter(member_id=member_id, kind=EventKind.PURCHASE_RECORDED)
                    .using_db(conn)
                    .count()
                )
            level = level_for(badge, purchases)
            earned = level > 0
        elif badge.rule is BadgeRule.TIER_REACHED:
            earned = badge.tier_name == event.subject
        elif badge.rule is BadgeRule.STREAK_DAYS:
            level = level_for(badge, longest_streak)
            earned = level > 0
        if earned:
            await award(conn, member_id, badge.id, now, level)


@dataclass(frozen=True, slots=True)
class BadgeWithRarity:
    badge: Badge
    holders: int
    rarity: float  # the share of members holding it, 0..1


async def catalog() -> list[BadgeWithRarity]:
    """Every badge with the share of members who hold it: two queries however many badges."""
    badges = await Badge.all().order_by("id")
    counts = dict(
        await MemberBadge.all()
        .group_by("badge_id")
        .annotate(n=Count("id"))
        .values_list("badge_id", "n")
    )
    members = await Member.filter(role=Role.MEMBER).count()
    return [
        BadgeWithRarity(
            badge=b,
            holders=int(counts.get(b.id, 0)),
            rarity=int(counts.get(b.id, 0)) / members if members else 0.0,
        )
        for b in badges
    ]


async def held_by(member_id: int) -> list[MemberBadge]:
    return list(
        await MemberBadge.filter(member_id=member_id)
        .select_related("badge")
        .order_by("-awarded_at", "-id")
    )
