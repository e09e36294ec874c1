"""Benchmark the live fan-out: N SSE clients on ONE `scoreboard serve` process while awards arrive at a steady rate.

For each N (default 1,000, 5,000 and 10,000) the bench opens N `GET /api/leaderboard/stream` connections from
client processes (uvloop, one asyncio Protocol per connection, no HTTP library), waits until every one has its
snapshot, then awards random actions through the API (an API key, `--rate` per second) for `--duration` seconds.

Latency is publish -> receive: a probe subscribed to `leaderboard:updates` in this process stamps when Redis
published each event; every client stamps when the event's frame reached it. Same clock (one machine). The report
gives p50/p99/max over all (client, event) pairs, how many deliveries were missed, the server process's RSS, and
the CPU one event cost the server and the client processes (they share the machine's cores).

    .tools/bin/uv run --frozen --no-sync python bench/fanout.py                 # 1k / 5k / 10k clients
    .tools/bin/uv run --frozen --no-sync python bench/fanout.py --quick         # 200 / 1,000 clients, 5 s each
    .tools/bin/uv run --frozen --no-sync python bench/fanout.py --clients 1000 10000 --json

Progress goes to stderr; the Markdown report (or JSON) to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import resource
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:  # `benchkit` lives next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import HOST, log
from benchkit.loadgen import percentile
from benchkit.options import add_setting
from benchkit.report import emit, fmt, header, heading, machine_info
from benchkit.service import Service, cleanup, http_json
from benchkit.setup import create_api_key

TARGET = {"clients": 10_000, "p99_ms": 100.0, "rss_mb": 200.0}  # issue: live updates
AWARD_THREADS = 8  # awards in flight at most; at 10/s each has 800 ms before the schedule slips
# Actions with no per-day limit or cooldown: every award is an event (10 awards/s = 10 events/s).
ACTIONS = ["complete-quest", "achievement-unlock", "referral-signup", "purchase-item"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=None, help="client counts (default 1000 5000 10000)")
    parser.add_argument("--rate", type=float, default=10.0, help="awards per second")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per count (default 20)")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes (each one subscription)")
    parser.add_argument("--database-url", default=None, help="use this PostgreSQL instead of an embedded one")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of an embedded Valkey")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 and 1,000 clients, 5 s each")
    add_setting(parser)
    args = parser.parse_args(argv)
    args.clients = args.clients or ([200, 1000] if args.quick else [1000, 5000, 10000])
    args.duration = args.duration or (5.0 if args.quick else 20.0)
    return args


# ---------------------------------------------------------------------------------------------------------------
# Client processes: many connections each, stamping every score_update frame's arrival


class Opened:
    """Counts streams that have their snapshot; `all` is set when every one has."""

    def __init__(self, count: int) -> None:
        self.count, self.seen, self.all = count, 0, asyncio.Event()

    def add(self) -> None:
        self.seen += 1
        if self.seen >= self.count:
            self.all.set()


class Stream(asyncio.Protocol):
    """One SSE connection: counts its snapshot, stamps each new score_update id."""

    # 10,000 of these share the machine's two cores with the server, so each read walks the response's HTTP chunks
    # by their sizes (one event per chunk) rather than scanning every byte: a regex over each 1.3 KB frame was
    # ~7% of the clients' CPU. A frame this misreads shows up as missed deliveries in the report.

    def __init__(self, request: bytes, stamps: dict[int, list[float]], opened: Opened) -> None:
        self.request, self.stamps, self.opened = request, stamps, opened
        self.rest, self.body, self.last, self.snapshot = b"", False, 0, False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.rest + data if self.rest else data
        if not self.snapshot and b"event: snapshot" in buf:  # its id line is left out while no award was made
            self.snapshot = True
            self.opened.add()
        pos, end = 0, len(buf)
        if not self.body:  # the response head comes first
            head = buf.find(b"\r\n\r\n")
            if head < 0:
                self.rest = buf
                return
            self.body, pos = True, head + 4
        while pos < end:
            eol = buf.find(b"\r\n", pos, pos + 12)
            if eol < 0:
                break  # the size line is still on its way
            start = eol + 2
            stop = start + int(buf[pos:eol], 16)
            if stop + 2 > end:
                break  # so is the rest of this chunk
            if buf.startswith(b"id: ", start):
                line = buf.find(b"\n", start)
                if buf.startswith(b"event: score_update", line + 1):
                    event_id = int(buf[start + 4 : line])
                    if event_id > self.last:
                        self.last = event_id
                        self.stamps.setdefault(event_id, []).append(now)
            pos = stop + 2
        self.rest = buf[pos:]


def client_main(port: int, count: int, commands: Any, results: Any) -> None:
    """Open `count` streams, report when all have their snapshot, stamp events until told to stop."""
    import uvloop

    async def run() -> None:
        loop = asyncio.get_running_loop()
        request = f"GET /api/leaderboard/stream HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
        stamps: dict[int, list[float]] = {}
        opened = Opened(count)
        transports = []
        for i in range(count):
            transport, _ = await loop.create_connection(lambda: Stream(request, stamps, opened), HOST, port)
            transports.append(transport)
            if i % 100 == 99:
                await asyncio.sleep(0.05)  # a gentle ramp: the accept queue is not what we measure
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(opened.all.wait(), 120)
        results.put(("opened", opened.seen))
        await loop.run_in_executor(None, commands.get)  # "stop"
        for transport in transports:
            transport.close()
        results.put(("stamps", {k: v for k, v in stamps.items()}))

    uvloop.run(run())


# ---------------------------------------------------------------------------------------------------------------
# The run


def probe(redis_url: str, published: dict[int, float], stop: threading.Event) -> None:
    """Stamp each event as Redis publishes it (a subscriber of our own, on an idle core's worth of work)."""
    import json

    from redis import Redis

    client = Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe("leaderboard:updates")
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.2)
        if message is not None:
            published[json.loads(message["data"])["eventId"]] = time.time()
    pubsub.close()
    client.close()


