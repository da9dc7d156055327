"""The benchmark rows. Add a row by calling `register(Scenario(...))` at the bottom of this file.

A scenario is only data (plus optional hooks), so the load-generator processes can look it up by
name: nothing but the name and the row's prepared facts cross the process boundary, and hooks
may be any callable, lambdas included, provided the row is registered when `bench.scenarios` is
imported.

Tokens: `token` names a credential the harness mints before the run with `loyalty token` (see
`TOKEN_SOURCES`); add an entry there for a new kind of caller (an admin, a second member...).

Facts: a row's `prepare` hook runs before the server starts and may return a small JSON-able
mapping (member IDs, a cursor...) that its `make_variables` receives with every request.

Callers: a row whose requests are each made by one of many members (a member redeeming their
own points) names in `callers` the fact holding their bearer tokens, minted by its `prepare`;
each request goes as one of them, at random.

Steps: a row may be a sequence of requests (`steps` after the first), each sent on the same
connection once the previous one is answered without errors, with variables taken from that
answer (a QR code created by the member's app, then redeemed by a kiosk). The row's unit is then
the whole sequence: one count and one latency per completed sequence.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bench.serverctl import run_prepare
from schema.persisted import OPERATIONS_DIR

if TYPE_CHECKING:
    from bench.loadgen import Outcome

# The `loyalty token` arguments for each kind of caller. The ids and emails are those that
# `loyalty seed` creates on a fresh database (devices are registered in a fixed order: device 2
# is the City Centre till, a POS device; bench.prepare_data checks it).
TOKEN_SOURCES: dict[str, tuple[str, ...]] = {
    "member": ("--member", "maya@example.com"),
    "device": ("--device", "1"),
    "pos": ("--device", "2"),
    "admin": ("--member", "admin@example.com"),
    # Made by `python -m bench.prepare_data ledger` (the ledger-page rows' prepare hook).
    "ledger-member": ("--member", "ledger-bench@example.com"),
    # Made by `python -m bench.prepare_data home` (the home-screen row's prepare hook).
    "home-member": ("--member", "home-bench@example.com"),
}

Facts = Mapping[str, Any]
# Receives an id unique across the run and all load-generator processes (for example to build
# idempotency keys) and the row's prepared facts; returns the GraphQL variables of one request.
VariablesFactory = Callable[[str, Facts], Mapping[str, Any]]
# Receives an id unique across the run, the row's prepared facts and the `data` of the previous
# step's answer; returns the variables of the next request. A KeyError, TypeError or IndexError
# means the answer lacked what the next request needs, and counts as a failed sequence.
FollowUpFactory = Callable[[str, Facts, Mapping[str, Any]], Mapping[str, Any]]
# Receives the environment of the `loyalty` CLI and the server (LOYALTY_DATABASE_URL, ...);
# returns the facts the row's requests need, or None.
PrepareHook = Callable[[Mapping[str, str]], Facts | None]


@dataclass(frozen=True)
class ExternalRun:
    """What a row measured by an outside tool (pgbench) is given."""

    env: Mapping[str, str]
    database_url: str
    concurrency: int
    warmup: float
    duration: float
    workdir: Path  # a scratch directory that lives as long as the run


@dataclass(frozen=True)
class ExternalResult:
    outcome: Outcome
    seconds: float  # the measured window
    rps: float | None = None  # the tool's own rate, when it reports one


ExternalRunner = Callable[[ExternalRun], ExternalResult]


def graphql_body(query: str, variables: Mapping[str, Any]) -> bytes:
    """One JSON GraphQL request."""
    payload: dict[str, Any] = {"query": query}
    if variables:
        payload["variables"] = variables
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Step:
    """A request that follows the previous one of its row on the same connection, once that
    one is answered without errors; its variables come from that answer. POSTed to the row's
    `path`."""

    query: str
    make_variables: FollowUpFactory
    # A key of TOKEN_SOURCES, or None for an anonymous caller.
    token: str | None = None

    def body(self, unique_id: str, facts: Facts, answer: Mapping[str, Any]) -> bytes:
        """The request body, from the previous answer's `data`. Raises KeyError, TypeError or
        IndexError when that answer lacks what this request needs."""
        return graphql_body(self.query, self.make_variables(unique_id, facts, answer))


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    # The GraphQL document, POSTed to `path`. None sends a bare GET to `path` (plain endpoints).
    query: str | None
    variables: Mapping[str, Any] = field(default_factory=dict)
    # A key of TOKEN_SOURCES, or None for an anonymous caller.
    token: str | None = None
    # Instead of `token`: the key of a fact holding a list of bearer tokens (one per member,
    # minted by `prepare`); each request goes as one of them, chosen at random, so that writes
    # spread over members as a store's would. The client builds each one's headers once.
    callers: str | None = None
    # Per-request variables, merged over `variables`. Leave None when every request may be
    # identical: the request bytes are then built once, which keeps the client cheap.
    make_variables: VariablesFactory | None = None
    path: str = "/graphql"
    # Print "this / compare_to" when both rows ran (the targets are such ratios): of req/s, or
    # of p50 latency. `target` is the bound the ratio should meet, shown beside it.
    compare_to: str | None = None
    compare_by: Literal["req/s", "p50"] = "req/s"
    target: Target | None = None
    # Part of a run without --only.
    default: bool = True
    # Data this row needs beyond `loyalty seed`, made before the server starts (for example
    # a member with 200 challenges). Runs once per benchmark run, so it must be idempotent
    # when the database is reused. bench.serverctl.run_cli runs `loyalty` subcommands and
    # bench.serverctl.run_prepare runs bench.prepare_data tasks.
    prepare: PrepareHook | None = None
    # Measured by an outside tool instead of the load generator (`query` is then unused).
    external: ExternalRunner | None = None
    # Runs only when the benchmarked database is PostgreSQL.
    postgres_only: bool = False
    # Requests sent after the first, in order, on the same connection (see Step). The row then
    # counts sequences: one success, error and latency (first send to last answer) each.
    steps: tuple[Step, ...] = ()

    @property
    def unit(self) -> str:
        """What one count of this row is."""
        return "request" if not self.steps else f"sequence of {len(self.steps) + 1} requests"

    @property
    def token_kinds(self) -> tuple[str, ...]:
        """The TOKEN_SOURCES kinds this row's requests use, its steps' included."""
        kinds = (self.token, *(step.token for step in self.steps))
        return tuple(dict.fromkeys(kind for kind in kinds if kind is not None))

    def body(self, unique_id: str | None = None, facts: Facts | None = None) -> bytes | None:
        """The request body: one JSON GraphQL request, or None for a GET."""
        if self.query is None:
            return None
        variables = dict(self.variables)
        if self.make_variables is not None:
            if unique_id is None:
                raise ValueError(f"scenario {self.name!r} needs a unique id per request")
            variables.update(self.make_variables(unique_id, facts or {}))
        return graphql_body(self.query, variables)


@dataclass(frozen=True)
class Target:
    """A bound on a ratio: at least or at most `value`."""

    bound: Literal["≥", "≤"]
    value: float

    def met(self, ratio: float) -> bool:
        return ratio >= self.value if self.bound == "≥" else ratio <= self.value

    def __str__(self) -> str:
        return f"{self.bound} {self.value:g}"


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} is registered twice")
    for kind in scenario.token_kinds:
        if kind not in TOKEN_SOURCES:
            raise ValueError(f"scenario {scenario.name!r}: unknown token kind {kind!r}")
    if scenario.token is not None and scenario.callers is not None:
        raise ValueError(f"scenario {scenario.name!r}: give `token` or `callers`, not both")
    if scenario.steps and (scenario.query is None or scenario.external is not None):
        raise ValueError(f"scenario {scenario.name!r}: steps follow a GraphQL request")
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
        make_variables=lambda unique_id, facts: {"skip": False},
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


# --- the points ledger -----------------------------------------------------------------------
# Writes spread over the ~50 seeded members (a random one per request: concurrent requests for
# the same member queue on its account row, as they would in a store), each with a unique
# external id and idempotency key so that none is a replay.


def _prepare_purchase(env: Mapping[str, str]) -> Facts:
    return run_prepare(env, "purchase")


def _prepare_spend(env: Mapping[str, str]) -> Facts:
    return run_prepare(env, "spend")


def _prepare_ledger(env: Mapping[str, str]) -> Facts:
    return run_prepare(env, "ledger")


def _pgbench(run: ExternalRun) -> ExternalResult:
    # Imported here: bench.pgbench needs bench.loadgen, which imports this module.
    from bench.pgbench import run_tpcb

    return run_tpcb(run)


def _purchase_variables(unique_id: str, facts: Facts) -> Mapping[str, Any]:
    return {
        "input": {
            "memberId": random.choice(facts["members"]),
            "amount": f"{random.randint(500, 12_000) / 100:.2f}",
            "currency": "EUR",
            "externalId": f"bench-{unique_id}",
            "occurredAt": datetime.now(UTC).isoformat(),
        },
        "key": f"bench-purchase-{unique_id}",
    }


def _spend_variables(unique_id: str, facts: Facts) -> Mapping[str, Any]:
    return {"memberId": random.choice(facts["members"]), "key": f"bench-spend-{unique_id}"}


PER_CLIENT_TPCB = Target("≥", 0.30)  # TARGETS.md: points mutations tps ÷ pgbench TPC-B tps

register(
    Scenario(
        name="recordPurchase",
        description="a POS till (device 2) records a purchase for one of ~50 members",
        query="""
