"""What the service says about itself: Prometheus metrics and structured JSON logs.

Metrics (`GET /metrics`, on when `LOYALTY_METRICS_ENABLED`; with `LOYALTY_METRICS_TOKEN` set the
scraper sends `Authorization: Bearer <token>`, and production refuses to serve them without one):

- `loyalty_graphql_operations_total{operation,type,outcome}` and
  `loyalty_graphql_operation_seconds{operation,type}`: every query, mutation and subscription
  start, by operation name (the first `OPERATION_NAMES_KEPT` names a process sees; later ones
  count as `other`, so a client cannot grow the series without end) and outcome (`ok`,
  `domain_error` when a mutation's payload carries `errors`, `error` otherwise);
- `loyalty_graphql_error_codes_total{code,where}`: each error code answered, top-level
  (`where="top"`: authentication, limits, UNAVAILABLE…) or in a mutation payload
  (`where="payload"`: INSUFFICIENT_POINTS…);
- `loyalty_db_pool_connections{state}` (PostgreSQL: `size`, `idle`, `max`),
  `loyalty_redis_connections{state}` (`in_use`, `available`), `loyalty_subscriptions` and
  `loyalty_realtime_notices_total{fate}`: read from the running objects at scrape time.

One process, one registry: under `loyalty serve --workers N` each scrape reaches one worker.
For a summed view set `PROMETHEUS_MULTIPROC_DIR` to an empty directory before start (the
`prometheus_client` multi-process mode, documented in docs/operations.md).

Logs: `LOYALTY_LOG_FORMAT=json` writes one JSON object per line (`time`, `level`, `logger`,
`message`, and where known `request_id`, `operation`, `member`, `exception`). `member` is a
pseudonym (a keyed hash of the caller's kind and id), never an e-mail, a name or a card number,
so that one member's requests can be followed through the logs without the logs holding who they
are. The request id comes from the client's `X-Request-ID` (when it is short and plain) or is
made here, and is sent back in the response's `X-Request-ID`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

from graphql import GraphQLError, OperationType
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from tortoise import connections

from gamification.actors import Actor
from schema.error_contract import complete
from server.settings import Settings

OPERATION_NAMES_KEPT: Final = 200
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

request_id_var: ContextVar[str | None] = ContextVar("loyalty_request_id", default=None)
operation_var: ContextVar[str | None] = ContextVar("loyalty_operation", default=None)
member_var: ContextVar[str | None] = ContextVar("loyalty_member", default=None)


# --- metrics ---------------------------------------------------------------------------------

REGISTRY = CollectorRegistry(auto_describe=True)
OPERATIONS = Counter(
    "loyalty_graphql_operations",
    "GraphQL operations by name, type and outcome.",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "loyalty_graphql_operation_seconds",
    "Time to execute a GraphQL operation (parse to result), by name and type.",
    ["operation", "type"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ERROR_CODES = Counter(
    "loyalty_graphql_error_codes",
    "Error codes answered: top-level GraphQL errors and mutation payload errors.",
    ["code", "where"],
    registry=REGISTRY,
)


class _OperationNames:
    """The label for an operation name: the name itself for the first `limit` names seen."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if name in self._kept:
            return name
        if len(self._kept) < self.limit:
            self._kept.add(name)
            return name
        return "other"


_names = _OperationNames(OPERATION_NAMES_KEPT)


def _payload_error_codes(data: Mapping[str, Any] | None) -> Iterator[str]:
    """The `code` of each payload error in a mutation's result (top-level fields only)."""
    for value in (data or {}).values():
        if isinstance(value, Mapping):
            for error in value.get("errors") or ():
                if isinstance(error, Mapping) and isinstance(error.get("code"), str):
                    yield error["code"]


def _error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else "INTERNAL"


