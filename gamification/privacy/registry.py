"""Every table that holds rows about a member, with how each is exported and erased.

One entry per model: where its rows name the member (`member_path`, a Tortoise filter that
takes the member's id), its section of the export, and what erasure does to its rows:

- `KEEP`: the rows stay, pointing at the anonymised member: they hold ids, amounts and times
  only, and the program's books, totals and KPIs are made of them (entries, lots, purchases,
  donations, challenge progress, tier history, ...);
- `BLANK`: the rows stay, with the named free-text columns emptied (a reason, a reference a
  till typed), which may name a person;
- `DELETE`: the rows go (follows, unused codes, retry keys: nothing the books need);
- `ANONYMISE`: the member row itself (gamification.privacy.erasure says with what).

`tests/gamification/privacy/test_registry.py` walks Tortoise's model registry and fails for any
model that points at a member (a foreign key to `Member`, to a member's `LedgerAccount` or to
another registered table, or a `member_id` column) and is missing here: a table added later
must say how it is exported and erased before the tests pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from tortoise.models import Model

from gamification.badges.models import MemberBadge
from gamification.causes.models import Donation
from gamification.challenges.models import (
    ChallengeCompletion,
    ChallengeContribution,
    ChallengeParticipant,
    ChallengeProgress,
)
from gamification.earning.models import EcoAction, Purchase
from gamification.events.models import DomainEvent
from gamification.ledger.models import IdempotencyKey, LedgerAccount, LedgerEntry, PointsLot
from gamification.members.models import Follow, Member
from gamification.notifications.models import Notification, NotificationPreference
from gamification.outbox.models import OutboxEvent
from gamification.privacy.models import ConsentRecord, ErasureRecord
from gamification.rewards.models import PointsHold, Redemption, RedemptionToken
from gamification.tiers.models import MemberTier, QualifyingPointsBucket, TierChange
from gamification.webhooks.models import WebhookDelivery


class Erasure(enum.StrEnum):
    KEEP = "KEEP"
    BLANK = "BLANK"
    DELETE = "DELETE"
    ANONYMISE = "ANONYMISE"


@dataclass(frozen=True, slots=True)
class MemberTable:
    model: type[Model]
    section: str  # the export document's key for its rows
    member_paths: tuple[str, ...]  # filters, each given the member's id; rows match any
    erasure: Erasure
    blank: tuple[str, ...] = ()  # BLANK: the columns emptied
    # BLANK: keys emptied inside JSON columns, as (column, key)
    blank_json: tuple[tuple[str, str], ...] = ()
    # Columns never exported (secrets, and salts that would make digests guessable).
    withheld: tuple[str, ...] = ()
    note: str = ""


# The member's idempotency keys are found by their scope (`member:<id>`), not a foreign key.
IDEMPOTENCY_SCOPE: Final = "scope"

TABLES: Final[tuple[MemberTable, ...]] = (
    MemberTable(
        Member,
        "profile",
        ("id",),
        Erasure.ANONYMISE,
        withheld=("password_hash",),
        note="email, name, birthday, card number, external identity: replaced or removed",
    ),
    MemberTable(
        ConsentRecord, "consents", ("member_id",), Erasure.KEEP, note="what was agreed, when"
    ),
    MemberTable(Follow, "follows", ("follower_id", "followee_id"), Erasure.DELETE),
    MemberTable(
        Notification,
        "notifications",
        ("member_id",),
        Erasure.DELETE,
        note="notices sent to the member: nothing the books need",
    ),
    MemberTable(NotificationPreference, "notificationPreferences", ("member_id",), Erasure.DELETE),
    MemberTable(LedgerAccount, "ledgerAccounts", ("member_id",), Erasure.KEEP),
    MemberTable(
        LedgerEntry,
        "ledgerEntries",
        ("account__member_id",),
        Erasure.BLANK,
        blank=("reason", "reason_salt"),
        withheld=("reason_salt",),
        note="the hash covers a digest of the reason, so the chain still verifies",
    ),
    MemberTable(PointsLot, "pointsLots", ("account__member_id",), Erasure.KEEP),
    MemberTable(
        IdempotencyKey,
        "idempotencyKeys",
        (IDEMPOTENCY_SCOPE,),
        Erasure.DELETE,
        note="the member's own retry keys (scope member:<id>)",
    ),
    MemberTable(Purchase, "purchases", ("member_id",), Erasure.KEEP),
    MemberTable(EcoAction, "ecoActions", ("member_id",), Erasure.KEEP),
    MemberTable(Redemption, "redemptions", ("member_id",), Erasure.KEEP),
    MemberTable(RedemptionToken, "redemptionTokens", ("member_id",), Erasure.DELETE),
    MemberTable(
        PointsHold,
        "holds",
        ("member_id",),
        Erasure.BLANK,
        blank=("reference",),
        note="open holds are released first",
    ),
    MemberTable(Donation, "donations", ("member_id",), Erasure.BLANK, blank=("reversal_reason",)),
    MemberTable(MemberBadge, "badges", ("member_id",), Erasure.KEEP),
    MemberTable(ChallengeParticipant, "challengesJoined", ("member_id",), Erasure.KEEP),
    MemberTable(ChallengeProgress, "challengeProgress", ("member_id",), Erasure.KEEP),
    MemberTable(
        ChallengeContribution, "challengeContributions", ("progress__member_id",), Erasure.KEEP
    ),
    MemberTable(ChallengeCompletion, "challengeCompletions", ("member_id",), Erasure.KEEP),
    MemberTable(DomainEvent, "events", ("member_id",), Erasure.KEEP),
    MemberTable(MemberTier, "tier", ("member_id",), Erasure.KEEP),
    MemberTable(TierChange, "tierHistory", ("member_id",), Erasure.KEEP),
    MemberTable(QualifyingPointsBucket, "qualifyingPoints", ("member_id",), Erasure.KEEP),
    MemberTable(ErasureRecord, "erasure", ("member_id",), Erasure.KEEP),
    MemberTable(
        OutboxEvent,
        "outboxEvents",
        ("member_id",),
        Erasure.BLANK,
        blank_json=(("payload", "reason"),),
        note="events about the member; an entry's free-text reason is blanked in the payload",
    ),
    MemberTable(
        WebhookDelivery,
        "webhookDeliveries",
        ("member_id",),
        Erasure.KEEP,
        note="the delivery log: ids, status and times (what was sent is the event's payload)",
    ),
)

BY_MODEL: Final = {table.model: table for table in TABLES}


def member_filter(table: MemberTable, path: str, member_id: int) -> dict[str, object]:
    """The Tortoise filter for the member's rows of `table` through `path`."""
    if path == IDEMPOTENCY_SCOPE:
        return {"scope": f"member:{member_id}"}
    return {path: member_id}
