"""Profile the live fan-out in one process: where a broadcast's CPU goes, and what one open stream costs in memory.

The app runs in this process under uvicorn (uvloop) on a fresh database; a child process opens N SSE streams.

- `--mode cpu`: `cProfile` around `Hub.publish_local` for 20 synthetic events (seed-format, top 10); prints the
  time per event and the top functions.
- `--mode time`: the same 20 events without the profiler: the wall time of one broadcast (compare with
  `bench/socket_floor.py`, the bare cost of the same writes).
- `--mode memory`: `tracemalloc` before and after opening the streams; prints bytes per stream by file.

    .tools/bin/uv run --frozen --no-sync python bench/fanout_profile.py --mode cpu --clients 5000
    .tools/bin/uv run --frozen --no-sync python bench/fanout_profile.py --mode memory --clients 2000

Without `--database-url` / `--redis-url` it starts embedded PostgreSQL and Valkey in a temp folder.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

CLIENT = r"""
import asyncio, sys
count, port = int(sys.argv[1]), int(sys.argv[2])
class Reader(asyncio.Protocol):
    def connection_made(self, transport):
        transport.write(b"GET /api/leaderboard/stream HTTP/1.1\r\nHost: bench\r\n\r\n")
    def data_received(self, data):
        pass
async def main():
    loop = asyncio.get_running_loop()
    for i in range(count):
        await loop.create_connection(Reader, "127.0.0.1", port)
        if i % 100 == 99:
            await asyncio.sleep(0.02)
    print("open", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


def out(line: str) -> None:
    sys.stdout.write(line + "\n")


async def profile(args: argparse.Namespace, database_url: str, redis_url: str) -> None:
    import uvicorn

    from scoreboard import migrate
    from scoreboard.app import create_app
    from scoreboard.config import Settings

    await asyncio.to_thread(migrate.upgrade, database_url)
    settings = Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret="bench-" + "x" * 40,
        access_log=False,
        stream_max_connections=args.clients + 100,
        stream_max_per_ip=0,  # every client comes from 127.0.0.1
        live_accelerator=args.accelerator,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state)  # what uvicorn does with a lifespan's state when it runs the lifespan
            await app(scope, receive, send)

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(with_state, lifespan="off", log_config=None, access_log=False))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        hub = state["hub"]
        await asyncio.sleep(1)
        gc.collect()
        if args.mode == "memory":
            tracemalloc.start(4)
            before = tracemalloc.take_snapshot()
        clients = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT, str(args.clients), str(port), stdout=subprocess.PIPE
        )
        assert clients.stdout is not None
        await clients.stdout.readline()
        while len(hub.clients) < args.clients:  # noqa: ASYNC110 - polling a count
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)
        if args.mode == "memory":
            gc.collect()
            stats = tracemalloc.take_snapshot().compare_to(before, "lineno" if args.by_line else "filename")
            out(f"{sum(s.size_diff for s in stats) / args.clients:,.0f} B of Python objects per stream; by file:")
            for stat in stats[:15]:
                frame = stat.traceback[0]
                where = frame.filename.split("site-packages/")[-1] + (f":{frame.lineno}" if args.by_line else "")
                out(f"  {stat.size_diff / args.clients:8,.0f} B  {where}")
        else:
            rows = [{"rank": i + 1, "userId": f"u{i}", "score": 100 - i, "username": f"name{i}"} for i in range(10)]
            base, profiler, took = hub.last_id or 0, cProfile.Profile(), []
            for n in range(1, 21):
                message = {"type": "score_update", "userId": "u0", "newScore": 100, "scoreChange": 1}
                message |= {"actionId": "x", "rank": 1, "timestamp": "t", "leaderboard": rows, "eventId": base + n}
                started = time.perf_counter()
                if args.mode == "cpu":
                    profiler.enable()
                await hub.publish_local(json.dumps(message))
                if args.mode == "cpu":
                    profiler.disable()
                took.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.1)
            how = "profiled" if args.mode == "cpu" else "not profiled"
            out(f"{args.clients:,} streams; ms per event ({how}): {sorted(round(t, 1) for t in took)}")
            if args.mode == "cpu":
                pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        clients.kill()
        await clients.wait()
        server.should_exit = True
        await serving


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["cpu", "time", "memory"], default="cpu")
    parser.add_argument("--by-line", action="store_true", help="memory mode: group by source line, not file")
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--accelerator", action="store_true", help="with the live accelerator (default: portable)")
    parser.add_argument("--database-url", default=None, help="a database to migrate and use (it is not emptied)")
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    import uvloop

    from scoreboard.embedded import EmbeddedServers

    folder = Path(tempfile.mkdtemp(prefix="scoreboard-bench-"))
    embedded = EmbeddedServers(folder, postgres=not args.database_url, valkey=not args.redis_url, durable=False)
    try:
        urls = embedded.start()
        database_url = args.database_url or str(urls.database_url)
        redis_url = args.redis_url or str(urls.redis_url)
        uvloop.run(profile(args, database_url, redis_url))
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
