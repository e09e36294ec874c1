"""Own the embedded servers of one data folder: lock, start, adopt, stop."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from scoreboard.embedded.postgres import EmbeddedPostgres
from scoreboard.embedded.process import EmbeddedError
from scoreboard.embedded.valkey import EmbeddedValkey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedUrls:
    """Where the embedded servers of a data folder listen."""

    database_url: str | None
    redis_url: str | None


class EmbeddedServers:
    """Start (or attach to) the embedded PostgreSQL and/or Valkey of one data folder.

    One process owns a data folder at a time (an exclusive lock on `owner.lock`). The owner starts the
    servers and stops them when it exits. A second process that finds the folder owned attaches to the
    owner's running servers (read from `runtime.json`) and leaves them alone on exit. An owner that was
    killed leaves servers but no lock: the next owner stops those orphans before starting its own.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        postgres: bool = True,
        valkey: bool = True,
        postgres_port: int = 0,
        valkey_port: int = 0,
        durable: bool = True,
    ) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.postgres = EmbeddedPostgres(self.data_dir, postgres_port, durable=durable) if postgres else None
        self.valkey = EmbeddedValkey(self.data_dir, valkey_port) if valkey else None
        self._runtime = self.data_dir / "runtime.json"
        self._lock_file: IO[str] | None = None
        self.attached = False
        self.urls = EmbeddedUrls(None, None)

    def start(self) -> EmbeddedUrls:
        """Start the servers, or attach to the ones a live owner is running."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self._acquire_lock():
            return self._attach()
        # Whatever a killed owner left here describes servers that are about to be replaced.
        self._runtime.unlink(missing_ok=True)
        try:
            if self.postgres:
                self.postgres.start()
            if self.valkey:
                self.valkey.start()
        except BaseException:
            self.stop()
            raise
        self.urls = EmbeddedUrls(
            self.postgres.url() if self.postgres else None,
            self.valkey.url() if self.valkey else None,
        )
        self._write_runtime()
        log.info("data folder: %s", self.data_dir)
        return self.urls

    def stop(self) -> None:
        """Stop what this process started (Valkey first, PostgreSQL last) and release the folder."""
        if self._lock_file is None:
            return
        try:
            if self.valkey:
                self.valkey.stop()
            if self.postgres:
                self.postgres.stop()
        finally:
            self._runtime.unlink(missing_ok=True)
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> EmbeddedUrls:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _acquire_lock(self) -> bool:
        fh = (self.data_dir / "owner.lock").open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._lock_file = fh
        return True

    def _attach(self, timeout: float = 90.0) -> EmbeddedUrls:
        # The owner may still be starting its servers: wait for its runtime file rather than fail.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data: dict[str, str] = {}
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(self._runtime.read_text())
            if data:
                break
            time.sleep(0.2)
        database_url = data.get("database_url") if self.postgres else None
        redis_url = data.get("redis_url") if self.valkey else None
        if data and (not self.postgres or database_url) and (not self.valkey or redis_url):
            self.attached = True
            self.urls = EmbeddedUrls(database_url, redis_url)
            log.info("attached to the embedded servers of pid %s in %s", data.get("pid"), self.data_dir)
            return self.urls
        raise EmbeddedError(
            f"the data folder {self.data_dir} is in use by another process that does not run the servers "
            "this command needs; stop it first or pass SCOREBOARD_DATABASE_URL / SCOREBOARD_REDIS_URL"
        )

    def _write_runtime(self) -> None:
        payload = {"pid": os.getpid(), "database_url": self.urls.database_url, "redis_url": self.urls.redis_url}
        partial = self._runtime.with_suffix(".tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh)
        os.replace(partial, self._runtime)  # readers see the old file or the whole new one, never half
