"""A small HTTP/1.1 keep-alive load generator on asyncio streams, run in worker processes.

Why not httpx: measured on this machine kind against `{ __typename }` with 50 connections, its
AsyncClient spent ~4 ms of CPU per request and reached ~260 req/s: it would measure itself. This
client writes pre-built request bytes and reads `Content-Length` (or chunked) responses; it spends
15-40 µs of CPU per request (the "gen CPU" column shows it for every row).

The concurrency is split over one or more processes so one Python interpreter is not the limit.
Each process runs the same closed loop on its share of the connections: send, wait for the
answer, send again. All processes share one absolute timeline (warm-up, then the measured window)
so their counts add up over the same seconds.

A row with `steps` sends its requests in sequence on one connection, each built from the
previous answer; only those rows parse answers beyond the error check, so single-request rows
keep their pre-built bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import multiprocessing
import random
import signal
import time
import traceback
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bench.scenarios import SCENARIOS, Scenario, Step

# Error samples kept per process: enough to explain a failure, not to flood the report.
MAX_ERROR_SAMPLES = 3


@dataclass(frozen=True)
class Job:
    """One scenario for one process: its share of the connections on the shared timeline."""

    host: str
    port: int
    scenario: str
    token: str | None
    connections: int
    start_wall: float  # time.time() at which the warm-up begins (the same for every process)
    warmup: float
    duration: float
    timeout: float  # how long a request may stay unanswered after the window before it counts
    run_id: str
    process_index: int
    facts: Mapping[str, Any] = field(default_factory=dict)  # what the row's prepare returned
    step_tokens: tuple[str | None, ...] = ()  # the bearer token of each of the row's steps


@dataclass
class Outcome:
    """What one process saw in the measured window."""

    requests: int = 0  # responses received in the window, errors included
    errors: int = 0
    latencies: array[float] = field(default_factory=lambda: array("d"))  # seconds, successes
    error_samples: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the load generator's own CPU time in the window

    def error(self, message: str) -> None:
        self.requests += 1
        self.errors += 1
        self._sample(message)

    def _sample(self, message: str) -> None:
        # Distinct messages only: one failure repeated 10,000 times is one line of the report.
        if len(self.error_samples) < MAX_ERROR_SAMPLES and message not in self.error_samples:
            self.error_samples.append(message)

    def merge(self, other: Outcome) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latencies.extend(other.latencies)
        self.cpu_seconds += other.cpu_seconds
        for message in other.error_samples:
            self._sample(message)


class HttpError(Exception):
    """The server's answer could not be read as HTTP/1.1."""


class StepError(Exception):
    """A step's request could not be built from the previous step's answer."""


def _head(*, post: bool, path: str, host: str, port: int, token: str | None) -> bytes:
    lines = [f"{'POST' if post else 'GET'} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*"]
    if post:
        lines.append("Content-Type: application/json")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n").encode()


def caller_tokens(scenario: Scenario, facts: Mapping[str, Any]) -> list[str]:
    """The bearer tokens a `callers` row's requests go out with (from its prepared facts)."""
    assert scenario.callers is not None
    tokens = facts.get(scenario.callers)
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise ValueError(
            f"scenario {scenario.name!r}: fact {scenario.callers!r} is not a list of tokens"
        )
    return tokens


def request_source(job: Job, connection_index: int) -> Iterator[bytes]:
    """The bytes of each request one connection sends (the first of each sequence)."""
    scenario = SCENARIOS[job.scenario]
    tokens = caller_tokens(scenario, job.facts) if scenario.callers else [job.token]
    # One head per caller, built once: a request only picks one.
    heads = [
        _head(
            post=scenario.query is not None,
            path=scenario.path,
            host=job.host,
            port=job.port,
            token=token,
        )
        for token in tokens
    ]
    if scenario.make_variables is None:
        # Every request (of a caller) is the same: build it once so the client costs almost
        # nothing.
        body = scenario.body()
        requests = [_frame(head, body) for head in heads]
        if len(requests) == 1:
            request = requests[0]
            while True:
                yield request
        while True:
            yield random.choice(requests)
    prefix = f"{job.run_id}-{job.process_index}-{connection_index}-"
    sequence = 0
    while True:
        sequence += 1
        head = heads[0] if len(heads) == 1 else random.choice(heads)
        yield _frame(head, scenario.body(f"{prefix}{sequence}", job.facts))


