"""Refunds take back the challenge progress their purchase made, exactly once.

When a purchase reaches a challenge, `challenges.apply_event` keeps a `ChallengeContribution`:
which progress row, which completion it counts towards (`number`: the open one, or past the
maximum the next one, as a reserve), its local day and its amount. A refund
(`reverse_purchase`, called by `domain_events.purchase_refunded` in the refund's own
transaction, with the member's ledger account and the purchase row locked):

- SUM goals lose the refunded share of the amount the purchase added, computed on the refunded
  total so far, so partial refunds add up exactly to a full one.
- COUNT, DISTINCT_DAYS and streak goals change only when the purchase is refunded in full: it
  no longer counts, nor does its day (unless another purchase of that day still does), and a
  streak is recomputed from the days that remain, as if they had come in order.
- A completion the purchase helped to reach stands if what remains still reaches the target,
  topped up if need be from the purchases counting towards the next completion (or made past
  the maximum). Otherwise it is revoked: it stops counting, its purchases count towards the
  next completion (the member can complete the challenge again), and its bonus points are
  clawed back through the ledger like a refunded purchase's points (what the available balance
  cannot cover becomes an outstanding clawback, repaid from later earnings). A badge it awarded
  stays: badges are held once and are not taken back.

Exactly once: each contribution records how much of it was taken back (`reversed_amount`,
`withdrawn`), and every refund moves it only as far as the refunded total calls for, so a
second pass finds nothing to do. A retried refund replays its stored answer and never gets
here; concurrent refunds and events of one member queue on the member's ledger lock. Lock
order: member ledger account, purchase, progress rows by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Subquery

from gamification import deferred_writes, program_settings
from gamification.challenges.models import (
    Challenge,
    ChallengeCompletion,
    ChallengeContribution,
    ChallengeProgress,
    GoalType,
)
from gamification.challenges.windows import advance_streak, next_number
from gamification.events import progress as progress_updates
from gamification.events.models import DomainEvent
from gamification.ledger import accounts, movements
from gamification.ledger.entries import Origin, Reference

_CENTS: Final = Decimal("0.01")
_STREAKS: Final = (GoalType.STREAK_DAYS, GoalType.STREAK_WEEKS)


@dataclass
class Reversal:
    """What a refund took back from challenges: completions revoked, bonus points clawed back
    (taken now or left outstanding), and the qualifying points that go with them."""

    revoked: int = 0
    points_clawed_back: int = 0
    qualifying_points: int = 0


async def reverse_purchase(
    account: accounts.LockedAccount,
    purchase_id: int,
    refund_event: DomainEvent,
    *,
    refunded: Decimal,
    total: Decimal,
) -> Reversal:
    """Take back what the purchase added to challenges, to match `refunded` of `total` (the
    refunded amount so far, this refund included). Caller holds the member's ledger lock and
    has recorded the refund's event, which is reported as what moved the progress."""
    conn = account.conn
    reversal = Reversal()
    # Progress and contributions may be held back from earlier in the transaction.
    await deferred_writes.flush_held_writes(conn)
    purchase_event = DomainEvent.filter(source_key=f"purchase:{purchase_id}").values("id")
    contributions = list(
        await ChallengeContribution.filter(event_id__in=Subquery(purchase_event))
        .using_db(conn)
        .order_by("progress_id")
    )
    if not contributions or total <= 0:
        return reversal
    full = refunded >= total
    changed: dict[int, int] = {}  # progress id -> the completion number its purchase counted for
    for contribution in contributions:
        amount = Decimal(contribution.amount)
        taken = amount if full else (amount * refunded / total).quantize(_CENTS, ROUND_FLOOR)
        if taken <= Decimal(contribution.reversed_amount) and (contribution.withdrawn or not full):
            continue  # this refunded total was taken back before
        contribution.reversed_amount = taken
        contribution.withdrawn = full
        await contribution.save(using_db=conn, update_fields=["reversed_amount", "withdrawn"])
        changed[contribution.progress_id] = contribution.number  # type: ignore[attr-defined]
    if not changed:
        return reversal
    rows = await (
        ChallengeProgress.filter(id__in=sorted(changed))
        .select_for_update()
        .using_db(conn)
        .order_by("id")
    )
    by_id = {
        c.id: c
        for c in await Challenge.filter(
            id__in={p.challenge_id for p in rows}  # type: ignore[attr-defined]
        ).using_db(conn)
    }
    for progress in rows:
        challenge = by_id[progress.challenge_id]  # type: ignore[attr-defined]
        await _settle(account, challenge, progress, changed[progress.id], reversal)
        progress.updated_at = account.now
        await progress.save(using_db=conn)
        # After commit: the challenge's board and the member's challengeProgress stream.
        progress_updates.progress_changed(
            refund_event.member_id,  # type: ignore[attr-defined]
            challenge.id,
            refund_event.id,
            refund_event.source_key,
        )
    return reversal


def _held_number(challenge: Challenge, progress: ChallengeProgress) -> int:
    """The completion the row's values count towards: the open one, or the last one once the
    maximum is reached (its values then stay in the row)."""
    if progress.completions >= challenge.max_completions:
        return progress.completions + progress.revoked
    return next_number(progress)


