"""What every report carries: the machine, the revision, the command, number formats and the CPU table."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CPU_COLUMNS = {
    "machine": "machine",
    "client": "client",
    "workers": "uvicorn workers",
    "postgres": "PostgreSQL",
    "valkey": "Valkey/Redis",
    "pgbench": "pgbench",
    "other": "other",
}


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "client_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    }


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - our own fixed git subcommands
        ["git", *args],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.strip()


def revision() -> str:
    """The commit benchmarked, and whether the work tree differed from it."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + (" (src/ modified)" if dirty else "")


def header(machine: dict[str, Any]) -> dict[str, Any]:
    """The start of every report: date, command line (passwords masked), revision, machine."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", shlex.join(sys.orig_argv)),  # no passwords
        "revision": revision(),
        "machine": machine,
    }


def heading(title: str, report: dict[str, Any]) -> list[str]:
    """The first lines of every Markdown report: title and date, machine, command and revision."""
    return [
        f"## {title}, {report['date']}",
        "",
        machine_line(report["machine"]),
        f"- Command: `{report['command']}` at revision {report['revision']}",
    ]


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), Linux {m['kernel']}, Python {m['python']}, "
        f"client loop {m['client_loop']}"
    )


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def cpu_table(runs: list[tuple[str, dict[str, Any] | None]], keys: tuple[str, ...]) -> list[str]:
    """Markdown rows: cores busy per category, with µs of CPU per request where the run computed it."""
    lines = [
        "| Phase | " + " | ".join(CPU_COLUMNS.get(key, key) for key in keys) + " |",
        "|---|" + "--:|" * len(keys),
    ]
    for title, run in runs:
        if not run or not run["cpu_cores"]:
            continue
        cores, per = run["cpu_cores"], run["cpu_us_per_request"]

        def cell(key: str, cores: dict[str, float] = cores, per: dict[str, float] = per) -> str:
            value = cores.get(key)
            if value is None:
                return "-"
            return f"{value:.2f}" + (f" ({per[key]:,.0f})" if key in per else "")

        lines.append(f"| {title} | " + " | ".join(cell(key) for key in keys) + " |")
    return lines


def worker_line(title: str, run: dict[str, Any]) -> str:
    workers = [v for k, v in run["cpu_cores"].items() if k.startswith("worker:") and v >= 0.01]
    return f"- {title} run: connections per worker {run['connections_per_worker']}, cores per worker " + ", ".join(
        f"{v:.2f}" for v in workers
    )


def emit(report: dict[str, Any], as_json: bool, markdown: Callable[[dict[str, Any]], str]) -> None:
    """The report on stdout: JSON, or Markdown."""
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(markdown(report))
