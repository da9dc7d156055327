"""The service's configuration: one typed object read from `LOYALTY_*` environment variables.

This module is a leaf: it imports nothing of the project, so every layer may read it.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A development-only secret. Production refuses to start while it is in use.
DEFAULT_JWT_SECRET = "dev-only-secret-change-me-before-production-0000"
DEFAULT_DATA_DIR = Path("data")


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class InsecureConfiguration(RuntimeError):
    """The settings are unsafe for the chosen environment; the service must not start."""


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT

    # Storage. The defaults need nothing installed: an SQLite file and an in-process Redis.
    database_url: str = f"sqlite://{DEFAULT_DATA_DIR}/loyalty.sqlite3"
    database_pool_max: int = Field(default=20, ge=1, le=500)
    redis_url: str = "memory://"

    # Authentication. HS* tokens are checked with `jwt_secret`, RS*/ES* tokens (an external
    # identity provider) with `jwt_public_key`; only algorithms in the allow-list are accepted.
    jwt_algorithms: Annotated[list[str], NoDecode] = ["HS256"]
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_public_key: SecretStr | None = None
    jwt_issuer: str = "loyalty-platform"
    jwt_audience: str = "loyalty-api"
    external_jwt_issuer: str | None = None
    access_token_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    device_token_ttl_days: int = Field(default=365, ge=1, le=3650)

    # Points.
    points_expiry_months: int = Field(default=12, ge=1, le=120)
    purchase_clock_skew_seconds: int = Field(default=300, ge=0, le=3600)
    expiry_interval_seconds: int = Field(default=0, ge=0)  # 0: only `loyalty expire-points`

    # Kiosk and till: how long a redemption token (the app's QR code) stays valid.
    redemption_token_ttl_seconds: int = Field(default=120, ge=10, le=3600)

    # Leaderboards. A week's or month's board stays readable this long after the period ends
    # (final standings, late updates), then Redis drops it on its own.
    leaderboard_period_margin_days: int = Field(default=7, ge=1, le=90)
    leaderboard_max_neighbours: int = Field(default=25, ge=1, le=500)
    max_follows: int = Field(default=500, ge=1, le=100_000)

    # GraphQL.
    max_page_size: int = Field(default=100, ge=1, le=1000)
    graphiql: bool | None = None  # None: on in development, off in production

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict) and "jwt_algorithms" in data:
            data["jwt_algorithms"] = _comma_separated(data["jwt_algorithms"])
        return data

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def graphiql_enabled(self) -> bool:
        if self.graphiql is None:
            return not self.is_production
        return self.graphiql and not self.is_production

    @property
    def introspection_enabled(self) -> bool:
        return not self.is_production

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))

    def check_safe_to_start(self) -> None:
        """Raises InsecureConfiguration when production would run with development defaults."""
        if not self.is_production:
            return
        uses_hmac = any(alg.startswith("HS") for alg in self.jwt_algorithms)
        secret = self.jwt_secret.get_secret_value()
        if uses_hmac and (secret == DEFAULT_JWT_SECRET or len(secret.encode()) < 32):
            raise InsecureConfiguration(
                "LOYALTY_JWT_SECRET must be set to a private value of at least 32 bytes "
                "in production"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
