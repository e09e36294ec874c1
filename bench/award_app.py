"""Measure the CPU one `POST /api/scores` costs the app itself, with no HTTP server, and what the framework's share is.

The HTTP bench (`score_updates.py`) shares two cores between the client, two workers, PostgreSQL and Valkey, and the
machine's speed moves by 20% within minutes, so a change of 10 µs per award drowns in it. This bench calls the app
as an ASGI application in a loop (`--concurrency` requests in flight on uvloop, as a uvicorn worker runs them) and
reads this process's CPU time per award, in two phases alternated `--rounds` times:

- **award**: the whole request, PostgreSQL and Redis round trips included (their servers' CPU is not counted), and
  the live subscription's handling of each award's message, which every process pays;
- **framework**: the same requests with `scores.service.award` answering a recorded outcome at once, so what is
  left is everything around the award: middleware, routing, reading the body and the caller, the response.

Setup goes through the real CLI (`users create-admin`) and API (login, `POST /api/admin/api-keys`); players are
inserted straight into `users`. It needs a throwaway database: give `--database-url`/`--redis-url` (it writes
awards there and empties the Redis database), or nothing, for embedded PostgreSQL and Valkey in a temporary folder.

    .tools/bin/uv run --frozen --no-sync python bench/award_app.py            # embedded servers, ~2 minutes
    .tools/bin/uv run --frozen --no-sync python bench/award_app.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/award_app --redis-url redis://127.0.0.1:6379/15

Progress goes to stderr; the Markdown report (or JSON) to stdout. Compare builds by running it from each build's
worktree in turn (`PYTHONPATH=<worktree>/src`), alternating, in one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvloop

if str(Path(__file__).resolve().parent) not in sys.path:  # `benchkit` lives next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import log
from benchkit.report import emit, fmt, header, heading, machine_info
from benchkit.setup import create_admin

from scoreboard import migrate
from scoreboard.config import Settings

Call = Callable[..., Awaitable[tuple[int, bytes]]]
Headers = Sequence[tuple[bytes, bytes]]
ACTION = "complete-quest"  # no limits: every request awards


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="CPU per award of the app alone (no HTTP server), and of the framework around the award.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--awards", type=int, default=6000, help="awards per round")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per phase, alternated")
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="a throwaway database instead of embedded PostgreSQL")
    parser.add_argument("--redis-url", default=None, help="a throwaway Redis database instead of embedded Valkey")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[Call]:
    """The app with its lifespan run as a server runs it; yields a function making one request."""
    from scoreboard.app import create_app

    app = create_app(settings)
    state: dict[str, Any] = {}
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")

    async def call(method: str, path: str, body: bytes, headers: Headers = ()) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"content-type", b"application/json"), *headers],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": state.copy(),
        }
        sent: list[dict[str, Any]] = []
        given = False

        async def receive() -> dict[str, Any]:
            nonlocal given
            if given:  # nothing more: a server would wait for the client to go
                await asyncio.Event().wait()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    try:
        yield call
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


async def prepare(settings: Settings, call: Call, password: str, players: int) -> tuple[bytes, list[bytes]]:
    """An API key with `scores:write` and one ready-made body per player."""
    import asyncpg

    status, body = await call("POST", "/api/auth/login", json.dumps({"login": "bench", "password": password}).encode())
    if status != 200:
        raise RuntimeError(f"login: {status} {body!r}")
    bearer = (b"authorization", f"Bearer {json.loads(body)['accessToken']}".encode())
    asked = json.dumps({"name": "bench", "scopes": ["scores:write"]}).encode()
    status, body = await call("POST", "/api/admin/api-keys", asked, [bearer])
    if status != 201:
        raise RuntimeError(f"API key: {status} {body!r}")
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "INSERT INTO users (username, email, password_hash) SELECT 'bench' || g, 'bench' || g || '@example.com', "
            "'-' FROM generate_series(1, $1::int) AS g RETURNING id::text",
            players,
        )
    finally:
        await conn.close()
    bodies = [json.dumps({"actionId": ACTION, "userId": r["id"]}, separators=(",", ":")).encode() for r in rows]
    return json.loads(body)["key"].encode(), bodies


async def phase(call: Call, key: bytes, bodies: list[bytes], awards: int, concurrency: int) -> float:
    """CPU microseconds of this process per award over `awards` requests, `concurrency` in flight."""
    headers = [(b"x-api-key", key)]
    each = awards // concurrency
    refused: dict[int, int] = {}

    async def client(offset: int) -> None:
        for i in range(each):
            status, _ = await call("POST", "/api/scores", bodies[(offset + i * 7) % len(bodies)], headers)
            if status != 201:
                refused[status] = refused.get(status, 0) + 1

    started = time.process_time()
    await asyncio.gather(*(client(n * 31) for n in range(concurrency)))
    spent = time.process_time() - started
    if refused:
        raise RuntimeError(f"awards refused: {refused}")
    return spent / (each * concurrency) * 1e6


async def run(args: argparse.Namespace, settings: Settings, password: str) -> dict[str, Any]:
    from scoreboard.scores import service

    report = header(machine_info())
    report["settings"] = {k: getattr(args, k) for k in ("awards", "concurrency", "rounds", "players")}
    figures: dict[str, list[float]] = {"award": [], "framework": []}
    async with served(settings) as call:
        key, bodies = await prepare(settings, call, password, args.players)
        real = service.award
        recorded: list[service.Outcome] = []

        async def answered(*given: Any, **named: Any) -> service.Outcome:
            if not recorded:
                recorded.append(await real(*given, **named))
            return recorded[0]

        await phase(call, key, bodies, args.awards // 4, args.concurrency)  # warm-up: statements prepared, caches
        for n in range(args.rounds):
            for name in ("award", "framework"):
                service.award = answered if name == "framework" else real  # type: ignore[assignment]
                try:
                    figures[name].append(await phase(call, key, bodies, args.awards, args.concurrency))
                finally:
                    service.award = real  # type: ignore[assignment]
                log(f"round {n + 1}: {name} {figures[name][-1]:.1f} us of CPU per award")
    report["us_per_award"] = figures
    report["median_us_per_award"] = {name: statistics.median(values) for name, values in figures.items()}
    return report


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        *heading("Award CPU in the app", report),
        f"- {s['awards']:,} awards per round, {s['concurrency']} in flight, {s['players']:,} players, "
        f"{s['rounds']} rounds per phase, alternated; CPU of this process (the app, no HTTP server) per award",
        "",
        "| Phase | Per award, each round | Median |",
        "|---|---|--:|",
    ]
    for name, values in report["us_per_award"].items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {name} | {rounds} µs | {fmt(report['median_us_per_award'][name], 1)} µs |")
    return "\n".join([*lines, ""])


def measure(args: argparse.Namespace, settings: Settings) -> None:
    import redis

    migrate.upgrade(str(settings.database_url))
    redis.Redis.from_url(str(settings.redis_url)).flushdb()
    password = secrets.token_urlsafe(16)
    env = {**os.environ, "SCOREBOARD_DATABASE_URL": str(settings.database_url), "SCOREBOARD_BCRYPT_ROUNDS": "4"}
    create_admin([sys.executable, "-m", "scoreboard"], env, "bench", password)
    emit(uvloop.run(run(args, settings, password)), args.json, markdown)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["SCOREBOARD_LOG_LEVEL"] = "WARNING"
    # The bench's one API key makes every award: its per-key limit is not what we measure.
    os.environ["SCOREBOARD_SCORE_RATE_LIMIT_PER_API_KEY"] = str(10**9)
    from scoreboard.cli.runtime import servers

    # Embedded PostgreSQL and Valkey for whichever URL is not given (none when both are).
    with tempfile.TemporaryDirectory(prefix="scoreboard-bench-") as folder:
        given = Settings(data_dir=Path(folder), database_url=args.database_url, redis_url=args.redis_url)
        with servers(given) as settings:
            measure(args, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
