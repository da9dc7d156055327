"""Tortoise models of the loyalty program. Schema changes go through `gamification/migrations`.

Model docstrings become table comments: keep semicolons out of them (Tortoise's SQLite schema
editor splits statements on them).
"""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Channel(enum.StrEnum):
    """The places a member meets the program. The domain knows their names, nothing more."""

    APP = "APP"
    WEB = "WEB"
    KIOSK = "KIOSK"
    POS = "POS"
    SYSTEM = "SYSTEM"


# Channels a registered device acts for: an in-store kiosk, a till, or the web shop's server.
DEVICE_CHANNELS = frozenset({Channel.KIOSK, Channel.POS, Channel.WEB})


class Role(enum.StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"


class Store(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=120)
    timezone = fields.CharField(max_length=64, default="UTC")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "store"


class Member(Model):
    """Everyone who logs in. Loyalty members have role `member`, staff work in one store."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)  # stored lower-cased
    password_hash = fields.CharField(max_length=255, null=True)  # null: external identity only
    external_subject = fields.CharField(max_length=255, unique=True, null=True)
    display_name = fields.CharField(max_length=40)
    birthday = fields.DateField(null=True)
    timezone = fields.CharField(max_length=64, default="UTC")
    marketing_consent = fields.BooleanField(default=False)
    leaderboard_visible = fields.BooleanField(default=True)
    role = fields.CharEnumField(Role, max_length=16, default=Role.MEMBER)
    store: fields.ForeignKeyNullableRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="staff", null=True, on_delete=fields.RESTRICT
    )
    # What a member card or the app's identity QR carries; not a secret, not a credential.
    card_number = fields.CharField(max_length=20, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "member"

    def __str__(self) -> str:
        return f"Member({self.id})"


class Device(Model):
    """A kiosk, a till or the web shop's server, registered by an admin for one store and channel.

    Its credential is a long-lived token naming `credential_id`. Revoking sets `revoked_at`, and
    every request made with the credential checks it.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="devices", on_delete=fields.RESTRICT
    )
    channel = fields.CharEnumField(Channel, max_length=16)
    credential_id = fields.UUIDField(unique=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "device"


class AccountKind(enum.StrEnum):
    MEMBER = "MEMBER"
    PROGRAM = "PROGRAM"  # the brand: the other side of every earning and spending
    CAUSE = "CAUSE"


class EntryKind(enum.StrEnum):
    EARN = "EARN"
    BONUS = "BONUS"
    REDEEM = "REDEEM"
    HOLD = "HOLD"
    CAPTURE = "CAPTURE"
    RELEASE = "RELEASE"
    DONATE = "DONATE"
    MATCH = "MATCH"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    REFUND = "REFUND"
    CLAWBACK = "CLAWBACK"
    REVERSAL = "REVERSAL"


class LedgerAccount(Model):
    """A points account. Member accounts cache their balance, updated only in the transaction
    that writes the entry. The program account keeps no cached balance, so that it never
    becomes a row every transaction must lock: its balance is derived from the entries."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(AccountKind, max_length=16)
    member: fields.OneToOneNullableRelation[Member] = fields.OneToOneField(
        "models.Member", related_name="account", null=True, on_delete=fields.RESTRICT
    )
    code = fields.CharField(max_length=64, unique=True)
    balance = fields.BigIntField(default=0)
    held = fields.BigIntField(default=0)
    lifetime_earned = fields.BigIntField(default=0)
    clawback_outstanding = fields.BigIntField(default=0)
    entry_count = fields.BigIntField(default=0)
    head_hash = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_account"


class LedgerEntry(Model):
    """One append-only movement of points between two accounts.

    `points` is the change to `account` (the owner, whose hash chain holds the entry), and
    `counter_account` changes by the opposite amount, so every entry balances by construction.
    `held_change` moves points in or out of the owner's held amount. Never updated, never deleted.
    """

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[LedgerAccount] = fields.ForeignKeyField(
        "models.LedgerAccount", related_name="entries", on_delete=fields.RESTRICT
    )
    counter_account: fields.ForeignKeyRelation[LedgerAccount] = fields.ForeignKeyField(
        "models.LedgerAccount", related_name="counter_entries", on_delete=fields.RESTRICT
    )
    seq = fields.BigIntField()
    kind = fields.CharEnumField(EntryKind, max_length=16)
    points = fields.BigIntField()
    held_change = fields.BigIntField(default=0)
    channel = fields.CharEnumField(Channel, max_length=16)
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)
    reference_type = fields.CharField(max_length=32, default="")
    reference_id = fields.CharField(max_length=128, default="")
    reason = fields.CharField(max_length=500, default="")
    lots: fields.Field[list[list[int]]] = fields.JSONField(
        default=list
    )  # [[lot_id, points], ...] consumed or restored
    created_at = fields.DatetimeField()
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "ledger_entry"
        unique_together = (("account", "seq"),)
        # The history pages newest first by id, within one account, optionally by kind.
        indexes = (("account_id", "id"), ("account_id", "kind", "id"))


class PointsLot(Model):
    """Points earned together, spent earliest expiry first. `remaining` is what is unspent."""

    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[LedgerAccount] = fields.ForeignKeyField(
        "models.LedgerAccount", related_name="lots", on_delete=fields.RESTRICT
    )
    entry_id = fields.BigIntField()
    points = fields.BigIntField()
    remaining = fields.BigIntField()
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "points_lot"
        indexes = (("account_id", "expires_at", "id"), ("expires_at",))


class IdempotencyKey(Model):
    """A client's retry key, claimed in the same transaction as the effect it guards, with the
    answer stored beside it."""

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharField(max_length=64)  # the caller: "member:12", "device:3", ...
    key = fields.CharField(max_length=128)
    operation = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)
    response: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_key"
        unique_together = (("scope", "key"),)


class EarnRule(Model):
    """How purchases in one currency earn points. Rates are decimal strings, points integers."""

    id = fields.IntField(primary_key=True)
    currency = fields.CharField(max_length=3, unique=True)
    points_per_unit = fields.DecimalField(max_digits=12, decimal_places=4)
    minimum_spend = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    category_multipliers: fields.Field[dict[str, str]] = fields.JSONField(
        default=dict
    )  # {"organic": "2"}
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "earn_rule"


class EarnPromotion(Model):
    """A multiplier on one channel's earnings for a period (e.g. double points in the app)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    channel = fields.CharEnumField(Channel, max_length=16)
    multiplier = fields.DecimalField(max_digits=8, decimal_places=4)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()

    class Meta:
        table = "earn_promotion"


class Purchase(Model):
    """A purchase as recorded by a device, staff or the web shop, with the points it earned.

    The same external id from the same channel and store is the same purchase."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="purchases", on_delete=fields.RESTRICT
    )
    channel = fields.CharEnumField(Channel, max_length=16)
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        "models.Store", related_name="purchases", on_delete=fields.RESTRICT
    )
    external_id = fields.CharField(max_length=128)
    amount = fields.DecimalField(max_digits=14, decimal_places=2)
    currency = fields.CharField(max_length=3)
    line_items: fields.Field[list[dict[str, str]]] = fields.JSONField(default=list)
    occurred_at = fields.DatetimeField()
    points_earned = fields.BigIntField()
    refunded_amount = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    points_refunded = fields.BigIntField(default=0)
    entry_id = fields.BigIntField()
    balance_after = fields.BigIntField(default=0)  # the member's balance in the first answer
    recorded_by = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "purchase"
        unique_together = (("channel", "store", "external_id"),)


class RewardKind(enum.StrEnum):
    VOUCHER = "VOUCHER"
    PRODUCT = "PRODUCT"
    DISCOUNT = "DISCOUNT"
    EXPERIENCE = "EXPERIENCE"


class LimitPeriod(enum.StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"
    EVER = "EVER"


class Reward(Model):
    """Something members spend points on. `stock` null means unlimited."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    image_url = fields.CharField(max_length=500, default="")
    category = fields.CharField(max_length=40, default="")
    kind = fields.CharEnumField(RewardKind, max_length=16)
    cost_points = fields.BigIntField()
    stock = fields.IntField(null=True)
    per_member_limit = fields.IntField(null=True)
    limit_period = fields.CharEnumField(LimitPeriod, max_length=8, default=LimitPeriod.EVER)
    channels: fields.Field[list[str]] = fields.JSONField(default=list)
    # The stores whose devices take its vouchers; empty: every store.
    store_ids: fields.Field[list[int]] = fields.JSONField(default=list, db_default="[]")
    valid_from = fields.DatetimeField(null=True)
    valid_to = fields.DatetimeField(null=True)
    min_tier = fields.CharField(max_length=40, null=True)
    voucher_valid_days = fields.IntField(default=30)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reward"


class RedemptionStatus(enum.StrEnum):
    ISSUED = "ISSUED"  # points spent, voucher not used yet
    USED = "USED"
    CANCELLED = "CANCELLED"


class Redemption(Model):
    """Points spent on a reward (or an amount of points at a kiosk), whatever the channel."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="redemptions", on_delete=fields.RESTRICT
    )
    reward: fields.ForeignKeyNullableRelation[Reward] = fields.ForeignKeyField(
        "models.Reward", related_name="redemptions", null=True, on_delete=fields.RESTRICT
    )
    points = fields.BigIntField()
    channel = fields.CharEnumField(Channel, max_length=16)
    store_id = fields.IntField(null=True)
    device_id = fields.IntField(null=True)
    status = fields.CharEnumField(RedemptionStatus, max_length=16, default=RedemptionStatus.ISSUED)
    voucher_code = fields.CharField(max_length=32, unique=True)
    valid_until = fields.DatetimeField()
    entry_id = fields.BigIntField()
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    # Where the voucher was taken (useVoucher): the store and the device.
    used_store_id = fields.IntField(null=True)
    used_device_id = fields.IntField(null=True)
    cancelled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "redemption"
        indexes = (("member_id", "reward_id", "created_at"), ("member_id", "id"))


class RedemptionToken(Model):
    """A one-time, short-lived token the app shows as a QR code for a kiosk or till."""

    id = fields.UUIDField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="redemption_tokens", on_delete=fields.RESTRICT
    )
    reward_id = fields.IntField(null=True)
    points = fields.BigIntField(null=True)
    # A donation code: `points` go to this cause, and the code is good for nothing else.
    cause_id = fields.IntField(null=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "redemption_token"


class HoldStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


class PointsHold(Model):
    """Points a till reserved, then captured (up to the held amount) or released, exactly once."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="holds", on_delete=fields.RESTRICT
    )
    points = fields.BigIntField()
    captured = fields.BigIntField(default=0)
    status = fields.CharEnumField(HoldStatus, max_length=16, default=HoldStatus.ACTIVE)
    reference = fields.CharField(max_length=128)
    device_id = fields.IntField()
    store_id = fields.IntField()
    channel = fields.CharEnumField(Channel, max_length=16)
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    settled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "points_hold"
        indexes = (("status", "expires_at"),)


class CauseStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    GOAL_REACHED = "GOAL_REACHED"
    CLOSED = "CLOSED"


class Cause(Model):
    """An eco cause members donate points to. `points_per_unit` converts points into impact
    (500 points = 1 tree). Donations move points into the cause's own ledger account."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    image_url = fields.CharField(max_length=500, default="")
    partner = fields.CharField(max_length=120, default="")
    impact_unit = fields.CharField(max_length=40)  # "tree", "kg of plastic", "kg CO2"
    points_per_unit = fields.IntField()
    goal_points = fields.BigIntField(null=True)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(null=True)
    status = fields.CharEnumField(CauseStatus, max_length=16, default=CauseStatus.ACTIVE)
    accepts_after_goal = fields.BooleanField(default=True)
    min_donation = fields.IntField(default=1)
    donation_step = fields.IntField(default=1)
    raised_member_points = fields.BigIntField(default=0)
    raised_matched_points = fields.BigIntField(default=0)
    donor_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "cause"


class MatchingCampaign(Model):
    """The brand matches donations to a cause at `ratio`, within a total and a per-member cap."""

    id = fields.IntField(primary_key=True)
    cause: fields.ForeignKeyRelation[Cause] = fields.ForeignKeyField(
        "models.Cause", related_name="campaigns", on_delete=fields.RESTRICT
    )
    ratio = fields.DecimalField(max_digits=8, decimal_places=4)
    total_cap = fields.BigIntField()
    per_member_cap = fields.BigIntField(null=True)
    matched_total = fields.BigIntField(default=0)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "matching_campaign"


class Donation(Model):
    """A member's donation receipt: points given, impact, matched points, the entry's hash."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="donations", on_delete=fields.RESTRICT
    )
    cause: fields.ForeignKeyRelation[Cause] = fields.ForeignKeyField(
        "models.Cause", related_name="donations", on_delete=fields.RESTRICT
    )
    points = fields.BigIntField()
    matched_points = fields.BigIntField(default=0)
    match_capped = fields.BooleanField(default=False)  # the cap ran out mid-donation
    campaign_id = fields.IntField(null=True)
    impact_units = fields.DecimalField(max_digits=18, decimal_places=4)
    channel = fields.CharEnumField(Channel, max_length=16)
    entry_id = fields.BigIntField()
    entry_hash = fields.CharField(max_length=64)
    match_entry_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()
    reversed_at = fields.DatetimeField(null=True)
    reversal_reason = fields.CharField(max_length=500, default="")

    class Meta:
        table = "donation"
        indexes = (("member_id", "id"), ("cause_id", "member_id"))


