"""Matching campaigns: for a while, the brand matches donations to a cause (`ratio` points per
donated point, within a total cap and a per-member cap), from the program's account to the
cause's, so the program's books still balance.

A cause runs one campaign at a time, since a donation is matched by one campaign only. The
running campaign is locked `FOR UPDATE` from reading its matched total until commit (lock 3 of
the order in `gamification.causes.donations`): this is what keeps the total cap; the per-member
cap is read under the member's account lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Final

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from gamification import deferred_writes
from gamification.causes.catalog import aware_utc, cause_account, is_int, locked_cause
from gamification.causes.models import CauseStatus, Donation, MatchingCampaign
from gamification.errors import ErrorCode, InvalidInput, Refused
from gamification.ledger.accounts import save_account
from gamification.ledger.entries import Origin, Reference, append_entry
from gamification.ledger.models import EntryKind, LedgerEntry
from gamification.limits import MAX_INT32

# Caps are shown as GraphQL `Int`s (32-bit, like every points figure of the API).
MAX_CAP: Final = MAX_INT32
MAX_RATIO: Final = Decimal(10)
RATIO_PLACES: Final = 4  # the column's scale

_SAVE_MATCHED_TOTAL: Final = 'UPDATE "matching_campaign" SET "matched_total" = $1 WHERE "id" = $2'


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
        if cap is not None and (not is_int(cap) or not 0 <= cap <= MAX_CAP):
            raise InvalidInput(
                f"{field} must be a whole number of points from 0 to {MAX_CAP:,}",
                code=ErrorCode.INVALID_CAP,
                field=field,
            )
    starts_at = aware_utc(data.starts_at, field="startsAt") or now
    ends_at = aware_utc(data.ends_at, field="endsAt")
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
        cause = await locked_cause(checked.cause_id, conn)
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
    # Newest first, so the oldest (the one `match_for` picks) is written last and wins.
    return {campaign.cause_id: campaign for campaign in running}  # type: ignore[attr-defined]


async def match_for(
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


async def write_match(
    conn: BaseDBAsyncClient,
    campaign: MatchingCampaign,
    matched: int,
    *,
    cause_id: int,
    donated_entry: LedgerEntry,
    now: datetime,
) -> LedgerEntry:
    """Credit the cause with the campaign's match of the donation written as `donated_entry`,
    and add it to the campaign's matched total (held back to the transaction's last round trip,
    see `deferred_writes`). The campaign is the one `match_for` locked; `matched` is above 0."""
    # Only a match writes to the cause's own chain: only then is its row needed.
    target = await cause_account(cause_id, conn, lock=True)
    target.now = now
    match_entry = await append_entry(
        target,
        kind=EntryKind.MATCH,
        points=matched,
        origin=Origin.system(),
        reference=Reference("campaign", str(campaign.id), f"matches entry {donated_entry.id}"),
    )
    await save_account(target)
    campaign.matched_total += matched
    await deferred_writes.hold_back_write(
        conn,
        ("matching_campaign", campaign.id),
        _SAVE_MATCHED_TOTAL,
        campaign.matched_total,
        campaign.id,
    )
    return match_entry
