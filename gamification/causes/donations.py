"""Eco causes and point donations, with brand matching.

A donation moves points from the member's account to the cause's ledger account; a match moves
points from the program's account to the cause's, so the program's books still balance.
Donations are final for members; an admin may reverse one (points back to the member, the match
back to the program, totals and cap room restored), exactly once.

Locks, in this order everywhere (deadlocks otherwise; `ledger` locks member accounts first):
1. the member's ledger account (`FOR UPDATE`): orders their entries, and makes the member's own
   facts (balance, matched total per campaign, "already a donor here") safe to read then write;
2. the cause row. Donations take it `FOR KEY SHARE`, which does not make donations to one cause
   wait for each other (PostgreSQL takes the same lock for the donation row's foreign key), but
   does make them wait for, and be waited for by, what admins and reversals do under
   `FOR UPDATE` (change or close the cause, start a campaign, reverse a donation). A cause that
   stops taking donations at its goal is locked `FOR NO KEY UPDATE` instead, so that the donations
   that see it open are checked one after the other;
3. the running matching campaign (`FOR UPDATE`), from reading its matched total until commit:
   this is what keeps the total cap; the per-member cap is read under lock 1;
4. the cause's ledger account (`FOR NO KEY UPDATE`), only to write a match or a reversal of one:
   it orders the cause's hash chain.
A donation's totals (member and matched points, donors, the goal's status) are added with one
atomic `UPDATE ... SET raised = raised + n`, held back to the transaction's last round trip
(see `sql.write`): donations to one cause queue on its row only for that statement and the
commit. A member counts as a new donor when they have no other donation to the cause not
reversed, which is read in that same statement, under lock 1.

Admins create causes (the goal in points, or in impact units converted at the cause's rate),
change and close them, and run matching campaigns: one at a time per cause, since a donation is
matched by one campaign only. Members see every cause, their own receipts, and their lifetime
impact (what their own points achieved; the brand's match counts for the cause, not for them).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Final, Literal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from gamification import program_cache, sql
from gamification.actors import Actor
from gamification.causes.models import Cause, CauseStatus, Donation, MatchingCampaign
from gamification.errors import ErrorCode, InvalidInput, NotFound, Refused
from gamification.events import facts as domain_events
from gamification.idempotency import run_once
from gamification.ledger import books as ledger
from gamification.ledger.consent import MemberConsent
from gamification.ledger.models import AccountKind, EntryKind, LedgerAccount, LedgerEntry, PointsLot
from gamification.pagination import Page, keyset_page
from gamification.stores.models import Channel
from gamification.validation import check_image_url

MAX_DONATION: Final = 10_000_000
RETURN_GRACE: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class DonationResult:
    donation: Donation
    replayed: bool
    balance: int | None = None  # the donor's balance right after it (None: not recorded)


def cause_account_code(cause_id: int) -> str:
    return f"cause:{cause_id}"


async def cause_account(
    cause_id: int, conn: BaseDBAsyncClient, *, lock: bool = False
) -> ledger.LockedAccount:
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
    return ledger.LockedAccount(row=row, conn=conn, now=datetime.now(UTC))


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


def check_points_range(points: int) -> None:
    """Raises InvalidInput(INVALID_AMOUNT) unless 1 <= points <= MAX_DONATION."""
    if points <= 0 or points > MAX_DONATION:
        raise InvalidInput(
            f"Donate between 1 and {MAX_DONATION} points",
            code=ErrorCode.INVALID_AMOUNT,
            field="points",
        )


def check_donation_amount(cause: Cause, points: int) -> None:
    """Raises InvalidInput when `points` is not a positive, allowed amount for this cause."""
    check_points_range(points)
    if points < cause.min_donation:
        raise InvalidInput(
            f"The smallest donation to this cause is {cause.min_donation} points",
            code=ErrorCode.BELOW_MINIMUM_DONATION,
            field="points",
        )
    if (points - cause.min_donation) % cause.donation_step:
        raise InvalidInput(
            f"Donations to this cause go in steps of {cause.donation_step} points",
            code=ErrorCode.INVALID_INCREMENT,
            field="points",
        )


def check_cause_open(cause: Cause, now: datetime) -> None:
    """Raises Refused when the cause does not take donations now."""
    if cause.status is CauseStatus.CLOSED or (cause.ends_at and now >= cause.ends_at):
        raise Refused("This cause is closed", code=ErrorCode.CAUSE_CLOSED, field="causeId")
    if now < cause.starts_at:
        raise Refused("This cause is not open yet", code=ErrorCode.CAUSE_NOT_OPEN, field="causeId")
    if cause.status is CauseStatus.GOAL_REACHED and not cause.accepts_after_goal:
        raise Refused(
            "This cause has reached its goal", code=ErrorCode.CAUSE_GOAL_REACHED, field="causeId"
        )


def status_for_totals(cause: Cause) -> CauseStatus:
    """The stored status the cause's totals call for: a closed cause stays closed; otherwise
    it has reached its goal exactly when its member and matched points together cover it."""
    if cause.status is CauseStatus.CLOSED:
        return CauseStatus.CLOSED
    raised = cause.raised_member_points + cause.raised_matched_points
    if cause.goal_points is not None and raised >= cause.goal_points:
        return CauseStatus.GOAL_REACHED
    return CauseStatus.ACTIVE


def impact_of(points: int, points_per_unit: int) -> Decimal:
    return (Decimal(points) / Decimal(points_per_unit)).quantize(Decimal("0.0001"), ROUND_FLOOR)


_CAUSE_FOR_DONATION: Final = """
SELECT "cause".*, (
    SELECT "matching_campaign"."id" FROM "matching_campaign"
    WHERE "matching_campaign"."cause_id" = "cause"."id"
        AND "matching_campaign"."starts_at" <= $2 AND "matching_campaign"."ends_at" > $2
    ORDER BY "matching_campaign"."id" LIMIT 1
) AS "running_campaign_id"
FROM "cause" WHERE "cause"."id" = $1
"""

# Added to a cause's totals by one donation, in the transaction's last round trip (see the
# module's docstring): $1 cause, $2 member points, $3 matched points, $4 member, $5 the donation.
_ADD_DONATION_TO_TOTALS: Final = f"""
UPDATE "cause" SET
    "raised_member_points" = "raised_member_points" + $2,
    "raised_matched_points" = "raised_matched_points" + $3,
    "donor_count" = "donor_count" + CASE WHEN EXISTS (
        SELECT 1 FROM "donation" WHERE "donation"."member_id" = $4
            AND "donation"."cause_id" = $1 AND "donation"."reversed_at" IS NULL
            AND "donation"."id" <> $5
    ) THEN 0 ELSE 1 END,
    "status" = CASE WHEN "status" = '{CauseStatus.ACTIVE.value}' AND "goal_points" IS NOT NULL
        AND "raised_member_points" + "raised_matched_points" + $2 + $3 >= "goal_points"
        THEN '{CauseStatus.GOAL_REACHED.value}' ELSE "status" END