class Follow(Model):
    """A member following another, for the friends leaderboard."""

    id = fields.BigIntField(primary_key=True)
    follower: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="following", on_delete=fields.CASCADE
    )
    followee: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="followers", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "follow"
        unique_together = (("follower", "followee"),)


# Gamification: tiers, domain events, challenges, eco actions, badges.


class Tier(Model):
    """One step of the tier ladder. `rank` orders the ladder (0 is the entry tier) and
    `threshold` is the qualifying points a member needs within the qualification window."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=40, unique=True)
    rank = fields.IntField(unique=True)
    threshold = fields.BigIntField()
    earn_multiplier = fields.DecimalField(max_digits=6, decimal_places=3, default=1)
    benefits = fields.TextField(default="")
    benefit_flags: fields.Field[list[str]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tier"


class MemberTier(Model):
    """A member's place on the ladder: the tier held, an admin floor, and the qualification
    period at whose end (plus the grace period) the tier is evaluated, once."""

    id = fields.IntField(primary_key=True)
    member: fields.OneToOneRelation[Member] = fields.OneToOneField(
        "models.Member", related_name="tier_status", on_delete=fields.CASCADE
    )
    tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="holders", null=True, on_delete=fields.RESTRICT
    )
    floor_tier: fields.ForeignKeyNullableRelation[Tier] = fields.ForeignKeyField(
        "models.Tier", related_name="floored", null=True, on_delete=fields.RESTRICT
    )
    period_starts_at = fields.DatetimeField()
    period_ends_at = fields.DatetimeField(db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "member_tier"


class TierChangeReason(enum.StrEnum):
    UPGRADE = "UPGRADE"
    DOWNGRADE = "DOWNGRADE"
    RETAINED = "RETAINED"
    FLOOR = "FLOOR"


class TierChange(Model):
    """The history of a member's tier: every upgrade, downgrade, retention and floor."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tier_changes", on_delete=fields.CASCADE
    )
    from_tier_id = fields.IntField(null=True)
    to_tier_id = fields.IntField(null=True)
    reason = fields.CharEnumField(TierChangeReason, max_length=16)
    qualifying_points = fields.BigIntField(default=0)
    period_ends_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "tier_change"
        indexes = (("member_id", "id"),)


