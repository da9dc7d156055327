"""The service's configuration: one typed object read from `LOYALTY_*` environment variables.

This module is a leaf: it imports nothing of the project, so every layer may read it.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A development-only secret. Production refuses to start while it is in use.
DEFAULT_JWT_SECRET = "dev-only-secret-change-me-before-production-0000"
DEFAULT_DATA_DIR = Path("data")


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class PersistedQueryMode(enum.StrEnum):
    AUTOMATIC = "automatic"  # Apollo's automatic persisted queries; any document runs too
    ALLOWLIST = "allowlist"  # only the registered set (schema/registered_operations) runs
    OFF = "off"


class TierWindow(enum.StrEnum):
    ROLLING_12_MONTHS = "rolling_12_months"
    CALENDAR_YEAR = "calendar_year"


LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
ENV_PREFIX = "LOYALTY_"


class InsecureConfiguration(RuntimeError):
    """The settings are unsafe for the chosen environment; the service must not start."""


class ConfigurationError(ValueError):
    """A `LOYALTY_*` variable has a value the service cannot use. The message has one line per
    variable: its name, what it expects and what it got."""


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    # `debug` also prints the full traceback of a start-up failure (like `loyalty --debug`).
    log_level: LogLevel = "info"
    # `json`: one JSON object per log line, with the request id, the operation and a pseudonym
    # of the caller (server/observability.py); `text`: uvicorn's plain lines.
    log_format: Literal["text", "json"] = "text"
    # Prometheus metrics at `/metrics` (server/observability.py). With a token set, the scraper
    # sends `Authorization: Bearer <token>`; production refuses to serve metrics without one.
    metrics_enabled: bool = False
    metrics_token: SecretStr | None = None

    # Storage. The defaults need nothing installed: an SQLite file and an in-process Redis.
    database_url: str = f"sqlite://{DEFAULT_DATA_DIR}/loyalty.sqlite3"
    database_pool_max: int = Field(default=20, ge=1, le=500)
    redis_url: str = "memory://"
    redis_channel_namespace: str = Field(
        default="loyalty",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description=(
            "Names this deployment's real-time pub/sub channels (`rt:<namespace>:…`). Channels "
            "are shared by every database of a Redis server, unlike keys: give each deployment "
            "(or test run) on one Redis its own. Up to 64 letters, digits, `.`, `_`, `-`."
        ),
    )
    # How long start-up waits for PostgreSQL to answer before it gives up.
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    # How long a request waits for a pooled connection when all are busy (or PostgreSQL refuses
    # new ones) before it answers UNAVAILABLE, retryable, instead of queueing without end.
    database_pool_timeout_seconds: float = Field(default=2.0, gt=0, le=60)

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
    # An active device (kiosk, till) is remembered per process for this many seconds, sparing a
    # database read per request; 0 reads the device on every request. Revoking a device evicts
    # it at once in every process that hears the revocation on Redis; this bounds how long a
    # process that missed it (Redis down, a reconnect) may still accept the device.
    device_cache_seconds: float = Field(default=30.0, ge=0, le=3600)

    # Privacy (docs/privacy.md). An erased member's access tokens are refused at once by the
    # process that erased them, and by every other within this many seconds (each reloads the
    # list of erased members this often).
    erased_member_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    # `requestMyData` and `exportMember` answer at most this many rows per section (and say
    # which sections they cut); `loyalty export-member` writes everything.
    export_max_rows: int = Field(default=5000, ge=1, le=1_000_000)
    # `loyalty purge` deletes redemption tokens this many days after they expired, and stored
    # idempotency keys (requests and their answers) this many days after the request.
    retention_redemption_token_days: int = Field(default=7, ge=1, le=3650)
    retention_idempotency_key_days: int = Field(default=90, ge=1, le=3650)
    # ... and the webhook delivery log (finished deliveries) and dispatched outbox events this
    # many days after they were made or dispatched.
    retention_delivery_log_days: int = Field(default=30, ge=1, le=3650)

    # Points.
    points_expiry_months: int = Field(default=12, ge=1, le=120)
    purchase_clock_skew_seconds: int = Field(default=300, ge=0, le=3600)
    expiry_interval_seconds: int = Field(default=0, ge=0)  # 0: only `loyalty expire-points`
    # Earn rules, promotions and store ids are cached per process. A change made through this
    # process is seen at once; one made through another process within this many seconds.
    program_cache_seconds: float = Field(default=5.0, ge=0, le=3600)
    # The app's home screen (registered query `HomeScreen`) is answered from a per-member copy
    # in Redis while the member's and the program's versions are unchanged (writes change them
    # after commit, server/response_cache.py); the rank on it is always read afresh. A copy is
    # kept at most this many seconds and never past the minute it was made in: this bounds how
    # stale a copy can be when a process dies between a commit and its version change.
    # 0 turns the cache off.
    home_cache_seconds: float = Field(default=60.0, ge=0, le=60)

    # Kiosk and till: how long a redemption token (the app's QR code) stays valid.
    redemption_token_ttl_seconds: int = Field(default=120, ge=10, le=3600)

    # Leaderboards. A week's or month's board stays readable this long after the period ends
    # (final standings, late updates), then Redis drops it on its own.
    leaderboard_period_margin_days: int = Field(default=7, ge=1, le=90)
    leaderboard_max_neighbours: int = Field(default=25, ge=1, le=500)
    max_follows: int = Field(default=500, ge=1, le=100_000)

    # Tiers. Qualifying points count over a rolling 12 months or the calendar year; a member
    # whose points fell short keeps the tier `tier_grace_days` past the period's end, then
    # drops one tier. Challenge bonuses qualify only when `tier_bonus_points_qualify`.
    tier_window: TierWindow = TierWindow.ROLLING_12_MONTHS
    # The program's own IANA timezone: a calendar year of qualification ends at its local
    # midnight on 31 December.
    program_timezone: str = "UTC"
    tier_grace_days: int = Field(default=0, ge=0, le=365)
    tier_bonus_points_qualify: bool = False

    # Member notifications (`loyalty notify`), in each member's own timezone. Points expiring
    # and a tier at risk are told this many days before the last local day; those notices and
    # birthdays go out from `notify_local_hour` (local) on the day they fall due. A challenge
    # is told this many hours before the member's current window closes.
    notify_points_expiring_days: int = Field(default=14, ge=1, le=365)
    notify_tier_at_risk_days: int = Field(default=30, ge=1, le=365)
    notify_challenge_ending_hours: int = Field(default=12, ge=1, le=24 * 31)
    notify_local_hour: int = Field(default=9, ge=0, le=23)

    # Real-time (GraphQL subscriptions). Each subscriber's queue holds at most this many
    # notices (a slow client skips to the latest); a board pushes at most one update per
    # interval; a kiosk's redemption request waits this long for the member's answer.
    realtime_queue_size: int = Field(default=32, ge=1, le=10_000)
    # WebSockets (uvicorn, `loyalty serve`). Compression (permessage-deflate) keeps ~50 KiB of
    # zlib state per connection for messages that are small JSON documents: off by default.
    ws_per_message_deflate: bool = False
    # The largest message a WebSocket client may send, in bytes (uvicorn's default is 16 MiB):
    # a document and its variables, as for an HTTP body. A larger one closes the socket (1009).
    ws_max_message_bytes: int = Field(default=100_000, ge=1_000, le=100_000_000)
    realtime_leaderboard_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    realtime_leaderboard_top_max: int = Field(default=50, ge=1, le=500)
    redemption_request_timeout_seconds: float = Field(default=60, gt=0, le=3600)

    # GraphQL.
    max_page_size: int = Field(default=100, ge=1, le=1000)
    graphiql: bool | None = None  # None: on in development, off in production
    # The reference pages (server/pages.py): a store kiosk at /kiosk, a member's page at /me and
    # a till at /till, on the public API only, for kiosk and web teams to start from.
    reference_pages: bool | None = None  # None: on in development, off in production (a demo: true)

    # Persisted queries (server/persisted_queries.py): `automatic` lets clients send a document's
    # SHA-256 instead of its text; `allowlist` runs only the app's registered operations
    # (schema/registered_operations/), over HTTP and WebSockets; `off` ignores the extension.
    persisted_queries: PersistedQueryMode = PersistedQueryMode.AUTOMATIC

    # Query abuse limits (see docs/security.md). Batching (a JSON list of
    # operations in one request) is off: every operation comes in its own request.
    query_max_depth: int = Field(default=12, ge=2, le=100)
    query_max_aliases: int = Field(default=20, ge=0, le=1000)
    # Both checked before parsing: the length in constant time, the tokens with one regex scan
    # (graphql-core's lexer and parser cost ~5 µs a token; the scan ~0.1 µs).
    query_max_tokens: int = Field(default=1000, ge=50, le=100_000)
    query_max_length: int = Field(default=10_000, ge=100, le=1_000_000)
    # An HTTP request, or a query or mutation sent over a WebSocket (not a subscription),
    # running longer than this is cancelled and answered TIMEOUT.
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Request bodies over this size are refused (413) before they are decoded. The document
    # limit above plus room for variables.
    request_max_bytes: int = Field(default=100_000, ge=1_000, le=100_000_000)
    field_suggestions: bool | None = None  # None: on in development, off in production

    # Browser origins allowed to call the API (CORS) and to open its WebSocket. Empty: none
    # (same-origin and non-browser clients are unaffected).
    allowed_origins: Annotated[list[str], NoDecode] = []

    # Rate limits on the sensitive mutations, per operation (an alias or a batch counts each
    # call), in a fixed window kept in Redis so that every process shares the counts. Over a
    # limit the call fails with RATE_LIMITED and `retryAfter` seconds. 0 turns a limit off.
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=3600)
    rate_limit_per_member: int = Field(default=30, ge=0)
    rate_limit_per_device: int = Field(default=600, ge=0)
    rate_limit_per_address: int = Field(default=600, ge=0)
    # logIn and signUp have no caller yet: the address is all there is to count.
    rate_limit_sign_in_per_address: int = Field(default=20, ge=0)

    # Webhooks (`loyalty worker`, docs/webhooks.md). An attempt that gets no 2xx within the
    # timeout is retried after base * 2^(attempt-1) seconds (at most the maximum), jittered
    # down to half; after `webhook_max_attempts` the delivery is FAILED. An endpoint failing
    # without a break for `webhook_disable_after_failures` attempts and at least
    # `webhook_disable_after_minutes` minutes is switched off (event webhook_endpoint.disabled).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_max_attempts: int = Field(default=15, ge=1, le=100)
    webhook_backoff_base_seconds: float = Field(default=5.0, ge=0, le=3600)
    webhook_backoff_max_seconds: float = Field(default=3600.0, ge=0, le=86_400)
    webhook_endpoint_concurrency: int = Field(default=16, ge=1, le=100)
    webhook_disable_after_failures: int = Field(default=50, ge=1)
    webhook_disable_after_minutes: float = Field(default=24 * 60, ge=0)
    webhook_poll_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_batch_size: int = Field(default=100, ge=1, le=10_000)
    # Receivers are refused (at registration and at every delivery) when their host resolves
    # to a private, loopback, link-local, multicast or reserved address, unless the host name
    # or one of its addresses is on this list (names, addresses or networks: `127.0.0.1,
    # hooks.internal, 10.1.0.0/16`): for tests and private integrations.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = []
    # Also run the webhook worker inside `loyalty serve` (each process), besides `loyalty worker`.
    webhook_worker_in_serve: bool = False

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for name in ("jwt_algorithms", "allowed_origins", "webhook_allowed_hosts"):
                if name in data:
                    data[name] = _comma_separated(data[name])
        return data

    @field_validator("program_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, KeyError, OSError):
            raise ValueError(f"unknown IANA timezone {value[:64]!r}") from None
        return value

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def graphiql_enabled(self) -> bool:
        if self.graphiql is None:
            return not self.is_production
        return self.graphiql and not self.is_production

    @property
    def reference_pages_enabled(self) -> bool:
        if self.reference_pages is None:
            return not self.is_production
        return self.reference_pages

    @property
    def introspection_enabled(self) -> bool:
        return not self.is_production

    @property
    def field_suggestions_enabled(self) -> bool:
        """graphql-core's "Did you mean ...?" hints, which spell out the schema."""
        if self.field_suggestions is None:
            return not self.is_production
        return self.field_suggestions and not self.is_production

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
        if self.metrics_enabled and self.metrics_token is None:
            raise InsecureConfiguration(
                "LOYALTY_METRICS_TOKEN must be set when LOYALTY_METRICS_ENABLED is on in production"
            )


