"""Test wiring. One backend per test process, chosen like the service chooses it:

- `LOYALTY_DATABASE_URL` unset: a fresh SQLite file in a temporary folder; set (CI's second
  pass): that database, which must be empty and reachable, or the session fails (never skips).
- `LOYALTY_REDIS_URL` unset: the in-process stand-in; set: that Redis, flushed between tests.

The schema is always built from the checked-in migrations. Tests marked `postgres` need row
locks and run only in the PostgreSQL pass: they are deselected, with a notice, on SQLite.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from tortoise import Tortoise, connections

from gamification import program_settings
from gamification.ledger import accounts
from server.app import create_app
from server.database import apply_migrations
from server.settings import Settings
from tests.factories import TEST_JWT_SECRET, OverrideSettings
from tests.process_caches import forget_process_caches

_TMP = Path(tempfile.mkdtemp(prefix="loyalty-tests-"))
# Pub/sub channels are shared by every database of a Redis server: each test run gets its own
# namespace, so that runs sharing one Redis never hear each other. Set before any settings are
# read, so that the app's settings and `get_settings()` agree (server processes a test starts
# inherit it).
os.environ.setdefault("LOYALTY_REDIS_CHANNEL_NAMESPACE", f"test-{_TMP.name}")


def _test_settings() -> Settings:
    return Settings(
        database_url=os.environ.get("LOYALTY_DATABASE_URL")
        or f"sqlite://{_TMP}/loyalty-test.sqlite3",
        redis_url=os.environ.get("LOYALTY_REDIS_URL") or "memory://",
        jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
        database_pool_max=30,
    )


# Configured at import too, for what test modules compute when they are collected (channel
# names, for one); each test starts again from these (`program_settings_of_the_run`).
program_settings.configure(_test_settings())


def pytest_unconfigure(config: pytest.Config) -> None:
    # After the session's fixtures closed the database: nothing of a run stays behind.
    shutil.rmtree(_TMP, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = _test_settings()
    return [f"loyalty database: {settings.database_url}", f"loyalty redis: {settings.redis_url}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # PostgreSQL-only tests in the SQLite pass, and tests that touch no backend (the same in
    # both passes) in the PostgreSQL pass: each runs in one pass of CI.
    postgres = _test_settings().uses_postgres
    marker, why = (
        ("backend_free", "backend-free tests deselected (they ran in the SQLite pass)")
        if postgres
        else ("postgres", "PostgreSQL-only tests deselected (SQLite pass)")
    )
    deselected = [item for item in items if item.get_closest_marker(marker)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(marker)]
        print(f"\n{len(deselected)} {why}.")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return _test_settings()


@pytest.fixture(autouse=True)
def program_settings_of_the_run(settings: Settings) -> None:
    """Every test starts with the run's settings, whatever app another test built."""
    program_settings.configure(settings)


@pytest.fixture
def override_settings(settings: Settings) -> Iterator[OverrideSettings]:
    """`override_settings(tier_grace_days=30)`: the domain reads these for the rest of the test."""

    def override(**changes: Any) -> Settings:
        changed = program_settings.current().model_copy(update=changes)
        program_settings.configure(changed)
        return changed

    yield override
    program_settings.configure(settings)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    await apply_migrations(settings)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def redis(app: Starlette) -> Redis:
    client: Redis = app.state.redis
    return client


async def _empty_tables() -> None:
    models = list(Tortoise.apps["models"].values())
    tables = [m._meta.db_table for m in models]
    connection = connections.get("default")
    if _test_settings().uses_postgres:
        quoted = ", ".join(f'"{t}"' for t in tables)
        await connection.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    else:
        await connection.execute_script(
            "PRAGMA foreign_keys = OFF;"
            + "".join(f'DELETE FROM "{t}";' for t in tables)
            + "PRAGMA foreign_keys = ON;"
        )


@pytest.fixture(autouse=True)
async def clean_state(app: Starlette, redis: Redis) -> AsyncIterator[None]:
    """Every test starts from empty tables and an empty Redis."""
    yield
    await _empty_tables()
    forget_process_caches()
    await accounts.program_account_id()
    await redis.flushdb()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
