"""The causes' catalog: what admins say about a cause (create, change, close), the checks of
it, the cause's ledger account, and the reads of causes (listing, one cause, its status).

Admins create causes (the goal in points, or in impact units converted at the cause's rate),
change and close them. A cause is locked `FOR UPDATE` to change or close it (see the lock order
in `gamification.causes.donations`): donations change its totals and status under that lock.
Matching campaigns are in `gamification.causes.matching`, impact figures in
`gamification.causes.impact`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from gamification import program_cache
from gamification.causes.models import Cause, CauseStatus, Donation
from gamification.changes import UNCHANGED, Unchanged, changed_fields
from gamification.copies import copy_into
from gamification.errors import ErrorCode, InvalidInput, NotFound
from gamification.ledger.accounts import LockedAccount
from gamification.ledger.models import AccountKind, LedgerAccount
from gamification.limits import MAX_INT32
from gamification.pagination import Page, keyset_page
from gamification.validation import check_image_url

MAX_NAME_LENGTH: Final = 120
MAX_DESCRIPTION_LENGTH: Final = 2000
MAX_PARTNER_LENGTH: Final = 120
MAX_IMPACT_UNIT_LENGTH: Final = 40
MAX_POINTS_PER_UNIT: Final = 1_000_000
# Goals are shown as GraphQL `Int`s (32-bit, like every points figure of the API).
MAX_GOAL_POINTS: Final = MAX_INT32
MAX_DONATION: Final = 10_000_000
# Causes have 32-bit ids, and PostgreSQL raises (rather than finding nothing) on a larger one.
MAX_INT_ID: Final = MAX_INT32


@dataclass(frozen=True, slots=True)
class CauseInput:
    """Everything an admin says about a cause. The goal is given in points or in impact units
    (`goal_units` × `points_per_unit` points), not both; None: no goal. `starts_at` None: now."""

    name: str
    impact_unit: str
    points_per_unit: int
    description: str = ""
    image_url: str = ""
    partner: str = ""
    goal_points: int | None = None
    goal_units: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    accepts_after_goal: bool = True
    min_donation: int = 1
    donation_step: int = 1


@dataclass(frozen=True, slots=True)
class CauseChanges:
    """A partial update: fields left UNCHANGED keep their value; None clears `ends_at` or the
    goal (through either of its two forms)."""

    name: str | Unchanged = UNCHANGED
    impact_unit: str | Unchanged = UNCHANGED
    points_per_unit: int | Unchanged = UNCHANGED
    description: str | Unchanged = UNCHANGED
    image_url: str | Unchanged = UNCHANGED
    partner: str | Unchanged = UNCHANGED
    goal_points: int | Unchanged | None = UNCHANGED
    goal_units: int | Unchanged | None = UNCHANGED
    starts_at: datetime | Unchanged = UNCHANGED
    ends_at: datetime | Unchanged | None = UNCHANGED
    accepts_after_goal: bool | Unchanged = UNCHANGED
    min_donation: int | Unchanged = UNCHANGED
    donation_step: int | Unchanged = UNCHANGED


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: str, *, field: str, label: str, maximum: int, required: bool) -> str:
    text = value.strip()
    if len(text) > maximum or (required and not text):
        least = 1 if required else 0
        raise InvalidInput(f"{label} must have {least} to {maximum} characters", field=field)
    return text


def _whole(value: int, *, field: str, label: str, least: int, most: int) -> int:
    if not is_int(value) or not least <= value <= most:
        raise InvalidInput(f"{label} must be a whole number from {least} to {most:,}", field=field)
    return value


def aware_utc(moment: datetime | None, *, field: str) -> datetime | None:
    """Raises InvalidInput for a naive time: it names no instant."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidInput(f"{field} needs a timezone", field=field)
    return moment.astimezone(UTC)


