"""Query abuse limits: depth, aliases (those inside fragments too), tokens and suggestions."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from schema.context import Context
from server.settings import Environment, Settings
from tests.factories import actor_of, create_member, schema_for

# Depth 5: the top-level field is depth 0.
DEEP = "{ me { redemptions { edges { node { reward { name } } } } } }"
ALIASES_IN_FRAGMENT = """
query { ...Names }
fragment Names on Query { a: __typename b: __typename c: __typename }
"""


def _settings(app: Starlette, **changes: Any) -> Settings:
    base: Settings = app.state.settings
    return base.model_copy(update=changes)


async def _run(app: Starlette, settings: Settings, query: str) -> Any:
    member = await create_member()
    context = Context(settings=settings, redis=app.state.redis, actor=actor_of(member))
    return await schema_for(settings).execute(query, context_value=context)


async def test_a_query_deeper_than_the_limit_is_refused(app: Starlette) -> None:
    # given
    settings = _settings(app, query_max_depth=4)

    # when
    result = await _run(app, settings, DEEP)

    # then
    assert result.data is None
    assert [e.message for e in result.errors] == [
        "'anonymous' exceeds maximum operation depth of 4"
    ]


async def test_a_query_at_the_depth_limit_runs(app: Starlette) -> None:
    result = await _run(app, _settings(app, query_max_depth=5), DEEP)

    assert result.errors is None


async def test_depth_through_fragments_counts(app: Starlette) -> None:
    query = """
    query { me { ...R } }
    fragment R on Member { redemptions { edges { node { reward { name } } } } }
    """
    result = await _run(app, _settings(app, query_max_depth=4), query)

    assert result.errors
    assert "exceeds maximum operation depth" in result.errors[0].message


async def test_aliases_inside_fragments_count(app: Starlette) -> None:
    # given
    settings = _settings(app, query_max_aliases=2)

    # when
    result = await _run(app, settings, ALIASES_IN_FRAGMENT)

    # then
    assert [e.message for e in result.errors] == ["3 aliases found. Allowed: 2"]


async def test_aliases_up_to_the_limit_run(app: Starlette) -> None:
    result = await _run(app, _settings(app, query_max_aliases=3), ALIASES_IN_FRAGMENT)

    assert result.errors is None


async def test_the_default_alias_limit_refuses_an_alias_flood(app: Starlette) -> None:
    flood = "{ " + " ".join(f"a{i}: __typename" for i in range(21)) + " }"

    result = await _run(app, app.state.settings, flood)

    assert [e.message for e in result.errors] == ["21 aliases found. Allowed: 20"]


async def test_a_document_with_too_many_tokens_is_refused(app: Starlette) -> None:
    # given: 1001+ tokens of otherwise harmless fields
    huge = "{ " + " ".join(["a"] * 1100) + " }"

    # when
    result = await _run(app, app.state.settings, huge)

    # then
    assert result.data is None
    assert "more than 1000 tokens" in result.errors[0].message


async def test_field_suggestions_are_off_in_production(app: Starlette) -> None:
    # given
    production = _settings(app, environment=Environment.PRODUCTION)

    # when
    result = await _run(app, production, "{ mee { id } }")

    # then: the error does not spell out the schema
    assert [e.message for e in result.errors] == ["Cannot query field 'mee' on type 'Query'."]


async def test_enum_value_suggestions_are_off_in_production(app: Starlette) -> None:
    production = _settings(app, environment=Environment.PRODUCTION)

    result = await _run(app, production, "{ leaderboard(period: WEEKK) { total } }")

    assert result.errors
    assert "Did you mean" not in result.errors[0].message


async def test_field_suggestions_help_in_development(app: Starlette) -> None:
    result = await _run(app, app.state.settings, "{ mee { id } }")

    assert "Did you mean 'me'?" in result.errors[0].message


async def test_introspection_is_refused_in_production(app: Starlette) -> None:
    production = _settings(app, environment=Environment.PRODUCTION)

    result = await _run(app, production, "{ __schema { types { name } } }")

    assert result.errors
    assert "introspection" in result.errors[0].message.lower()


async def test_a_document_over_the_length_limit_is_refused_before_parsing(app: Starlette) -> None:
    # given: a document that is mostly padding (cheap to send, costly to lex)
    padded = "{ " + " " * 10_000 + "__typename }"

    # when
    result = await _run(app, app.state.settings, padded)

    # then
    assert [e.message for e in result.errors] == ["The document is longer than 10000 characters."]
    assert result.errors[0].extensions == {"code": "QUERY_TOO_LONG", "retryable": False}
