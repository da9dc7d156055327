"""The benchmark rows. Add a row by calling `register(Scenario(...))` at the bottom of this file.

A scenario is only data (plus an optional variables factory), so the load-generator processes can
look it up by name: nothing but the name crosses the process boundary, and factories may be any
callable, lambdas included, provided the row is registered when `bench.scenarios` is imported.

Tokens: `token` names a credential the harness mints before the run with `loyalty token` (see
`TOKEN_SOURCES`); add an entry there for a new kind of caller (an admin, a second member...).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The `loyalty token` arguments for each kind of caller. The ids and emails are those that
# `loyalty seed` creates on a fresh database (devices are registered in a fixed order).
TOKEN_SOURCES: dict[str, tuple[str, ...]] = {
    "member": ("--member", "maya@example.com"),
    "device": ("--device", "1"),
}

# Receives an id unique across the run and all load-generator processes (for example to build
# idempotency keys); returns the GraphQL variables of one request.
VariablesFactory = Callable[[str], Mapping[str, Any]]
# Receives the environment of the `loyalty` CLI and the server (LOYALTY_DATABASE_URL, ...).
PrepareHook = Callable[[Mapping[str, str]], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    # The GraphQL document, POSTed to `path`. None sends a bare GET to `path` (plain endpoints).
    query: str | None
    variables: Mapping[str, Any] = field(default_factory=dict)
    # A key of TOKEN_SOURCES, or None for an anonymous caller.
    token: str | None = None
    # Per-request variables, merged over `variables`. Leave None when every request may be
    # identical: the request bytes are then built once, which keeps the client cheap.
    make_variables: VariablesFactory | None = None
    path: str = "/graphql"
    # Print "this / compare_to" req/s when both rows ran (the targets are such ratios).
    compare_to: str | None = None
    # Part of a run without --only.
    default: bool = True
    # Data this row needs beyond `loyalty seed`, made before the server starts (for example
    # a member with 200 challenges). Runs once per benchmark run, so it must be idempotent
    # when the database is reused. bench.serverctl.run_cli runs `loyalty` subcommands.
    prepare: PrepareHook | None = None

    def body(self, unique_id: str | None = None) -> bytes | None:
        """The request body: one JSON GraphQL request, or None for a GET."""
        if self.query is None:
            return None
        variables = dict(self.variables)
        if self.make_variables is not None:
            if unique_id is None:
                raise ValueError(f"scenario {self.name!r} needs a unique id per request")
            variables.update(self.make_variables(unique_id))
        payload: dict[str, Any] = {"query": self.query}
        if variables:
            payload["variables"] = variables
        return json.dumps(payload, separators=(",", ":")).encode()


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} is registered twice")
    if scenario.token is not None and scenario.token not in TOKEN_SOURCES:
        raise ValueError(f"scenario {scenario.name!r}: unknown token kind {scenario.token!r}")
    SCENARIOS[scenario.name] = scenario
    return scenario


def select(names: str | None) -> list[Scenario]:
    """The scenarios named in a comma-separated list (in that order), or the default set."""
    if not names:
        return [s for s in SCENARIOS.values() if s.default]
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in SCENARIOS]
    if unknown:
        raise KeyError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return [SCENARIOS[name] for name in dict.fromkeys(wanted)]


register(
    Scenario(
        name="typename",
        description="framework ceiling: parse (cached), validate (cached), execute, serialise",
        query="{ __typename }",
    )
)
register(
    Scenario(
        name="me",
        description="the member's profile: bearer token check plus one primary-key read",
        query="{ me { id displayName email } }",
        token="member",
        compare_to="typename",
    )
)
register(
    Scenario(
        name="typename-vars",
        description="the ceiling with a per-request body: variables coerced, JSON built per call",
        query="query Ceiling($skip: Boolean!) { __typename @skip(if: $skip) }",
        # The unique id is unused here; a mutation row would build its idempotency key from it.
        make_variables=lambda unique_id: {"skip": False},
        compare_to="typename",
        default=False,
    )
)
register(
    Scenario(
        name="healthz",
        description="plain Starlette endpoint: the load generator's ceiling on this machine",
        query=None,
        path="/healthz",
        default=False,
    )
)
