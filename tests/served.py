"""`scoreboard serve` as a real process on this test's PostgreSQL and Redis, restartable on the same port."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from tests.cli.test_cli import SCOREBOARD, cli_env, wait_ready
from tests.conftest import TEST_SECRET


@dataclass
class Service:
    """A `scoreboard serve` process on a fixed port that a test can restart."""

    env: dict[str, str]
    cwd: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.cwd / f"serve-{self.port}.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [SCOREBOARD, "serve", "--port", str(self.port)], env=self.env, cwd=self.cwd, stderr=out
            )
        wait_ready(self.proc, self.port, log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def served_env(settings: Settings, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a served instance on this test's PostgreSQL and Redis."""
    values = {
        "environment": "test",
        "database_url": str(settings.database_url),
        "redis_url": str(settings.redis_url),
        "jwt_secret": TEST_SECRET,
        "bcrypt_rounds": "4",
        "register_max_per_ip": "1000",
        "stream_drain_seconds": "2",
    }
    return cli_env(data_dir, **{**values, **extra})


@pytest.fixture
def service(settings: Settings, data_dir: Path, tmp_path: Path) -> Iterator[Service]:
    """One served instance (registration unthrottled for set-up), stopped after the test."""
    served = Service(served_env(settings, data_dir), tmp_path, free_port())
    served.start()
    yield served
    served.stop()