async def _settle(
    account: accounts.LockedAccount,
    challenge: Challenge,
    progress: ChallengeProgress,
    number: int,
    reversal: Reversal,
) -> None:
    """After a refund lowered completion `number`'s purchases: keep, top up or revoke that
    completion, then bring the row in line with its purchases."""
    conn = account.conn
    rows = list(
        await ChallengeContribution.filter(progress_id=progress.id).using_db(conn).order_by("id")
    )
    completion = None
    if number < next_number(progress):  # only numbers already given out can be completions
        completion = (
            await ChallengeCompletion.filter(
                challenge_id=challenge.id,
                member_id=progress.member_id,  # type: ignore[attr-defined]
                window_key=progress.window_key,
                number=number,
                revoked_at__isnull=True,
            )
            .using_db(conn)
            .first()
        )
    target = Decimal(challenge.target)
    if completion is not None and _value(challenge, progress, rows, {number}) < target:
        reserve = next_number(progress)
        if _value(challenge, progress, rows, {number, reserve}) >= target:
            await _top_up(conn, challenge, progress, rows, number, reserve)
        else:
            await _revoke(account, challenge, progress, completion, reversal)
            await _renumber(conn, [r for r in rows if r.number == number], reserve)
    _recompute(challenge, progress, rows)


def _counting(
    rows: Sequence[ChallengeContribution], numbers: set[int]
) -> list[ChallengeContribution]:
    return [r for r in rows if r.number in numbers and not r.withdrawn]


def _replay(
    challenge: Challenge,
    progress: ChallengeProgress,
    rows: Sequence[ChallengeContribution],
    numbers: set[int],
) -> ChallengeProgress:
    """The streak rebuilt from the days that still count, in order, starting after the last
    day that counted for an earlier completion. Returns an unsaved scratch row whose `current`
    is the longest streak reached."""
    days = sorted({r.day for r in _counting(rows, numbers)})
    first = min(numbers)
    earlier: list[date] = [r.day for r in rows if r.number < first and not r.withdrawn]
    start = max(earlier) if earlier else None
    if start is not None and challenge.goal_type is GoalType.STREAK_WEEKS:
        start -= timedelta(days=start.weekday())
    scratch = ChallengeProgress(
        streak=0,
        last_period=start,
        freezes_used=[f for f in progress.freezes_used if start is not None and f <= str(start)],
    )
    best = 0
    for day in days:
        advance_streak(challenge, scratch, day)
        best = max(best, scratch.streak)
    scratch.current = Decimal(best)
    return scratch


def _value(
    challenge: Challenge,
    progress: ChallengeProgress,
    rows: Sequence[ChallengeContribution],
    numbers: set[int],
) -> Decimal:
    """How far the purchases that still count for these completion numbers go."""
    goal = challenge.goal_type
    if goal is GoalType.SUM:
        return sum(
            (Decimal(r.amount) - Decimal(r.reversed_amount) for r in rows if r.number in numbers),
            Decimal(0),
        )
    if goal is GoalType.COUNT:
        return Decimal(len(_counting(rows, numbers)))
    if goal is GoalType.DISTINCT_DAYS:
        return Decimal(len({r.day for r in _counting(rows, numbers)}))
    return Decimal(_replay(challenge, progress, rows, numbers).current)


async def _renumber(
    conn: BaseDBAsyncClient, moved: Sequence[ChallengeContribution], number: int
) -> None:
    if not moved:
        return
    await (
        ChallengeContribution.filter(id__in=[r.id for r in moved])
        .using_db(conn)
        .update(number=number)
    )
    for row in moved:
        row.number = number


async def _top_up(
    conn: BaseDBAsyncClient,
    challenge: Challenge,
    progress: ChallengeProgress,
    rows: Sequence[ChallengeContribution],
    number: int,
    reserve: int,
) -> None:
    """Move the fewest of the reserve's purchases, oldest first, into completion `number`
    until it is reached again (all of them for a streak, where order matters)."""
    target = Decimal(challenge.target)
    moved: list[ChallengeContribution] = []
    for row in _counting(rows, {reserve}):
        moved.append(row)
        row.number = number
        if challenge.goal_type not in _STREAKS and (
            _value(challenge, progress, rows, {number}) >= target
        ):
            break
    await _renumber(conn, moved, number)


def _recompute(
    challenge: Challenge, progress: ChallengeProgress, rows: Sequence[ChallengeContribution]
) -> None:
    """The row's values from the purchases that count for the completion it holds."""
    held = {_held_number(challenge, progress)}
    goal = challenge.goal_type
    if goal in _STREAKS:
        replayed = _replay(challenge, progress, rows, held)
        progress.streak = replayed.streak
        progress.last_period = replayed.last_period
        progress.freezes_used = replayed.freezes_used
        progress.current = Decimal(replayed.streak)
    elif goal is GoalType.DISTINCT_DAYS:
        progress.days = sorted({r.day.isoformat() for r in _counting(rows, held)})
        progress.current = Decimal(len(progress.days))
    else:
        progress.current = _value(challenge, progress, rows, held)


async def _revoke(
    account: accounts.LockedAccount,
    challenge: Challenge,
    progress: ChallengeProgress,
    completion: ChallengeCompletion,
    reversal: Reversal,
) -> None:
    """The completion no longer stands: it stops counting and its bonus is clawed back."""
    conn = account.conn
    completion.revoked_at = account.now
    await completion.save(using_db=conn, update_fields=["revoked_at"])
    progress.completions -= 1
    progress.revoked += 1
    latest = (
        await ChallengeCompletion.filter(
            challenge_id=challenge.id,
            member_id=progress.member_id,  # type: ignore[attr-defined]
            window_key=progress.window_key,
            revoked_at__isnull=True,
        )
        .using_db(conn)
        .order_by("-number")
        .first()
    )
    progress.completed_at = latest.completed_at if latest is not None else None
    reversal.revoked += 1
    if completion.points > 0:
        await movements.claw_back(
            account,
            completion.points,
            origin=Origin.system(),
            reference=Reference(
                "challenge",
                f"{challenge.id}:{completion.window_key}:{completion.number}",
                "a refund undid this completion",
            ),
        )
        reversal.points_clawed_back += completion.points
        if program_settings.current().tier_bonus_points_qualify:
            reversal.qualifying_points += completion.points