def check_cause(data: CauseInput, now: datetime) -> CauseInput:
    """The input, normalised: text trimmed, times in UTC, the goal in points (`goal_units`
    None), `starts_at` set.

    Raises InvalidInput naming the first offending field: name of 1-120 characters, impact unit
    of 1-40, description up to 2000, partner up to 120, an http(s) image URL or none, points per
    unit >= 1, a goal in points or in units (not both) of at least 1, aware times with endsAt
    after startsAt, a minimum donation and a step of at least 1 point.
    """
    name = _text(data.name, field="name", label="name", maximum=MAX_NAME_LENGTH, required=True)
    description = _text(
        data.description,
        field="description",
        label="description",
        maximum=MAX_DESCRIPTION_LENGTH,
        required=False,
    )
    partner = _text(
        data.partner, field="partner", label="partner", maximum=MAX_PARTNER_LENGTH, required=False
    )
    impact_unit = _text(
        data.impact_unit,
        field="impactUnit",
        label="impactUnit",
        maximum=MAX_IMPACT_UNIT_LENGTH,
        required=True,
    )
    points_per_unit = _whole(
        data.points_per_unit,
        field="pointsPerUnit",
        label="pointsPerUnit",
        least=1,
        most=MAX_POINTS_PER_UNIT,
    )
    if data.goal_points is not None and data.goal_units is not None:
        raise InvalidInput("Give the goal in points or in units, not both", field="goalUnits")
    goal_points = data.goal_points
    if data.goal_units is not None:
        units = _whole(
            data.goal_units,
            field="goalUnits",
            label="goalUnits",
            least=1,
            most=MAX_GOAL_POINTS // points_per_unit,
        )
        goal_points = units * points_per_unit
    elif goal_points is not None:
        _whole(goal_points, field="goalPoints", label="goalPoints", least=1, most=MAX_GOAL_POINTS)
    starts_at = aware_utc(data.starts_at, field="startsAt") or now
    ends_at = aware_utc(data.ends_at, field="endsAt")
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput("endsAt must be after startsAt", field="endsAt")
    min_donation = _whole(
        data.min_donation, field="minDonation", label="minDonation", least=1, most=MAX_DONATION
    )
    donation_step = _whole(
        data.donation_step,
        field="donationStep",
        label="donationStep",
        least=1,
        most=MAX_DONATION,
    )
    return replace(
        data,
        name=name,
        description=description,
        image_url=check_image_url(data.image_url),
        partner=partner,
        impact_unit=impact_unit,
        points_per_unit=points_per_unit,
        goal_points=goal_points,
        goal_units=None,
        starts_at=starts_at,
        ends_at=ends_at,
        min_donation=min_donation,
        donation_step=donation_step,
    )


def _columns(data: CauseInput) -> dict[str, Any]:
    columns = {f.name: getattr(data, f.name) for f in fields(data)}
    del columns["goal_units"]
    return columns


def _input_of(cause: Cause) -> CauseInput:
    return copy_into(CauseInput, cause, goal_units=None)  # the goal is stored in points


async def locked_cause(cause_id: int, conn: BaseDBAsyncClient) -> Cause:
    """The cause, locked `FOR UPDATE` until commit. Raises NotFound(CAUSE_NOT_FOUND)."""
    cause = (
        await Cause.filter(id=cause_id).select_for_update().using_db(conn).first()
        if 0 < cause_id <= MAX_INT_ID
        else None
    )
    if cause is None:
        raise NotFound("No such cause", code=ErrorCode.CAUSE_NOT_FOUND, field="causeId")
    return cause


async def create_cause(data: CauseInput, *, now: datetime | None = None) -> Cause:
    """Add a cause, open from `starts_at`, with its ledger account. Raises InvalidInput (see
    `check_cause`)."""
    checked = check_cause(data, now or datetime.now(UTC))
    async with in_transaction() as conn:
        cause = await Cause.create(**_columns(checked), status=CauseStatus.ACTIVE, using_db=conn)
        # Opened now rather than by the first donation, whose uncommitted row would make every
        # other first donation wait on the unique index until it commits.
        await _open_cause_account(cause.id, conn)
    return cause


async def update_cause(
    cause_id: int, changes: CauseChanges, *, now: datetime | None = None
) -> Cause:
    """Change some of a cause; the result is checked as a whole (so endsAt is compared with the
    stored startsAt when only one of them changes). A changed goal moves the status between
    ACTIVE and GOAL_REACHED; a closed cause stays closed.

    `impactUnit` and `pointsPerUnit` are fixed once the cause has had a donation: its receipts
    and impact figures were computed with them.

    Raises NotFound(CAUSE_NOT_FOUND), InvalidInput (see `check_cause`).
    """
    given = changed_fields(changes)
    if "goal_units" in given:
        if "goal_points" in given:
            raise InvalidInput("Give the goal in points or in units, not both", field="goalUnits")
        given["goal_points"] = None  # replaced by the units
    async with in_transaction() as conn:
        # Locked: donations change the totals and the status under the same lock.
        cause = await locked_cause(cause_id, conn)
        updated = check_cause(replace(_input_of(cause), **given), now or datetime.now(UTC))
        for name, label in (("impact_unit", "impactUnit"), ("points_per_unit", "pointsPerUnit")):
            if (
                getattr(updated, name) != getattr(cause, name)
                and await Donation.filter(cause_id=cause.id).using_db(conn).exists()
            ):
                raise InvalidInput(
                    f"{label} cannot change once the cause has donations", field=label
                )
        columns = _columns(updated)
        changed = [name for name, value in columns.items() if getattr(cause, name) != value]
        cause.update_from_dict(columns)
        status = status_for_totals(cause)
        if status is not cause.status:
            cause.status = status
            changed.append("status")
        if changed:
            await cause.save(using_db=conn, update_fields=changed)
    return cause


