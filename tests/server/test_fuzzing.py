"""schemathesis in GraphQL mode against a real server process: generated queries and mutations
for every root field, as an admin (who reaches the most code). No answer may be a server error,
and no error may leak internals. A bounded run here; the README has the command for a long one."""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gamification.members.models import Role
from server.settings import Settings
from tests.factories import create_member, member_token
from tests.server.conftest import LiveServer

# About 200 cases in all: a few for each of the ~50 root fields. FUZZ_EXAMPLES=200 with
# FUZZ_RANDOM=1 (new cases each run) makes the long run the README describes.
EXAMPLES_PER_FIELD = int(os.environ.get("FUZZ_EXAMPLES", "4"))
DERANDOMIZE = "FUZZ_RANDOM" not in os.environ

# Decimal amounts travel as strings: well-formed ones, and anything else.
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        st.from_regex(r"-?\d{1,12}(\.\d{1,4})?", fullmatch=True),
        st.text(max_size=20),
    ).map(schemathesis.graphql.nodes.String),
)

# What an answer would contain if an unexpected error escaped unmasked.
_LEAKS = re.compile(
    r"Traceback|tortoise|asyncpg|sqlite|aiosqlite|psycopg|redis\.|File \"|/work/|\.py\b|"
    r"site-packages|SELECT |INSERT |UPDATE \"|IntegrityError|OperationalError",
    re.IGNORECASE,
)


def _check(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        errors = response.json().get("errors") or []
        leaked = [e for e in errors if _LEAKS.search(str(e))]
        assert not leaked, leaked
        assert not [e for e in errors if e.get("message") == "Unexpected error."], errors


async def test_no_server_errors_and_no_leaks(live_server: LiveServer, settings: Settings) -> None:
    # given: the schema as the server publishes it, and an admin's credential
    admin = await create_member(role=Role.ADMIN)
    headers = {"Authorization": f"Bearer {member_token(admin, settings)}"}
    schema = schemathesis.graphql.from_url(f"{live_server.http_url}/graphql")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    cases: list[str] = []

    # when: a few generated cases for every root field
    for operation in operations:
        label = operation.label

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_FIELD,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=DERANDOMIZE,
            database=None,
        )
        def run(case: Any) -> None:
            cases.append(label)  # noqa: B023 (run() is called in this iteration)
            # then
            _check(case.call(headers=headers, timeout=10))

        run()

    assert len(operations) >= 40
    assert len(cases) >= min(150, 40 * EXAMPLES_PER_FIELD)
    print(f"fuzzing: {len(cases)} cases over {len(operations)} root fields")
