"""The one error contract (schema.error_contract, docs/errors.md): every code the server can
answer is documented, and every top-level error leaves with a documented code and `retryable`."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gamification.errors import ErrorCode
from schema.error_contract import PAYLOAD_CODES, TOP_LEVEL_CODES
from schema.members.types import MemberType
from server.settings import Settings
from tests.factories import bearer, create_member, member_token

ROOT = Path(__file__).resolve().parents[2]
# Where a code is written in the source: `"code": "X"`, `code="X"`, or a refusal's code argument.
_CODE_LITERAL = re.compile(
    r"""(?:["']code["']\s*:\s*|code\s*=\s*|PersistedQueryRefused\(\s*\d+,\s*|coded_rule\([^,]+\)?,\s*)["']([A-Z][A-Z_]+)["']"""
)
_REFUSAL_TABLE = re.compile(r"^\s+\d{3}: \"([A-Z_]+)\",$", re.MULTILINE)


def test_every_payload_code_has_a_meaning() -> None:
    assert set(ErrorCode) - PAYLOAD_CODES.keys() == set()
    assert all(meaning.strip() for meaning in PAYLOAD_CODES.values())


def test_every_code_written_in_the_source_is_documented() -> None:
    documented = set(TOP_LEVEL_CODES) | {code.value for code in ErrorCode}
    written: dict[str, str] = {}
    for layer in ("server", "schema", "channels"):
        for path in (ROOT / layer).rglob("*.py"):
            text = path.read_text()
            for pattern in (_CODE_LITERAL, _REFUSAL_TABLE):
                for match in pattern.finditer(text):
                    written.setdefault(match.group(1), str(path.relative_to(ROOT)))
    assert len(written) >= 10, written  # the scan finds the codes (it is not looking elsewhere)
    undocumented = {code: where for code, where in written.items() if code not in documented}
    assert undocumented == {}


def test_the_errors_reference_is_generated_from_the_contract() -> None:
    spec = importlib.util.spec_from_file_location("gen_errors", ROOT / "docs" / "gen_errors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert (ROOT / "docs" / "errors.md").read_text() == module.render(), (
        "docs/errors.md differs: run `.venv/bin/python docs/gen_errors.py`"
    )


Send = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


def _post(document: str | None, **extra: Any) -> Send:
    body = {**({"query": document} if document is not None else {}), **extra}

    async def send(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        return await client.post("/graphql", json=body, headers=headers)

    return send


_BAD_REQUESTS: dict[str, tuple[Send, str, bool]] = {
    "syntax": (_post("{ me { "), "GRAPHQL_PARSE_FAILED", False),
    "unknown field": (_post("{ me { nope } }"), "GRAPHQL_VALIDATION_FAILED", False),
    "variable of the wrong type": (
        _post(
            "query Q($n: Int!) { members(first: $n) { pageInfo { hasNextPage } } }",
            variables={"n": "many"},
        ),
        "BAD_USER_INPUT",
        False,
    ),
    "too deep": (
        _post("{ me { " + "followers { edges { node { " * 4 + "id" + " } } }" * 4 + " } }"),
        "QUERY_TOO_DEEP",
        False,
    ),
    "too many aliases": (
        _post("{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"),
        "TOO_MANY_ALIASES",
        False,
    ),
    "too long": (_post("{ __typename }" + " " * 20_000), "QUERY_TOO_LONG", False),
    "a NUL character in a variable": (
        _post(
            "mutation C($v: String!) { setConsent(kind: MARKETING, channel: EMAIL, given: true, "
            "textVersion: $v) { errors { code } } }",
            variables={"v": "v1\x00"},
        ),
        "BAD_USER_INPUT",
        False,
    ),
    "a NUL character escaped in the document": (
        _post(
            "mutation { setConsent(kind: MARKETING, channel: EMAIL, given: true, "
            'textVersion: "\\u0000") { errors { code } } }'
        ),
        "BAD_USER_INPUT",
        False,
    ),
    "not signed in": (_post("{ me { displayName } }"), "UNAUTHENTICATED", False),
    "not an admin": (_post("{ members { pageInfo { hasNextPage } } }"), "FORBIDDEN", False),
    "unknown persisted query": (
        _post(None, extensions={"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}),
        "PERSISTED_QUERY_NOT_FOUND",
        True,
    ),
}


@pytest.mark.parametrize(
    ("case", "expected", "retryable"),
    [(case, code, retry) for case, (_, code, retry) in _BAD_REQUESTS.items()],
)
async def test_a_refused_request_carries_its_documented_code_and_retryable(
    client: httpx.AsyncClient, settings: Settings, case: str, expected: str, retryable: bool
) -> None:
    member = await create_member()
    send = _BAD_REQUESTS[case][0]

    response = await send(
        client, bearer(member_token(member, settings)) if case != "not signed in" else {}
    )

    errors = response.json()["errors"]
    assert errors, response.text
    for error in errors:
        extensions = error["extensions"]
        assert extensions["code"] in TOP_LEVEL_CODES
        assert extensions["retryable"] is (TOP_LEVEL_CODES[extensions["code"]].retryable)
    assert errors[0]["extensions"]["code"] == expected
    assert errors[0]["extensions"]["retryable"] is retryable


async def test_a_bug_is_masked_as_internal(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await create_member()

    def broken(model: object) -> MemberType:
        raise RuntimeError("internals the client must not see")

    monkeypatch.setattr(MemberType, "from_model", broken)

    response = await client.post(
        "/graphql",
        json={"query": "{ me { displayName } }"},
        headers=bearer(member_token(member, settings)),
    )

    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL", "retryable": False}