mutation RecordPurchase($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) {
    purchase { id } pointsEarned balance replayed errors { code message }
  }
}""",
        token="pos",
        make_variables=_purchase_variables,
        prepare=_prepare_purchase,
        compare_to="pgbench",
        target=PER_CLIENT_TPCB,
    )
)
register(
    Scenario(
        name="spend (adjustPoints −)",
        description="an admin takes 10 points from one of ~50 members (topped up beforehand)",
        query="""
mutation Spend($memberId: ID!, $key: String!) {
  adjustPoints(memberId: $memberId, points: -10, reason: "benchmark spend", idempotencyKey: $key) {
    entry { id } balance replayed errors { code message }
  }
}""",
        token="admin",
        make_variables=_spend_variables,
        prepare=_prepare_spend,
        compare_to="pgbench",
        target=PER_CLIENT_TPCB,
    )
)
LEDGER_PAGE = """
query LedgerPage($cursor: String) {
  me { ledger(first: 20, after: $cursor) { edges { node { id points } } } }
}"""

register(
    Scenario(
        name="ledger-page-first",
        description="the newest 20 of a member's 1,000,000 ledger entries",
        query=LEDGER_PAGE,
        token="ledger-member",
        # Built per request like the deep row's, so both cost the client the same.
        make_variables=lambda unique_id, facts: {"cursor": None},
        prepare=_prepare_ledger,
    )
)
register(
    Scenario(
        name="ledger-page-deep",
        description="20 entries near the oldest of the same 1,000,000 (after entry 41)",
        query=LEDGER_PAGE,
        token="ledger-member",
        make_variables=lambda unique_id, facts: {"cursor": facts["deep_cursor"]},
        prepare=_prepare_ledger,
        compare_to="ledger-page-first",
        compare_by="p50",
        target=Target("≤", 1.5),
    )
)


# --- members spending their own points -------------------------------------------------------
# Each request is made by one of the ~50 seeded members with their own token (`callers`, minted
# by the prepare task with a long lifetime), on balances topped up beforehand, so that concurrent
# requests queue on a member's account row only as often as they would in a store.


def _prepare_redeem(env: Mapping[str, str]) -> Facts:
    return run_prepare(env, "redeem")


def _prepare_donate(env: Mapping[str, str]) -> Facts:
    return run_prepare(env, "donate")


def _prepare_home(env: Mapping[str, str]) -> Facts:
    return run_prepare(env, "home")


register(
    Scenario(
        name="redeemReward",
        description="one of ~50 members redeems a cheap unlimited reward in the app",
        query="""
