"""CPU accounting: who burns the cores while the load runs."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class CpuSample:
    at: float
    machine_busy: float
    machine_total: float
    procs: dict[int, tuple[str, float]]  # pid -> (category, user + system seconds)
    names: dict[int, str]  # pid -> process name


def cpu_sample(roles: dict[int, str], client_pids: set[int]) -> CpuSample:
    import psutil

    procs: dict[int, tuple[str, float]] = {}
    names: dict[int, str] = {}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is None:
            continue
        if proc.pid in client_pids:
            category = "client"
        elif proc.pid in roles:
            category = roles[proc.pid]
        elif (proc.info["name"] or "").startswith("pgbench"):
            category = "pgbench"
        else:
            category = "other"
        procs[proc.pid] = (category, times.user + times.system)
        names[proc.pid] = proc.info["name"] or "?"
    machine = psutil.cpu_times()
    idle = machine.idle + getattr(machine, "iowait", 0.0)
    total = sum(machine)
    return CpuSample(time.monotonic(), total - idle, total, procs, names)


def cpu_split(before: CpuSample, after: CpuSample, nproc: int) -> dict[str, float]:
    """Cores busy per category between two samples (`workers` sums the service's processes)."""
    wall = after.at - before.at
    seconds: dict[str, float] = {}
    for pid, (category, cpu) in after.procs.items():
        previous = before.procs.get(pid)
        used = cpu - previous[1] if previous and previous[0] == category else cpu
        seconds[category] = seconds.get(category, 0.0) + max(used, 0.0)
        if category.startswith("worker:"):
            seconds["workers"] = seconds.get("workers", 0.0) + max(used, 0.0)
    split = {name: value / wall for name, value in seconds.items()}
    total = after.machine_total - before.machine_total
    split["machine"] = (after.machine_busy - before.machine_busy) / total * nproc if total > 0 else 0.0
    return split


def busiest_others(before: CpuSample, after: CpuSample, top: int = 3) -> dict[str, float]:
    """Cores used by the busiest "other" processes, by name: what else was running."""
    wall = after.at - before.at
    by_name: dict[str, float] = {}
    for pid, (category, cpu) in after.procs.items():
        if category == "other":
            previous = before.procs.get(pid)
            used = cpu - previous[1] if previous and previous[0] == category else cpu
            name = after.names.get(pid, "?")
            by_name[name] = by_name.get(name, 0.0) + max(used, 0.0) / wall
    busiest = sorted(by_name.items(), key=lambda item: -item[1])[:top]
    return {name: round(cores, 3) for name, cores in busiest if cores >= 0.01}


def sleep_until(moment: float) -> None:
    time.sleep(max(moment - time.monotonic(), 0))
