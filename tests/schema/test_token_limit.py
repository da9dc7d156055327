"""The token limit is applied before the parser reads the document: a refusal costs a regex scan,
not lexing and parsing up to the limit, and the count is the parser's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis
import pytest
from graphql.language import Lexer, Source, Token, TokenKind
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from schema.context import Context
from schema.limits import count_tokens
from tests.factories import schema_for

SCHEMA_SDL = Path(__file__).resolve().parents[2] / "schema.graphql"
MAX_TOKENS = 1000  # the default


def _lexer_count(document: str) -> int | None:
    """What graphql-core's parser counts against `max_tokens` (comments included); None when
    the lexer refuses the document."""
    lexer = Lexer(Source(document))
    try:
        while lexer.advance().kind is not TokenKind.EOF:
            pass
    except Exception:
        return None
    # The lexer links every token it read, comments too, from <SOF> to <EOF>.
    token: Token | None = lexer.token
    while token is not None and token.prev is not None:
        token = token.prev
    count = 0
    while token is not None:
        if token.kind not in (TokenKind.SOF, TokenKind.EOF):
            count += 1
        token = token.next
    return count


async def _execute(app: Starlette, document: str) -> Any:
    context = Context(settings=app.state.settings, redis=app.state.redis)
    return await schema_for(app.state.settings).execute(document, context_value=context)


def _document(count: int) -> str:
    """A valid document of exactly `count` tokens, under the length limit: `{ __typename }` and
    `count - 3` comments (they count, as in graphql-core's parser)."""
    return "{ __typename }\n" + "#\n" * (count - 3)


async def test_a_document_at_the_token_limit_runs(app: Starlette) -> None:
    result = await _execute(app, _document(MAX_TOKENS))

    assert result.errors is None
    assert result.data == {"__typename": "Query"}


async def test_one_token_over_the_limit_is_refused_with_a_code(app: Starlette) -> None:
    result = await _execute(app, _document(MAX_TOKENS + 1))

    assert result.data is None
    assert [(e.message, e.extensions) for e in result.errors] == [
        (
            f"The document has more than {MAX_TOKENS} tokens.",
            {"code": "QUERY_TOO_MANY_TOKENS", "retryable": False},
        )
    ]


async def test_a_refusal_by_the_token_limit_lexes_nothing(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a count of the tokens graphql-core's lexer reads
    lexed = 0
    advance = Lexer.advance

    def counting_advance(self: Lexer) -> Token:
        nonlocal lexed
        lexed += 1
        return advance(self)

    monkeypatch.setattr(Lexer, "advance", counting_advance)
    # a document unlike any other (the parser cache cannot have it)
    flood = "{ " + " ".join(f"f{i}" for i in range(1_100)) + " }"

    # when
    result = await _execute(app, flood)

    # then
    assert result.errors[0].extensions == {"code": "QUERY_TOO_MANY_TOKENS", "retryable": False}
    assert lexed == 0


@pytest.mark.parametrize(
    "document",
    [
        SCHEMA_SDL.read_text(),
        '{ me(x: "a } # \\" {", y: -1.5e3, z: [1, 2]) @skip(if: $a) { ...F ... on X { id } } }',
        '{ a(b: """ a block " "" \\""" { } # still the string\n""") } # a comment\n# another',
        "query Q($a: Int = 0, $b: [ID!]! = []) { a: b, c: d & e | f = g }",
        "\ufeff{ a }\r\n,,,\t",
    ],
    ids=["schema-sdl", "strings", "block-string", "punctuators", "ignored"],
)
def test_the_count_is_the_lexers(document: str) -> None:
    assert count_tokens(document) == _lexer_count(document)


_PIECES = [
    *"{}()[]:=@$!&|,",
    "...",
    " ",
    "\n",
    "\t",
    "\r\n",
    "a",
    "_b9",
    "query",
    "-12",
    "0",
    "3.5e-2",
    '"s t"',
    '"\\u00e9\\" #"',
    '"""x\n"" \\""" y"""',
    "# c {\n",
    '"',
    "\\",
    "#",
]


@hypothesis.settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_the_count_is_the_lexers_on_any_document_it_accepts(pieces: list[str]) -> None:
    document = "".join(pieces)
    expected = _lexer_count(document)
    if expected is not None:
        assert count_tokens(document) == expected
