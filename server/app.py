"""The Starlette application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gamification import program_settings, view_versions
from gamification.leaderboards import reconcile
from gamification.ledger.points import expire_points
from gamification.rewards.holds import expire_holds
from gamification.stores import device_cache
from server import worker as webhook_worker
from server.backends import BackendUnavailable
from server.database import close_database, database_is_reachable, init_database
from server.graphiql import assets_mount
from server.graphql_app import LoyaltyGraphQL
from server.limits import RequestBodyLimit, RequestTimeout
from server.observability import RequestId, metrics_endpoint
from server.pages import routes as reference_pages
from server.pubsub import Broker
from server.redis import (
    MEMORY_SCHEME,
    check_redis,
    create_redis,
    redis_failures_named,
    redis_is_reachable,
)
from server.settings import Settings, get_settings

logger = logging.getLogger("loyalty")


async def healthz(request: Request) -> JSONResponse:
    """The process is alive (says nothing about its dependencies)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database and Redis answer. 503 otherwise."""
    checks = {
        "database": await database_is_reachable(),
        "redis": await redis_is_reachable(request.app.state.redis),
    }
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


async def realtimez(request: Request) -> JSONResponse:
    """This process's real-time fan-out: channels, subscribers, queued notices, tasks."""
    return JSONResponse(
        {**request.app.state.broker.stats(), "tasks": len(asyncio.all_tasks())},
    )


async def run_expiry_schedule(interval_seconds: int, redis: Redis) -> None:
    """Release expired till holds, then expire due points, every `interval_seconds`. Safe with
    several processes doing the same: each hold and each account is settled under its row
    locks, exactly once. Holds go first: points are never expired while held. The members
    changed get new view versions after each commit (gamification.view_versions)."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            released = await view_versions.bumping(redis, expire_holds())
        except Exception:
            logger.exception("scheduled hold expiry failed; retrying at the next interval")
        else:
            if released:
                logger.info("released %s expired holds", released)
        try:
            expired = await view_versions.bumping(redis, expire_points())
        except Exception:
            logger.exception("scheduled expiry failed; retrying at the next interval")
        else:
            if expired:
                logger.info("expired %s points", expired)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class StartupFailureReport:
    """A start-up failure that already says what went wrong in one line (a backend that cannot
    be reached) reaches the server's log as that line, not as a traceback; with `debug` the
    traceback stays. Everything else is passed on as it is."""

    def __init__(self, app: ASGIApp, *, traceback: bool) -> None:
        self.app = app
        self.traceback = traceback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" or self.traceback:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_startup_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held.append(message)  # sent once the exception says what it is
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_startup_failure)
        except BackendUnavailable as error:
            if held:
                await send({"type": "lifespan.startup.failed", "message": str(error)})
                held.clear()
            raise
        finally:
            for message in held:
                await send(message)


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app. Raises InsecureConfiguration when production settings are unsafe."""
    settings = settings or get_settings()
    settings.check_safe_to_start()
    program_settings.configure(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Whatever is opened is closed again, in reverse order, when start-up fails half-way as
        # on shutdown: an open SQLite connection is a thread that keeps the process alive, and
        # uvicorn would never exit after "Application startup failed".
        async with contextlib.AsyncExitStack() as opened:
            app.state.redis = create_redis(settings)
            opened.push_async_callback(app.state.redis.aclose)
            await init_database(settings)
            opened.push_async_callback(close_database)
            await check_redis(app.state.redis, settings)
            if settings.redis_url.startswith(MEMORY_SCHEME):
                # The in-process stand-in starts empty with every process: fill the leaderboards
                # from the ledger (a real Redis keeps them; `loyalty rebuild-leaderboards` is the
                # operator's tool there).
                await reconcile.rebuild(app.state.redis)
            # One Redis pub/sub connection for every subscription in this process, and for the
            # revocations of devices this process may have cached.
            app.state.broker = Broker(
                app.state.redis,
                queue_size=settings.realtime_queue_size,
                namespace=settings.redis_channel_namespace,
                listeners={device_cache.revocations_channel(): device_cache.evict_published},
            )
            opened.push_async_callback(app.state.broker.stop)
            with redis_failures_named(settings):
                await app.state.broker.start()
            if settings.expiry_interval_seconds:
                expiry = asyncio.create_task(
                    run_expiry_schedule(settings.expiry_interval_seconds, app.state.redis)
                )
                opened.push_async_callback(_cancel, expiry)
            if settings.webhook_worker_in_serve:
                opened.push_async_callback(await webhook_worker.start_in_process())
            yield

    graphql = LoyaltyGraphQL(settings)
    middleware = [
        # Outermost: every log line of the request, the timeout's included, carries its id.
        Middleware(RequestId),
        Middleware(StartupFailureReport, traceback=settings.log_level in ("debug", "trace")),
        Middleware(RequestTimeout, seconds=settings.request_timeout_seconds),
        # Inside the timeout, which bounds a slow upload too.
        Middleware(RequestBodyLimit, max_bytes=settings.request_max_bytes),
    ]
    if settings.allowed_origins:
        middleware.insert(
            2,
            Middleware(
                CORSMiddleware,
                allow_origins=settings.allowed_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                max_age=600,
            ),
        )
    app = Starlette(
        routes=[
            # Every method reaches the view, which refuses all but GET and POST as a GraphQL
            # error document (Starlette's own 405 is plain text).
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/realtimez", realtimez),
            *([Route("/metrics", metrics_endpoint(settings))] if settings.metrics_enabled else []),
            # GraphiQL's files, in development only (the page itself is the view's GET).
            *([assets_mount()] if settings.graphiql_enabled else []),
            # /kiosk, /me, /till and their files (server/pages.py).
            *(reference_pages() if settings.reference_pages_enabled else []),
        ],
        lifespan=lifespan,
        middleware=middleware,
    )
    app.state.settings = settings
    return app