class EventKind(enum.StrEnum):
    PURCHASE_RECORDED = "PURCHASE_RECORDED"
    PURCHASE_REFUNDED = "PURCHASE_REFUNDED"
    REWARD_REDEEMED = "REWARD_REDEEMED"
    POINTS_DONATED = "POINTS_DONATED"
    ECO_ACTION_RECORDED = "ECO_ACTION_RECORDED"
    CHECK_IN = "CHECK_IN"
    TIER_REACHED = "TIER_REACHED"


class DomainEvent(Model):
    """A business fact that can move progress, recorded once (unique `source_key`) in the
    transaction of the fact itself. `qualifying_points` is what it adds to (or, for a refund,
    removes from) the member's tier qualification."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(EventKind, max_length=32)
    source_key = fields.CharField(max_length=200, unique=True)
    occurred_at = fields.DatetimeField()
    local_date = fields.DateField()
    amount = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    quantity = fields.IntField(default=1)
    channel = fields.CharEnumField(Channel, max_length=16)
    store_id = fields.IntField(null=True)
    categories: fields.Field[list[str]] = fields.JSONField(default=list)
    subject = fields.CharField(max_length=40, default="")  # the eco kind, or the tier reached
    qualifying_points = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "domain_event"
        indexes = (("member_id", "occurred_at"), ("member_id", "kind", "local_date"))


class GoalType(enum.StrEnum):
    COUNT = "COUNT"
    SUM = "SUM"
    DISTINCT_DAYS = "DISTINCT_DAYS"
    STREAK_DAYS = "STREAK_DAYS"
    STREAK_WEEKS = "STREAK_WEEKS"


class WindowKind(enum.StrEnum):
    FIXED = "FIXED"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"


class ChallengeStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


class BadgeRule(enum.StrEnum):
    CHALLENGE = "CHALLENGE"
    FIRST_PURCHASE = "FIRST_PURCHASE"
    FIRST_DONATION = "FIRST_DONATION"
    PURCHASE_COUNT = "PURCHASE_COUNT"
    TIER_REACHED = "TIER_REACHED"
    STREAK_DAYS = "STREAK_DAYS"


class Badge(Model):
    """A badge in the catalog and the rule that earns it (a challenge, or a milestone)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=80, unique=True)
    description = fields.TextField(default="")
    image_url = fields.CharField(max_length=500, default="")
    rule = fields.CharEnumField(BadgeRule, max_length=24)
    threshold = fields.IntField(null=True)  # N purchases, N-day streak
    # Higher levels of a counted badge: [10, 25] makes 5 / 10 / 25 purchases levels 1 / 2 / 3.
    level_thresholds: fields.Field[list[int]] = fields.JSONField(default=list)
    tier_name = fields.CharField(max_length=40, null=True)  # tier reached
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "badge"


