"""Badges: a catalog, each earned by a challenge or a milestone rule, held once per member.

Awards happen inside the transaction of the event that earned them (see
`gamification.events.facts`), under the member's ledger lock, and the unique (member, badge)
index keeps each badge held once. Rarity is counted when read, so no catalog row becomes a hot
row every award must update.

Awarding reads nothing: the milestone rules come from the cached catalog and what the member
holds (and how many purchases they made) from the transaction's member state
(`gamification.members.state`); only a new badge costs a statement (its id is the version of the
`badgeAwarded` notice sent after commit).

Reads for display share per-process caches (`gamification.program_cache`): the catalog, which
`create_badge` drops in its own process at once (another process sees a new badge within
`LOYALTY_PROGRAM_CACHE_SECONDS`, or at once when it meets a member holding it), and the rarity
counts, which are at most that many seconds old everywhere: counting every holder of every
badge on each read would cost more than a slightly late share is worth. Which badges a member
holds is always read from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count

from gamification import deferred_writes, program_cache, sql
from gamification.badges.models import Badge, BadgeRule, MemberBadge
from gamification.errors import Conflict, ErrorCode, InvalidInput
from gamification.events import progress as progress_updates
from gamification.events.models import DomainEvent, EventKind
from gamification.ledger import accounts
from gamification.members import state as member_state
from gamification.members.models import Member, Role
from gamification.outbox.emit import emit
from gamification.tiers.models import Tier

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
    badge = await Badge.create(
        name=name,
        description=data.description,
        image_url=data.image_url,
        rule=data.rule,
        threshold=data.threshold if data.rule in _NEEDS_THRESHOLD else None,
        tier_name=data.tier_name if data.rule is BadgeRule.TIER_REACHED else None,
        level_thresholds=levels,
    )
    program_cache.invalidate()
    return badge


_AWARD: Final = """
INSERT INTO "member_badge" ("member_id", "badge_id", "level", "awarded_at")
VALUES ($1, $2, $3, $4)
ON CONFLICT ("member_id", "badge_id") DO UPDATE SET "level" = EXCLUDED."level"
WHERE "member_badge"."level" < EXCLUDED."level"
RETURNING "id"
"""

_NEW_AWARD: Final = """
INSERT INTO "member_badge" ("member_id", "badge_id", "level", "awarded_at")
VALUES ($1, $2, $3, $4)
ON CONFLICT ("member_id", "badge_id") DO NOTHING
RETURNING "id"
"""

_RAISE_LEVEL: Final = """
UPDATE "member_badge" SET "level" = $3 WHERE "member_id" = $1 AND "badge_id" = $2
    AND "level" < $3
"""


async def award(
    conn: BaseDBAsyncClient, member_id: int, badge_id: int, now: datetime, level: int = 1
) -> bool:
    """Give the badge at `level` unless the member holds it at that level or higher (a higher
    level raises the one held): one statement. Caller holds the member's ledger lock."""
    return bool(await sql.fetch(conn, _AWARD, member_id, badge_id, level, now))


async def award_in(
    account: accounts.LockedAccount,
    state: member_state.MemberState,
    badge: Badge,
    event: DomainEvent,
    level: int = 1,
) -> None:
    """Give the badge at `level` in the transaction of `event`, knowing from the member's state
    what they hold: nothing to read, nothing written when they hold it at that level already.
    A new badge is reported for its `badgeAwarded` notice after commit; a higher level of a
    badge held is a silent change."""
    held = state.badges.get(badge.id)
    if held is not None and held >= level:
        return
    state.badges[badge.id] = level
    if held is not None:
        await deferred_writes.hold_back_write(
            account.conn,
            ("member_badge", state.member_id, badge.id),
            _RAISE_LEVEL,
            state.member_id,
            badge.id,
            level,
        )
        return
    rows = await sql.fetch(account.conn, _NEW_AWARD, state.member_id, badge.id, level, account.now)
    if rows:
        await emit(
            account.conn,
            type="badge.awarded",
            member_id=state.member_id,
            data={
                "memberId": state.member_id,
                "badgeId": badge.id,
                "name": badge.name,
                "level": level,
            },
            occurred_at=account.now,
        )
        progress_updates.badge_awarded(
            progress_updates.Award(
                member_id=state.member_id,
                award_id=int(rows[0]["id"]),
                badge_id=badge.id,
                name=badge.name,
                event_id=event.id,
                source_key=event.source_key,
                ledger_entry=progress_updates.transaction_entry_key(account.entries),
            )
        )


