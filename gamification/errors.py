"""Typed domain errors. Expected business failures carry a stable `code` the API exposes.

    LoyaltyError                 base: code, message, field
     ├── InvalidInput            a value is malformed or out of range (field names the input)
     ├── NotFound                an object does not exist (or the caller may not see it)
     ├── Conflict                the request clashes with what is stored (duplicate email, ...)
     └── Refused                 a business rule says no (bad credentials, too few points, ...)

The GraphQL layer turns these into `errors { code message field }` in mutation payloads, or into
GraphQL errors with `extensions.code` for queries. Anything that is not a LoyaltyError is a bug
and is masked.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_EMAIL = "INVALID_EMAIL"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    INVALID_DISPLAY_NAME = "INVALID_DISPLAY_NAME"
    INVALID_TIMEZONE = "INVALID_TIMEZONE"
    INVALID_BIRTHDAY = "INVALID_BIRTHDAY"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    NOT_FOUND = "NOT_FOUND"
    PAGE_SIZE_TOO_LARGE = "PAGE_SIZE_TOO_LARGE"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_CHANNEL = "INVALID_CHANNEL"
    # points
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    UNKNOWN_STORE = "UNKNOWN_STORE"
    UNKNOWN_MEMBER = "UNKNOWN_MEMBER"
    PURCHASE_CONFLICT = "PURCHASE_CONFLICT"
    PURCHASE_IN_FUTURE = "PURCHASE_IN_FUTURE"
    REFUND_EXCEEDS_PURCHASE = "REFUND_EXCEEDS_PURCHASE"
    SELF_PURCHASE = "SELF_PURCHASE"
    STORE_MISMATCH = "STORE_MISMATCH"
    CHANNEL_MISMATCH = "CHANNEL_MISMATCH"
    REASON_REQUIRED = "REASON_REQUIRED"
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    # rewards and redemptions
    REWARD_NOT_FOUND = "REWARD_NOT_FOUND"
    REWARD_INACTIVE = "REWARD_INACTIVE"
    REWARD_NOT_AVAILABLE = "REWARD_NOT_AVAILABLE"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    WRONG_CHANNEL = "WRONG_CHANNEL"
    MEMBER_LIMIT_REACHED = "MEMBER_LIMIT_REACHED"
    TIER_TOO_LOW = "TIER_TOO_LOW"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_USED = "TOKEN_USED"
    HOLD_NOT_ACTIVE = "HOLD_NOT_ACTIVE"
    HOLD_EXPIRED = "HOLD_EXPIRED"
    CAPTURE_EXCEEDS_HOLD = "CAPTURE_EXCEEDS_HOLD"
    VOUCHER_NOT_FOUND = "VOUCHER_NOT_FOUND"
    VOUCHER_USED = "VOUCHER_USED"
    VOUCHER_EXPIRED = "VOUCHER_EXPIRED"
    NOT_CANCELLABLE = "NOT_CANCELLABLE"
    # causes and donations
    CAUSE_NOT_FOUND = "CAUSE_NOT_FOUND"
    CAUSE_CLOSED = "CAUSE_CLOSED"
    CAUSE_NOT_OPEN = "CAUSE_NOT_OPEN"
    CAUSE_GOAL_REACHED = "CAUSE_GOAL_REACHED"
    BELOW_MINIMUM_DONATION = "BELOW_MINIMUM_DONATION"
    INVALID_INCREMENT = "INVALID_INCREMENT"
    ALREADY_REVERSED = "ALREADY_REVERSED"
    INVALID_RATIO = "INVALID_RATIO"
    INVALID_CAP = "INVALID_CAP"
    # kiosk and till
    HOLD_EXCEEDS_TOKEN = "HOLD_EXCEEDS_TOKEN"
    TOKEN_WRONG_PURPOSE = "TOKEN_WRONG_PURPOSE"
    # consent: a member's points move only with that member's proof
    MEMBER_PROOF_REQUIRED = "MEMBER_PROOF_REQUIRED"
    # leaderboards and follows
    UNAVAILABLE = "UNAVAILABLE"
    UNKNOWN_BOARD = "UNKNOWN_BOARD"
    UNKNOWN_PERIOD = "UNKNOWN_PERIOD"
    CANNOT_FOLLOW_SELF = "CANNOT_FOLLOW_SELF"
    TOO_MANY_FOLLOWS = "TOO_MANY_FOLLOWS"
    # kiosk asks, member confirms
    REQUEST_NOT_FOUND = "REQUEST_NOT_FOUND"
    REQUEST_EXPIRED = "REQUEST_EXPIRED"
    REQUEST_ANSWERED = "REQUEST_ANSWERED"
    # tiers, challenges, eco actions, check-ins, badges
    UNKNOWN_TIER = "UNKNOWN_TIER"
    INVALID_TIER = "INVALID_TIER"
    CHALLENGE_NOT_FOUND = "CHALLENGE_NOT_FOUND"
    CHALLENGE_ARCHIVED = "CHALLENGE_ARCHIVED"
    CHALLENGE_ENDED = "CHALLENGE_ENDED"
    CHALLENGE_NOT_OPT_IN = "CHALLENGE_NOT_OPT_IN"
    ALREADY_JOINED = "ALREADY_JOINED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    INVALID_CHALLENGE = "INVALID_CHALLENGE"
    ALREADY_CHECKED_IN = "ALREADY_CHECKED_IN"
    UNKNOWN_ECO_ACTION = "UNKNOWN_ECO_ACTION"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    ECO_ACTION_CONFLICT = "ECO_ACTION_CONFLICT"
    ECO_ACTION_INACTIVE = "ECO_ACTION_INACTIVE"
    INVALID_ECO_ACTION_KIND = "INVALID_ECO_ACTION_KIND"
    ECO_ACTION_KIND_TAKEN = "ECO_ACTION_KIND_TAKEN"
    BADGE_NAME_TAKEN = "BADGE_NAME_TAKEN"
    INVALID_BADGE = "INVALID_BADGE"
    # Privacy.
    MEMBER_ERASED = "MEMBER_ERASED"
    ERASURE_REFUSED = "ERASURE_REFUSED"
    INVALID_CONSENT = "INVALID_CONSENT"
    # webhooks
    INVALID_WEBHOOK_URL = "INVALID_WEBHOOK_URL"
    WEBHOOK_TARGET_REFUSED = "WEBHOOK_TARGET_REFUSED"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    WEBHOOK_ENDPOINT_NOT_FOUND = "WEBHOOK_ENDPOINT_NOT_FOUND"
    WEBHOOK_DELIVERY_NOT_FOUND = "WEBHOOK_DELIVERY_NOT_FOUND"
    INVALID_TIME_RANGE = "INVALID_TIME_RANGE"


class LoyaltyError(Exception):
    """Base of every expected domain failure."""

    code: ErrorCode = ErrorCode.INVALID_INPUT

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!s}, field={self.field!r}, {self.message!r})"


class InvalidInput(LoyaltyError):
    code = ErrorCode.INVALID_INPUT


class NotFound(LoyaltyError):
    code = ErrorCode.NOT_FOUND


class Conflict(LoyaltyError):
    code = ErrorCode.INVALID_INPUT


class Refused(LoyaltyError):
    code = ErrorCode.INVALID_INPUT
