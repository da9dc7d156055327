from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tortoise import connections

from gamification.actors import Actor, ActorKind
from gamification.causes import donations as causes_donations
from gamification.causes.models import Cause, MatchingCampaign
from gamification.errors import LoyaltyError
from gamification.ledger import points
from gamification.members.models import Member
from gamification.stores.models import Channel
from tests.factories import consent_of, create_member
from tests.gamification.ledger.helpers import earn
from tests.invariants import assert_books_balance

NOW = datetime.now(UTC)
ADMIN = Actor(kind=ActorKind.ADMIN, id=99_999)


async def _cause() -> Cause:
    return await Cause.create(
        name="Plant trees",
        impact_unit="tree",
        points_per_unit=500,
        starts_at=NOW - timedelta(days=1),
    )


async def _member_with(balance: int) -> Member:
    member = await create_member()
    await earn(member, balance, expires_at=NOW + timedelta(days=90), now=NOW)
    return member


async def _campaign(cause: Cause, *, ratio: str, total_cap: int) -> MatchingCampaign:
    """A campaign running now, with no per-member cap."""
    return await MatchingCampaign.create(
        cause=cause,
        ratio=Decimal(ratio),
        total_cap=total_cap,
        per_member_cap=None,
        starts_at=NOW - timedelta(days=1),
        ends_at=NOW + timedelta(days=1),
    )


async def _donate(
    member: Member, cause: Cause, amount: int, *, key: str
) -> causes_donations.DonationResult:
    """The member donates in the app, with their own consent."""
    return await causes_donations.donate_points(
        actor=Actor(kind=ActorKind.MEMBER, id=member.id),
        member_consent=consent_of(member.id),
        cause_id=cause.id,
        points=amount,
        channel=Channel.APP,
        idempotency_key=key,
    )


async def test_a_matched_donation_moves_points_and_writes_a_receipt() -> None:
    # given
    member = await _member_with(2000)
    cause = await _cause()
    await _campaign(cause, ratio="1", total_cap=700)

    # when
    result = await _donate(member, cause, 1000, key="d1")

    # then: the cap cut the match and the receipt says so
    receipt = result.donation
    assert (receipt.points, receipt.matched_points, receipt.match_capped) == (1000, 700, True)
    assert receipt.impact_units == Decimal("3.4")
    assert len(receipt.entry_hash) == 64
    assert (await points.summary(member.id)).balance == 1000
    cause = await Cause.get(id=cause.id)
    assert (cause.raised_member_points, cause.raised_matched_points, cause.donor_count) == (
        1000,
        700,
        1,
    )
    await assert_books_balance()


async def test_reversal_restores_points_totals_and_cap_exactly_once() -> None:
    member = await _member_with(1000)
    cause = await _cause()
    campaign = await _campaign(cause, ratio="2", total_cap=10_000)
    donated = await _donate(member, cause, 500, key="d1")

    await causes_donations.reverse_donation(
        actor=ADMIN, donation_id=donated.donation.id, reason="fraud", idempotency_key="r1"
    )
    with pytest.raises(LoyaltyError) as again:
        await causes_donations.reverse_donation(
            actor=ADMIN, donation_id=donated.donation.id, reason="fraud", idempotency_key="r2"
        )

    assert again.value.code == "ALREADY_REVERSED"
    assert (await points.summary(member.id)).balance == 1000
    assert (await MatchingCampaign.get(id=campaign.id)).matched_total == 0
    cause = await Cause.get(id=cause.id)
    assert (cause.raised_member_points, cause.raised_matched_points, cause.donor_count) == (0, 0, 0)
    await assert_books_balance()


async def test_a_donation_adds_to_the_causes_totals_only_in_its_last_statement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given: a cause without goal or campaign, and a member who gave to it once already
    member = await _member_with(1000)
    cause = await _cause()
    await _donate(member, cause, 100, key="first")

    # when
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        await _donate(member, cause, 200, key="second")

    # then: the cause is read (not locked for update) and its totals change once, held back
    # to the statement that claims the idempotency key (on SQLite, sent just before it)
    statements = [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"]
    reads = [s for s in statements if re.search(r'FROM "cause" WHERE', s)]
    assert len(reads) == 1, statements
    assert "FOR UPDATE" not in reads[0]
    writes = [i for i, s in enumerate(statements) if 'UPDATE "cause"' in s]
    claim = next(i for i, s in enumerate(statements) if 'INSERT INTO "idempotency_key"' in s)
    assert len(writes) == 1, statements
    if connections.get("default").capabilities.dialect == "postgres":
        assert "FOR KEY SHARE" in reads[0]
        assert writes[0] == claim
    else:
        assert writes[0] < claim
        assert all(s.lstrip().startswith(("UPDATE", "INSERT")) for s in statements[writes[0] :])

    # and: the totals count the member once
    stored = await Cause.get(id=cause.id)
    assert (stored.raised_member_points, stored.donor_count) == (300, 1)


async def test_a_donor_whose_gift_was_reversed_counts_again_when_giving_again() -> None:
    # given: a member's only gift to a cause, reversed
    member = await _member_with(1000)
    cause = await _cause()
    first = await _donate(member, cause, 100, key="g1")
    await causes_donations.reverse_donation(
        actor=ADMIN, donation_id=first.donation.id, reason="mistake", idempotency_key="r1"
    )
    assert (await Cause.get(id=cause.id)).donor_count == 0

    # when: they give again, twice
    for key in ("g2", "g3"):
        await _donate(member, cause, 100, key=key)

    # then: a donor again, once
    stored = await Cause.get(id=cause.id)
    assert (stored.raised_member_points, stored.donor_count) == (200, 1)
    await assert_books_balance()
