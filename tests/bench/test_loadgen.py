"""The load generator's per-member callers and two-step rows, against a tiny HTTP server that
answers like the GraphQL endpoint (no application involved)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench.loadgen import Job, Outcome, _drive
from bench.report import Row
from bench.scenarios import SCENARIOS, Scenario, Step, register

FIRST = "mutation { first }"
SECOND = "mutation Second($token: String!, $key: String!) { second }"


def _second_variables(unique_id: str, facts: Mapping[str, Any], answer: Mapping[str, Any]) -> Any:
    return {"token": answer["first"]["token"], "key": f"k-{unique_id}"}


def _register(scenario: Scenario) -> Scenario:
    return SCENARIOS.get(scenario.name) or register(scenario)


CALLERS = _register(
    Scenario(
        name="test-loadgen-callers",
        description="a request per member token",
        query=FIRST,
        callers="member_tokens",
        default=False,
    )
)
PAIR = _register(
    Scenario(
        name="test-loadgen-pair",
        description="a token from the first answer, sent back by a second caller",
        query=FIRST,
        callers="member_tokens",
        steps=(Step(query=SECOND, make_variables=_second_variables, token="device"),),
        default=False,
    )
)


@dataclass
class FakeGraphQL:
    """Answers `first` with a fresh token (or, when `refuse_first`, a payload error) and
    `second` with the token it was given; records who asked what, and each `second` whose
    token is not the one last issued on its connection."""

    refuse_first: bool = False
    seen: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    issued: int = 0
    mismatches: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        last_issued = None
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                headers = dict(
                    line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line
                )
                body = json.loads(await reader.readexactly(int(headers["Content-Length"])))
                bearer = headers.get("Authorization", "")
                self.seen.append((bearer, body["query"], body.get("variables", {})))
                if body["query"] == FIRST and self.refuse_first:
                    data: Any = {"first": {"token": None, "errors": [{"code": "NOPE"}]}}
                elif body["query"] == FIRST:
                    self.issued += 1
                    last_issued = f"qr-{self.issued}"
                    data = {"first": {"token": last_issued, "errors": []}}
                else:
                    self.mismatches += body["variables"]["token"] != last_issued
                    data = {"second": {"got": body["variables"]["token"], "errors": []}}
                answer = json.dumps({"data": data}).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeGraphQL, int]]:
    handler = FakeGraphQL()
    server = await asyncio.start_server(handler.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield handler, port


async def _run(scenario: Scenario, port: int, **job: Any) -> Outcome:
    return await _drive(
        Job(
            host="127.0.0.1",
            port=port,
            scenario=scenario.name,
            token=None,
            connections=3,
            start_wall=time.time(),
            warmup=0.0,
            duration=0.4,
            timeout=2.0,
            run_id="test",
            process_index=0,
            facts={"member_tokens": ["m-1", "m-2", "m-3", "m-4"]},
            **job,
        )
    )


async def test_a_callers_row_spreads_its_requests_over_the_member_tokens(
    fake: tuple[FakeGraphQL, int],
) -> None:
    # given
    handler, port = fake

    # when
    outcome = await _run(CALLERS, port)

    # then
    assert outcome.errors == 0
    assert outcome.requests > 20
    callers = {bearer for bearer, _, _ in handler.seen}
    assert callers == {"Bearer m-1", "Bearer m-2", "Bearer m-3", "Bearer m-4"}


async def test_a_pair_sends_the_first_answer_to_the_second_step_and_counts_pairs(
    fake: tuple[FakeGraphQL, int],
) -> None:
    # given
    handler, port = fake

    # when
    outcome = await _run(PAIR, port, step_tokens=("kiosk",))

    # then: each second request carries, as the kiosk, the token of the answer just before it
    # on its connection (at most one pair per connection is cut short by the window's end)
    firsts = [(b, v) for b, q, v in handler.seen if q == FIRST]
    seconds = [(b, v) for b, q, v in handler.seen if q == SECOND]
    assert outcome.errors == 0
    assert outcome.requests > 5
    assert handler.mismatches == 0
    assert len(firsts) - 3 <= len(seconds) <= len(firsts)
    assert {b for b, _ in firsts} <= {"Bearer m-1", "Bearer m-2", "Bearer m-3", "Bearer m-4"}
    assert {b for b, _ in seconds} == {"Bearer kiosk"}
    assert len({v["token"] for _, v in seconds}) == len(seconds)
    assert len({v["key"] for _, v in seconds}) == len(seconds)  # unique idempotency keys
    # one count (and one latency) per completed pair, not per request
    assert outcome.requests <= len(seconds)
    assert len(outcome.latencies) == outcome.requests
    assert Row.of(PAIR, outcome, 0.4).unit == "sequence of 2 requests"


async def test_a_pair_whose_first_answer_fails_is_one_error_and_sends_nothing_more(
    fake: tuple[FakeGraphQL, int],
) -> None:
    # given
    handler, port = fake
    handler.refuse_first = True

    # when
    outcome = await _run(PAIR, port, step_tokens=("kiosk",))

    # then
    assert outcome.requests > 5
    assert outcome.errors == outcome.requests
    assert not outcome.latencies
    assert all(query == FIRST for _, query, _ in handler.seen)
    assert "NOPE" in outcome.error_samples[0]