WHERE "id" = $1
"""

_SAVE_MATCHED_TOTAL: Final = 'UPDATE "matching_campaign" SET "matched_total" = $1 WHERE "id" = $2'


def stops_at_goal(cause: Cause) -> bool:
    """Whether the cause refuses donations once its goal is reached."""
    return cause.goal_points is not None and not cause.accepts_after_goal


async def _cause_for_donation(
    conn: BaseDBAsyncClient, cause_id: int, points: int, now: datetime
) -> tuple[Cause, int | None]:
    """The cause, locked for a donation of `points` that it takes (see the module's docstring),
    and the id of the campaign that matches donations to it now, if any: one round trip, two
    for a cause that stops at its goal.

    Raises NotFound(CAUSE_NOT_FOUND), InvalidInput (see `check_donation_amount`), Refused
    (CAUSE_CLOSED, CAUSE_NOT_OPEN, CAUSE_GOAL_REACHED).
    """
    statement = _CAUSE_FOR_DONATION
    if sql.is_postgres(conn):
        statement += " FOR KEY SHARE"
    rows = await sql.fetch(conn, statement, cause_id, now) if 0 < cause_id <= _MAX_INT_ID else []
    if not rows:
        raise NotFound("No such cause", code=ErrorCode.CAUSE_NOT_FOUND, field="causeId")
    cause = Cause._init_from_db(**rows[0])
    check_donation_amount(cause, points)
    check_cause_open(cause, now)
    if stops_at_goal(cause):
        # Its status may change under a key-share lock (other donations add to the totals):
        # lock it so that donations are checked against the goal one after the other.
        query = Cause.filter(id=cause_id).select_for_update(no_key=True)
        cause = await query.using_db(conn).get()
        check_cause_open(cause, now)
    running: int | None = rows[0]["running_campaign_id"]
    return cause, running


async def _matching(
    conn: BaseDBAsyncClient, campaign_id: int | None, member_id: int, points: int
) -> tuple[MatchingCampaign | None, int, bool]:
    """The running campaign (locked until commit), the points it matches, and whether a cap
    cut the match. Campaigns are not created while the cause is locked for the donation."""
    if campaign_id is None:
        return None, 0, False
    campaign = (
        await MatchingCampaign.filter(id=campaign_id).select_for_update().using_db(conn).get()
    )
    wanted = int((Decimal(points) * Decimal(campaign.ratio)).to_integral_value(ROUND_FLOOR))
    room = campaign.total_cap - campaign.matched_total
    if campaign.per_member_cap is not None:
        already = await (
            Donation.filter(member_id=member_id, campaign_id=campaign.id, reversed_at__isnull=True)
            .using_db(conn)
            .values_list("matched_points", flat=True)
        )
        room = min(room, campaign.per_member_cap - sum(int(str(p)) for p in already))
    matched = max(0, min(wanted, room))
    return campaign, matched, matched < wanted


async def donate_in(
    conn: BaseDBAsyncClient,
    *,
    actor: Actor,
    member_consent: MemberConsent,
    cause_id: int,
    points: int,
    channel: Channel,
    now: datetime,
) -> tuple[Donation, int]:
    """The donation, inside the caller's transaction; return (receipt, the donor's balance
    after it). `member_consent` is the donor's proof (`gamification.ledger.consent`).

    Raises NotFound(CAUSE_NOT_FOUND), InvalidInput (INVALID_AMOUNT, BELOW_MINIMUM_DONATION,
    INVALID_INCREMENT), Refused (CAUSE_CLOSED, CAUSE_NOT_OPEN, CAUSE_GOAL_REACHED,
    MEMBER_PROOF_REQUIRED), InsufficientPoints.
    """
    check_points_range(points)
    member_id = member_consent.member_id
    account = await ledger.lock_member_account(member_id, conn, now)
    cause, running_campaign = await _cause_for_donation(conn, cause_id, points, now)
    origin = ledger.Origin.of(actor, channel)
    entry = await ledger.debit(
        account,
        points,
        kind=EntryKind.DONATE,
        origin=origin,
        reference=ledger.Reference("cause", str(cause_id)),
        consent=member_consent,
        counter_account_id=await cause_account_id(cause_id, conn),
    )
    campaign, matched, capped = await _matching(conn, running_campaign, member_id, points)
    match_entry = None
    if campaign is not None and matched > 0:
        # Only a match writes to the cause's own chain: only then is its row needed.
        target = await cause_account(cause_id, conn, lock=True)
        target.now = now
        match_entry = await ledger.append_entry(
            target,
            kind=EntryKind.MATCH,
            points=matched,
            origin=ledger.Origin.system(),
            reference=ledger.Reference("campaign", str(campaign.id), f"matches entry {entry.id}"),
        )
        await ledger.save_account(target)
        campaign.matched_total += matched
        await sql.write(
            conn,
            ("matching_campaign", campaign.id),
            _SAVE_MATCHED_TOTAL,
            campaign.matched_total,
            campaign.id,
        )
    donation = await Donation.create(
        member_id=member_id,
        cause_id=cause_id,
        points=points,
        matched_points=matched,
        match_capped=capped,
        campaign_id=campaign.id if campaign else None,
        impact_units=impact_of(points + matched, cause.points_per_unit),
        channel=channel,
        entry_id=entry.id,
        entry_hash=entry.hash,
        match_entry_id=match_entry.id if match_entry else None,
        created_at=now,
        using_db=conn,
    )
    await sql.write(
        conn,
        ("cause", cause_id),
        _ADD_DONATION_TO_TOTALS,
        cause_id,
        points,
        matched,
        member_id,
        donation.id,
    )
    await domain_events.points_donated(account, donation.id, member_id, points, channel)
    await ledger.save_account(account)
    return donation, account.row.balance


async def donate_points(
    *,
    actor: Actor,
    member_consent: MemberConsent,
    cause_id: int,
    points: int,
    channel: Channel,
    idempotency_key: str,
) -> DonationResult:
    """Donate points to a cause, matched by the brand where a campaign runs, in one transaction
    guarded by the idempotency key.

    Raises what `donate_in` raises, and Conflict(IDEMPOTENCY_KEY_REUSED).
    """
    # The cause's existence is checked when its row is locked (no round trip before).
    # The cause's own rules (open, minimum, step) are checked under its lock, inside the
    # idempotent transaction: checked before it, a retry of a donation that reached the goal
    # (or of one made before an admin changed the rules) would be refused instead of replayed.
    check_points_range(points)
    member_id = member_consent.member_id

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        donation, balance = await donate_in(
            conn,
            actor=actor,
            member_consent=member_consent,
            cause_id=cause_id,
            points=points,
            channel=channel,
            now=datetime.now(UTC),
        )
        written.append(donation)
        return {"donation_id": donation.id, "balance": balance}

    written: list[Donation] = []
    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="donatePoints",
        request={"member": member_id, "cause": cause_id, "points": points},
        work=work,
    )
    return await donation_result(answer, replayed, written)


async def donation_result(
    answer: dict[str, Any], replayed: bool, written: list[Donation]
) -> DonationResult:
    """The result of an idempotent donation: the receipt its transaction wrote, or for a
    replay the stored one (read again: the first request committed it)."""
    balance = answer.get("balance")
    if not replayed:
        return DonationResult(written[-1], replayed, balance)
    return DonationResult(await Donation.get(id=answer["donation_id"]), replayed, balance)


async def reverse_donation(
    *, actor: Actor, donation_id: int, reason: str, idempotency_key: str
) -> DonationResult:
    """An admin's reversal: points back to the member (a new lot, expiring at the latest expiry
    of the lots they came from but not sooner than RETURN_GRACE), the match back to the
    program, the totals and cap room restored (a goal it alone reached is open again).
    Exactly once.

    Raises NotFound, InvalidInput(REASON_REQUIRED), Refused(ALREADY_REVERSED).
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("A reason is required", code=ErrorCode.REASON_REQUIRED, field="reason")
    found = await Donation.get_or_none(id=donation_id)
    if found is None:
        raise NotFound("No such donation", field="donationId")
    member_id: int = found.member_id  # type: ignore[attr-defined]
    cause_id: int = found.cause_id  # type: ignore[attr-defined]

    async def work(conn: BaseDBAsyncClient) -> dict[str, Any]:
        now = datetime.now(UTC)
        account = await ledger.lock_member_account(member_id, conn, now)
        # FOR UPDATE: no donation to the cause is under way meanwhile (they hold it FOR KEY
        # SHARE), so the totals read here are final until this transaction ends.
        cause = await Cause.filter(id=cause_id).select_for_update().using_db(conn).get()
        donation = await Donation.filter(id=donation_id).select_for_update().using_db(conn).get()
        if donation.reversed_at is not None:
            raise Refused(
                "This donation was already reversed",
                code=ErrorCode.ALREADY_REVERSED,
                field="donationId",
            )
        campaign = None
        if donation.matched_points and donation.campaign_id is not None:
            campaign = (
                await MatchingCampaign.filter(id=donation.campaign_id)
                .select_for_update()
                .using_db(conn)
                .get()
            )
        target = await cause_account(cause_id, conn, lock=donation.matched_points > 0)
        spent = await LedgerEntry.filter(id=donation.entry_id).using_db(conn).get()
        expiries = (
            await PointsLot.filter(id__in=[lot for lot, _ in spent.lots])
            .using_db(conn)
            .values_list("expires_at", flat=True)
        )
        latest: datetime = now
        for expiry in expiries:
            if isinstance(expiry, datetime) and expiry > latest:
                latest = expiry
        origin = ledger.Origin.of(actor, Channel.SYSTEM)
        reference = ledger.Reference("donation", str(donation.id), reason[:500])
        await ledger.restore(
            account,
            donation.points,
            kind=EntryKind.REVERSAL,
            origin=origin,
            reference=reference,
            expires_at=max(latest, now + RETURN_GRACE),
            counter_account_id=target.row.id,
        )
        if donation.matched_points:
            target.now = now
            await ledger.append_entry(
                target,
                kind=EntryKind.REVERSAL,
                points=-donation.matched_points,
                origin=origin,
                reference=reference,
            )
            await ledger.save_account(target)
            if campaign is not None:
                campaign.matched_total -= donation.matched_points
                await campaign.save(using_db=conn, update_fields=["matched_total"])
        donation.reversed_at = now
        donation.reversal_reason = reason[:500]
        await donation.save(using_db=conn, update_fields=["reversed_at", "reversal_reason"])
        still_donor = (
            await Donation.filter(member_id=member_id, cause_id=cause_id, reversed_at__isnull=True)
            .using_db(conn)
            .exists()
        )
        cause.raised_member_points -= donation.points
        cause.raised_matched_points -= donation.matched_points
        cause.donor_count -= 0 if still_donor else 1
        # A goal reached only thanks to the reversed donation is not reached any more.
        cause.status = status_for_totals(cause)
        await cause.save(
            using_db=conn,
            update_fields=[
                "raised_member_points",
                "raised_matched_points",
                "donor_count",
                "status",
            ],
        )
        await ledger.save_account(account)
        return {"donation_id": donation.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="reverseDonation",
        request={"donation": donation_id},
        work=work,
    )
    return DonationResult(await Donation.get(id=answer["donation_id"]), replayed)