def serving(service: Service) -> list[int]:
    """The processes that serve streams: the one process, or each worker (not uvicorn's supervisor, not the stores)."""
    stores = service.server_roles()
    pids = [pid for pid in service.worker_roles() if pid not in stores]
    return pids if len(pids) == 1 else [pid for pid in pids if service.proc is None or pid != service.proc.pid]


def cpu_seconds(service: Service, clients: list[Any]) -> tuple[float, float]:
    """CPU seconds used so far by the serving processes and by the client processes."""
    import psutil

    def used(pid: int) -> float:
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)

    return sum(used(pid) for pid in serving(service)), sum(used(proc.pid) for proc in clients)


def rss_of(pids: Sequence[int]) -> list[float]:
    """The RSS of these processes, in MB."""
    import psutil

    return [float(psutil.Process(pid).memory_info().rss) / 2**20 for pid in pids]


def rss_mb(service: Service) -> float:
    """The largest RSS of a serving process (the per-process target)."""
    return max(rss_of(serving(service)))


def measure(service: Service, args: argparse.Namespace, count: int, key: str, users: list[str]) -> dict[str, Any]:
    """One client count: connect, award at the rate, collect stamps, disconnect."""
    ctx = multiprocessing.get_context("spawn")
    results: Any = ctx.Queue()
    commands = [ctx.Queue() for _ in range(args.procs)]
    shares = [count // args.procs + (1 if i < count % args.procs else 0) for i in range(args.procs)]
    procs = [
        ctx.Process(target=client_main, args=(service.port, share, commands[i], results), daemon=True)
        for i, share in enumerate(shares)
    ]
    rss_idle = rss_mb(service)
    started = time.monotonic()
    for proc in procs:
        proc.start()
    opened = sum(results.get(timeout=300)[1] for _ in procs)
    log(f"{opened:,} of {count:,} streams open in {time.monotonic() - started:.1f} s; RSS {rss_mb(service):.0f} MB")
    published: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=probe, args=(service.redis_url, published, stop), daemon=True)
    watcher.start()
    time.sleep(0.5)
    headers = {"X-API-Key": key}

    def award() -> bool:
        body = {"actionId": random.choice(ACTIONS), "userId": random.choice(users)}  # noqa: S311
        try:
            http_json("POST", f"{service.base}/api/scores", body, headers)
        except RuntimeError:
            return False  # refused: no event (ACTIONS has no limits, so this shows as missing events)
        return True

    cpu_before = cpu_seconds(service, procs)
    t0 = time.monotonic()
    # Open loop: each award leaves on its schedule, whether or not the previous one was answered. Waiting for
    # each answer would lower the rate to what the server keeps up with while it broadcasts.
    with ThreadPoolExecutor(AWARD_THREADS) as pool:
        sent: list[Future[bool]] = []
        while (due := t0 + len(sent) / args.rate) < t0 + args.duration:
            time.sleep(max(0.0, due - time.monotonic()))
            sent.append(pool.submit(award))
        outcomes = [future.result() for future in sent]
    awards = sum(outcomes)
    rss_busy, by_worker = rss_mb(service), service.streams_by_worker()
    busiest = sorted(by_worker, key=lambda pid: by_worker[pid], reverse=True)
    streams_per_worker, rss_workers = [by_worker[pid] for pid in busiest], rss_of(busiest)
    cpu_after, elapsed = cpu_seconds(service, procs), time.monotonic() - t0
    time.sleep(1.0)  # let the last events arrive
    stop.set()
    for queue in commands:
        queue.put("stop")
    stamps: dict[int, list[float]] = {}
    for _ in procs:
        kind, payload = results.get(timeout=120)
        assert kind == "stamps"
        for event_id, times in payload.items():
            stamps.setdefault(event_id, []).extend(times)
    for proc in procs:
        proc.join(timeout=30)
    watcher.join(timeout=5)
    latencies = sorted(
        (t - published[event_id]) * 1000 for event_id, times in stamps.items() if event_id in published for t in times
    )
    expected = len(published) * opened
    result = {
        "clients": count,
        "opened": opened,
        "events": len(published),
        "requests": len(outcomes),
        "awards": awards,
        "deliveries": len(latencies),
        "missed": expected - len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "server_cores": (cpu_after[0] - cpu_before[0]) / elapsed,
        "client_cores": (cpu_after[1] - cpu_before[1]) / elapsed,
        # The budget a broadcast competes for: what one event costs the server and the bench's own clients.
        "server_ms_per_event": (cpu_after[0] - cpu_before[0]) * 1000 / max(len(published), 1),
        "client_ms_per_event": (cpu_after[1] - cpu_before[1]) * 1000 / max(len(published), 1),
        "rss_idle_mb": rss_idle,
        "rss_mb": rss_busy,
        "rss_workers_mb": rss_workers,
        "connections_per_worker": streams_per_worker,
    }
    log(
        f"{count:,} clients: p50 {fmt(result['p50_ms'])} ms, p99 {fmt(result['p99_ms'])} ms, "
        f"missed {result['missed']:,} of {expected:,}, RSS {rss_busy:.0f} MB"
    )
    time.sleep(2.0)  # let the server see the disconnects before the next count
    return result