class FollowUps:
    """The requests after the first of a row with `steps`, for one connection."""

    def __init__(self, job: Job, connection_index: int) -> None:
        scenario = SCENARIOS[job.scenario]
        if len(job.step_tokens) != len(scenario.steps):
            raise ValueError(f"scenario {scenario.name!r}: one token per step is needed")
        self._steps: Sequence[tuple[Step, bytes]] = [
            (
                step,
                _head(post=True, path=scenario.path, host=job.host, port=job.port, token=token),
            )
            for step, token in zip(scenario.steps, job.step_tokens, strict=True)
        ]
        self._facts = job.facts
        self._prefix = f"{job.run_id}-{job.process_index}-{connection_index}-step-"
        self._sequence = 0

    async def send(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        answer: tuple[int, bytes, bool],
    ) -> tuple[int, bytes, bool]:
        """Send each step once the previous answer (first: `answer`) has no errors; the last
        answer, or the first that failed. Raises StepError when an answer without errors lacks
        what the next step needs, HttpError when the server closed the connection between
        steps."""
        self._sequence += 1
        for number, (step, head) in enumerate(self._steps, start=2):
            status, body, keep_alive = answer
            if graphql_error(status, body) is not None:
                return answer  # the sequence failed at that step: counted as its error
            if not keep_alive:
                raise HttpError(f"the server closed the connection before step {number}")
            try:
                data = json.loads(body)["data"]
                request = _frame(
                    head, step.body(f"{self._prefix}{self._sequence}-{number}", self._facts, data)
                )
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise StepError(
                    f"step {number} found nothing to send in the answer before it "
                    f"({type(exc).__name__}: {exc}): {body[:200]!r}"
                ) from None
            writer.write(request)
            answer = await read_response(reader)
        return answer


