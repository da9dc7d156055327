from __future__ import annotations

import pytest

from server.app import create_app
from server.settings import (
    DEFAULT_JWT_SECRET,
    ConfigurationError,
    Environment,
    InsecureConfiguration,
    Settings,
    load_settings,
)


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


def _refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> list[str]:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    return str(refused.value).splitlines()


def test_a_value_of_the_wrong_type_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _refusal(monkeypatch, LOYALTY_MAX_PAGE_SIZE="lots") == [
        "LOYALTY_MAX_PAGE_SIZE: expected an integer, got 'lots'"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "LOYALTY_ENVIRONMENT",
            "prod",
            "LOYALTY_ENVIRONMENT: expected 'development' or 'production', got 'prod'",
        ),
        (
            "LOYALTY_TIER_WINDOW",
            "yearly",
            "LOYALTY_TIER_WINDOW: expected 'rolling_12_months' or 'calendar_year', got 'yearly'",
        ),
        (
            "LOYALTY_LOG_LEVEL",
            "loud",
            "LOYALTY_LOG_LEVEL: expected 'critical', 'error', 'warning', 'info', 'debug' or "
            "'trace', got 'loud'",
        ),
    ],
    ids=["enum", "another-enum", "literal"],
)
def test_a_choice_lists_the_accepted_values(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    assert _refusal(monkeypatch, **{variable: value}) == [line]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "LOYALTY_DATABASE_POOL_MAX",
            "0",
            "LOYALTY_DATABASE_POOL_MAX: expected at least 1, got '0'",
        ),
        (
            "LOYALTY_MAX_PAGE_SIZE",
            "5000",
            "LOYALTY_MAX_PAGE_SIZE: expected at most 1000, got '5000'",
        ),
        (
            "LOYALTY_REQUEST_TIMEOUT_SECONDS",
            "0",
            "LOYALTY_REQUEST_TIMEOUT_SECONDS: expected more than 0, got '0'",
        ),
        ("LOYALTY_GRAPHIQL", "maybe", "LOYALTY_GRAPHIQL: expected true or false, got 'maybe'"),
        (
            "LOYALTY_PROGRAM_TIMEZONE",
            "Mars/Base",
            "LOYALTY_PROGRAM_TIMEZONE: unknown IANA timezone 'Mars/Base'",
        ),
    ],
    ids=["minimum", "maximum", "positive", "boolean", "validator"],
)
def test_a_value_out_of_range_says_the_range(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    assert _refusal(monkeypatch, **{variable: value}) == [line]


def test_every_bad_variable_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refusal(monkeypatch, LOYALTY_MAX_PAGE_SIZE="lots", LOYALTY_QUERY_MAX_DEPTH="1")

    assert sorted(lines) == [
        "LOYALTY_MAX_PAGE_SIZE: expected an integer, got 'lots'",
        "LOYALTY_QUERY_MAX_DEPTH: expected at least 2, got '1'",
    ]


def test_a_long_value_is_shortened(monkeypatch: pytest.MonkeyPatch) -> None:
    [line] = _refusal(monkeypatch, LOYALTY_MAX_FOLLOWS="9" * 100 + "x")

    assert line == f"LOYALTY_MAX_FOLLOWS: expected an integer, got '{'9' * 61}...'"


def test_log_level_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_LOG_LEVEL", "debug")

    assert load_settings().log_level == "debug"


def test_a_refused_secret_is_not_repeated() -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_settings(jwt_secret=31415926535)

    assert str(refused.value) == "LOYALTY_JWT_SECRET: input should be a valid string"
