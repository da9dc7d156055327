from __future__ import annotations

import os

from tortoise import Tortoise, connections
from tortoise.migrations.autodetector import MigrationAutodetector

from server.database import tortoise_config
from server.settings import Settings


async def test_models_and_checked_in_migrations_agree(settings: Settings) -> None:
    # given: the apps as configured, with their checked-in migrations
    apps_config = tortoise_config(settings)["apps"]

    # when: the autodetector compares the models with the migrations' end state
    writers = await MigrationAutodetector(Tortoise.apps, apps_config).changes()

    # then: nothing to write — run `tortoise makemigrations` when this fails
    assert [w.name for w in writers] == []


async def test_the_database_is_the_configured_backend(settings: Settings) -> None:
    _, rows = await connections.get("default").execute_query("SELECT 1 AS one")
    dialect = connections.get("default").capabilities.dialect

    assert rows[0]["one"] == 1
    assert dialect == ("postgres" if settings.uses_postgres else "sqlite")
    if os.environ.get("LOYALTY_REQUIRE_POSTGRES"):
        # CI's second pass must really run on PostgreSQL, not fall back to SQLite.
        assert settings.uses_postgres
        _, version = await connections.get("default").execute_query("SELECT version() AS v")
        assert "PostgreSQL" in version[0]["v"]