class MemberBadge(Model):
    """A badge a member holds, once, with when it was earned."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="badges", on_delete=fields.CASCADE
    )
    badge: fields.ForeignKeyRelation[Badge] = fields.ForeignKeyField(
        "models.Badge", related_name="holders", on_delete=fields.RESTRICT
    )
    level = fields.IntField(default=1)
    awarded_at = fields.DatetimeField()

    class Meta:
        table = "member_badge"
        unique_together = (("member", "badge"),)


class Challenge(Model):
    """An admin-defined challenge: a goal over events matching a filter, within a fixed or a
    recurring window counted in each member's own timezone."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=120)
    description = fields.TextField(default="")
    image_url = fields.CharField(max_length=500, default="")
    goal_type = fields.CharEnumField(GoalType, max_length=16)
    target = fields.DecimalField(max_digits=14, decimal_places=2)
    event_kind = fields.CharEnumField(EventKind, max_length=32)
    filter_channel = fields.CharEnumField(Channel, max_length=16, null=True)
    filter_category = fields.CharField(max_length=40, null=True)
    filter_store_id = fields.IntField(null=True)
    filter_min_amount = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    filter_eco_kind = fields.CharField(max_length=40, null=True)
    window_kind = fields.CharEnumField(WindowKind, max_length=16)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(null=True)
    min_tier = fields.CharField(max_length=40, null=True)
    reward_points = fields.IntField(default=0)
    reward_badge: fields.ForeignKeyNullableRelation[Badge] = fields.ForeignKeyField(
        "models.Badge", related_name="challenges", null=True, on_delete=fields.RESTRICT
    )
    max_completions = fields.IntField(default=1)
    opt_in = fields.BooleanField(default=False)
    hidden = fields.BooleanField(default=False)
    freezes_per_week = fields.IntField(default=0)
    status = fields.CharEnumField(ChallengeStatus, max_length=16, default=ChallengeStatus.ACTIVE)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "challenge"