class OperationMetrics(SchemaExtension):
    """Counts and times each operation, and names it in the log context (outermost extension,
    so the time includes parsing, validation and the connection wait)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        context = self.execution_context.context
        actor = getattr(context, "actor", None)
        member_var.set(pseudonym(actor, context.settings) if actor else None)
        operation_var.set(self.execution_context.operation_name)
        refused: list[GraphQLError] = []
        try:
            yield
        except GraphQLError as error:  # a refusal before execution (a limit)
            complete(error)
            refused.append(error)
            raise
        finally:
            # Not `reset(token)`: an abandoned operation's generator may be closed later, from
            # another context, where its tokens are not valid.
            operation_var.set(None)
            member_var.set(None)
            self._record(time.perf_counter() - started, refused)

    def _record(self, seconds: float, refused: list[GraphQLError]) -> None:
        execution = self.execution_context
        try:
            kind = execution.operation_type.value
        except Exception:  # not parsed, or no operation by that name: nothing to name
            kind = "unknown"
        name = _names.label(execution.operation_name)
        result = execution.result
        outcome = "ok"
        # A request refused before execution has its errors in both places: count each once.
        errors = {
            id(error): error
            for error in (
                *refused,
                *(execution.pre_execution_errors or ()),
                *(getattr(result, "errors", None) or ()),
            )
        }.values()
        if errors:
            outcome = "error"
            for error in errors:
                ERROR_CODES.labels(_error_code(error), "top").inc()
        elif result is not None and kind == OperationType.MUTATION.value:
            codes = list(_payload_error_codes(getattr(result, "data", None)))
            for code in codes:
                ERROR_CODES.labels(code, "payload").inc()
            if codes:
                outcome = "domain_error"
        OPERATIONS.labels(name, kind, outcome).inc()
        LATENCY.labels(name, kind).observe(seconds)


class _RuntimeCollector(Collector):
    """Gauges read from the running objects at scrape time: pools, subscriptions."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterable[Any]:
        pool = GaugeMetricFamily(
            "loyalty_db_pool_connections", "PostgreSQL pool connections.", labels=["state"]
        )
        for label, value in _database_pool():
            pool.add_metric([label], value)
        yield pool
        redis = GaugeMetricFamily(
            "loyalty_redis_connections", "Redis client pool connections.", labels=["state"]
        )
        for label, value in _redis_pool(getattr(self.state, "redis", None)):
            redis.add_metric([label], value)
        yield redis
        broker = getattr(self.state, "broker", None)
        stats = broker.stats() if broker is not None else {}
        yield GaugeMetricFamily(
            "loyalty_subscriptions",
            "Subscriptions this process is serving.",
            value=stats.get("subscriptions", 0),
        )
        notices = CounterMetricFamily(
            "loyalty_realtime_notices",
            "Real-time notices delivered to subscribers, or dropped (a full queue).",
            labels=["fate"],
        )
        notices.add_metric(["delivered"], stats.get("delivered", 0))
        notices.add_metric(["dropped"], stats.get("dropped", 0))
        yield notices


def _database_pool() -> list[tuple[str, float]]:
    try:
        client = connections.get("default")
    except Exception:  # not initialised (start-up failed, or a script)
        return []
    pool = getattr(client, "_pool", None)
    if pool is None or not hasattr(pool, "get_size"):
        return []  # SQLite: one connection, no pool
    return [
        ("size", pool.get_size()),
        ("idle", pool.get_idle_size()),
        ("max", pool.get_max_size()),
    ]


def _redis_pool(redis: Any) -> list[tuple[str, float]]:
    pool = getattr(redis, "connection_pool", None)
    in_use = getattr(pool, "_in_use_connections", None)
    available = getattr(pool, "_available_connections", None)
    if in_use is None or available is None:
        return []
    return [("in_use", len(in_use)), ("available", len(available))]


def metrics_endpoint(settings: Settings) -> Callable[[Request], Any]:
    """The `/metrics` view of one app: Prometheus text format, behind the token when one is
    set. The operation counters are the process's; the gauges read this app's pools."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    runtime: CollectorRegistry | None = None

    async def metrics(request: Request) -> Response:
        nonlocal runtime
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse("Unauthorized.\n", status_code=401)
        if runtime is None:
            runtime = CollectorRegistry(auto_describe=True)
            runtime.register(_RuntimeCollector(request.app.state))
        body = generate_latest(_operations_registry()) + generate_latest(runtime)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics


def _operations_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


# --- logs ------------------------------------------------------------------------------------


def pseudonym(actor: Actor, settings: Settings) -> str:
    """A stable name for the caller in logs that says nothing about who they are."""
    key = settings.jwt_secret.get_secret_value().encode()
    digest = hmac.new(key, f"{actor.kind.value}:{actor.id}".encode(), hashlib.sha256)
    return f"{actor.kind.value[0]}-{digest.hexdigest()[:16]}"


class JsonFormatter(logging.Formatter):
    """One JSON object per log record, with the request's id, operation and caller pseudonym."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in (
            ("request_id", request_id_var),
            ("operation", operation_var),
            ("member", member_var),
        ):
            value = var.get()
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_config(settings: Settings) -> dict[str, Any] | None:
    """uvicorn's `log_config` for `LOYALTY_LOG_FORMAT=json` (None keeps uvicorn's own)."""
    if settings.log_format != "json":
        return None
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    level = "DEBUG" if settings.log_level == "trace" else settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            "loyalty": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }


class RequestId:
    """Gives each HTTP request and WebSocket an id (the client's `X-Request-ID` when it is
    plain, else a new one), for the logs and the response's `X-Request-ID`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next(
            (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"),
            "",
        )
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
