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
    """Every setting of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="SCOREBOARD_", extra="ignore", frozen=True)

    environment: Environment = Environment.development
    database_url: str | None = Field(default=None, description="PostgreSQL URL; unset = embedded server")
    redis_url: str | None = Field(default=None, description="Redis URL; unset = embedded Valkey")
    data_dir: Path = Path(".scoreboard")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    jwt_secret: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    access_log: bool = Field(default=True, description="One log line per request (costs CPU on hot paths)")
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=8, ge=1)
    redis_max_connections: int = Field(default=64, ge=1)
    embedded_postgres_port: int = Field(default=0, ge=0, le=65535, description="0 = any free port")
    embedded_redis_port: int = Field(default=0, ge=0, le=65535, description="0 = any free port")
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)

    # Authentication
    jwt_issuer: str = "scoreboard"
    jwt_audience: str = "scoreboard-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16, description="Lower only in tests")
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    register_max_per_ip: int = Field(default=10, ge=1)
    register_window_seconds: int = Field(default=3600, ge=1)

    # Score updates
    score_rate_limit: int = Field(default=10, ge=1, description="Awards per user per window (seed: 10/min)")
    score_rate_window_seconds: int = Field(default=60, ge=1)
    score_rate_limit_per_api_key: int = Field(default=6000, ge=1, description="Awards per API key per window")
    api_key_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a process trusts a validated API key (0: ask PostgreSQL each time)"
    )
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60, description="How long replay bodies are cached")
    max_body_bytes: int = Field(default=16_384, ge=1024, description="Larger request bodies get 413")

    # Leaderboard
    reconcile_interval_seconds: float = Field(default=2.0, gt=0, description="How often Redis is re-synced")

    # Live updates
    stream_max_connections: int = Field(default=10_000, ge=1, description="Live streams per process; more get 503")
    stream_max_per_ip: int = Field(default=200, ge=0, description="Live streams per client address per process; 0: any")
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, description="Heartbeats, session refresh, rank check")
    stream_retry_ms: int = Field(default=3000, ge=0, description="Reconnect delay suggested to SSE clients")
    stream_replay_events: int = Field(default=1024, ge=0, description="Events held for Last-Event-ID resumes")
    stream_client_queue: int = Field(default=64, ge=1, description="Events queued for a slow client, then conflated")
    stream_stall_timeout_seconds: float = Field(default=30.0, gt=0, description="A client stuck this long is dropped")
    stream_max_lifetime_seconds: float = Field(default=3600.0, gt=0, description="Streams end with a reconnect hint")
    live_accelerator: bool = Field(
        default=False,
        description="Write SSE events straight to uvicorn's sockets (only with the uvicorn/uvloop versions it was "
        "tested with; otherwise the portable path, with one warning)",
    )
    stream_write_threads: int = Field(
        default=1, ge=0, le=16, description="With the accelerator: threads writing events beside the event loop"
    )
    stream_drain_seconds: float = Field(default=5.0, gt=0, description="Shutdown waits this long for streams to end")
    stream_ticket_ttl_seconds: int = Field(default=60, ge=5, le=3600, description="Lifetime of an SSE stream ticket")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

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