mutation Redeem($rewardId: ID!, $key: String!) {
  redeemReward(rewardId: $rewardId, idempotencyKey: $key, channel: APP) {
    redemption { id voucherCode points } replayed errors { code message }
  }
}""",
        callers="member_tokens",
        make_variables=lambda unique_id, facts: {
            "rewardId": facts["reward"],
            "key": f"bench-redeem-{unique_id}",
        },
        prepare=_prepare_redeem,
        compare_to="pgbench",
        target=PER_CLIENT_TPCB,
    )
)

CREATE_REDEMPTION_TOKEN = """
mutation ShowCode($rewardId: ID!) {
  createRedemptionToken(rewardId: $rewardId) { token qrCode expiresAt errors { code message } }
}"""


def _redeem_with_token_variables(
    unique_id: str, facts: Facts, answer: Mapping[str, Any]
) -> Mapping[str, Any]:
    return {"token": answer["createRedemptionToken"]["token"], "key": f"bench-kiosk-{unique_id}"}


def _reward_variables(unique_id: str, facts: Facts) -> Mapping[str, Any]:
    # Built per request: the reward's ID is known only once the row is prepared.
    return {"rewardId": facts["reward"]}


register(
    Scenario(
        name="kiosk-pair",
        description="a member's app gets a QR code, kiosk device 1 redeems it: per pair",
        query=CREATE_REDEMPTION_TOKEN,
        callers="member_tokens",
        make_variables=_reward_variables,
        steps=(
            Step(
                query="""
mutation Scan($token: String!, $key: String!) {
  redeemWithToken(token: $token, idempotencyKey: $key) {
    redemption { id voucherCode points } replayed errors { code message }
  }
}""",
                make_variables=_redeem_with_token_variables,
                token="device",
            ),
        ),
        prepare=_prepare_redeem,
        compare_to="redeemReward",
    )
)
register(
    Scenario(
        name="createRedemptionToken",
        description="the kiosk pair's first half alone: a member's app gets a QR code",
        query=CREATE_REDEMPTION_TOKEN,
        callers="member_tokens",
        make_variables=_reward_variables,
        prepare=_prepare_redeem,
        compare_to="typename",
        default=False,
    )
)
register(
    Scenario(
        name="donatePoints",
        description="one of ~50 members donates points to an open cause in the app",
        query="""