async def apply_milestones(
    account: accounts.LockedAccount,
    state: member_state.MemberState,
    event: DomainEvent,
    longest_streak: int,
) -> None:
    """Award the milestone badges this event earns. The catalog is cached per process and the
    member's holdings and purchase count come with their state: a purchase that earns nothing
    new reads and writes nothing here."""
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
    purchases: int | None = None
    for badge in await catalog_badges():
        if badge.rule not in rules:
            continue
        earned = False
        level = 1
        if badge.rule in (BadgeRule.FIRST_PURCHASE, BadgeRule.FIRST_DONATION):
            earned = True
        elif badge.rule is BadgeRule.PURCHASE_COUNT:
            if purchases is None:
                purchases = state.purchases
            steps = max([badge.threshold or 0, *badge.level_thresholds])
            if purchases >= state.purchase_cap and steps > state.purchase_cap:
                # A badge newer than the state's capped count: count them all.
                purchases = await member_state.count_purchases(account.conn, state.member_id)
                state.purchases = state.purchase_cap = purchases
            level = level_for(badge, purchases)
            earned = level > 0
        elif badge.rule is BadgeRule.TIER_REACHED:
            earned = badge.tier_name == event.subject
        elif badge.rule is BadgeRule.STREAK_DAYS:
            level = level_for(badge, longest_streak)
            earned = level > 0
        if earned:
            await award_in(account, state, badge, event, level)


@dataclass(frozen=True, slots=True)
class BadgeWithRarity:
    badge: Badge
    holders: int
    rarity: float  # the share of members holding it, 0..1


@dataclass(frozen=True, slots=True)
class _Counts:
    holders: dict[int, int]
    members: int


_badges: program_cache.TimedCache[str, list[Badge]] = program_cache.TimedCache()
_counts: program_cache.TimedCache[str, _Counts] = program_cache.TimedCache()


async def _load_badges() -> list[Badge]:
    return list(await Badge.all().order_by("id"))


async def catalog_badges() -> list[Badge]:
    """Every badge, oldest first: cached per process (see the module's docstring). Callers
    must not change the badges it holds."""
    return await _badges.get("badges", _load_badges)


async def purchase_cap() -> int:
    """How many purchases the PURCHASE_COUNT badges count to (their highest threshold, 0
    without one): the member state counts a member's purchases up to it, and no more."""
    return max(
        (
            max([badge.threshold or 0, *badge.level_thresholds])
            for badge in await catalog_badges()
            if badge.rule is BadgeRule.PURCHASE_COUNT
        ),
        default=0,
    )


async def _load_counts() -> _Counts:
    holders = dict(
        await MemberBadge.all()
        .group_by("badge_id")
        .annotate(n=Count("id"))
        .values_list("badge_id", "n")
    )
    members = await Member.filter(role=Role.MEMBER).count()
    return _Counts({int(k): int(v) for k, v in holders.items()}, members)


def _with_rarity(badge: Badge, counts: _Counts) -> BadgeWithRarity:
    holders = counts.holders.get(badge.id, 0)
    return BadgeWithRarity(
        badge=badge, holders=holders, rarity=holders / counts.members if counts.members else 0.0
    )


async def catalog() -> list[BadgeWithRarity]:
    """Every badge with the share of members who hold it (both cached per process: see the
    module's docstring)."""
    counts = await _counts.get("counts", _load_counts)
    return [_with_rarity(b, counts) for b in await _badges.get("badges", _load_badges)]


@dataclass(frozen=True, slots=True)
class HeldBadge:
    badge: BadgeWithRarity
    level: int
    awarded_at: datetime


async def held(member_id: int) -> list[HeldBadge]:
    """The badges the member holds, newest first: one statement however many."""
    rows = await MemberBadge.filter(member_id=member_id).order_by("-awarded_at", "-id")
    if not rows:
        return []
    by_id = {b.id: b for b in await _badges.get("badges", _load_badges)}
    if any(row.badge_id not in by_id for row in rows):  # type: ignore[attr-defined]
        # Created in another process since this one cached the catalog: read it again.
        fresh = await _load_badges()
        _badges.put("badges", fresh)
        by_id = {b.id: b for b in fresh}
    counts = await _counts.get("counts", _load_counts)
    return [
        HeldBadge(
            badge=_with_rarity(by_id[row.badge_id], counts),  # type: ignore[attr-defined]
            level=row.level,
            awarded_at=row.awarded_at,
        )
        for row in rows
    ]
