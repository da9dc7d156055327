from __future__ import annotations

import pytest

from server.app import create_app
from server.settings import DEFAULT_JWT_SECRET, Environment, InsecureConfiguration, Settings


def test_defaults_need_nothing_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    for name in ("LOYALTY_DATABASE_URL", "LOYALTY_REDIS_URL", "LOYALTY_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)

    # when
    settings = Settings()

    # then
    assert settings.database_url.startswith("sqlite://")
    assert settings.redis_url == "memory://"
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.graphiql_enabled
    assert settings.introspection_enabled


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_JWT_ALGORITHMS", "HS256, RS256")
    monkeypatch.setenv("LOYALTY_ACCESS_TOKEN_TTL_SECONDS", "600")

    settings = Settings()

    assert settings.jwt_algorithms == ["HS256", "RS256"]
    assert settings.access_token_ttl_seconds == 600


def test_production_refuses_the_default_secret() -> None:
    settings = Settings(environment=Environment.PRODUCTION)

    with pytest.raises(InsecureConfiguration):
        create_app(settings)
    assert settings.jwt_secret.get_secret_value() == DEFAULT_JWT_SECRET


def test_production_refuses_a_short_secret() -> None:
    settings = Settings(environment=Environment.PRODUCTION, jwt_secret="short")  # type: ignore[arg-type]

    with pytest.raises(InsecureConfiguration):
        settings.check_safe_to_start()


def test_production_turns_graphiql_and_introspection_off() -> None:
    settings = Settings(
        environment=Environment.PRODUCTION,
        jwt_secret="a-production-secret-of-at-least-32-bytes",  # type: ignore[arg-type]
        graphiql=True,
    )

    settings.check_safe_to_start()
    assert not settings.graphiql_enabled
    assert not settings.introspection_enabled


def test_the_secret_is_never_printed() -> None:
    settings = Settings()

    assert DEFAULT_JWT_SECRET not in repr(settings)
