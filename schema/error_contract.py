"""The one error contract: every code the API answers, what it means, and whether to retry.

- **Payload errors** (`errors { code message field }` in a mutation's payload): an expected
  domain failure (`INSUFFICIENT_POINTS`, `OUT_OF_STOCK`, `TOKEN_EXPIRED`…). Nothing changed;
  the rest of the response is intact. Codes: `gamification.errors.ErrorCode`, meanings in
  `PAYLOAD_CODES`.
- **Top-level errors** (`errors[]` beside `data`): the request could not be served as asked:
  authentication, authorisation, limits, rate limits, timeouts, unavailability, a malformed or
  invalid document, or a bug (masked as `INTERNAL`). A query that fails on a domain rule (an
  unknown board, a page too large) answers its payload code here too. Every one carries
  `extensions.code` and `extensions.retryable`; `RATE_LIMITED` adds `retryAfter` (seconds),
  `UNAVAILABLE` may add `reason: TIMEOUT`. Codes in `TOP_LEVEL_CODES`.

`ErrorContract` (an extension, outside every other one of the schema's) gives each top-level
error that has none its code and every one its `retryable`. The rules that refuse a document
(depth, aliases, introspection) name their codes through `coded_rule`. `docs/errors.md` is
generated from this module (`docs/gen_errors.py`); a test fails when a code is missing there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from graphql import ASTValidationRule, GraphQLError, GraphQLSyntaxError, ValidationContext
from strawberry.extensions import SchemaExtension

from gamification.errors import ErrorCode


@dataclass(frozen=True)
class TopLevelCode:
    meaning: str
    retryable: bool = False
    # The HTTP status it comes with (over a WebSocket, the same error in an `error` message).
    http_status: str = "200"


TOP_LEVEL_CODES: Final[dict[str, TopLevelCode]] = {
    "UNAUTHENTICATED": TopLevelCode(
        "No credential, or one that is refused (expired, revoked, badly signed). The reason is "
        "never said; sign in again."
    ),
    "FORBIDDEN": TopLevelCode("The caller is signed in but may not do this."),
    "RATE_LIMITED": TopLevelCode(
        "Too many calls of a sensitive mutation in the window; `retryAfter` says how many "
        "seconds to wait.",
        retryable=True,
    ),
    "UNAVAILABLE": TopLevelCode(
        "A backend cannot serve the request now (a restart, a failover, no free database "
        "connection), or it took too long (`reason: TIMEOUT`; HTTP 504 for a whole request). "
        "Retry with the same idempotency key: it replays what happened, if anything did.",
        retryable=True,
        http_status="200; 503 before the operation starts; 504 for a request timeout",
    ),
    "INTERNAL": TopLevelCode(
        "A bug: the message is `Unexpected error.` and the details are in the server's log "
        "(with the request id the response's `X-Request-ID` names)."
    ),
    "GRAPHQL_PARSE_FAILED": TopLevelCode("The document is not valid GraphQL syntax."),
    "GRAPHQL_VALIDATION_FAILED": TopLevelCode(
        "The document does not fit the schema (an unknown field, a missing argument…)."
    ),
    "BAD_USER_INPUT": TopLevelCode(
        "A variable's value does not fit its type (a string for an `Int!`, a missing "
        "required variable), or text holds the NUL character (U+0000)."
    ),
    "QUERY_TOO_LONG": TopLevelCode("The document is longer than `LOYALTY_QUERY_MAX_LENGTH`."),
    "QUERY_TOO_MANY_TOKENS": TopLevelCode(
        "The document has more tokens than `LOYALTY_QUERY_MAX_TOKENS`."
    ),
    "QUERY_TOO_DEEP": TopLevelCode("The document nests deeper than `LOYALTY_QUERY_MAX_DEPTH`."),
    "TOO_MANY_ALIASES": TopLevelCode(
        "The document has more aliases than `LOYALTY_QUERY_MAX_ALIASES`."
    ),
    "INTROSPECTION_DISABLED": TopLevelCode("Introspection is off in production."),
    "PERSISTED_QUERY_NOT_FOUND": TopLevelCode(
        "The hash names no document known here: send the document with its hash once.",
        retryable=True,
    ),
    "PERSISTED_QUERY_HASH_MISMATCH": TopLevelCode(
        "The hash sent is not the SHA-256 of the document sent.", http_status="400"
    ),
    "PERSISTED_QUERY_INVALID": TopLevelCode(
        "The `persistedQuery` extension is not version 1 with a hex SHA-256.", http_status="400"
    ),
    "PERSISTED_QUERY_NOT_ALLOWED": TopLevelCode(
        "In allow-list mode, the document is not one of the registered operations.",
        http_status="400 (200 over a WebSocket)",
    ),
    "BAD_REQUEST": TopLevelCode(
        "The HTTP request is not a GraphQL request (malformed JSON, a batch, no query, a "
        "mutation over GET).",
        http_status="400",
    ),
    "NOT_FOUND": TopLevelCode(
        "A query asked for an object by id that does not exist or is not the caller's; as a "
        "payload code, the same for a mutation."
    ),
    "METHOD_NOT_ALLOWED": TopLevelCode("Only GET and POST reach the API.", http_status="405"),
    "UNSUPPORTED_MEDIA_TYPE": TopLevelCode(
        "A POST whose body is not `application/json`.", http_status="415"
    ),
    "REQUEST_TOO_LARGE": TopLevelCode(
        "The body is larger than `LOYALTY_REQUEST_MAX_BYTES`.", http_status="413"
    ),
}


PAYLOAD_CODES: Final[dict[ErrorCode, str]] = {
    ErrorCode.INVALID_INPUT: "A value is out of range or malformed; `field` names it.",
    ErrorCode.INVALID_EMAIL: "The e-mail address is not valid.",
    ErrorCode.WEAK_PASSWORD: "The password is too short or too common.",
    ErrorCode.PASSWORD_TOO_LONG: "The password is longer than the service accepts.",
    ErrorCode.EMAIL_TAKEN: "A member with this e-mail address exists.",
    ErrorCode.INVALID_DISPLAY_NAME: "The display name is empty, too long or has control chars.",
    ErrorCode.INVALID_TIMEZONE: "Not an IANA timezone name.",
    ErrorCode.INVALID_BIRTHDAY: "The birthday is in the future or implausibly far back.",
    ErrorCode.INVALID_CREDENTIALS: "The e-mail address and password do not match.",
    ErrorCode.NOT_FOUND: "The object does not exist or is not the caller's.",
    ErrorCode.PAGE_SIZE_TOO_LARGE: "`first` is above `LOYALTY_MAX_PAGE_SIZE`.",
    ErrorCode.INVALID_CURSOR: "`after` is not a cursor this connection gave out.",
    ErrorCode.INVALID_CHANNEL: "The channel is not one the caller may act for.",
    ErrorCode.INSUFFICIENT_POINTS: "The member's available points are fewer than asked.",
    ErrorCode.INVALID_AMOUNT: "An amount or points value is zero, negative or too large.",
    ErrorCode.UNKNOWN_CURRENCY: "The currency is not an ISO 4217 code the program earns in.",
    ErrorCode.UNKNOWN_STORE: "No store with this id or code.",
    ErrorCode.UNKNOWN_MEMBER: "No member with this id or card number.",
    ErrorCode.PURCHASE_CONFLICT: "The external purchase id was recorded with other details.",
    ErrorCode.PURCHASE_IN_FUTURE: "The purchase time is later than now (beyond the allowed skew).",
    ErrorCode.REFUND_EXCEEDS_PURCHASE: "The refunds would exceed what was purchased.",
    ErrorCode.SELF_PURCHASE: "Staff may not record purchases for themselves.",
    ErrorCode.STORE_MISMATCH: "The store is not the caller's store.",
    ErrorCode.CHANNEL_MISMATCH: "The channel is not the calling device's channel.",
    ErrorCode.REASON_REQUIRED: "This change needs a reason.",
    ErrorCode.INVALID_IDEMPOTENCY_KEY: "The idempotency key is empty or longer than allowed.",
    ErrorCode.IDEMPOTENCY_KEY_REUSED: "The idempotency key was used for a different request.",
    ErrorCode.REWARD_NOT_FOUND: "No reward with this id.",
    ErrorCode.REWARD_INACTIVE: "The reward is switched off.",
    ErrorCode.REWARD_NOT_AVAILABLE: "The reward is outside its validity dates.",
    ErrorCode.OUT_OF_STOCK: "No stock left.",
    ErrorCode.WRONG_CHANNEL: "The reward or voucher is not offered on this channel or store.",
    ErrorCode.MEMBER_LIMIT_REACHED: "The member reached the reward's per-member limit.",
    ErrorCode.TIER_TOO_LOW: "The reward needs a higher tier.",
    ErrorCode.TOKEN_INVALID: "The redemption code is not one the app made.",
    ErrorCode.TOKEN_EXPIRED: "The redemption code is past its lifetime; show a new one.",
    ErrorCode.TOKEN_USED: "The redemption code was used already.",
    ErrorCode.HOLD_NOT_ACTIVE: "The hold was captured, released or expired already.",
    ErrorCode.HOLD_EXPIRED: "The hold's time ran out; its points are available again.",
    ErrorCode.CAPTURE_EXCEEDS_HOLD: "The capture is larger than the hold.",
    ErrorCode.VOUCHER_NOT_FOUND: "No voucher with this code.",
    ErrorCode.VOUCHER_USED: "The voucher was used already.",
    ErrorCode.VOUCHER_EXPIRED: "The voucher is past its validity.",
    ErrorCode.NOT_CANCELLABLE: "The redemption cannot be cancelled any more (used or cancelled).",
    ErrorCode.CAUSE_NOT_FOUND: "No cause with this id.",
    ErrorCode.CAUSE_CLOSED: "The cause is closed to donations.",
    ErrorCode.CAUSE_NOT_OPEN: "The cause does not take donations yet.",
    ErrorCode.CAUSE_GOAL_REACHED: "The cause reached its goal.",
    ErrorCode.BELOW_MINIMUM_DONATION: "The donation is below the cause's minimum.",
    ErrorCode.INVALID_INCREMENT: "The donation is not a multiple of the cause's increment.",
    ErrorCode.ALREADY_REVERSED: "The donation was reversed already.",
    ErrorCode.INVALID_RATIO: "The matching ratio is not positive.",
    ErrorCode.INVALID_CAP: "The matching cap is not positive.",
    ErrorCode.HOLD_EXCEEDS_TOKEN: "The hold asks for more points than the member's code allows.",
    ErrorCode.TOKEN_WRONG_PURPOSE: "The code was made for something else; it stays usable.",
    ErrorCode.MEMBER_PROOF_REQUIRED: (
        "Points would leave the member's account without the member's proof in this request."
    ),
    ErrorCode.UNAVAILABLE: "A backend (Redis for boards) cannot serve this now; retry.",
    ErrorCode.UNKNOWN_BOARD: "No leaderboard by this name.",
    ErrorCode.UNKNOWN_PERIOD: "The board has no such period.",
    ErrorCode.CANNOT_FOLLOW_SELF: "A member cannot follow themselves.",
    ErrorCode.TOO_MANY_FOLLOWS: "The member follows `LOYALTY_MAX_FOLLOWS` members already.",
    ErrorCode.REQUEST_NOT_FOUND: "No kiosk request with this id for this member or device.",
    ErrorCode.REQUEST_EXPIRED: "The kiosk request timed out before the member answered.",
    ErrorCode.REQUEST_ANSWERED: "The kiosk request was answered already.",
    ErrorCode.UNKNOWN_TIER: "No tier by this name.",
    ErrorCode.INVALID_TIER: "The tier's threshold or order conflicts with the ladder.",
    ErrorCode.CHALLENGE_NOT_FOUND: "No challenge with this id.",
    ErrorCode.CHALLENGE_ARCHIVED: "The challenge is archived.",
    ErrorCode.CHALLENGE_ENDED: "The challenge has ended.",
    ErrorCode.CHALLENGE_NOT_OPT_IN: "The challenge counts for everyone; there is nothing to join.",
    ErrorCode.ALREADY_JOINED: "The member joined this challenge already.",
    ErrorCode.NOT_ELIGIBLE: "The member's tier or store does not qualify for the challenge.",
    ErrorCode.INVALID_CHALLENGE: "The challenge's definition is inconsistent; `field` says where.",
    ErrorCode.ALREADY_CHECKED_IN: "The member checked in here today already.",
    ErrorCode.UNKNOWN_ECO_ACTION: "No eco action kind with this code.",
    ErrorCode.INVALID_QUANTITY: "The eco action's quantity is not positive or too large.",
    ErrorCode.ECO_ACTION_CONFLICT: "The eco action's external id was recorded with other details.",
    ErrorCode.ECO_ACTION_INACTIVE: "The eco action kind is switched off.",
    ErrorCode.INVALID_ECO_ACTION_KIND: "The eco action kind's definition is invalid.",
    ErrorCode.ECO_ACTION_KIND_TAKEN: "An eco action kind with this code exists.",
    ErrorCode.BADGE_NAME_TAKEN: "A badge with this name exists.",
    ErrorCode.INVALID_BADGE: "The badge's definition is invalid; `field` says where.",
    # privacy (docs/privacy.md)
    ErrorCode.MEMBER_ERASED: "The member's account was erased; nothing more can be done with it.",
    ErrorCode.ERASURE_REFUSED: "Only the member themself or an admin may erase an account.",
    ErrorCode.INVALID_CONSENT: "The consent's kind, channel or wording version is not valid.",
    # webhooks (docs/webhooks.md)
    ErrorCode.INVALID_WEBHOOK_URL: "Not an http(s) URL with a host (or it carries credentials).",
    ErrorCode.WEBHOOK_TARGET_REFUSED: "The URL's host is, or resolves to, a private, loopback, "
    "link-local or otherwise non-public address (or does not resolve).",
    ErrorCode.UNKNOWN_EVENT_TYPE: "An event type the catalog (docs/events.md) does not name.",
    ErrorCode.WEBHOOK_ENDPOINT_NOT_FOUND: "No webhook endpoint with this id.",
    ErrorCode.WEBHOOK_DELIVERY_NOT_FOUND: "No webhook delivery with this id.",
    ErrorCode.INVALID_TIME_RANGE: "`since` is not before `until`, or the range holds too many "
    "events.",
}


def payload_code_meaning(code: ErrorCode) -> str:
    return PAYLOAD_CODES.get(code, "")


class _CodingContext:
    """A validation context that gives every error reported through it `code`."""

    def __init__(self, context: ValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {**(error.extensions or {}), "code": self._code}
        self._context.report_error(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def coded_rule(rule: type[ASTValidationRule], code: str) -> type[ASTValidationRule]:
    """`rule`, with `code` on the errors it reports (the depth and alias limiters report
    through the context, not through `report_error`: both ways are covered)."""

    class Coded(rule):  # type: ignore[valid-type, misc]
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(_CodingContext(context, code))

    Coded.__name__ = Coded.__qualname__ = f"{rule.__name__}Coded"
    return Coded


def _code_for(error: GraphQLError) -> str:
    if isinstance(error, GraphQLSyntaxError) or error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.path is not None:
        return "INTERNAL"  # a resolver's error that is not a deliberate one was masked
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def complete(error: GraphQLError) -> None:
    """Give `error` its `code` (when it has none) and its `retryable`."""
    extensions = dict(error.extensions or {})
    code = extensions.get("code")
    if not isinstance(code, str):
        code = extensions["code"] = _code_for(error)
    if "retryable" not in extensions:
        known = TOP_LEVEL_CODES.get(code)
        extensions["retryable"] = bool(known and known.retryable) or code == "UNAVAILABLE"
    error.extensions = extensions


class ErrorContract(SchemaExtension):
    """Completes every top-level error of the operation (outside the other extensions: it
    sees the masked errors and the refusals of the limits)."""

    def on_operation(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        for error in execution.pre_execution_errors or ():
            complete(error)
        result = execution.result
        for error in getattr(result, "errors", None) or ():
            complete(error)