def _frame(head: bytes, body: bytes | None) -> bytes:
    if body is None:
        return head + b"\r\n"
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        raise HttpError(f"not an HTTP/1.1 response: {head[:40]!r}")
    status = int(head[9:12])
    lower = head.lower()
    keep_alive = b"\r\nconnection: close" not in lower
    marker = lower.find(b"\r\ncontent-length:")
    if marker >= 0:
        end = lower.index(b"\r\n", marker + 2)
        length = int(lower[marker + 17 : end])
        return status, await reader.readexactly(length), keep_alive
    if b"\r\ntransfer-encoding: chunked" in lower:
        return status, await _read_chunked(reader), keep_alive
    raise HttpError("response has neither Content-Length nor chunked encoding")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are expected: just the final CRLF
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def graphql_error(status: int, body: bytes) -> str | None:
    """Why this answer is a failure, or None. GraphQL reports most failures in a 200, and
    mutations report expected ones (insufficient points...) in their payload's `errors` list."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    # The substring test is cheap and rules out nearly every query's success; parse only to be
    # sure that "errors" is a key holding errors and not, say, someone's display name.
    if b'"errors"' in body:
        try:
            document = json.loads(body)
        except ValueError:
            return f"unparsable JSON: {body[:300]!r}"
        if not isinstance(document, dict):
            return f"not a GraphQL response: {body[:300]!r}"
        if document.get("errors"):
            return f"GraphQL errors: {json.dumps(document['errors'])[:300]}"
        payload_errors = _payload_errors(document.get("data"))
        if payload_errors:
            return f"payload errors: {json.dumps(payload_errors)[:300]}"
    return None


def _payload_errors(value: object) -> list[Any]:
    """Every non-empty `errors` list inside `data` (mutation payloads carry user errors)."""
    found: list[Any] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "errors" and isinstance(item, list):
                found.extend(item)
            else:
                found.extend(_payload_errors(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_payload_errors(item))
    return found


@dataclass
class _InFlight:
    since: float | None = None  # perf_counter() when the pending request was sent


async def _connection(
    job: Job,
    index: int,
    outcome: Outcome,
    state: _InFlight,
    measure_from: float,
    measure_until: float,
) -> None:
    """One keep-alive client in a closed loop until the window ends."""
    requests = request_source(job, index)
    follow_ups = FollowUps(job, index) if SCENARIOS[job.scenario].steps else None
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    clock = time.perf_counter
    try:
        while clock() < measure_until:
            # Outside the `try`: a failing variables factory is a bug to surface, not a
            # server error to count.
            payload = next(requests)
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(job.host, job.port)
                started = state.since = clock()
                writer.write(payload)
                status, body, keep_alive = await read_response(reader)
                if follow_ups is not None:
                    status, body, keep_alive = await follow_ups.send(
                        reader, writer, (status, body, keep_alive)
                    )
                finished = clock()
                state.since = None
            except (
                OSError,
                EOFError,
                asyncio.IncompleteReadError,
                HttpError,
                StepError,
                ValueError,
            ) as exc:
                failed_at, state.since = clock(), None
                if measure_from <= failed_at <= measure_until:
                    outcome.error(f"{type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                reader = writer = None
                # A refused connection fails at once: do not spin on it.
                await asyncio.sleep(0.05)
                continue
            # Count what was sent and answered inside the window; the warm-up is discarded.
            if started >= measure_from and finished <= measure_until:
                problem = graphql_error(status, body)
                if problem is None:
                    outcome.requests += 1
                    outcome.latencies.append(finished - started)
                else:
                    outcome.error(problem)
            if not keep_alive:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _drive(job: Job) -> Outcome:
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    # Map the shared wall-clock timeline onto this process's monotonic clock.
    start = clock() + (job.start_wall - time.time())
    measure_from = start + job.warmup
    measure_until = measure_from + job.duration
    outcome = Outcome()
    cpu_marks: list[float] = []
    loop.call_later(max(0.0, measure_from - clock()), lambda: cpu_marks.append(time.process_time()))
    loop.call_later(
        max(0.0, measure_until - clock()), lambda: cpu_marks.append(time.process_time())
    )
    if start > clock():
        await asyncio.sleep(start - clock())
    states = [_InFlight() for _ in range(job.connections)]
    tasks = [
        asyncio.create_task(_connection(job, i, outcome, states[i], measure_from, measure_until))
        for i in range(job.connections)
    ]
    # A request still unanswered `timeout` seconds after the window is a failure, not a wait.
    deadline = max(0.0, measure_until + job.timeout - clock())
    _, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for state in states:
        if state.since is not None and state.since >= measure_from:
            outcome.error(f"no answer within {job.timeout:g} s after the window")
    for task in tasks:
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure  # a bug in this client, not a server error: surface it
    if len(cpu_marks) == 2:
        outcome.cpu_seconds = cpu_marks[1] - cpu_marks[0]
    return outcome


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    # uvloop (installed with uvicorn[standard]) trims the client's CPU per request by 10-20%.
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_job(job: Job) -> Outcome:
    # The client allocates little cyclic garbage; a collection pause would show up as server
    # latency on every request in flight, so collect between jobs instead of during them.
    gc.collect()
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_drive(job))
    finally:
        gc.enable()


def _worker_main(conn: Connection) -> None:
    # Ctrl-C reaches the whole foreground process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            conn.send(run_job(job))
        except Exception:
            conn.send(traceback.format_exc())


class LoadGeneratorError(RuntimeError):
    """A load-generator process failed."""


class LoadGenerator:
    """A pool of load-generator processes, reused for every scenario of a run."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("at least one load-generator process is needed")
        # spawn, not fork: the parent may hold threads or sockets a fork would copy.
        context = multiprocessing.get_context("spawn")
        self._workers: list[tuple[BaseProcess, Connection]] = []
        try:
            for index in range(processes):
                parent_end, child_end = context.Pipe()
                process = context.Process(
                    target=_worker_main, args=(child_end,), name=f"loadgen-{index}", daemon=True
                )
                process.start()
                child_end.close()
                self._workers.append((process, parent_end))
        except BaseException:
            self.close()
            raise

    @property
    def processes(self) -> int:
        return len(self._workers)

    def run(
        self,
        scenario: Scenario,
        *,
        host: str,
        port: int,
        token: str | None,
        concurrency: int,
        warmup: float,
        duration: float,
        timeout: float,
        run_id: str,
        facts: Mapping[str, Any] | None = None,
        step_tokens: Sequence[str | None] = (),
    ) -> Outcome:
        """Drive one scenario with `concurrency` connections split over the processes.
        `token` is the first request's bearer token (unless the row has `callers`),
        `step_tokens` those of the row's steps."""
        active = self._workers[: max(1, min(concurrency, len(self._workers)))]
        shares = [concurrency // len(active)] * len(active)
        for i in range(concurrency % len(active)):
            shares[i] += 1
        # A short lead so every process starts its warm-up at the same instant.
        start_wall = time.time() + 0.2
        for index, ((process, conn), share) in enumerate(zip(active, shares, strict=True)):
            job = Job(
                host=host,
                port=port,
                scenario=scenario.name,
                token=token,
                connections=share,
                start_wall=start_wall,
                warmup=warmup,
                duration=duration,
                timeout=timeout,
                run_id=run_id,
                process_index=index,
                facts=dict(facts or {}),
                step_tokens=tuple(step_tokens),
            )
            try:
                conn.send(job)
            except OSError:
                process.join(timeout=1)
                raise LoadGeneratorError(
                    f"{process.name} is gone (exit code {process.exitcode})"
                ) from None
        total = Outcome()
        failures = []
        for process, conn in active:
            try:
                reply = conn.recv()
            except EOFError:
                process.join(timeout=1)
                failures.append(f"{process.name} exited with code {process.exitcode}")
                continue
            if isinstance(reply, Outcome):
                total.merge(reply)
            else:
                failures.append(f"{process.name}:\n{reply}")
        if failures:
            raise LoadGeneratorError("\n".join(failures))
        return total

    def close(self) -> None:
        for _, conn in self._workers:
            with contextlib.suppress(OSError):  # already gone
                conn.send(None)
            conn.close()
        for process, _ in self._workers:
            process.join(timeout=2)
            if process.is_alive():
                # Still inside a job (interrupted run): it holds no state worth keeping.
                process.terminate()
                process.join(timeout=2)
        self._workers.clear()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
