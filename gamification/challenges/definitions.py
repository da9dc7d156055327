"""Challenge definitions: what admins say about a challenge (`ChallengeInput`), its checks,
creating, changing and archiving it, and the cached catalog of challenges the engine and the
reads use.

Goal types: COUNT of matching events, SUM of their amounts (purchase amounts, eco quantities,
points redeemed or donated), DISTINCT_DAYS with a matching event, and STREAK_DAYS / STREAK_WEEKS
of consecutive local days or weeks. A daily streak may bridge `freezes_per_week` missed days per
week (the ISO week of the missed day).

Windows: FIXED (`starts_at`..`ends_at`) or recurring DAILY / WEEKLY (Monday) / MONTHLY, whose
progress resets with each new local window (see `gamification.challenges.windows`).
`max_completions` is per window: after a completion the progress restarts until it is reached.

The catalog is cached per process (`gamification.program_cache`): `create_challenge` and
`update_challenge` drop it in their own process at once; other processes serve a definition at
most `LOYALTY_PROGRAM_CACHE_SECONDS` old.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from gamification import program_cache
from gamification.badges.models import Badge
from gamification.challenges.models import Challenge, ChallengeStatus, GoalType, WindowKind
from gamification.copies import copy_into
from gamification.earning.models import EcoActionKind
from gamification.errors import ErrorCode, InvalidInput, NotFound
from gamification.events import progress as progress_updates
from gamification.events.models import EventKind
from gamification.ledger.entries import MAX_POINTS_PER_ENTRY
from gamification.stores.models import Channel, Store
from gamification.tiers.models import Tier

MAX_TARGET: Final = Decimal(1_000_000_000)


MAX_COMPLETIONS: Final = 1000


# Which filters can ever match an event of each kind; any other filter is a mistake.
_FILTERS_OF: Final[dict[EventKind, frozenset[str]]] = {
    EventKind.PURCHASE_RECORDED: frozenset({"channel", "category", "store", "min_amount"}),
    EventKind.PURCHASE_REFUNDED: frozenset({"channel", "category", "store", "min_amount"}),
    EventKind.REWARD_REDEEMED: frozenset({"channel", "store", "min_amount"}),
    EventKind.POINTS_DONATED: frozenset({"channel", "min_amount"}),
    EventKind.ECO_ACTION_RECORDED: frozenset({"channel", "store", "eco_kind", "min_amount"}),
    EventKind.CHECK_IN: frozenset(),
    EventKind.TIER_REACHED: frozenset(),
}


# The most days or weeks one recurring window holds: a longer day goal could never be met.
_DAYS_IN_WINDOW: Final = {WindowKind.DAILY: 1, WindowKind.WEEKLY: 7, WindowKind.MONTHLY: 31}


@dataclass(frozen=True, slots=True)
class ChallengeInput:
    title: str
    goal_type: GoalType
    target: Decimal
    event_kind: str
    window_kind: WindowKind
    starts_at: datetime
    ends_at: datetime | None = None
    description: str = ""
    image_url: str = ""
    filter_channel: Channel | None = None
    filter_category: str | None = None
    filter_store_id: int | None = None
    filter_min_amount: Decimal | None = None
    filter_eco_kind: str | None = None
    min_tier: str | None = None
    reward_points: int = 0
    reward_badge_id: int | None = None
    max_completions: int = 1
    opt_in: bool = False
    hidden: bool = False
    freezes_per_week: int = 0


def _invalid(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code=ErrorCode.INVALID_CHALLENGE, field=field)


async def _check_definition(data: ChallengeInput) -> ChallengeInput:
    """Raises InvalidInput(INVALID_CHALLENGE) for a definition that is malformed or could never
    be completed (target ≤ 0, end before start, unknown event kind, impossible filter...)."""
    title = data.title.strip()
    if not 0 < len(title) <= 120:
        raise _invalid("Title must have 1 to 120 characters", "title")
    try:
        kind = EventKind(data.event_kind)
    except ValueError:
        raise _invalid(f"Unknown event kind {data.event_kind[:40]!r}", "eventKind") from None
    try:
        target_ok = data.target.is_finite() and 0 < data.target <= MAX_TARGET
    except (InvalidOperation, AttributeError):
        target_ok = False
    if not target_ok or data.target != data.target.quantize(Decimal("0.01")):
        raise _invalid("Target must be above 0 (at most 2 decimals)", "target")
    if data.goal_type is not GoalType.SUM and data.target != data.target.to_integral_value():
        raise _invalid("Counts, days and streaks need a whole target", "target")
    for name, moment in (("startsAt", data.starts_at), ("endsAt", data.ends_at)):
        if moment is not None and moment.tzinfo is None:
            raise _invalid(f"{name} needs a timezone", name)
    if data.ends_at is not None and data.ends_at <= data.starts_at:
        raise _invalid("endsAt must be after startsAt", "endsAt")
    if data.window_kind is WindowKind.FIXED and data.ends_at is None:
        raise _invalid("A fixed window needs endsAt", "endsAt")
    limit = _DAYS_IN_WINDOW.get(data.window_kind)
    day_goals = (GoalType.DISTINCT_DAYS, GoalType.STREAK_DAYS)
    if limit is not None and data.goal_type in day_goals and data.target > limit:
        raise _invalid(f"A {data.window_kind.lower()} window holds {limit} day(s)", "target")
    if (
        data.goal_type is GoalType.STREAK_WEEKS
        and data.window_kind
        in (
            WindowKind.DAILY,
            WindowKind.WEEKLY,
        )
        and data.target > 1
    ):
        raise _invalid("A weekly streak needs a longer window", "target")
    given = {
        "channel": data.filter_channel,
        "category": data.filter_category,
        "store": data.filter_store_id,
        "min_amount": data.filter_min_amount,
        "eco_kind": data.filter_eco_kind,
    }
    for name, value in given.items():
        if value is not None and name not in _FILTERS_OF[kind]:
            raise _invalid(
                f"{kind.value} events have no {name}: the filter never matches", "filter"
            )
    if data.filter_channel is Channel.SYSTEM:
        raise _invalid("No member event comes from the SYSTEM channel", "filter")
    if data.filter_min_amount is not None and (
        not data.filter_min_amount.is_finite() or data.filter_min_amount < 0
    ):
        raise _invalid("The minimum amount must not be negative", "filter")
    if (
        data.filter_store_id is not None
        and not await Store.filter(id=data.filter_store_id).exists()
    ):
        raise _invalid("No such store", "filter")
    if (
        data.filter_eco_kind is not None
        and not await EcoActionKind.filter(code=data.filter_eco_kind).exists()
    ):
        raise _invalid("No such eco action kind", "filter")
    if data.min_tier is not None and not await Tier.filter(name=data.min_tier).exists():
        raise _invalid("No such tier", "minTier")
    if (
        data.reward_badge_id is not None
        and not await Badge.filter(id=data.reward_badge_id).exists()
    ):
        raise _invalid("No such badge", "rewardBadgeId")
    if not 0 <= data.reward_points <= MAX_POINTS_PER_ENTRY:
        raise _invalid("Reward points must be between 0 and the ledger's maximum", "rewardPoints")
    if not 1 <= data.max_completions <= MAX_COMPLETIONS:
        raise _invalid(f"maxCompletions must be 1 to {MAX_COMPLETIONS}", "maxCompletions")
    if not 0 <= data.freezes_per_week <= 7 or (
        data.freezes_per_week and data.goal_type is not GoalType.STREAK_DAYS
    ):
        raise _invalid("Freezes (0 to 7 a week) are for daily streaks", "freezesPerWeek")
    if len(data.image_url) > 500 or len(data.description) > 5000:
        raise _invalid("Description or image URL too long", "description")
    return replace(data, title=title)


def _columns(data: ChallengeInput) -> dict[str, Any]:
    return {f.name: getattr(data, f.name) for f in fields(data)}


async def create_challenge(data: ChallengeInput) -> Challenge:
    """Raises InvalidInput(INVALID_CHALLENGE)."""
    challenge = await Challenge.create(**_columns(await _check_definition(data)))
    program_cache.invalidate()
    return challenge


def _input_of(challenge: Challenge) -> ChallengeInput:
    minimum = challenge.filter_min_amount
    return copy_into(
        ChallengeInput,
        challenge,
        target=Decimal(challenge.target),
        filter_min_amount=Decimal(minimum) if minimum is not None else None,
    )


async def update_challenge(
    challenge_id: int, changes: dict[str, Any], *, archived: bool | None = None
) -> Challenge:
    """Change some fields (names of `ChallengeInput`) and/or archive or restore it. The whole
    definition is checked again. Raises NotFound(CHALLENGE_NOT_FOUND), InvalidInput."""
    challenge = await Challenge.get_or_none(id=challenge_id)
    if challenge is None:
        raise NotFound("No such challenge", code=ErrorCode.CHALLENGE_NOT_FOUND, field="id")
    data = await _check_definition(replace(_input_of(challenge), **changes))
    scored_as = (Decimal(challenge.target), challenge.max_completions)
    for name, value in _columns(data).items():
        setattr(challenge, name, value)
    if archived is not None:
        challenge.status = ChallengeStatus.ARCHIVED if archived else ChallengeStatus.ACTIVE
    await challenge.save()
    program_cache.invalidate()
    if scored_as != (data.target, data.max_completions):
        progress_updates.challenge_redefined(challenge.id)  # its board scores change
    return challenge


_catalog: program_cache.TimedCache[ChallengeStatus, list[Challenge]] = program_cache.TimedCache()


async def catalog(status: ChallengeStatus = ChallengeStatus.ACTIVE) -> list[Challenge]:
    """Every challenge with this status, oldest first, hidden ones included: cached per
    process (see above). Callers must not change the challenges it holds."""

    async def load() -> list[Challenge]:
        return list(await Challenge.filter(status=status).order_by("id"))

    return await _catalog.get(status, load)
