"""Resolve where PostgreSQL and Redis are: configured URLs, or the embedded servers."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from types import FrameType

from scoreboard.config import Settings
from scoreboard.embedded import EmbeddedServers

log = logging.getLogger(__name__)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into an exception so `finally` blocks (which stop the embedded servers) run.
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def servers(settings: Settings, *, postgres: bool = True, redis: bool = True) -> Iterator[Settings]:
    """Yield `settings` with URLs filled in, running embedded servers for whatever is not configured."""
    need_pg = postgres and settings.database_url is None
    need_redis = redis and settings.redis_url is None
    if not (need_pg or need_redis):
        yield settings
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    previous_int = signal.getsignal(signal.SIGINT)
    embedded = EmbeddedServers(
        settings.data_dir,
        postgres=need_pg,
        valkey=need_redis,
        postgres_port=settings.embedded_postgres_port,
        valkey_port=settings.embedded_redis_port,
    )
    try:
        urls = embedded.start()
        update: dict[str, object] = {}
        if need_pg:
            update["database_url"] = urls.database_url
        if need_redis:
            update["redis_url"] = urls.redis_url
        resolved = settings.model_copy(update=update)
        # Only the stores this command asked for: `db` and `users` commands start PostgreSQL alone.
        parts = [f"data folder {embedded.data_dir}"]
        if postgres:
            parts.append(f"PostgreSQL {_redact(resolved.database_url)}")
        if redis:
            parts.append(f"Redis {_redact(resolved.redis_url)}")
        log.info("%s", "; ".join(parts))
        yield resolved
    finally:
        # A second Ctrl-C must not interrupt the shutdown half-way and leave a server behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            embedded.stop()
            if not embedded.attached:
                log.info("embedded servers stopped")
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous)


def _redact(url: str | None) -> str:
    if not url or "@" not in url:
        return str(url)
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