class ChallengeProgress(Model):
    """A member's progress in one window of a challenge (`window_key` is "fixed" or the local
    day, week or month). Locked after the member's ledger account, before any reward row."""

    id = fields.BigIntField(primary_key=True)
    challenge: fields.ForeignKeyRelation[Challenge] = fields.ForeignKeyField(
        "models.Challenge", related_name="progress", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="challenge_progress", on_delete=fields.CASCADE
    )
    window_key = fields.CharField(max_length=16)
    current = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    days: fields.Field[list[str]] = fields.JSONField(default=list)
    streak = fields.IntField(default=0)
    last_period = fields.DateField(null=True)  # the last day (or week's Monday) of the streak
    freezes_used: fields.Field[list[str]] = fields.JSONField(default=list)  # days bridged
    completions = fields.IntField(default=0)
    completed_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()
    # Completions in this window that refunds revoked: the next completion's number is
    # completions + revoked + 1, so a revoked number is never used again.
    revoked = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "challenge_progress"
        unique_together = (("challenge", "member", "window_key"),)
        indexes = (("member_id", "challenge_id"),)


class ChallengeParticipant(Model):
    """A member who joined an opt-in challenge (for all of its windows)."""

    id = fields.BigIntField(primary_key=True)
    challenge: fields.ForeignKeyRelation[Challenge] = fields.ForeignKeyField(
        "models.Challenge", related_name="participants", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="challenges_joined", on_delete=fields.CASCADE
    )
    joined_at = fields.DatetimeField()

    class Meta:
        table = "challenge_participant"
        unique_together = (("challenge", "member"),)
        indexes = (("member_id", "challenge_id"),)  # a member's challenges (home screen)


class ChallengeCompletion(Model):
    """One completion and its reward. The unique key makes a second award impossible."""

    id = fields.BigIntField(primary_key=True)
    challenge: fields.ForeignKeyRelation[Challenge] = fields.ForeignKeyField(
        "models.Challenge", related_name="completions", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="challenge_completions", on_delete=fields.CASCADE
    )
    number = fields.IntField()  # the member's nth completion in this window
    window_key = fields.CharField(max_length=16)
    points = fields.IntField(default=0)
    entry_id = fields.BigIntField(null=True)
    event_id = fields.BigIntField()
    completed_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)  # a refund took away what completed it

    class Meta:
        table = "challenge_completion"
        unique_together = (("challenge", "member", "window_key", "number"),)
        indexes = (("member_id", "challenge_id"),)  # a member's completions (home screen)


class ChallengeContribution(Model):
    """What one purchase event added to a member's challenge progress, so that a refund can
    take exactly that back. `number` is the completion the event counted towards, `day` its
    local day. `reversed_amount` is the part of `amount` refunds took back so far, and
    `withdrawn` marks a fully refunded purchase, which no longer counts at all."""

    id = fields.BigIntField(primary_key=True)
    progress: fields.ForeignKeyRelation[ChallengeProgress] = fields.ForeignKeyField(
        "models.ChallengeProgress", related_name="contributions", on_delete=fields.CASCADE
    )
    event_id = fields.BigIntField(db_index=True)
    number = fields.IntField()
    day = fields.DateField()
    amount = fields.DecimalField(max_digits=14, decimal_places=2)
    reversed_amount = fields.DecimalField(max_digits=14, decimal_places=2, default=0)
    withdrawn = fields.BooleanField(default=False)

    class Meta:
        table = "challenge_contribution"
        unique_together = (("progress", "event_id"),)
        indexes = (("progress_id", "number"),)


class EcoActionKind(Model):
    """An admin-configured kind of eco action and the points each unit earns."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=120)
    unit = fields.CharField(max_length=40, default="item")
    points_per_unit = fields.IntField()
    max_quantity = fields.IntField(default=100)
    active = fields.BooleanField(default=True, db_default=True)  # inactive: not recordable
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "eco_action_kind"


class EcoAction(Model):
    """An eco action recorded by a device or staff. The same external id from the same
    recorder is the same action."""

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="eco_actions", on_delete=fields.RESTRICT
    )
    kind: fields.ForeignKeyRelation[EcoActionKind] = fields.ForeignKeyField(
        "models.EcoActionKind", related_name="actions", on_delete=fields.RESTRICT
    )
    quantity = fields.IntField()
    points = fields.BigIntField()
    channel = fields.CharEnumField(Channel, max_length=16)
    store_id = fields.IntField(null=True)
    recorded_by = fields.CharField(max_length=32)
    external_id = fields.CharField(max_length=128)
    entry_id = fields.BigIntField(null=True)
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "eco_action"
        unique_together = (("recorded_by", "external_id"),)
