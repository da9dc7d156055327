"""Tortoise ORM wiring: one config built from settings, used by the app, the CLI and the tests."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate

from gamification.ledger import accounts
from server.backends import BackendUnavailable, describe_target, named_failures
from server.settings import Settings

# Every concept keeps its models beside it; Tortoise reads them as one app.
MODEL_CONCEPTS = (
    "stores",
    "members",
    "ledger",
    "earning",
    "rewards",
    "causes",
    "tiers",
    "events",
    "challenges",
    "badges",
    "notifications",
    "privacy",
    "outbox",
    "webhooks",
)
MODEL_MODULES = [f"gamification.{concept}.models" for concept in MODEL_CONCEPTS]
MIGRATIONS_MODULE = "gamification.migrations"


def _database_url(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    # asyncpg's pool defaults to 5 connections; size it from settings.
    query.setdefault("maxsize", str(settings.database_pool_max))
    query.setdefault("minsize", "1")
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _keep_session(connection: object) -> None:
    """Return a pooled PostgreSQL connection without asyncpg's reset query.

    asyncpg's default reset (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL`) costs a round trip every time a connection goes back to the pool — after every query
    outside a transaction. The service never takes advisory locks, LISTENs on these connections,
    keeps cursors open or changes session settings, so there is nothing to reset; an open
    transaction is still rolled back by the pool itself before this runs.
    """


def _connection(settings: Settings) -> str | dict[str, Any]:
    url = _database_url(settings)
    if not settings.uses_postgres:
        return url
    connection = expand_db_url(url)
    connection["credentials"]["reset"] = _keep_session
    # asyncpg waits 60 s for a server that does not answer; start-up should fail sooner.
    connection["credentials"].setdefault("timeout", settings.database_connect_timeout_seconds)
    # Tortoise's asyncpg client, with a bounded wait for a pooled connection (server.pg_pool).
    connection["engine"] = "server.pg_pool"
    connection["credentials"]["acquire_timeout"] = settings.database_pool_timeout_seconds
    return connection


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(settings)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _has_no_tables(error: BaseException) -> bool:
    while error is not None:
        if "no such table" in str(error) or type(error).__name__ == "UndefinedTableError":
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


async def init_database(settings: Settings) -> None:
    """Connect. Raises BackendUnavailable, naming LOYALTY_DATABASE_URL, when the database cannot
    be reached or has not been migrated; nothing stays open then."""
    try:
        with named_failures(
            setting="LOYALTY_DATABASE_URL", backend="the database", url=settings.database_url
        ):
            # The global fallback lets uvicorn's request tasks see the context that the
            # lifespan task created (see STACK_NOTES: "No TortoiseContext is currently active").
            await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)
            try:
                # The program's own account exists before any use case runs, so that none of
                # them creates it inside a transaction that might roll back.
                await accounts.program_account_id()
            except Exception as error:
                if not _has_no_tables(error):
                    raise
                raise BackendUnavailable(
                    setting="LOYALTY_DATABASE_URL",
                    backend="the database",
                    target=describe_target(settings.database_url),
                    cause="it has no tables yet (run `loyalty migrate` first)",
                ) from error
    except BaseException:
        # An open SQLite connection is a thread that would keep the process alive.
        await _close_quietly()
        raise


async def _close_quietly() -> None:
    with contextlib.suppress(Exception):
        await Tortoise.close_connections()


async def close_database() -> None:
    await Tortoise.close_connections()


async def apply_migrations(settings: Settings) -> None:
    """Bring the database schema up to the latest checked-in migration. Raises
    BackendUnavailable when the database cannot be reached."""
    try:
        with named_failures(
            setting="LOYALTY_DATABASE_URL", backend="the database", url=settings.database_url
        ):
            await migrate(config=tortoise_config(settings))
    finally:
        await _close_quietly()


async def database_is_reachable() -> bool:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:
        return False
    return True