mutation Donate($causeId: ID!, $points: Int!, $key: String!) {
  donatePoints(causeId: $causeId, points: $points, idempotencyKey: $key, channel: APP) {
    donation { id points matchedPoints entryHash } balance replayed errors { code message }
  }
}""",
        callers="member_tokens",
        make_variables=lambda unique_id, facts: {
            "causeId": facts["cause"],
            "points": facts["points"],
            "key": f"bench-donate-{unique_id}",
        },
        prepare=_prepare_donate,
        compare_to="pgbench",
        target=PER_CLIENT_TPCB,
    )
)

# --- the app's home screen -------------------------------------------------------------------
# The query the app sends when it opens (issue #5, TARGETS.md), for a member with progress in
# 10 challenges, 10 badges, points expiring soon and a place on the points board.
register(
    Scenario(
        name="home-screen",
        description="me: points (expiring soon), tier progress, 10 challenges with progress, "
        "badges, rank",
        # The app's registered operation, as the app sends it.
        query=(OPERATIONS_DIR / "HomeScreen.graphql").read_text(),
        token="home-member",
        prepare=_prepare_home,
        compare_to="typename",
        target=Target("≥", 0.40),
    )
)

# The home-screen row above is served from the member's kept copy after its first request
# (server/response_cache.py): one member, no writes while it runs, so every request but the
# first is a hit. These two show the rest: the same document one byte longer, which is not a
# registered operation and is never kept (what every request cost before the cache, and what a
# miss costs); and a till's purchase for the member followed by nine home screens, so that one
# request in ten is a write and the first read after it misses (its req/s counts sequences of
# ten requests).
register(
    Scenario(
        name="home-screen-uncached",
        description="the home screen as an unregistered document: never kept, always computed",
        query=(OPERATIONS_DIR / "HomeScreen.graphql").read_text() + "\n",
        token="home-member",
        prepare=_prepare_home,
        compare_to="typename",
        default=False,
    )
)


def _home_purchase_variables(unique_id: str, facts: Facts) -> Mapping[str, Any]:
    return {
        "input": {
            "memberId": facts["member"],
            "amount": "12.00",
            "currency": "EUR",
            "externalId": f"bench-home-{unique_id}",
            "occurredAt": datetime.now(UTC).isoformat(),
        },
        "key": f"bench-home-purchase-{unique_id}",
    }


_HOME_READ = Step(
    query=(OPERATIONS_DIR / "HomeScreen.graphql").read_text(),
    make_variables=lambda unique_id, facts, answer: {},
    token="home-member",
)
register(
    Scenario(
        name="home-screen-1-write-in-10",
        description="a till's purchase for the home-screen member, then nine home screens: "
        "per sequence of ten",
        query="""
mutation RecordPurchase($input: RecordPurchaseInput!, $key: String!) {
  recordPurchase(input: $input, idempotencyKey: $key) { pointsEarned errors { code message } }
}""",
        token="pos",
        make_variables=_home_purchase_variables,
        steps=(_HOME_READ,) * 9,
        prepare=_prepare_home,
        default=False,
    )
)

# Last, so that its load (and the checkpoint it leaves behind) does not fall on another row.
register(
    Scenario(
        name="pgbench",
        description="pgbench TPC-B, scale 10, on a scratch database of the same PostgreSQL",
        query=None,
        external=_pgbench,
        postgres_only=True,
    )
)


# --- member search (the support desk) ---------------------------------------------------------
# An admin looks one member up among 100,000 (bench.prepare_data members), by e-mail or card
# number, a different one per request. TARGETS: p99 < 20 ms.


def _prepare_members(env: Mapping[str, str]) -> Facts:
    return run_prepare(env, "members")


MEMBER_SEARCH = """
query MemberSearch($email: String, $cardNumber: String) {
  members(email: $email, cardNumber: $cardNumber, first: 5) {
    edges { node { id displayName cardNumber } }
  }
}"""


def _one_of(variable: str, fact: str) -> VariablesFactory:
    """Variables naming one of the prepared members, at random, by `variable`."""
    return lambda unique_id, facts: {variable: random.choice(facts[fact])}


for _name, _by, _variable, _fact in (
    ("member-search-email", "e-mail", "email", "emails"),
    ("member-search-card", "card number", "cardNumber", "cards"),
):
    register(
        Scenario(
            name=_name,
            description=f"an admin finds one of 100,000 members by {_by}",
            query=MEMBER_SEARCH,
            token="admin",
            make_variables=_one_of(_variable, _fact),
            prepare=_prepare_members,
        )
    )
