"""The reward catalog: what admins offer, what each caller may see of it, and members' own
redemptions. Spending points on a reward is `gamification.rewards.redemptions`.

Who sees which rewards:
- admins: every reward, inactive and out-of-date ones included;
- members and staff: active rewards valid now (valid_from <= now < valid_to);
- devices: the same, offered on the device's own channel.
A reward with no channels is offered on all of them. `channels` are stored in one canonical
order (that of `Channel`), so that "offered on APP" is a match on whole stored values.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Final

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from gamification.actors import Actor
from gamification.changes import UNCHANGED, Unchanged, changed_fields
from gamification.copies import copy_into
from gamification.errors import ErrorCode, InvalidInput, NotFound, Refused
from gamification.ledger import points
from gamification.limits import MAX_INT32
from gamification.pagination import Page, keyset_page
from gamification.rewards.models import (
    LimitPeriod,
    Redemption,
    RedemptionStatus,
    Reward,
    RewardKind,
)
from gamification.stores.models import Channel, Store
from gamification.validation import check_image_url

# The channels a reward can be offered on; SYSTEM is the program itself, not a place to redeem.
REWARD_CHANNELS: Final = (Channel.APP, Channel.WEB, Channel.KIOSK, Channel.POS)
MAX_NAME_LENGTH: Final = 120
MAX_DESCRIPTION_LENGTH: Final = 2000
MAX_COST_POINTS: Final = 10_000_000
MAX_VOUCHER_VALID_DAYS: Final = 3650
MAX_TIER_NAME_LENGTH: Final = 40
_CATEGORY: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True, slots=True)
class RewardInput:
    """Everything a reward is. `stock` None: unlimited; `channels` empty: every channel."""

    name: str
    kind: RewardKind
    cost_points: int
    description: str = ""
    image_url: str = ""
    category: str = ""
    stock: int | None = None
    per_member_limit: int | None = None
    limit_period: LimitPeriod = LimitPeriod.EVER
    channels: tuple[Channel, ...] = ()
    store_ids: tuple[int, ...] = ()  # whose devices take its vouchers; empty: every store
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    min_tier: str | None = None
    voucher_valid_days: int = 30
    active: bool = True


@dataclass(frozen=True, slots=True)
class RewardChanges:
    """A partial update: fields left UNCHANGED keep their value (None clears a nullable one)."""

    name: str | Unchanged = UNCHANGED
    kind: RewardKind | Unchanged = UNCHANGED
    cost_points: int | Unchanged = UNCHANGED
    description: str | Unchanged = UNCHANGED
    image_url: str | Unchanged = UNCHANGED
    category: str | Unchanged = UNCHANGED
    stock: int | Unchanged | None = UNCHANGED
    per_member_limit: int | Unchanged | None = UNCHANGED
    limit_period: LimitPeriod | Unchanged = UNCHANGED
    channels: tuple[Channel, ...] | Unchanged = UNCHANGED
    store_ids: tuple[int, ...] | Unchanged = UNCHANGED
    valid_from: datetime | Unchanged | None = UNCHANGED
    valid_to: datetime | Unchanged | None = UNCHANGED
    min_tier: str | Unchanged | None = UNCHANGED
    voucher_valid_days: int | Unchanged = UNCHANGED
    active: bool | Unchanged = UNCHANGED


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_channels(channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
    for channel in channels:
        if channel not in REWARD_CHANNELS:
            raise InvalidInput(
                f"Rewards are offered on {', '.join(REWARD_CHANNELS)}",
                code=ErrorCode.INVALID_CHANNEL,
                field="channels",
            )
    return tuple(c for c in REWARD_CHANNELS if c in channels)


def check_reward(data: RewardInput) -> RewardInput:
    """The input, normalised (trimmed, channels in canonical order).

    Raises InvalidInput naming the first offending field: a name of 1-120 characters, a cost of
    1 to 10,000,000 points (INVALID_AMOUNT), stock >= 0 or null, a per-member limit >= 1 or
    null, channels among APP, WEB, KIOSK, POS (INVALID_CHANNEL), aware datetimes with validTo
    after validFrom, an http(s) image URL or none, a voucher validity of 1-3650 days.
    """
    name = data.name.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidInput(f"Name must have 1 to {MAX_NAME_LENGTH} characters", field="name")
    description = data.description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"Description must have at most {MAX_DESCRIPTION_LENGTH} characters",
            field="description",
        )
    if not _is_int(data.cost_points) or not 0 < data.cost_points <= MAX_COST_POINTS:
        raise InvalidInput(
            f"costPoints must be between 1 and {MAX_COST_POINTS:,}",
            code=ErrorCode.INVALID_AMOUNT,
            field="costPoints",
        )
    if data.stock is not None and (not _is_int(data.stock) or not 0 <= data.stock <= MAX_INT32):
        raise InvalidInput("stock must be 0 or more, or null for unlimited", field="stock")
    if data.per_member_limit is not None and (
        not _is_int(data.per_member_limit) or not 1 <= data.per_member_limit <= MAX_INT32
    ):
        raise InvalidInput(
            "perMemberLimit must be 1 or more, or null for no limit", field="perMemberLimit"
        )
    category = data.category.strip().lower()
    if category and not _CATEGORY.match(category):
        raise InvalidInput(
            "category must be up to 40 lower-case letters, digits, '-' or '_'", field="category"
        )
    # A naive time names no instant (and comparing it with an aware one raises).
    for field, moment in (("validFrom", data.valid_from), ("validTo", data.valid_to)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{field} needs a timezone", field=field)
    if data.valid_from and data.valid_to and data.valid_to <= data.valid_from:
        raise InvalidInput("validTo must be after validFrom", field="validTo")
    min_tier = data.min_tier.strip() if data.min_tier is not None else None
    if min_tier is not None and not 1 <= len(min_tier) <= MAX_TIER_NAME_LENGTH:
        raise InvalidInput(
            f"minTier must have 1 to {MAX_TIER_NAME_LENGTH} characters, or be null",
            field="minTier",
        )
    if (
        not _is_int(data.voucher_valid_days)
        or not 1 <= data.voucher_valid_days <= MAX_VOUCHER_VALID_DAYS
    ):
        raise InvalidInput(
            f"voucherValidDays must be between 1 and {MAX_VOUCHER_VALID_DAYS}",
            field="voucherValidDays",
        )
    return replace(
        data,
        name=name,
        description=description,
        image_url=check_image_url(data.image_url),
        category=category,
        channels=_check_channels(data.channels),
        store_ids=tuple(sorted(set(data.store_ids))),
        valid_from=data.valid_from.astimezone(UTC) if data.valid_from else None,
        valid_to=data.valid_to.astimezone(UTC) if data.valid_to else None,
        min_tier=min_tier,
    )


def _columns(data: RewardInput) -> dict[str, Any]:
    values = {f.name: getattr(data, f.name) for f in fields(data)}
    values["channels"] = [c.value for c in data.channels]
    values["store_ids"] = list(data.store_ids)
    return values


def _input_of(reward: Reward) -> RewardInput:
    return copy_into(
        RewardInput,
        reward,
        channels=tuple(Channel(c) for c in reward.channels),
        store_ids=tuple(reward.store_ids),
    )


async def _check_stores(store_ids: tuple[int, ...]) -> None:
    """Raises NotFound(UNKNOWN_STORE) unless every store exists."""
    wanted = set(store_ids)
    if not wanted:
        return
    valid = {i for i in wanted if 0 < i <= MAX_INT32}
    if valid != wanted or await Store.filter(id__in=sorted(valid)).count() != len(valid):
        raise NotFound("No such store", code=ErrorCode.UNKNOWN_STORE, field="storeIds")


async def create_reward(data: RewardInput) -> Reward:
    """Add a reward to the catalog. Raises InvalidInput (see `check_reward`),
    NotFound(UNKNOWN_STORE)."""
    checked = check_reward(data)
    await _check_stores(checked.store_ids)
    return await Reward.create(**_columns(checked))


async def update_reward(reward_id: int, changes: RewardChanges) -> Reward:
    """Change some of a reward's fields; the result is checked as a whole (so validTo is
    compared with the stored validFrom when only one of them changes).

    Raises NotFound(REWARD_NOT_FOUND, UNKNOWN_STORE), InvalidInput (see `check_reward`).
    """
    given = changed_fields(changes)
    async with in_transaction() as conn:
        # Locked against other admin changes. Redemptions do not lock the reward (they would
        # queue behind each other): one that read the reward just before a deactivation may
        # still complete, as if it came first; stock is only ever taken by a conditional
        # UPDATE, which waits for this change and then counts from the new stock.
        reward = (
            await Reward.filter(id=reward_id).select_for_update().using_db(conn).first()
            if 0 < reward_id <= MAX_INT32
            else None
        )
        if reward is None:
            raise NotFound("No such reward", code=ErrorCode.REWARD_NOT_FOUND, field="rewardId")
        updated = check_reward(replace(_input_of(reward), **given))
        if "store_ids" in given:
            await _check_stores(updated.store_ids)
        if given:
            reward.update_from_dict(_columns(updated))
            await reward.save(using_db=conn, update_fields=list(given))
    return reward


def _offered_on(channel: Channel) -> Q:
    """Rewards offered on `channel`: no channels at all, or any canonical set holding it."""
    others = [c for c in REWARD_CHANNELS if c is not channel]
    sets = [
        [c.value for c in REWARD_CHANNELS if c is channel or c in chosen]
        for size in range(len(others) + 1)
        for chosen in itertools.combinations(others, size)
    ]
    return Q(*(Q(channels=s) for s in [[], *sets]), join_type=Q.OR)


def _offered_now(now: datetime) -> Q:
    return Q(
        Q(active=True),
        Q(valid_from__isnull=True) | Q(valid_from__lte=now),
        Q(valid_to__isnull=True) | Q(valid_to__gt=now),
    )


def _catalog_of(
    viewer: Actor | None, channel: Channel | None, now: datetime
) -> tuple[Q, Channel | None]:
    """What `viewer` may see (None: a signed-out app, which sees what members see), and the
    channel to filter on.

    Raises Refused(CHANNEL_MISMATCH) when a device asks about another channel than its own.
    """
    if viewer is None:
        return _offered_now(now), channel
    if viewer.is_admin:
        return Q(), channel
    if viewer.is_device:
        if channel is not None and channel != viewer.channel:
            raise Refused(
                "This device acts for another channel",
                code=ErrorCode.CHANNEL_MISMATCH,
                field="channel",
            )
        channel = viewer.channel
    return _offered_now(now), channel


async def list_rewards(
    viewer: Actor | None,
    *,
    first: int,
    after_id: int | None,
    channel: Channel | None = None,
    affordable: bool = False,
    category: str | None = None,
    now: datetime | None = None,
) -> Page[Reward]:
    """One page of the catalog as `viewer` sees it (None: signed out), oldest reward first.

    `channel`: offered there; `affordable`: costing at most the viewer's available points;
    `category`: exactly this one ("" for uncategorised rewards).
    Raises Refused(CHANNEL_MISMATCH) when a device names another channel, InvalidInput when a
    device asks for affordable rewards (it has no points).
    """
    now = now or datetime.now(UTC)
    visible, channel = _catalog_of(viewer, channel, now)
    query = Reward.filter(visible)
    if channel is not None:
        query = query.filter(_offered_on(channel))
    if category is not None:
        query = query.filter(category=category.strip().lower())
    if affordable:
        if viewer is None or not viewer.is_person:
            raise InvalidInput("Only members have points to afford rewards", field="affordable")
        available = (await points.summary(viewer.id)).available
        query = query.filter(cost_points__lte=available)
    return await keyset_page(query, first=first, after_id=after_id)


async def visible_reward(
    viewer: Actor, reward_id: int, now: datetime | None = None
) -> Reward | None:
    """The reward if it exists and `viewer` may see it in the catalog; None otherwise."""
    now = now or datetime.now(UTC)
    if not 0 < reward_id <= MAX_INT32:
        return None
    try:
        visible, channel = _catalog_of(viewer, None, now)
    except Refused:
        return None
    query = Reward.filter(visible, id=reward_id)
    if channel is not None:
        query = query.filter(_offered_on(channel))
    return await query.first()


async def member_redemptions(
    member_id: int,
    *,
    first: int,
    before_id: int | None,
    status: RedemptionStatus | None = None,
) -> Page[Redemption]:
    """The member's redemptions, newest first, each with its reward loaded."""
    query = Redemption.filter(member_id=member_id).prefetch_related("reward")
    if status is not None:
        query = query.filter(status=status)
    return await keyset_page(query, first=first, after_id=before_id, newest_first=True)


def may_see_redemption(viewer: Actor, redemption: Redemption) -> bool:
    """Its member, admins, and staff or devices of the store where it was redeemed."""
    member_id: int = redemption.member_id  # type: ignore[attr-defined]
    return (
        viewer.is_admin
        or (viewer.is_person and viewer.id == member_id)
        or (viewer.store_id is not None and viewer.store_id == redemption.store_id)
    )


async def visible_redemption(viewer: Actor, redemption_id: int) -> Redemption | None:
    """The redemption, its reward loaded, if it exists and `viewer` may see it; else None."""
    redemption = await Redemption.filter(id=redemption_id).prefetch_related("reward").first()
    if redemption is None or not may_see_redemption(viewer, redemption):
        return None
    return redemption
