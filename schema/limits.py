"""Query abuse limits: length, tokens, depth, aliases, introspection and schema hints, and the
timeout of operations sent over a WebSocket, from settings.

The validation rules are built once per schema, not per request: a rule class made per request
would never hit `ValidationCache`, and every repeated query would be validated again."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from functools import lru_cache, partial

from graphql import ASTValidationRule, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.websockets import WebSocket
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.types.graphql import OperationType

from schema.error_contract import coded_rule
from server.settings import Settings

logger = logging.getLogger("loyalty")

# graphql-core appends these hints to validation and coercion errors; they spell out field,
# argument, type and enum value names to anyone probing with typos.
_SUGGESTION = re.compile(r"\s*Did you mean .*\?\s*$", re.DOTALL)


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


# One alternative per kind of token of the GraphQL lexer, comments included (graphql-core's
# `max_tokens` counts them too). Matched left to right, so a string or a comment is one token
# whatever braces or quotes it holds; characters the lexer refuses match nothing. On every
# document the lexer accepts, the count equals the parser's (tests/schema/test_token_limit.py
# compares them); the regex engine counts ~100 times faster than graphql-core lexes.
_TOKEN = re.compile(
    "|".join(
        [
            r'"""(?:[^"\\]|\\"""|\\(?!""")|"(?!""))*"""',  # block string
            r'"(?:[^"\\\n\r]|\\.)*"',  # string
            r"#[^\n\r]*",  # comment
            r"\.\.\.",  # spread
            r"[!$&():=@\[\]{|}]",  # the other punctuators
            r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?",  # int, float
            r"[_A-Za-z][_0-9A-Za-z]*",  # name
        ]
    )
)


@lru_cache(maxsize=256)
def count_tokens(document: str) -> int:
    """The tokens (comments included) graphql-core's parser would count in `document`."""
    return len(_TOKEN.findall(document))


class DocumentSizeLimiter(SchemaExtension):
    """Refuses a document longer than `max_length` characters or with more than `max_tokens`
    tokens before the parser reads it.

    The parser can stop at a token limit too (`max_tokens`, kept as a backstop), but only
    after lexing and parsing that many tokens, ~5 ms of CPU for 1,000: refusing a flood of
    such documents then cost as much as serving them. Counting the tokens with one regex
    costs ~0.1 ms for 1,000, and nothing for a document shorter than the limit (every token
    takes at least one character)."""

    def __init__(self, max_length: int, max_tokens: int) -> None:
        self.max_length = max_length
        self.max_tokens = max_tokens

    def on_operation(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None:
            if len(query) > self.max_length:
                raise GraphQLError(
                    f"The document is longer than {self.max_length} characters.",
                    extensions={"code": "QUERY_TOO_LONG"},
                )
            if len(query) > self.max_tokens and count_tokens(query) > self.max_tokens:
                raise GraphQLError(
                    f"The document has more than {self.max_tokens} tokens.",
                    extensions={"code": "QUERY_TOO_MANY_TOKENS"},
                )
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield


TIMED_OUT_MESSAGE = "Request timed out; retry with the same idempotency key."
# A timeout is the service failing to answer in time, not a fault of the request: retryable,
# like any other unavailability (a retry with the same key returns what happened, if anything).
TIMED_OUT_EXTENSIONS = {"code": "UNAVAILABLE", "retryable": True, "reason": "TIMEOUT"}


class WebSocketOperationTimeout(SchemaExtension):
    """Cuts off a query or mutation sent over a WebSocket that runs longer than `seconds`
    from its arrival: it is cancelled (its transaction rolls back) and answered with an
    `UNAVAILABLE` error (`reason: TIMEOUT`, retryable), and the connection stays open for the
    next operation. Subscriptions are long-lived by design and are not timed. HTTP requests
    have their own timeout, for the whole request (server/limits.py: 504 with the same code)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = 0.0

    def on_operation(self) -> Iterator[None]:
        self.started = asyncio.get_running_loop().time()
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        request = getattr(execution.context, "request", None)
        if execution.operation_type is OperationType.SUBSCRIPTION or not isinstance(
            request, WebSocket
        ):
            yield
            return
        try:
            async with asyncio.timeout_at(self.started + self.seconds) as deadline:
                yield
        except TimeoutError:
            if not deadline.expired():
                raise
            logger.warning(
                "%s over a WebSocket timed out after %ss", execution.operation_type, self.seconds
            )
            raise GraphQLError(TIMED_OUT_MESSAGE, extensions=dict(TIMED_OUT_EXTENSIONS)) from None


def query_limits(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The extension factories that refuse abusive documents before anything is executed.

    They go first in the schema's list: the length check must run before the parser cache."""
    rules: list[type[ASTValidationRule]] = [
        coded_rule(max_depth_rule(settings.query_max_depth, None), "QUERY_TOO_DEEP"),
        coded_rule(max_aliases_rule(settings.query_max_aliases), "TOO_MANY_ALIASES"),
    ]
    if not settings.introspection_enabled:
        rules.append(coded_rule(NoSchemaIntrospectionCustomRule, "INTROSPECTION_DISABLED"))
    return [
        partial(
            DocumentSizeLimiter,
            max_length=settings.query_max_length,
            max_tokens=settings.query_max_tokens,
        ),
        partial(AddValidationRules, rules),
    ]


def operation_timeout(settings: Settings) -> Callable[[], SchemaExtension]:
    """The WebSocket operations' timeout. It goes last in the schema's list, innermost around
    execution: the after-commit work of outer extensions (real-time notices, leaderboards)
    is never cut off half-way, and it sees the timeout's error, not a cancellation."""
    return partial(WebSocketOperationTimeout, seconds=settings.request_timeout_seconds)


_NUL_ESCAPE = re.compile(r"\\u0000|\\u\{0+\}")


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


class RefuseNulCharacters(SchemaExtension):
    """Refuses text holding a NUL character (U+0000), in the document or its variables, as
    BAD_USER_INPUT before anything runs: PostgreSQL's text cannot store it, and no name, reason
    or code needs it. (SQLite would store it: refused on both, so both behave alike.)"""

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        query = execution.query or ""
        if "\x00" in query or _NUL_ESCAPE.search(query) or _holds_nul(execution.variables):
            raise GraphQLError(
                "Text must not contain the NUL character (U+0000).",
                extensions={"code": "BAD_USER_INPUT"},
            )
        yield
