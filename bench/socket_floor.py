"""Measure the kernel's floor under the live fan-out: one event written to N loopback TCP sockets, no framework.

The fan-out bench's latency target (p99 <= 100 ms at 10,000 streams) needs one event written to 10,000 sockets in
well under 100 ms. This bench does only that: a child process opens N connections to this one and reads everything
(or is paused, `--paused`, so no reader wakes up); this process writes one seed-sized SSE frame to every socket with
plain non-blocking `socket.send` from 1 or more threads (the GIL is released during the system call), `--rounds`
times at 10 per second, and reports the wall time per round and per send. Python's share is well under 1 us per send;
the rest is the kernel's TCP loopback path, which no server written in any language avoids.

    .tools/bin/uv run --frozen --no-sync python bench/socket_floor.py          # 1k / 5k / 10k sockets, 1 and 2 threads
    .tools/bin/uv run --frozen --no-sync python bench/socket_floor.py --sockets 10000 --threads 1 --paused

Progress goes to stderr; the Markdown report (or JSON) to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import selectors
import signal
import socket
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:  # `benchkit` lives next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import log
from benchkit.report import emit, fmt, header, heading, machine_info

# A score_update as the hub writes it (seed format, top 10): the size is what matters, ~1.3 KB.
ROW = '{"rank":%d,"userId":"6f1c2a0e-8d5b-4c1e-9a3f-%012d","score":%d,"username":"player-%04d"}'
DATA = (
    '{"type":"score_update","userId":"6f1c2a0e-8d5b-4c1e-9a3f-000000000001","newScore":1234,"scoreChange":10,'
    '"actionId":"complete-quest","rank":3,"timestamp":"2026-11-25T03:40:00.123456Z","eventId":1732505000123456,'
    '"previousScore":1224,"leaderboard":[' + ",".join(ROW % (i, i, 5000 - i * 10, i) for i in range(1, 11)) + "]}"
)
FRAME = f"id: 1732505000123456\nevent: score_update\ndata: {DATA}\n\n".encode()
CHUNK = b"%x\r\n%s\r\n" % (len(FRAME), FRAME)  # chunked transfer encoding, as on an HTTP/1.1 stream


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sockets", type=int, nargs="+", default=[1000, 5000, 10000], help="socket counts")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="writer thread counts")
    parser.add_argument("--rounds", type=int, default=30, help="events written per (sockets, threads) pair")
    parser.add_argument("--paused", action="store_true", help="pause the reader (SIGSTOP): no wake-ups, no reads")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def reader(port: int, count: int, ready: Any) -> None:
    """Open `count` connections and read whatever arrives until killed."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    ready.set()
    while True:
        for key, _ in selector.select():
            with contextlib.suppress(BlockingIOError):
                key.fileobj.recv(1 << 16)  # type: ignore[union-attr]


def write_all(socks: list[socket.socket], short: list[int]) -> None:
    for sock in socks:
        try:
            if sock.send(CHUNK) != len(CHUNK):
                short[0] += 1
        except BlockingIOError:
            short[0] += 1


def measure(count: int, threads: int, rounds: int, paused: bool) -> dict[str, Any]:
    """Open `count` sockets, write `rounds` events to all of them from `threads` threads, time each round."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=min(count, 4096))
    ready = multiprocessing.Event()
    child = multiprocessing.Process(target=reader, args=(listener.getsockname()[1], count, ready), daemon=True)
    child.start()
    conns = []
    try:
        for _ in range(count):
            conn, _ = listener.accept()
            conn.setblocking(False)
            conns.append(conn)
        ready.wait(60)
        if paused:
            os.kill(child.pid, signal.SIGSTOP)  # type: ignore[arg-type]
        parts = [conns[i::threads] for i in range(threads)]
        short = [0]
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            if threads == 1:
                write_all(conns, short)
            else:
                workers = [threading.Thread(target=write_all, args=(part, short)) for part in parts]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
            elapsed = time.perf_counter() - started
            times.append(elapsed)
            time.sleep(max(0.0, 0.1 - elapsed))
            if paused and (_ + 1) * len(CHUNK) > 2_000_000:  # a paused reader's buffers fill: stop before they do
                break
    finally:
        if paused:
            os.kill(child.pid, signal.SIGCONT)  # type: ignore[arg-type]
        child.kill()
        child.join()
        for conn in conns:
            conn.close()
        listener.close()
    times.sort()
    return {
        "sockets": count,
        "threads": threads,
        "reader": "paused" if paused else "reading",
        "rounds": len(times),
        "frame_bytes": len(CHUNK),
        "short_writes": short[0],
        "round_p50_ms": statistics.median(times) * 1000,
        "round_max_ms": times[-1] * 1000,
        "per_send_us": statistics.median(times) / count * 1e6 * threads,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        *heading("Socket write floor", report),
        f"- One {report['results'][0]['frame_bytes']}-byte SSE frame per socket per round, 10 rounds/s",
        "",
        "| Sockets | Threads | Reader | Rounds | One round: p50 | max | Per send (thread time) | Short writes |",
        "|--:|--:|---|--:|--:|--:|--:|--:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['sockets']:,} | {r['threads']} | {r['reader']} | {r['rounds']} | {fmt(r['round_p50_ms'], 1)} ms"
            f" | {fmt(r['round_max_ms'], 1)} ms | {fmt(r['per_send_us'], 2)} us | {r['short_writes']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {**header(machine_info()), "results": []}
    for count in args.sockets:
        for threads in args.threads:
            log(f"{count} sockets, {threads} thread(s)...")
            report["results"].append(measure(count, threads, args.rounds, args.paused))
    emit(report, args.json, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
