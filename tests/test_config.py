"""Settings: environment variables, URL forms, and the refusal of weak secrets outside development."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from scoreboard.config import Settings

STRONG = "k" * 48


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENVIRONMENT", "DATABASE_URL", "REDIS_URL", "JWT_SECRET", "DATA_DIR", "PORT", "LOG_LEVEL"):
        monkeypatch.delenv(f"SCOREBOARD_{name}", raising=False)


def test_defaults_are_embedded_development() -> None:
    """With nothing configured: development, embedded servers, ./.scoreboard, localhost:8000."""
    settings = Settings()
    assert settings.environment == "development"
    assert settings.uses_embedded
    assert settings.data_dir == Path(".scoreboard")
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every setting comes from SCOREBOARD_* variables."""
    monkeypatch.setenv("SCOREBOARD_PORT", "9123")
    monkeypatch.setenv("SCOREBOARD_LOG_LEVEL", "debug")
    monkeypatch.setenv("SCOREBOARD_DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/s")
    monkeypatch.setenv("SCOREBOARD_REDIS_URL", "redis://cache:6379/0")
    settings = Settings()
    assert settings.port == 9123
    assert settings.log_level == "DEBUG"
    assert settings.database_url == "postgresql://u:p@db:5432/s"
    assert not settings.uses_embedded


@pytest.mark.parametrize("url", ["mysql://u@h/db", "redis://h:6379/0", "h:5432"])
def test_rejects_non_postgres_database_urls(url: str) -> None:
    """A database URL that is not PostgreSQL fails at start-up, not at the first query."""
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(database_url=url)


@pytest.mark.parametrize("environment", ["production", "test"])
@pytest.mark.parametrize("secret", [None, "", "changeme", "secret", "short-but-random-3f9"])
def test_refuses_missing_default_or_short_secret_outside_development(environment: str, secret: str | None) -> None:
    """Outside development the service will not start with a missing, known or short JWT secret."""
    with pytest.raises(ValidationError, match="SCOREBOARD_JWT_SECRET"):
        Settings(environment=environment, jwt_secret=secret)


def test_accepts_a_strong_secret_in_production() -> None:
    """A long random secret is used as given."""
    settings = Settings(environment="production", jwt_secret=STRONG)
    assert settings.signing_secret == STRONG


def test_development_generates_one_secret_and_keeps_it(tmp_path: Path) -> None:
    """In development a secret is generated once, private to the owner, and reused by later starts."""
    first = Settings(data_dir=tmp_path).signing_secret
    second = Settings(data_dir=tmp_path).signing_secret
    assert first == second
    assert len(first) >= 32
    path = tmp_path / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path / "other").signing_secret != first


def test_secret_is_not_shown_in_repr() -> None:
    """Printing or logging settings never shows the secret."""
    settings = Settings(environment="production", jwt_secret=STRONG)
    assert STRONG not in repr(settings)
    assert STRONG not in str(settings.model_dump())