_EXPECTATIONS = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "expected at least {}"),
    "greater_than": ("gt", "expected more than {}"),
    "less_than_equal": ("le", "expected at most {}"),
    "less_than": ("lt", "expected less than {}"),
}


def _is_secret(name: str) -> bool:
    field = Settings.model_fields.get(name)
    return field is not None and "SecretStr" in str(field.annotation)


def _explain(error: Any) -> str:
    """One line for one pydantic error: the variable, what it expects, what it got."""
    loc = error.get("loc") or ()
    name = str(loc[0]) if loc else ""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _EXPECTATIONS:
        expectation = _EXPECTATIONS[kind]
    elif kind in ("enum", "literal_error"):
        expectation = f"expected {ctx['expected']}"
    elif kind in _BOUNDS:
        key, template = _BOUNDS[kind]
        bound = ctx[key]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # "more than 0", not "more than 0.0"
        expectation = template.format(bound)
    elif kind == "value_error":
        # The validator's own words, which show the value when it is safe to.
        expectation = str(error["msg"]).removeprefix("Value error, ")
        return f"{ENV_PREFIX}{name.upper()}: {expectation}" if name else expectation
    else:
        message = str(error["msg"])
        expectation = message[:1].lower() + message[1:]
    if not name:
        return expectation
    variable = f"{ENV_PREFIX}{name.upper()}"
    if _is_secret(name):
        return f"{variable}: {expectation}"
    shown = str(error.get("input"))
    shown = shown if len(shown) <= 64 else shown[:61] + "..."
    return f"{variable}: {expectation}, got {shown!r}"


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment. Raises ConfigurationError, naming each variable, when
    one has a value the service cannot use."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigurationError("\n".join(_explain(e) for e in error.errors())) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment, read once. Raises ConfigurationError."""
    return load_settings()