def markdown(report: dict[str, Any]) -> str:
    lines = [
        *heading("Live fan-out benchmark", report),
        f"- Service: `scoreboard serve --workers {report['workers']}` on {report['servers']}; SSE clients from "
        f"{report['procs']} "
        f"client process(es) on the same machine; {report['rate']:g} awards/s for {report['duration']:g} s per count",
        "",
        "| Clients | Events | Deliveries | Missed | p50 | p99 | max | RSS idle → busy | Cores: server / clients "
        "| CPU per event: server / clients | Server CPU per delivery |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in report["runs"]:
        lines.append(
            f"| {run['clients']:,} | {run['events']} | {run['deliveries']:,} | {run['missed']:,} "
            f"| {fmt(run['p50_ms'])} ms | {fmt(run['p99_ms'])} ms | {fmt(run['max_ms'])} ms "
            f"| {run['rss_idle_mb']:.0f} → {run['rss_mb']:.0f} MB "
            f"| {run['server_cores']:.2f} / {run['client_cores']:.2f} "
            f"| {run['server_ms_per_event']:.0f} / {run['client_ms_per_event']:.0f} ms "
            f"| {run['server_ms_per_event'] * 1000 / max(run['opened'], 1):.1f} µs |"
        )
    if report["workers"] > 1:
        lines.append("")
        for run in report["runs"]:
            each = ", ".join(
                f"{streams:,} streams / {rss:.0f} MB"
                for streams, rss in zip(run["connections_per_worker"], run["rss_workers_mb"], strict=False)
            )
            lines.append(f"- {run['clients']:,} clients, per worker: {each}")
    target = report["target"]
    lines += [
        "",
        f"- Target: {TARGET['clients']:,} clients at p99 <= {TARGET['p99_ms']:g} ms and RSS <= "
        f"{TARGET['rss_mb']:g} MB: " + ("**met**" if target["met"] else "**not met**" if target["run"] else "not run"),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(args.clients) * 2 + 1024
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))  # inherited by server and clients
    root = Path(tempfile.mkdtemp(prefix="scoreboard-bench-"))
    service = Service(
        root,
        args,
        {
            "SCOREBOARD_STREAM_MAX_CONNECTIONS": str(max(args.clients) + 100),
            "SCOREBOARD_STREAM_MAX_PER_IP": "0",  # every bench client comes from 127.0.0.1
            "SCOREBOARD_ACCESS_LOG": "false",
        },
    )
    report: dict[str, Any] = {**header(machine_info()), "rate": args.rate, "duration": args.duration}
    report.update(procs=args.procs, workers=args.workers, runs=[])
    report["servers"] = "the given servers" if args.database_url and args.redis_url else "embedded PostgreSQL + Valkey"
    with cleanup(root, service):
        service.start()
        _, key, _ = create_api_key(service, secrets.token_hex(4), ["scores:write"])
        users = [
            http_json(
                "POST",
                f"{service.base}/api/auth/register",
                {"username": f"fan{i}", "email": f"fan{i}@example.com", "password": "correct horse battery"},
            )["id"]
            for i in range(8)
        ]
        for count in args.clients:
            report["runs"].append(measure(service, args, count, key, users))
    at_target = [r for r in report["runs"] if r["clients"] >= TARGET["clients"]]
    report["target"] = {
        "run": bool(at_target),
        "met": bool(at_target)
        and all((r["p99_ms"] or 1e9) <= TARGET["p99_ms"] and r["rss_mb"] <= TARGET["rss_mb"] for r in at_target),
    }
    emit(report, args.json, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
