"""Point donations to eco causes, with brand matching, and their reversal.

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
(see `deferred_writes`): donations to one cause queue on its row only for that statement and the
commit. A member counts as a new donor when they have no other donation to the cause not
reversed, which is read in that same statement, under lock 1.

Members see their own receipts; admins see any. The causes themselves (created, changed, closed
by admins, and read by everyone) are in `gamification.causes.catalog`; matching campaigns in
`gamification.causes.matching`; impact figures in `gamification.causes.impact`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient

from gamification import deferred_writes, sql
from gamification.actors import Actor
from gamification.causes.catalog import (
    MAX_DONATION,
    MAX_INT_ID,
    cause_account,
    cause_account_id,
    status_for_totals,
)
from gamification.causes.impact import impact_of
from gamification.causes.matching import match_for, write_match
from gamification.causes.models import Cause, CauseStatus, Donation, MatchingCampaign
from gamification.errors import ErrorCode, InvalidInput, NotFound, Refused
from gamification.events import facts as domain_events
from gamification.idempotency import run_once
from gamification.ledger import movements
from gamification.ledger.accounts import lock_member_account, save_account
from gamification.ledger.consent import MemberConsent
from gamification.ledger.entries import Origin, Reference, append_entry
from gamification.ledger.models import EntryKind, LedgerEntry, PointsLot
from gamification.pagination import Page, keyset_page
from gamification.stores.models import Channel

RETURN_GRACE: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class DonationResult:
    donation: Donation
    replayed: bool
    balance: int | None = None  # the donor's balance right after it (None: not recorded)


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


def accepts_donations(cause: Cause, now: datetime) -> bool:
    try:
        check_cause_open(cause, now)
    except Refused:
        return False
    return True


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
    rows = await sql.fetch(conn, statement, cause_id, now) if 0 < cause_id <= MAX_INT_ID else []
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
    account = await lock_member_account(member_id, conn, now)
    cause, running_campaign = await _cause_for_donation(conn, cause_id, points, now)
    origin = Origin.of(actor, channel)
    entry = await movements.debit(
        account,
        points,
        kind=EntryKind.DONATE,
        origin=origin,
        reference=Reference("cause", str(cause_id)),
        consent=member_consent,
        counter_account_id=await cause_account_id(cause_id, conn),
    )
    campaign, matched, capped = await match_for(conn, running_campaign, member_id, points)
    match_entry = None
    if campaign is not None and matched > 0:
        match_entry = await write_match(
            conn, campaign, matched, cause_id=cause_id, donated_entry=entry, now=now
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
    await deferred_writes.hold_back_write(
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
    await save_account(account)
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
        account = await lock_member_account(member_id, conn, now)
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
        origin = Origin.of(actor, Channel.SYSTEM)
        reference = Reference("donation", str(donation.id), reason[:500])
        await movements.restore(
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
            await append_entry(
                target,
                kind=EntryKind.REVERSAL,
                points=-donation.matched_points,
                origin=origin,
                reference=reference,
            )
            await save_account(target)
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
        await save_account(account)
        return {"donation_id": donation.id}

    answer, replayed = await run_once(
        actor=actor,
        key=idempotency_key,
        operation="reverseDonation",
        request={"donation": donation_id},
        work=work,
    )
    return DonationResult(await Donation.get(id=answer["donation_id"]), replayed)


# --- The receipts members and admins read -------------------------------------------------------


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
