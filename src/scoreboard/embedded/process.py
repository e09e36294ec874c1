"""Process helpers shared by the embedded PostgreSQL and Valkey launchers."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from pathlib import Path

import psutil


class EmbeddedError(RuntimeError):
    """An embedded server could not be started or stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise EmbeddedError(f"nothing listened on {host}:{port} within {timeout:.0f}s")


def live_process(pid: int, name_fragment: str, workdir: Path) -> psutil.Process | None:
    """Return the process `pid` if it is alive, named like `name_fragment`, and working in `workdir`.

    A pid file can outlive its server (a reboot, a crash) and its pid be reused, possibly by another
    server of the same kind: only a process whose working directory is our data folder is ours.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or name_fragment not in proc.name():
            return None
        if Path(proc.cwd()).resolve() != workdir.resolve():
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
        return None


def terminate(proc: psutil.Process, timeout: float = 10.0) -> None:
    """Stop a process with SIGTERM, escalating to SIGKILL after `timeout`."""
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def read_or_create_secret(path: Path) -> str:
    """Read a generated secret from `path`, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
