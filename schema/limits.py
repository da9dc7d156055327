"""Query abuse limits: depth, aliases, tokens, introspection and schema hints, from settings.

The validation rules are built once per schema, not per request: a rule class made per request
would never hit `ValidationCache`, and every repeated query would be validated again."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial

from graphql import ASTValidationRule, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule

from server.settings import Settings

# graphql-core appends these hints to validation and coercion errors; they spell out field,
# argument, type and enum value names to anyone probing with typos.
_SUGGESTION = re.compile(r"\s*Did you mean .*\?\s*$", re.DOTALL)


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


class QueryLengthLimiter(SchemaExtension):
    """Refuses a document longer than `max_length` characters before the lexer reads it."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def on_operation(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None and len(query) > self.max_length:
            raise GraphQLError(
                f"The document is longer than {self.max_length} characters.",
                extensions={"code": "QUERY_TOO_LONG"},
            )
        yield


def query_limits(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """The extension factories that refuse abusive documents before anything is executed.

    They go first in the schema's list: the length check must run before the parser cache."""
    rules: list[type[ASTValidationRule]] = [
        max_depth_rule(settings.query_max_depth, None),
        max_aliases_rule(settings.query_max_aliases),
    ]
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        partial(QueryLengthLimiter, max_length=settings.query_max_length),
        partial(MaxTokensLimiter, max_token_count=settings.query_max_tokens),
        partial(AddValidationRules, rules),
    ]
