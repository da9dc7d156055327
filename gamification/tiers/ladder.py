"""Tiers: an ordered ladder, qualification over a window, upgrades the moment a threshold is
crossed, and downgrades (by one tier at most) only at the end of a member's qualification period.

Qualifying points are the sum of `DomainEvent.qualifying_points` within the window: purchases and
eco actions add the points they earned, refunds subtract what they clawed back, and challenge
bonuses count only when `tier_bonus_points_qualify` is set. The window is either the rolling 12
months before the moment of evaluation or the calendar year in the program's timezone
(`program_timezone`: a year ends at local midnight on 31 December), from settings.

A member's `MemberTier` row carries the qualification period. `evaluate_due_tiers` looks at
periods that ended (plus the grace period) and, under the member's ledger lock, moves the period
forward in the same transaction as the decision: a second run finds nothing due, so each period
is evaluated exactly once. Lock order: member ledger account, then the `MemberTier` row.

The ladder comes from a per-process cache (`gamification.program_cache`) for display
(`program_ladder`, `progress`) and for the decisions taken on every event (upgrades, earn
multipliers, challenge tier conditions): `define_tier` drops it in its own process at once, other
processes see a changed ladder within `LOYALTY_PROGRAM_CACHE_SECONDS` (at once when a member's row
names a tier they do not know yet). Upgrades read nothing else either: the member's tier row and
qualifying points come with the transaction's member state (`gamification.members.state`), kept
up to date as its events are recorded. Period evaluations and floors read the ladder from the
database, in their transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification import deferred_writes, program_cache, program_settings, sql, view_versions
from gamification.errors import ErrorCode, InvalidInput, NotFound
from gamification.ledger import accounts
from gamification.ledger.entries import MAX_POINTS_PER_ENTRY
from gamification.members import state as member_state
from gamification.outbox.emit import emit
from gamification.tiers import qualifying
from gamification.tiers.models import MemberTier, Tier, TierChange, TierChangeReason
from gamification.tiers.windows import period_end_after, period_window_start, window_start

_FLAGS: Final = frozenset({"free_shipping", "birthday_gift", "early_access", "priority_support"})
_EVALUATION_BATCH: Final = 200


async def ladder(conn: BaseDBAsyncClient | None = None) -> list[Tier]:
    return list(await Tier.all().using_db(conn).order_by("rank"))


_ladder: program_cache.TimedCache[str, list[Tier]] = program_cache.TimedCache()


async def program_ladder() -> list[Tier]:
    """The ladder, lowest first, for display: cached per process (see the module's docstring).
    Callers must not change the tiers it holds."""
    return await _ladder.get("ladder", ladder)


def _deserved(tiers: Sequence[Tier], points: int) -> Tier | None:
    reached = [t for t in tiers if t.threshold <= points]
    return reached[-1] if reached else None


def _rank(tier: Tier | None) -> int:
    return tier.rank if tier is not None else -1


_QUALIFYING_SQL: Final = f"SELECT {qualifying.window_sum_sql(1, 2)} AS qualifying"


async def qualifying_points(
    member_id: int, since: datetime, until: datetime, conn: BaseDBAsyncClient | None = None
) -> int:
    """The member's qualifying points with since <= occurred_at < until, from the maintained
    totals. Inside a transaction, after its held-back totals are written."""
    conn = conn or MemberTier._meta.db
    await qualifying.flush_pending(conn, member_id)
    window = qualifying.Window.of(since, until).values
    [row] = await sql.fetch(conn, _QUALIFYING_SQL, member_id, *window)
    return max(int(row["qualifying"] or 0), 0)


async def current_tier(member_id: int, conn: BaseDBAsyncClient | None = None) -> Tier | None:
    """The tier the member holds: their row's tier, else the entry tier (threshold 0), if any."""
    status = await MemberTier.filter(member_id=member_id).using_db(conn).first()
    if status is not None and status.tier_id is not None:  # type: ignore[attr-defined]
        return await Tier.filter(id=status.tier_id).using_db(conn).first()  # type: ignore[attr-defined]
    return await Tier.filter(threshold__lte=0).using_db(conn).order_by("-rank").first()


async def earn_multiplier(member_id: int, conn: BaseDBAsyncClient | None = None) -> Decimal:
    tier = await current_tier(member_id, conn)
    return Decimal(tier.earn_multiplier) if tier is not None else Decimal(1)


async def tier_at_least(member_id: int, tier_name: str | None, conn: BaseDBAsyncClient) -> bool:
    """Whether the member's tier ranks at least as high as `tier_name` (None: always).
    An unknown tier name is never reached."""
    if tier_name is None:
        return True
    wanted = await Tier.filter(name=tier_name).using_db(conn).first()
    if wanted is None:
        return False
    return _rank(await current_tier(member_id, conn)) >= wanted.rank


async def _locked_status(
    member_id: int, conn: BaseDBAsyncClient, now: datetime, tiers: Sequence[Tier]
) -> MemberTier:
    """The member's tier row, locked; created (with the entry tier) on first use. Callers hold
    the member's ledger lock, so two creations cannot race."""
    status = await MemberTier.filter(member_id=member_id).select_for_update().using_db(conn).first()
    if status is None:
        entry = _deserved(tiers, 0)
        status = await MemberTier.create(
            member_id=member_id,
            tier_id=entry.id if entry else None,
            period_starts_at=now,
            period_ends_at=period_end_after(now),
            using_db=conn,
        )
    return status


def _tier_by_id(tiers: Sequence[Tier], tier_id: int | None) -> Tier | None:
    return next((t for t in tiers if t.id == tier_id), None) if tier_id is not None else None


async def _ladder_with(tier_ids: Iterable[int | None]) -> list[Tier]:
    """The cached ladder, read again when it misses a tier the member's row names (defined
    by another process since this one cached it)."""
    tiers = await program_ladder()
    known = {t.id for t in tiers}
    if any(tier_id is not None and tier_id not in known for tier_id in tier_ids):
        tiers = await ladder()
        _ladder.put("ladder", tiers)
    return tiers


async def held_tier(state: member_state.MemberState) -> Tier | None:
    """The tier the member holds (as `current_tier`), from the transaction's state."""
    status = state.status
    tiers = await _ladder_with([status.tier_id if status else None])
    if status is not None and status.tier_id is not None:
        return _tier_by_id(tiers, status.tier_id)
    return _deserved(tiers, 0)


async def reaches(state: member_state.MemberState, tier_name: str | None) -> bool:
    """Whether the member's tier ranks at least as high as `tier_name` (None: always), as
    `tier_at_least`, from the transaction's state."""
    if tier_name is None:
        return True
    wanted = next((t for t in await program_ladder() if t.name == tier_name), None)
    if wanted is None:
        return False
    return _rank(await held_tier(state)) >= wanted.rank


_UPSERT_STATUS: Final = """
INSERT INTO "member_tier" ("member_id", "tier_id", "floor_tier_id", "period_starts_at",
    "period_ends_at", "updated_at")
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT ("member_id") DO UPDATE SET "tier_id" = EXCLUDED."tier_id",
    "period_starts_at" = EXCLUDED."period_starts_at",
    "period_ends_at" = EXCLUDED."period_ends_at", "updated_at" = EXCLUDED."updated_at"
"""

_INSERT_CHANGE: Final = """
INSERT INTO "tier_change" ("member_id", "from_tier_id", "to_tier_id", "reason",
    "qualifying_points", "period_ends_at", "created_at")
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING "id"
"""


@dataclass(frozen=True, slots=True)
class Upgrade:
    change_id: int
    previous: Tier | None
    tier: Tier


async def apply_qualifying(
    account: accounts.LockedAccount, state: member_state.MemberState
) -> Upgrade | None:
    """Upgrade the member if their qualifying points now reach a higher tier (several steps at
    once if need be). The points are the transaction's running total (`state`), so this reads
    nothing; a first qualifying event opens the member's tier row. Returns the upgrade, or None.
    Caller holds the member's ledger lock."""
    conn, now = account.conn, account.now
    status = state.status
    tiers = await _ladder_with([status.tier_id if status else None])
    if not tiers:
        return None
    opened = status is None
    if status is None:
        entry = _deserved(tiers, 0)
        status = member_state.TierStatus(
            tier_id=entry.id if entry else None,
            floor_tier_id=None,
            period_starts_at=now,
            period_ends_at=period_end_after(now),
        )
        state.status = status
    points = max(state.qualifying, 0)
    deserved = _deserved(tiers, points)
    held = _tier_by_id(tiers, status.tier_id)
    upgrade = None
    if deserved is not None and _rank(deserved) > _rank(held):
        status.tier_id = deserved.id
        status.period_starts_at = now
        status.period_ends_at = period_end_after(now)
        [row] = await sql.fetch(
            conn,
            _INSERT_CHANGE,
            state.member_id,
            held.id if held else None,
            deserved.id,
            TierChangeReason.UPGRADE.value,
            points,
            status.period_ends_at,
            now,
        )
        upgrade = Upgrade(int(row["id"]), held, deserved)
    elif not opened:
        return None
    # Held back until the transaction's last statement (nothing reads the row before).
    await deferred_writes.hold_back_write(
        conn,
        ("member_tier", state.member_id),
        _UPSERT_STATUS,
        state.member_id,
        status.tier_id,
        status.floor_tier_id,
        status.period_starts_at,
        status.period_ends_at,
        now,
    )
    return upgrade


@dataclass(frozen=True, slots=True)
class TierProgress:
    current: Tier | None
    next: Tier | None
    qualifying_points: int
    points_to_next: int
    period_ends_at: datetime | None
    floor: Tier | None


# The member's tier row (if any) and their qualifying points, in one statement: the points
# from the maintained totals (`tiers.qualifying`), whatever the member's history.
_PROGRESS_SQL: Final = (
    "SELECT t.id AS status_id, t.tier_id, t.floor_tier_id, t.period_ends_at, "
    f"{qualifying.window_sum_sql(1, 2)} AS qualifying "
    "FROM (SELECT 1 AS one) o LEFT JOIN member_tier t ON t.member_id = $1"
)


async def progress(member_id: int, now: datetime | None = None) -> TierProgress:
    """Where the member stands: one statement, plus the ladder (cached per process)."""
    now = now or datetime.now(UTC)
    tiers = await program_ladder()
    since, until = window_start(now), now + timedelta(seconds=1)
    window = qualifying.Window.of(since, until).values
    [row] = await sql.fetch(MemberTier._meta.db, _PROGRESS_SQL, member_id, *window)
    has_status = row["status_id"] is not None
    held_id, floor_id = row["tier_id"], row["floor_tier_id"]
    current = next((t for t in tiers if t.id == held_id), None) or (
        None if has_status else _deserved(tiers, 0)
    )
    points = max(int(row["qualifying"] or 0), 0)
    following = next((t for t in tiers if t.rank > _rank(current)), None)
    ends_at = MemberTier._meta.fields_map["period_ends_at"].to_python_value(row["period_ends_at"])
    return TierProgress(
        current=current,
        next=following,
        qualifying_points=points,
        points_to_next=max(following.threshold - points, 0) if following else 0,
        period_ends_at=ends_at if has_status else None,
        floor=next((t for t in tiers if t.id == floor_id), None),
    )


async def history(member_id: int, limit: int = 50) -> list[TierChange]:
    return list(await TierChange.filter(member_id=member_id).order_by("-id").limit(limit))


async def tiers_by_id(ids: set[int]) -> dict[int, Tier]:
    return {t.id: t for t in await Tier.filter(id__in=ids)} if ids else {}


@dataclass(frozen=True, slots=True)
class TierInput:
    name: str
    rank: int
    threshold: int
    earn_multiplier: Decimal = Decimal(1)
    benefits: str = ""
    benefit_flags: tuple[str, ...] = ()


def _check_tier(data: TierInput) -> None:
    if not data.name.strip() or len(data.name.strip()) > 40:
        raise InvalidInput("Name must have 1 to 40 characters", code=ErrorCode.INVALID_TIER)
    if data.rank < 0 or data.threshold < 0 or data.threshold > MAX_POINTS_PER_ENTRY:
        raise InvalidInput("Rank and threshold must not be negative", code=ErrorCode.INVALID_TIER)
    if not data.earn_multiplier.is_finite() or not 0 < data.earn_multiplier <= 10:
        raise InvalidInput(
            "The earn multiplier must be above 0 and at most 10",
            code=ErrorCode.INVALID_TIER,
            field="earnMultiplier",
        )
    unknown = set(data.benefit_flags) - _FLAGS
    if unknown:
        raise InvalidInput(
            f"Unknown benefit flags: {sorted(unknown)}",
            code=ErrorCode.INVALID_TIER,
            field="benefitFlags",
        )


async def define_tier(data: TierInput) -> Tier:
    """Create or replace a tier by name. A higher rank must need a higher threshold.

    Raises InvalidInput(INVALID_TIER)."""
    _check_tier(data)
    others = [t for t in await Tier.exclude(name=data.name.strip()) if t.rank != data.rank]
    for other in others:
        if (other.rank < data.rank) != (other.threshold < data.threshold):
            raise InvalidInput("Thresholds must rise with the rank", code=ErrorCode.INVALID_TIER)
    if await Tier.filter(rank=data.rank).exclude(name=data.name.strip()).exists():
        raise InvalidInput("Another tier has this rank", code=ErrorCode.INVALID_TIER, field="rank")
    tier, _ = await Tier.update_or_create(
        name=data.name.strip(),
        defaults={
            "rank": data.rank,
            "threshold": data.threshold,
            "earn_multiplier": data.earn_multiplier,
            "benefits": data.benefits,
            "benefit_flags": sorted(set(data.benefit_flags)),
        },
    )
    program_cache.invalidate()
    return tier


async def set_tier_floor(
    member_id: int, tier_name: str | None, now: datetime | None = None
) -> None:
    """An admin's floor: the member never drops below it (and is raised to it now).

    Raises NotFound(UNKNOWN_TIER, UNKNOWN_MEMBER)."""
    now = now or datetime.now(UTC)
    async with in_transaction() as conn:
        await accounts.lock_member_account(member_id, conn, now)
        tiers = await ladder(conn)
        floor = None
        if tier_name is not None:
            floor = next((t for t in tiers if t.name == tier_name), None)
            if floor is None:
                raise NotFound("No such tier", code=ErrorCode.UNKNOWN_TIER, field="tier")
        status = await _locked_status(member_id, conn, now, tiers)
        status.floor_tier_id = floor.id if floor else None
        held = next((t for t in tiers if t.id == status.tier_id), None)  # type: ignore[attr-defined]
        fields = ["floor_tier_id"]
        if floor is not None and _rank(held) < floor.rank:
            status.tier_id = floor.id
            fields.append("tier_id")
            await _tier_changed(conn, member_id, held, floor, TierChangeReason.FLOOR, now)
            await TierChange.create(
                member_id=member_id,
                from_tier_id=held.id if held else None,
                to_tier_id=floor.id,
                reason=TierChangeReason.FLOOR,
                period_ends_at=status.period_ends_at,
                created_at=now,
                using_db=conn,
            )
        await status.save(using_db=conn, update_fields=fields)
        view_versions.member_view_changed(member_id)


async def _tier_changed(
    conn: BaseDBAsyncClient,
    member_id: int,
    held: Tier | None,
    target: Tier | None,
    reason: TierChangeReason,
    now: datetime,
) -> None:
    """The `tier.changed` event of a floor or a downgrade, in the change's transaction
    (upgrades are emitted by gamification.events.facts with the fact that caused them)."""
    await emit(
        conn,
        type="tier.changed",
        member_id=member_id,
        data={
            "memberId": member_id,
            "tier": target.name if target else None,
            "previousTier": held.name if held else None,
            "reason": str(reason),
        },
        occurred_at=now,
    )


async def _evaluate_one(status_id: int, period_ends_at: datetime, now: datetime) -> bool:
    async with in_transaction() as conn:
        found = await MemberTier.filter(id=status_id).using_db(conn).first()
        if found is None:
            return False
        member_id: int = found.member_id  # type: ignore[attr-defined]
        await accounts.lock_member_account(member_id, conn, now)
        status = await MemberTier.filter(id=status_id).select_for_update().using_db(conn).get()
        if status.period_ends_at != period_ends_at:
            return False  # evaluated meanwhile (another run): exactly once per period
        tiers = await ladder(conn)
        end = status.period_ends_at
        since = period_window_start(status.period_starts_at, end)
        points = await qualifying_points(member_id, since, end, conn)
        held = next((t for t in tiers if t.id == status.tier_id), None)  # type: ignore[attr-defined]
        deserved = _deserved(tiers, points)
        floor = next((t for t in tiers if t.id == status.floor_tier_id), None)  # type: ignore[attr-defined]
        target = held
        reason = TierChangeReason.RETAINED
        if _rank(deserved) < _rank(held) and held is not None:
            one_down = next((t for t in reversed(tiers) if t.rank < held.rank), None)
            candidates = [t for t in (one_down, deserved, floor) if t is not None]
            target = max(candidates, key=_rank) if candidates else None
            if _rank(target) < _rank(held):
                reason = TierChangeReason.DOWNGRADE
            else:
                target = held
        status.tier_id = target.id if target else None
        status.period_starts_at = end
        status.period_ends_at = period_end_after(end)
        await status.save(
            using_db=conn, update_fields=["tier_id", "period_starts_at", "period_ends_at"]
        )
        view_versions.member_view_changed(member_id)  # a new period, maybe a new tier
        if reason is TierChangeReason.DOWNGRADE:
            await _tier_changed(conn, member_id, held, target, reason, now)
        await TierChange.create(
            member_id=member_id,
            from_tier_id=held.id if held else None,
            to_tier_id=target.id if target else None,
            reason=reason,
            qualifying_points=points,
            period_ends_at=status.period_ends_at,
            created_at=now,
            using_db=conn,
        )
        return True


async def evaluate_due_tiers(
    now: datetime | None = None, progress: Callable[[int, int], None] | None = None
) -> int:
    """Evaluate every qualification period that ended (plus the grace period) before `now`:
    keep the tier, or drop one tier at most (never below the member's floor). Each period is
    evaluated once, however often this runs. Returns how many periods were evaluated."""
    now = now or datetime.now(UTC)
    due_before = now - timedelta(days=program_settings.current().tier_grace_days)
    total = await MemberTier.filter(period_ends_at__lte=due_before).count()
    done = evaluated = 0
    last_id = 0
    while True:
        batch = (
            await MemberTier.filter(period_ends_at__lte=due_before, id__gt=last_id)
            .order_by("id")
            .limit(_EVALUATION_BATCH)
            .values_list("id", "period_ends_at")
        )
        if not batch:
            break
        for status_id, period_ends_at in batch:
            evaluated += await _evaluate_one(status_id, period_ends_at, now)
            done += 1
            last_id = status_id
            if progress is not None:
                progress(done, total)
    return evaluated