# --- The admins' side: causes and their matching campaigns ---------------------------------

MAX_NAME_LENGTH: Final = 120
MAX_DESCRIPTION_LENGTH: Final = 2000
MAX_PARTNER_LENGTH: Final = 120
MAX_IMPACT_UNIT_LENGTH: Final = 40
MAX_POINTS_PER_UNIT: Final = 1_000_000
# Goals and caps are shown as GraphQL `Int`s (32-bit, like every points figure of the API).
MAX_GOAL_POINTS: Final = 2**31 - 1
MAX_CAP: Final = 2**31 - 1
MAX_RATIO: Final = Decimal(10)
RATIO_PLACES: Final = 4  # the column's scale
# Causes have 32-bit ids, and PostgreSQL raises (rather than finding nothing) on a larger one.
_MAX_INT_ID: Final = 2**31 - 1


class _Unchanged(enum.Enum):
    UNCHANGED = "UNCHANGED"


UNCHANGED: Final = _Unchanged.UNCHANGED
Unchanged = Literal[_Unchanged.UNCHANGED]


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


@dataclass(frozen=True, slots=True)
class CampaignInput:
    """The brand matches `ratio` points per donated point (0 < ratio <= 10), at most
    `total_cap` points in all and `per_member_cap` per member (None: no per-member cap)."""

    cause_id: int
    ratio: Decimal
    total_cap: int
    ends_at: datetime
    per_member_cap: int | None = None
    starts_at: datetime | None = None  # None: now


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: str, *, field: str, label: str, maximum: int, required: bool) -> str:
    text = value.strip()
    if len(text) > maximum or (required and not text):
        least = 1 if required else 0
        raise InvalidInput(f"{label} must have {least} to {maximum} characters", field=field)
    return text