async def close_cause(cause_id: int) -> Cause:
    """Stop a cause taking donations, for good. Closing a closed cause changes nothing.

    Raises NotFound(CAUSE_NOT_FOUND).
    """
    async with in_transaction() as conn:
        cause = await locked_cause(cause_id, conn)
        if cause.status is not CauseStatus.CLOSED:
            cause.status = CauseStatus.CLOSED
            await cause.save(using_db=conn, update_fields=["status"])
    return cause


def status_for_totals(cause: Cause) -> CauseStatus:
    """The stored status the cause's totals call for: a closed cause stays closed; otherwise
    it has reached its goal exactly when its member and matched points together cover it."""
    if cause.status is CauseStatus.CLOSED:
        return CauseStatus.CLOSED
    raised = cause.raised_member_points + cause.raised_matched_points
    if cause.goal_points is not None and raised >= cause.goal_points:
        return CauseStatus.GOAL_REACHED
    return CauseStatus.ACTIVE


# --- The cause's ledger account ---------------------------------------------------------------


def cause_account_code(cause_id: int) -> str:
    return f"cause:{cause_id}"


async def cause_account(
    cause_id: int, conn: BaseDBAsyncClient, *, lock: bool = False
) -> LockedAccount:
    """The cause's ledger account, opened on first use; with `lock`, locked `FOR NO KEY UPDATE`
    for a write to its hash chain (the lock orders the chain; a weaker one than `FOR UPDATE`, so
    the foreign keys of other donations' entries, which point at this row, do not wait on it)."""
    query = LedgerAccount.filter(code=cause_account_code(cause_id))
    if lock:
        query = query.select_for_update(no_key=True)
    row = await query.using_db(conn).first()
    if row is None:  # a cause created before causes opened their account at once
        await _open_cause_account(cause_id, conn)
        row = await query.using_db(conn).get()
    return LockedAccount(row=row, conn=conn, now=datetime.now(UTC))


async def _open_cause_account(cause_id: int, conn: BaseDBAsyncClient) -> None:
    await LedgerAccount.bulk_create(
        [LedgerAccount(kind=AccountKind.CAUSE, code=cause_account_code(cause_id))],
        ignore_conflicts=True,
        using_db=conn,
    )


_cause_account_ids: program_cache.PermanentMap[int, int] = program_cache.PermanentMap()


async def cause_account_id(cause_id: int, conn: BaseDBAsyncClient) -> int:
    """The id of the cause's ledger account (created on first use), remembered per process:
    a donation without a match needs nothing else of it."""
    known = _cause_account_ids.get(cause_id)
    if known is not None:
        return known
    code = cause_account_code(cause_id)
    row = await LedgerAccount.filter(code=code).using_db(conn).only("id").first()
    if row is not None:
        # Committed before this transaction began (it opens no account before this point).
        _cause_account_ids.put(cause_id, row.id)
        return row.id
    # Opened by this transaction, which may yet roll back: not remembered.
    return (await cause_account(cause_id, conn)).row.id


# --- Reads ------------------------------------------------------------------------------------


def effective_status(cause: Cause, now: datetime) -> CauseStatus:
    """The status as members see it: a cause past its end is closed, whatever is stored."""
    if cause.ends_at is not None and cause.ends_at <= now:
        return CauseStatus.CLOSED
    return cause.status


def _with_status(status: CauseStatus, now: datetime) -> Q:
    running = Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    if status is CauseStatus.CLOSED:
        return Q(status=CauseStatus.CLOSED) | Q(ends_at__lte=now)
    return Q(Q(status=status), running)


async def list_causes(
    *,
    first: int,
    after_id: int | None,
    status: CauseStatus | None = None,
    now: datetime | None = None,
) -> Page[Cause]:
    """One page of causes, oldest first; `status` filters on the status members see (see
    `effective_status`). Causes are public to every signed-in caller."""
    query = Cause.all()
    if status is not None:
        query = query.filter(_with_status(status, now or datetime.now(UTC)))
    return await keyset_page(query, first=first, after_id=after_id)


async def get_cause(cause_id: int) -> Cause | None:
    return await Cause.get_or_none(id=cause_id) if 0 < cause_id <= MAX_INT_ID else None
