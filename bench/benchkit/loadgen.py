"""The load generator: raw asyncio streams, HTTP/1.1 keep-alive, one request in flight per connection.

httpx would take too much of the shared CPU. Each phase runs `--concurrency` connections spread over `--clients`
spawned processes (on uvloop when installed), each sending ready-made requests picked at random from a list, and
reports the rate of expected statuses, nearest-rank latency percentiles and the CPU split of the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from benchkit import HOST, log
from benchkit.cpu import busiest_others, cpu_sample, cpu_split, sleep_until


class Target(Protocol):
    """What a load phase needs from the server it loads (`benchkit.service.Service`, `benchkit.service.UvicornApp`)."""

    port: int

    def processes(self) -> dict[int, str]: ...

    def connections_per_worker(self) -> list[int]: ...


@dataclass
class ClientSpec:
    index: int
    connect_delays: list[float]  # one per connection, seconds after the start
    requests: list[bytes]
    ok_status: int
    warmup: float
    duration: float


@dataclass
class ClientStats:
    latencies: list[float] = field(default_factory=list)  # seconds, requests completed in the measured window
    statuses: Counter[int] = field(default_factory=Counter)  # in the measured window
    errors: Counter[str] = field(default_factory=Counter)  # connection errors over the whole run
    ok_total: int = 0  # expected statuses over the whole run, warm-up included (for the consistency check)


_PORT = 0  # set in each client process before its loop starts


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 17)
        await reader.readexactly(int(lower[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif status >= 200 and status not in (204, 304):
        raise ValueError("response without Content-Length")
    return status, b"\r\nconnection: close" in lower


async def _connection(spec: ClientSpec, delay: float, t_warm: float, t_end: float, stats: ClientStats) -> None:
    await asyncio.sleep(delay)
    choose = random.Random().choice  # noqa: S311 - load spreading, not security
    requests, ok_status = spec.requests, spec.ok_status
    clock = time.monotonic
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    try:
        while clock() < t_end:
            if writer is None or reader is None:
                try:
                    reader, writer = await asyncio.open_connection(HOST, _PORT)
                except OSError as exc:
                    stats.errors[f"connect: {type(exc).__name__}"] += 1
                    await asyncio.sleep(0.05)
                    continue
            started = clock()
            try:
                writer.write(choose(requests))
                status, close = await _read_response(reader)
            except (OSError, EOFError, asyncio.LimitOverrunError, ValueError) as exc:
                # IncompleteReadError is an EOFError: the server closed the connection mid-response.
                stats.errors[type(exc).__name__] += 1
                writer.close()
                writer = reader = None
                continue
            done = clock()
            if status == ok_status:
                stats.ok_total += 1
            if t_warm <= done <= t_end:
                stats.latencies.append(done - started)
                stats.statuses[status] += 1
            if close:
                writer.close()
                writer = reader = None
    finally:
        if writer is not None:
            writer.close()


async def _client(spec: ClientSpec, t0: float) -> ClientStats:
    stats = ClientStats()
    t_warm = t0 + spec.warmup
    t_end = t_warm + spec.duration
    await asyncio.sleep(max(t0 - time.monotonic(), 0))
    tasks = [asyncio.create_task(_connection(spec, delay, t_warm, t_end, stats)) for delay in spec.connect_delays]
    # No per-request timeout (it would cost CPU on every request): whatever hangs past the end is cancelled.
    _done, pending = await asyncio.wait(tasks, timeout=max(t_end - time.monotonic(), 0) + 10)
    for task in pending:
        task.cancel()
        stats.errors["timeout: no response 10 s after the end"] += 1
    await asyncio.gather(*pending, return_exceptions=True)
    return stats


def _client_main(spec: ClientSpec, port: int, ready: Any, go: Any, start_at: Any, results: Any) -> None:
    """Entry point of a load generator process."""
    global _PORT
    _PORT = port
    runner: Callable[..., ClientStats]
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends a client at once; the parent cleans up
    ready.put(spec.index)
    go.wait()
    results.put((spec.index, runner(_client(spec, start_at.value))))


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


def run_load(
    name: str, target: Target, requests: list[bytes], ok_status: int, args: argparse.Namespace, nproc: int
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    go, start_at = ctx.Event(), ctx.Value("d", 0.0)
    # Connection g (of all processes) opens g * step after the start: arrivals spaced out let whichever worker is
    # free accept them, where a burst is often accepted whole by the first worker to wake up.
    step = 0.0 if args.connect_burst else min(0.02, args.warmup / 2 / args.concurrency)
    delays: list[list[float]] = [[] for _ in range(args.clients)]
    for g in range(args.concurrency):
        delays[g % args.clients].append(g * step)
    specs = [ClientSpec(i, delays[i], requests, ok_status, args.warmup, args.duration) for i in range(args.clients)]
    procs = [
        ctx.Process(target=_client_main, args=(spec, target.port, ready, go, start_at, results), daemon=True)
        for spec in specs
    ]
    log(f"{name}: {args.concurrency} connections in {args.clients} process(es), {args.warmup:g} s warm-up")
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.get(timeout=60)
        t0 = time.monotonic() + 0.2
        start_at.value = t0
        go.set()
        client_pids = {proc.pid for proc in procs if proc.pid is not None}
        sleep_until(t0 + args.warmup)
        before = cpu_sample(target.processes(), client_pids)
        spread = target.connections_per_worker()
        log(f"{name}: measuring for {args.duration:g} s")
        sleep_until(t0 + args.warmup + args.duration)
        after = cpu_sample(target.processes(), client_pids)
        parts: list[ClientStats] = []
        for _ in procs:
            parts.append(results.get(timeout=60)[1])
        for proc in procs:
            proc.join(10)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    latencies = sorted(latency for part in parts for latency in part.latencies)
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    for part in parts:
        statuses.update(part.statuses)
        errors.update(part.errors)
    ok = statuses[ok_status]
    split = cpu_split(before, after, nproc)
    completed = len(latencies)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    result = {
        "name": name,
        "requests": completed,
        "ok": ok,
        "rate": round(ok / args.duration, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p95_ms": ms(percentile(latencies, 95)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(latencies[-1] if latencies else None),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "errors": dict(errors),
        "error_count": completed - ok + sum(errors.values()),
        "ok_total_including_warmup": sum(part.ok_total for part in parts),
        "connections_per_worker": spread,
        "cpu_cores": {key: round(value, 3) for key, value in sorted(split.items())},
        "other_busiest": busiest_others(before, after),
        "cpu_us_per_request": {
            key: round(value * args.duration / completed * 1e6, 1)
            for key, value in sorted(split.items())
            if completed and key in ("client", "workers", "postgres", "valkey")
        },
    }
    log(
        f"{name}: {result['rate']:,.0f}/s p50 {result['p50_ms']} ms p95 {result['p95_ms']} ms "
        f"p99 {result['p99_ms']} ms; statuses {result['statuses']} errors {result['errors']}"
    )
    return result


def get_request(port: int, path: str) -> bytes:
    """A ready-made keep-alive GET."""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