def _whole(value: int, *, field: str, label: str, least: int, most: int) -> int:
    if not _is_int(value) or not least <= value <= most:
        raise InvalidInput(f"{label} must be a whole number from {least} to {most:,}", field=field)
    return value


def _aware(moment: datetime | None, *, field: str) -> datetime | None:
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
    starts_at = _aware(data.starts_at, field="startsAt") or now
    ends_at = _aware(data.ends_at, field="endsAt")
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
    return CauseInput(
        name=cause.name,
        impact_unit=cause.impact_unit,
        points_per_unit=cause.points_per_unit,
        description=cause.description,
        image_url=cause.image_url,
        partner=cause.partner,
        goal_points=cause.goal_points,
        starts_at=cause.starts_at,
        ends_at=cause.ends_at,
        accepts_after_goal=cause.accepts_after_goal,
        min_donation=cause.min_donation,
        donation_step=cause.donation_step,
    )


async def _locked_cause(cause_id: int, conn: BaseDBAsyncClient) -> Cause:
    """Raises NotFound(CAUSE_NOT_FOUND)."""
    cause = (
        await Cause.filter(id=cause_id).select_for_update().using_db(conn).first()
        if 0 < cause_id <= _MAX_INT_ID
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
    given = {
        f.name: getattr(changes, f.name)
        for f in fields(changes)
        if getattr(changes, f.name) is not UNCHANGED
    }
    if "goal_units" in given:
        if "goal_points" in given:
            raise InvalidInput("Give the goal in points or in units, not both", field="goalUnits")
        given["goal_points"] = None  # replaced by the units
    async with in_transaction() as conn:
        # Locked: donations change the totals and the status under the same lock.
        cause = await _locked_cause(cause_id, conn)
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
        cause = await _locked_cause(cause_id, conn)
        if cause.status is not CauseStatus.CLOSED:
            cause.status = CauseStatus.CLOSED
            await cause.save(using_db=conn, update_fields=["status"])
    return cause


def check_campaign(data: CampaignInput, now: datetime) -> CampaignInput:
    """The input, normalised (times in UTC, `starts_at` set).

    Raises InvalidInput: INVALID_RATIO unless 0 < ratio <= 10 with at most 4 decimal places,
    INVALID_CAP for a cap below 0 (or beyond what the API can show), INVALID_INPUT for naive
    times, endsAt not after startsAt or not in the future.
    """
    ratio = data.ratio
    if (
        not isinstance(ratio, Decimal)
        or not ratio.is_finite()
        or not Decimal(0) < ratio <= MAX_RATIO
        or -int(ratio.as_tuple().exponent) > RATIO_PLACES
    ):
        raise InvalidInput(
            f"ratio must be above 0 and at most {MAX_RATIO}, with at most {RATIO_PLACES} decimals",
            code=ErrorCode.INVALID_RATIO,
            field="ratio",
        )
    for field, cap in (("totalCap", data.total_cap), ("perMemberCap", data.per_member_cap)):
        if cap is not None and (not _is_int(cap) or not 0 <= cap <= MAX_CAP):
            raise InvalidInput(
                f"{field} must be a whole number of points from 0 to {MAX_CAP:,}",
                code=ErrorCode.INVALID_CAP,
                field=field,
            )
    starts_at = _aware(data.starts_at, field="startsAt") or now
    ends_at = _aware(data.ends_at, field="endsAt")
    if ends_at is None or ends_at <= starts_at:
        raise InvalidInput("endsAt must be after startsAt", field="endsAt")
    if ends_at <= now:
        raise InvalidInput("endsAt must be in the future", field="endsAt")
    return replace(data, ratio=ratio, starts_at=starts_at, ends_at=ends_at)


async def create_matching_campaign(
    data: CampaignInput, *, now: datetime | None = None
) -> MatchingCampaign:
    """Have the brand match donations to a cause for a while.

    A cause runs one campaign at a time (a donation is matched by one campaign only), so a
    campaign may not overlap another of the same cause.

    Raises InvalidInput (see `check_campaign`; INVALID_INPUT on startsAt for an overlap),
    NotFound(CAUSE_NOT_FOUND), Refused(CAUSE_CLOSED).
    """
    now = now or datetime.now(UTC)
    checked = check_campaign(data, now)
    async with in_transaction() as conn:
        # The cause's lock serialises campaign creation (and closing) for the cause.
        cause = await _locked_cause(checked.cause_id, conn)
        if cause.status is CauseStatus.CLOSED or (cause.ends_at and cause.ends_at <= now):
            raise Refused("This cause is closed", code=ErrorCode.CAUSE_CLOSED, field="causeId")
        overlapping = (
            await MatchingCampaign.filter(
                cause_id=cause.id, starts_at__lt=checked.ends_at, ends_at__gt=checked.starts_at
            )
            .using_db(conn)
            .order_by("id")
            .first()
        )
        if overlapping is not None:
            raise InvalidInput(
                "This cause has another matching campaign in that period "
                f"({overlapping.starts_at:%Y-%m-%d %H:%M} to {overlapping.ends_at:%Y-%m-%d %H:%M}"
                " UTC)",
                field="startsAt",
            )
        return await MatchingCampaign.create(
            cause_id=cause.id,
            ratio=checked.ratio,
            total_cap=checked.total_cap,
            per_member_cap=checked.per_member_cap,
            starts_at=checked.starts_at,
            ends_at=checked.ends_at,
            using_db=conn,
        )


# --- What members and the public see ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CauseProgress:
    member_points: int
    matched_points: int
    donors: int
    impact_delivered: Decimal  # (member + matched points) / points per unit
    percent_of_goal: Decimal | None  # None without a goal; above 100 once it is passed


@dataclass(frozen=True, slots=True)
class ImpactTotal:
    unit: str
    units: Decimal


def effective_status(cause: Cause, now: datetime) -> CauseStatus:
    """The status as members see it: a cause past its end is closed, whatever is stored."""
    if cause.ends_at is not None and cause.ends_at <= now:
        return CauseStatus.CLOSED
    return cause.status


def accepts_donations(cause: Cause, now: datetime) -> bool:
    try:
        check_cause_open(cause, now)
    except Refused:
        return False
    return True


def progress_of(cause: Cause) -> CauseProgress:
    raised = cause.raised_member_points + cause.raised_matched_points
    percent = None
    if cause.goal_points:
        percent = (Decimal(raised) * 100 / Decimal(cause.goal_points)).quantize(
            Decimal("0.01"), ROUND_FLOOR
        )
    return CauseProgress(
        member_points=cause.raised_member_points,
        matched_points=cause.raised_matched_points,
        donors=cause.donor_count,
        impact_delivered=impact_of(raised, cause.points_per_unit),
        percent_of_goal=percent,
    )


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
    return await Cause.get_or_none(id=cause_id) if 0 < cause_id <= _MAX_INT_ID else None


async def active_campaigns(
    cause_ids: Sequence[int], now: datetime | None = None
) -> dict[int, MatchingCampaign]:
    """The campaign that would match a donation now, for each of these causes that has one."""
    if not cause_ids:
        return {}
    now = now or datetime.now(UTC)
    running = await MatchingCampaign.filter(
        cause_id__in=list(cause_ids), starts_at__lte=now, ends_at__gt=now
    ).order_by("-id")
    # Newest first, so the oldest (the one `_matching` picks) is written last and wins.
    return {campaign.cause_id: campaign for campaign in running}  # type: ignore[attr-defined]


async def member_donations(member_id: int, *, first: int, before_id: int | None) -> Page[Donation]:
    """The member's donation receipts, newest first, each with its cause loaded."""
    query = Donation.filter(member_id=member_id).prefetch_related("cause")
    return await keyset_page(query, first=first, after_id=before_id, newest_first=True)


async def visible_donation(viewer: Actor, donation_id: int) -> Donation | None:
    """The receipt, its cause loaded, for its member and admins; None for anyone else (and for
    a receipt that does not exist)."""
    donation = await Donation.filter(id=donation_id).prefetch_related("cause").first()
    if donation is None:
        return None
    member_id: int = donation.member_id  # type: ignore[attr-defined]
    if viewer.is_admin or (viewer.is_person and viewer.id == member_id):
        return donation
    return None


async def lifetime_impact(member_id: int) -> list[ImpactTotal]:
    """What the member's own points achieved, per impact unit, over donations not reversed.

    Matched points are the brand's gift and count toward the cause's impact, not the
    member's. Units are computed per cause (Σ points / points per unit, rounded down to 4
    decimals) and summed over causes that share a unit name. Sorted by unit.
    """
    rows = (
        await Donation.filter(member_id=member_id, reversed_at__isnull=True)
        .group_by("cause_id")
        .annotate(total=Sum("points"))
        .values("cause_id", "total")
    )
    if not rows:
        return []
    by_id = {c.id: c for c in await Cause.filter(id__in=[r["cause_id"] for r in rows])}
    units: dict[str, Decimal] = {}
    for row in rows:
        cause = by_id[row["cause_id"]]
        given = impact_of(int(row["total"] or 0), cause.points_per_unit)
        units[cause.impact_unit] = units.get(cause.impact_unit, Decimal(0)) + given
    return [ImpactTotal(unit, total) for unit, total in sorted(units.items())]
