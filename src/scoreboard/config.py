"""One settings object for the whole service, read from `SCOREBOARD_*` environment variables."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scoreboard.embedded.process import read_or_create_secret

# Secrets that appear in docs, tutorials and .env examples; refusing them outside development
# stops a copy-pasted configuration from signing real tokens.
KNOWN_DEFAULT_SECRETS = frozenset({"changeme", "change-me", "secret", "dev", "development", "scoreboard"})
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    """Where the service runs; only development may generate its own secret."""

    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Every setting of the service; each description is a row of the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="SCOREBOARD_", extra="ignore", frozen=True)

    environment: Environment = Field(
        default=Environment.development,
        description="`development`, `test` or `production`. Only `development` may run without an explicit JWT secret.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL ≥ 15, e.g. `postgresql://user:pass@db:5432/scoreboard`. Unset: embedded PostgreSQL.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis ≥ 7 / Valkey, e.g. `redis://:pass@cache:6379/0`. Unset: embedded Valkey."
    )
    data_dir: Path = Field(
        default=Path(".scoreboard"),
        description="Data of the embedded servers, their generated passwords, the development JWT secret.",
    )
    host: str = Field(default="127.0.0.1", description="Bind address of `scoreboard serve`.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of `scoreboard serve`.")
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes of `scoreboard serve` (1-64).")
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="Token signing secret. Outside development: required, at least 32 characters, not a well-known "
        "default; the service refuses to start otherwise. Unset in development: generated once into "
        "`<data dir>/jwt_secret`.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR`."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`text`, or `json` for one JSON object per line; either way, the lines logged while serving a "
        "request carry its `X-Request-ID`.",
    )
    access_log: bool = Field(default=True, description="One log line per request; `false` saves CPU on busy hot paths.")
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs, sent to the process's configured "
        "providers; off, no request pays for looking them up.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that `GET /metrics` (Prometheus) asks for. Unset: `/metrics` is a `404`.",
    )
    db_pool_min_size: int = Field(
        default=1,
        ge=0,
        description="Not used: connections open on demand, so the service starts while PostgreSQL is down.",
    )
    db_pool_max_size: int = Field(
        default=8,
        ge=1,
        description="PostgreSQL connections per worker (keep it small: PostgreSQL shares the cores).",
    )
    redis_max_connections: int = Field(
        default=64,
        ge=1,
        description="Redis pool connections per worker; a burst waits for a free one. Hot-path scripts use one "
        "pipelined connection besides (docs/operations.md).",
    )
    embedded_postgres_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the embedded PostgreSQL (`0`: any free port; the log says which).",
    )
    embedded_redis_port: int = Field(
        default=0, ge=0, le=65535, description="Port of the embedded Valkey (`0`: any free port)."
    )
    readiness_timeout_seconds: float = Field(
        default=2.0, gt=0, description="How long `/readyz` waits for each dependency."
    )

    # Authentication
    jwt_issuer: str = Field(default="scoreboard", description="`iss` of access tokens.")
    jwt_audience: str = Field(default="scoreboard-api", description="`aud` of access tokens.")
    access_token_ttl_seconds: int = Field(
        default=900, ge=30, le=86_400, description="Access token lifetime (30 s to a day)."
    )
    refresh_token_ttl_seconds: int = Field(
        default=30 * 86_400,
        ge=300,
        description="Session (refresh token family) lifetime; the default is 30 days.",
    )
    bcrypt_rounds: int = Field(default=12, ge=4, le=16, description="bcrypt cost (4-16); lower it only in tests.")
    login_max_failures_per_account: int = Field(
        default=5, ge=1, description="Failed logins per account per window before `429`."
    )
    login_max_failures_per_ip: int = Field(
        default=20, ge=1, description="Failed logins per client IP per window before `429`."
    )
    login_window_seconds: int = Field(default=900, ge=1, description="The login throttles' sliding window.")
    register_max_per_ip: int = Field(default=10, ge=1, description="Registrations per client IP per window.")
    register_window_seconds: int = Field(default=3600, ge=1, description="The registration throttle's sliding window.")

    # Score updates
    score_rate_limit: int = Field(
        default=10,
        ge=1,
        description="Score updates per player per window, never more in any window span (the seed's 10 a minute).",
    )
    score_rate_window_seconds: int = Field(default=60, ge=1, description="The score rate limit's sliding window.")
    score_rate_limit_per_api_key: int = Field(default=6000, ge=1, description="Score updates per API key per window.")
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a process trusts a validated API key; a revocation reaches other workers within this "
        "time (`0`: immediately, one more PostgreSQL call per request).",
    )
    idempotency_ttl_seconds: int = Field(
        default=86_400,
        ge=60,
        description="How long the exact response of an idempotent award is cached for replays.",
    )
    max_body_bytes: int = Field(default=16_384, ge=1024, description="Larger request bodies get `413`.")

    # Leaderboard
    reconcile_interval_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often the reconciling process (one per deployment, by lease) re-applies recently changed "
        "users to Redis (and rebuilds a lost board).",
    )

    # Reads
    read_top_size: int = Field(
        default=100,
        ge=10,
        le=100,
        description="Rows of each board's current top that every process keeps in memory: top reads up to this "
        "deep need no Redis call.",
    )
    read_cache_seconds: int = Field(
        default=0,
        ge=0,
        le=86_400,
        description="`Cache-Control: max-age` of board tops for browsers and CDNs (`0`: `no-cache`, each reuse "
        "revalidated with the ETag, a `304` while the board has not moved).",
    )

    # Boards
    board_period_grace_seconds: int = Field(
        default=86_400,
        ge=0,
        description="How long Redis keeps a finished period of a daily, weekly, monthly or seasonal board after it "
        "ends (its standings stay in PostgreSQL: the archive).",
    )
    board_archive_days: int = Field(
        default=0,
        ge=0,
        description="Finished periods older than this many days are deleted from PostgreSQL by the reconciling "
        "process (`0`: archives are kept forever).",
    )
    board_catalog_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a process trusts its copy of the board catalog; a board added or changed on another "
        "process is served within this time.",
    )

    # Live updates
    stream_max_connections: int = Field(
        default=10_000, ge=1, description="Live streams per process; more get `503` + `Retry-After`."
    )
    stream_max_per_ip: int = Field(
        default=200,
        ge=0,
        description="Live streams per client address per process; more get `429` (`0`: no cap).",
    )
    stream_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Stream heartbeats (each also refreshes the stream's `session:{id}` and re-checks ranks).",
    )
    stream_retry_ms: int = Field(
        default=3000, ge=0, description="`retry:` suggested to SSE clients: their reconnect delay."
    )
    stream_replay_events: int = Field(
        default=1024, ge=0, description="Events each process keeps for `Last-Event-ID` resumes."
    )
    stream_client_queue: int = Field(
        default=64, ge=1, description="Events queued for a slow client before it is conflated to a snapshot."
    )
    stream_stall_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A client whose writes stay blocked this long is dropped."
    )
    stream_max_lifetime_seconds: float = Field(
        default=3600.0, gt=0, description="Streams end with a `reconnect` hint after this long."
    )
    live_accelerator: bool = Field(
        default=False,
        description="Write SSE events straight to uvicorn's sockets (tested uvicorn/uvloop versions only; "
        "otherwise the portable path, with one warning).",
    )
    stream_write_threads: int = Field(
        default=1,
        ge=0,
        le=16,
        description="With the accelerator: threads writing each event to the streams beside the event loop, over "
        "256 streams (`0`: the loop alone).",
    )
    stream_drain_seconds: float = Field(default=5.0, gt=0, description="How long shutdown waits for streams to close.")
    stream_ticket_ttl_seconds: int = Field(
        default=60, ge=5, le=3600, description="Lifetime of a one-use stream ticket."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("metrics_token")
    @classmethod
    def _blank_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty variable (a template's `SCOREBOARD_METRICS_TOKEN=`) must not open /metrics to an empty token.
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("database_url")
    @classmethod
    def _plain_postgres_url(cls, value: str | None) -> str | None:
        # asyncpg wants postgresql://; accept SQLAlchemy-style URLs people paste from other tools.
        if value and value.startswith("postgresql+asyncpg://"):
            return "postgresql://" + value.removeprefix("postgresql+asyncpg://")
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("database_url must start with postgresql://")
        return value

    @model_validator(mode="after")
    def _refuse_weak_secret_outside_development(self) -> Settings:
        if self.environment is Environment.development:
            return self
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if not secret or secret.lower() in KNOWN_DEFAULT_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"SCOREBOARD_JWT_SECRET must be set to a random value of at least {MIN_SECRET_LENGTH} "
                f"characters when SCOREBOARD_ENVIRONMENT={self.environment.value}"
            )
        return self

    @property
    def uses_embedded(self) -> bool:
        """Whether any server has to be started from the embedded wheels."""
        return self.database_url is None or self.redis_url is None

    @cached_property
    def signing_secret(self) -> str:
        """Return the JWT secret; in development one is generated once and kept in the data folder."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return read_or_create_secret(self.data_dir / "jwt_secret")
