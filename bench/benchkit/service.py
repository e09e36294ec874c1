"""The processes under test: `scoreboard serve` on embedded (or given) servers, and plain uvicorn apps beside it."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchkit import HOST, log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never send 127.0.0.1 to a proxy


def http_json(method: str, url: str, body: object = None, headers: dict[str, str] | None = None) -> Any:
    """One setup call; an HTTP error raises with the problem document."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - our own http:// URL
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {url} -> {exc.code}: {exc.read()[:500]!r}") from exc


class Server:
    """A uvicorn-based server in a process group of its own, with its log in the temp folder."""

    name = "server"

    def __init__(self, root: Path, log_name: str) -> None:
        self.root = root
        self.log_path = root / log_name
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, cmd: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float) -> None:
        """Start `cmd` and poll `ready()` until it says yes; raise with the log's tail if the process dies."""
        with self.log_path.open("wb") as out:
            # A session of its own: a Ctrl-C in the terminal reaches only us, and we stop the server in order.
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                cmd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                if ready():
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def worker_roles(self) -> dict[int, str]:
        """pid -> "worker:<pid>" for the uvicorn supervisor and everything it started."""
        import psutil

        roles: dict[int, str] = {}
        if self.proc is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                main = psutil.Process(self.proc.pid)
                roles[main.pid] = f"worker:{main.pid}"
                for child in main.children(recursive=True):
                    roles[child.pid] = f"worker:{child.pid}"
        return roles

    def processes(self) -> dict[int, str]:
        """pid -> role of every process whose CPU counts for this server (see `benchkit.cpu`)."""
        return self.worker_roles()

    def connections_per_worker(self) -> list[int]:
        """Established client connections each worker process holds (the kernel picks who accepts)."""
        return sorted(self.streams_by_worker().values(), reverse=True)

    def streams_by_worker(self) -> dict[int, int]:
        """pid -> established client connections, for each worker (a process holding the listening socket)."""
        import psutil

        counts = {}
        for pid in self.worker_roles():
            if pid == (self.proc.pid if self.proc else None):
                continue
            with contextlib.suppress(psutil.Error):
                ours = [c for c in psutil.Process(pid).net_connections("tcp") if c.laddr and c.laddr.port == self.port]
                if ours:  # a worker holds the inherited listening socket; the resource tracker holds none
                    counts[pid] = sum(c.status == "ESTABLISHED" for c in ours)
        return counts

    def stop(self) -> bool:
        """SIGINT (uvicorn's graceful shutdown), escalating only if it hangs; True when it had to be killed."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return False
        log(f"stopping {self.name}")
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(90)
            return False
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop within 90 s: terminating its process group")
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(15)
                break
            except subprocess.TimeoutExpired:
                continue
        return True


class Service(Server):
    """`scoreboard serve`: its workers, and the embedded PostgreSQL and Valkey it starts unless given URLs."""

    name = "the service"

    def __init__(self, root: Path, args: argparse.Namespace, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(root, "serve.log")
        self.data_dir = root / "data"
        self.workers: int = args.workers
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCOREBOARD_")}
        env.update(
            SCOREBOARD_ENVIRONMENT="development",
            SCOREBOARD_DATA_DIR=str(self.data_dir),
            SCOREBOARD_SCORE_RATE_LIMIT_PER_API_KEY="100000000",
            SCOREBOARD_LOG_LEVEL="WARNING",
            SCOREBOARD_BCRYPT_ROUNDS="4",
            **(extra_env or {}),
        )
        for setting in getattr(args, "setting", []):
            name, _, value = setting.partition("=")
            env[f"SCOREBOARD_{name.upper()}"] = value
        if args.database_url:
            env["SCOREBOARD_DATABASE_URL"] = args.database_url
        if args.redis_url:
            env["SCOREBOARD_REDIS_URL"] = args.redis_url
        self.env = env
        self.database_url: str | None = args.database_url
        self.redis_url: str | None = args.redis_url
        self.given_database = bool(args.database_url)
        self.given_redis = bool(args.redis_url)

    @property
    def embedded(self) -> bool:
        return not (self.given_database and self.given_redis)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "scoreboard", *args]

    def start(self, timeout: float = 180.0) -> None:
        self.data_dir.mkdir(parents=True)
        cmd = self.command("serve", "--host", HOST, "--port", str(self.port), "--workers", str(self.workers))
        log(f"starting {' '.join(cmd[2:])} (data in {self.data_dir})")
        self.spawn(cmd, self.env, lambda: http_json("GET", f"{self.base}/readyz").get("status") == "ready", timeout)
        if self.embedded:
            runtime = json.loads((self.data_dir / "runtime.json").read_text())
            self.database_url = self.database_url or runtime["database_url"]
            self.redis_url = self.redis_url or runtime["redis_url"]
        log(f"service ready on {self.base}")

    def server_roles(self) -> dict[int, str]:
        """pid -> "postgres" / "valkey" for the database servers.

        Embedded servers are found from their pid files, so another PostgreSQL on the machine (a test run, the
        machine's own) counts as "other"; with URLs given, every process named postgres / valkey / redis counts.
        """
        import psutil

        roles: dict[int, str] = {}
        servers: list[tuple[str, Path, bool]] = [
            ("postgres", self.data_dir / "postgres" / "postmaster.pid", not self.given_database),
            ("valkey", self.data_dir / "valkey" / "valkey.pid", not self.given_redis),
        ]
        for role, pidfile, embedded in servers:
            if embedded:
                with contextlib.suppress(OSError, ValueError, psutil.NoSuchProcess):
                    server = psutil.Process(int(pidfile.read_text().split()[0]))
                    roles[server.pid] = role
                    for child in server.children(recursive=True):
                        roles[child.pid] = role
            else:
                names = ("postgres",) if role == "postgres" else ("valkey", "redis")
                for proc in psutil.process_iter(["name"]):
                    if (proc.info["name"] or "").startswith(names):
                        roles[proc.pid] = role
        return roles

    def processes(self) -> dict[int, str]:
        """pid -> role of every process of the system under test: uvicorn workers, PostgreSQL, Valkey."""
        return {**self.worker_roles(), **self.server_roles()}

    def stop(self) -> bool:
        """Stop the service; the embedded servers stop with it, or, if it had to be killed, are stopped here."""
        killed = super().stop()
        if killed and self.embedded:
            # A killed owner leaves its servers running: stop them the way the next owner would.
            from scoreboard.embedded.postgres import EmbeddedPostgres
            from scoreboard.embedded.valkey import EmbeddedValkey

            with contextlib.suppress(Exception):
                EmbeddedValkey(self.data_dir).stop_orphan()
            with contextlib.suppress(Exception):
                EmbeddedPostgres(self.data_dir).stop_orphan()
        return killed


class UvicornApp(Server):
    """A plain ASGI app from `bench/` under `uvicorn --workers N`, next to the service and on its servers.

    Its CPU split counts its own workers as "workers" and the service's PostgreSQL and Valkey under their names; the
    idle service's workers then count as "other".
    """

    def __init__(self, root: Path, target: str, workers: int, env: dict[str, str], service: Service) -> None:
        super().__init__(root, f"{target.rsplit(':', 1)[0].rsplit('.', 1)[-1]}.log")
        self.name = f"uvicorn {target}"
        self.target = target
        self.workers = workers
        self.env = {**os.environ, **env}
        self.service = service

    def start(self, ready_path: str, timeout: float = 60.0) -> None:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            self.target,
            "--app-dir",
            str(Path(__file__).resolve().parent.parent),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        log(f"starting uvicorn {self.target} --workers {self.workers} on port {self.port}")
        self.spawn(cmd, self.env, lambda: http_json("GET", f"{self.base}{ready_path}") is not None, timeout)
        log(f"{self.target} ready on {self.base}")

    def processes(self) -> dict[int, str]:
        return {**self.worker_roles(), **self.service.server_roles()}


@contextlib.contextmanager
def cleanup(root: Path, *servers: Server) -> Iterator[None]:
    """On an error, show the servers' log tails; in every case stop them (last first) and delete `root`."""
    try:
        yield
    except Exception:
        for server in servers:
            tail = server.log_tail()
            if tail:
                log(f"last lines of the {server.name.removeprefix('the ')} log:\n{tail}")
        raise
    finally:
        # A second Ctrl-C must not interrupt the cleanup half-way and leave servers behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for server in reversed(servers):
                try:
                    server.stop()
                except Exception as exc:  # stop the others and delete the folder all the same
                    log(f"could not stop {server.name}: {exc!r}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
            signal.signal(signal.SIGINT, previous)
