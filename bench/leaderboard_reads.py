"""Benchmark the board reads, top 10 and around a player, over real HTTP against `scoreboard serve --workers 2`.

The machine is small and noisy, so the figures come with baselines measured in the same run, by the same client:

- `GET /healthz`: the service's FastAPI endpoint with no I/O, the framework ceiling;
- `GET /bare`: a separate FastAPI app (`benchkit/bare_app.py`, uvicorn with as many workers) whose only route makes
  one Redis `GET` on the service's own Redis, the ceiling of "one Redis call per request".

Phases: start the service (embedded PostgreSQL and Valkey in a fresh temp folder, or the given URLs), insert the
players with random scores straight into PostgreSQL, rebuild the board with `scoreboard leaderboard rebuild`, check
it against PostgreSQL, start the bare app, then load `/healthz`, `/bare`, `/api/leaderboard?limit=10`,
`/api/boards/bench-day/entries?limit=10` (a daily board with the same players and scores) and
`/api/leaderboard/around/{random player}?radius=5` in turn, print the results, stop everything.

    .tools/bin/uv run --frozen --no-sync python bench/leaderboard_reads.py            # defaults
    .tools/bin/uv run --frozen --no-sync python bench/leaderboard_reads.py --quick    # smoke run, under a minute
    .tools/bin/uv run --frozen --no-sync python bench/leaderboard_reads.py --rounds 3 --duration 8  # steadier ratios
    .tools/bin/uv run --frozen --no-sync python bench/leaderboard_reads.py --clients 2 --concurrency 64 --json

Progress goes to stderr; the Markdown report (or, with --json, a JSON document) to stdout. Exit status 1 when the
board check before the load fails or a phase answered anything but 200.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:  # `benchkit` lives next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import log, options
from benchkit.loadgen import get_request, run_load
from benchkit.report import cpu_table, emit, fmt, header, heading, machine_info, ratio, worker_line
from benchkit.service import Service, UvicornApp, cleanup
from benchkit.setup import insert_players

TARGET_TOP10_PER_SECOND = 20_000  # DESIGN.md, "Performance notes"
MAX_SCORE = 50_000  # players get a random score in [0, MAX_SCORE]: spread out, with some ties
PHASES = ("healthz", "bare", "top", "revalidate", "period", "around")
ROUND_PHASES = ("healthz", "top", "revalidate", "period", "around")  # the service's phases, repeated by --rounds
PERIOD_BOARD = "bench-day"  # a daily board holding the same players and scores as the global board


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure top-10 and around-me reads over HTTP against `scoreboard serve`, with same-session "
        "baselines (/healthz, and a bare endpoint making one Redis call).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    options.add_common(parser, players=10000, quick_players=1000)
    parser.add_argument("--limit", type=int, default=10, help="page size of the top-N read")
    parser.add_argument("--radius", type=int, default=5, help="neighbours either side in the around read")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the service's phases this many times, each against its own round's /healthz (the machine's "
        "speed drifts during a run; the median of the rounds' ratios is steadier than one)",
    )
    args = options.finish(parser, parser.parse_args(argv))
    if not (1 <= args.limit <= 100 and 0 <= args.radius <= 50):
        parser.error("--limit must be 1-100 and --radius 0-50 (the API's bounds)")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


# ---------------------------------------------------------------------------------------------------------------
# Setup: players straight into PostgreSQL, the board rebuilt by the real CLI, then checked


def rebuild(service: Service) -> float:
    """`scoreboard leaderboard rebuild` against the service's servers; returns how long it took."""
    assert service.database_url is not None
    assert service.redis_url is not None
    env = {**service.env, "SCOREBOARD_DATABASE_URL": service.database_url, "SCOREBOARD_REDIS_URL": service.redis_url}
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        service.command("leaderboard", "rebuild"), env=env, capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"leaderboard rebuild failed: {result.stdout}{result.stderr}")
    took = time.monotonic() - started
    log(f"{result.stdout.strip().splitlines()[-1]} in {took:.1f} s")
    return took


async def fill_period_board(database_url: str) -> None:
    """A daily board whose current period holds every player with their global score (rebuilt into Redis next)."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO boards (id, name, period) VALUES ($1, $1, 'daily') ON CONFLICT DO NOTHING", PERIOD_BOARD
        )
        await conn.execute(
            """
            INSERT INTO board_scores (board_id, period, user_id, score, reached_at)
            SELECT $1, board_period('daily', 'UTC', NULL, NULL, now()), id, current_score,
                   COALESCE(last_activity_at, created_at)
            FROM users WHERE is_active
            ON CONFLICT DO NOTHING
            """,
            PERIOD_BOARD,
        )
    finally:
        await conn.close()


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


async def check_board(service: Service, args: argparse.Namespace, player_ids: list[str]) -> dict[str, Any]:
    """The board in Redis holds every active user, its top N has PostgreSQL's scores, and reads come from Redis."""
    import json

    import asyncpg
    from redis.asyncio import Redis

    assert service.database_url is not None
    assert service.redis_url is not None
    conn = await asyncpg.connect(service.database_url)
    try:
        active = await conn.fetchval("SELECT count(*) FROM users WHERE is_active")
        top = await conn.fetch(
            "SELECT current_score FROM users WHERE is_active ORDER BY current_score DESC LIMIT $1", args.limit
        )
    finally:
        await conn.close()
    redis = Redis.from_url(service.redis_url)
    try:
        on_board = await redis.zcard("leaderboard")
    finally:
        await redis.aclose()
    _, top_headers, top_body = http_get(f"{service.base}/api/leaderboard?limit={args.limit}")
    page = json.loads(top_body)
    _, period_headers, period_body = http_get(f"{service.base}/api/boards/{PERIOD_BOARD}/entries?limit={args.limit}")
    period_page = json.loads(period_body)
    _, around_headers, around_body = http_get(
        f"{service.base}/api/leaderboard/around/{player_ids[len(player_ids) // 2]}?radius={args.radius}"
    )
    sources = {
        top_headers.get("x-scoreboard-source"),
        around_headers.get("x-scoreboard-source"),
        period_headers.get("x-scoreboard-source"),
    }
    result = {
        "active_users": active,
        "on_board": on_board,
        "total_players": page["totalPlayers"],
        "top_scores_match": [e["score"] for e in page["entries"]] == [r["current_score"] for r in top]
        and [e["score"] for e in period_page["entries"]] == [r["current_score"] for r in top],
        "around_entries": len(json.loads(around_body)["entries"]),
        "sources": sorted(str(s) for s in sources),
    }
    result["ok"] = active == on_board == page["totalPlayers"] and result["top_scores_match"] and sources == {"redis"}
    log(
        "board: "
        + ("OK" if result["ok"] else "FAILED")
        + f" ({on_board} on the board for {active} active users; top {args.limit} scores "
        + ("match" if result["top_scores_match"] else "DIFFER")
        + f"; answered from {', '.join(result['sources'])})"
    )
    return result


# ---------------------------------------------------------------------------------------------------------------
# Report


def summarize(report: dict[str, Any]) -> None:
    runs = {name: report[name] for name in PHASES}
    report["ratios"] = {
        f"{name}_per_{base}": ratio(runs[name]["rate"], runs[base]["rate"])
        for name in ("top", "revalidate", "period", "around", "bare")
        for base in ("bare", "healthz")
        if name != base
    }
    report["ratios"]["period_per_top"] = ratio(runs["period"]["rate"], runs["top"]["rate"])
    per_round = [
        {name: ratio(rates[name], rates["healthz"]) for name in ROUND_PHASES[1:]} for rates in report["rounds"]
    ]
    report["round_ratios"] = per_round
    report["median_ratios"] = {name: statistics.median(r[name] or 0.0 for r in per_round) for name in ROUND_PHASES[1:]}
    report["target"] = {
        "top10_per_second": TARGET_TOP10_PER_SECOND,
        "met": runs["top"]["rate"] >= TARGET_TOP10_PER_SECOND,
    }
    report["ok"] = report["board"]["ok"] and all(run["error_count"] == 0 for run in runs.values())


def markdown(report: dict[str, Any]) -> str:
    s, ratios = report["settings"], report["ratios"]
    titles = {
        "healthz": "`GET /healthz` (service, no I/O)",
        "bare": "`GET /bare` (bare app, one Redis `GET`)",
        "top": f"`GET /api/leaderboard?limit={s['limit']}` (from memory)",
        "revalidate": f"`GET /api/leaderboard?limit={s['limit']}` + `If-None-Match` (`304`)",
        "period": f"`GET /api/boards/{PERIOD_BOARD}/entries?limit={s['limit']}` (a daily board, from memory)",
        "around": f"`GET /api/leaderboard/around/{{random}}?radius={s['radius']}` (one Lua call)",
    }
    lines = [
        *heading("Leaderboard reads benchmark", report),
        f"- Service: `scoreboard serve --workers {s['workers']}` on {s['servers']}; bare app: uvicorn --workers "
        f"{s['workers']}; {s['players']:,} players (board rebuilt in {s['rebuild_seconds']:.1f} s); "
        f"{s['concurrency']} connections ({s['connect']}) from {s['clients']} client process(es); "
        f"{s['warmup']:g} s warm-up + {s['duration']:g} s measured per phase",
        "",
        "| Workload | Reads/s | p50 | p95 | p99 | Errors | ÷ /bare | ÷ /healthz |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name in PHASES:
        run = report[name]
        to_bare = "1" if name == "bare" else fmt(ratios.get(f"{name}_per_bare"))
        to_healthz = "1" if name == "healthz" else fmt(ratios.get(f"{name}_per_healthz"))
        lines.append(
            f"| {titles[name]} | {run['rate']:,.0f} | {fmt(run['p50_ms'])} ms | {fmt(run['p95_ms'])} ms "
            f"| {fmt(run['p99_ms'])} ms | {run['error_count']} | {to_bare} | {to_healthz} |"
        )
    if len(report["round_ratios"]) > 1:
        names = ROUND_PHASES[1:]
        lines += [
            "",
            f"Ratios to the same round's `/healthz`, {len(report['round_ratios'])} rounds of every service phase:",
            "",
            "| Round | " + " | ".join(names) + " |",
            "|---|" + "--:|" * len(names),
            *(
                f"| {i} | " + " | ".join(fmt(r[name]) for name in names) + " |"
                for i, r in enumerate(report["round_ratios"], 1)
            ),
            "| **median** | " + " | ".join(f"**{fmt(report['median_ratios'][name])}**" for name in names) + " |",
        ]
    board = report["board"]
    lines += [
        "",
        f"- A daily board's top {s['limit']} ÷ the global board's: **{fmt(ratios['period_per_top'])}**",
        f"- Target >= {TARGET_TOP10_PER_SECOND:,} top-10 reads/s (DESIGN.md): "
        + ("**met**" if report["target"]["met"] else "**not met**"),
        f"- Board before the load: {'**OK**' if board['ok'] else '**FAILED**'} ({board['on_board']:,} on the board "
        f"for {board['active_users']:,} active users, top scores {'match' if board['top_scores_match'] else 'DIFFER'}"
        f" PostgreSQL, answered from {', '.join(board['sources'])})",
        "- Statuses: "
        + "; ".join(f"{name} {report[name]['statuses']} {report[name]['errors'] or ''}".rstrip() for name in PHASES),
        "",
        'CPU while measuring, in cores busy (µs of CPU per request). In the bare phase, "uvicorn workers" are the '
        "bare app's and the idle service counts as other:",
        "",
        *cpu_table(
            [(name, report[name]) for name in PHASES],
            ("machine", "client", "workers", "valkey", "postgres", "other"),
        ),
        "",
        *(worker_line(name, report[name]) for name in PHASES),
        *(
            f"- {name}: other work on the machine took {report[name]['cpu_cores']['other']:.2f} cores "
            f"(busiest: {report[name]['other_busiest']}); run again for clean figures"
            for name in PHASES
            if report[name]["cpu_cores"].get("other", 0) >= 0.1
        ),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    root = Path(tempfile.mkdtemp(prefix="scoreboard-bench-"))
    # No access log line per request (the log level filters it anyway; this skips the call).
    service = Service(root, args, extra_env={"SCOREBOARD_ACCESS_LOG": "false"})
    report: dict[str, Any] = {
        **header(machine),
        "settings": options.settings_summary(args, service.embedded, limit=args.limit, radius=args.radius),
    }
    bare = UvicornApp(root, "benchkit.bare_app:app", args.workers, {}, service)
    with cleanup(root, service, bare):
        service.start()
        assert service.database_url is not None
        prefix = f"br_{secrets.token_hex(4)}_"
        ids = asyncio.run(insert_players(service.database_url, prefix, args.players, max_score=MAX_SCORE))
        log(f"{len(ids)} players {prefix}* with scores 0-{MAX_SCORE}")
        asyncio.run(fill_period_board(service.database_url))
        report["settings"]["rebuild_seconds"] = round(rebuild(service), 2)
        report["board"] = asyncio.run(check_board(service, args, ids))
        bare.env["BENCH_REDIS_URL"] = str(service.redis_url)
        bare.start("/bare")
        nproc, port = machine["nproc"], service.port
        report["healthz"] = run_load("healthz", service, [get_request(port, "/healthz")], 200, args, nproc)
        report["bare"] = run_load("bare", bare, [get_request(bare.port, "/bare")], 200, args, nproc)
        top = [get_request(port, f"/api/leaderboard?limit={args.limit}")]
        report["top"] = run_load("top", service, top, 200, args, nproc)
        path = f"/api/leaderboard?limit={args.limit}"
        # The board does not move during the reads: every revalidation names the current ETag.
        etag = {k.lower(): v for k, v in http_get(f"{service.base}{path}")[1].items()}["etag"]
        revalidate = [get_request(port, path).replace(b"\r\n\r\n", f"\r\nIf-None-Match: {etag}\r\n\r\n".encode())]
        report["revalidate"] = run_load("revalidate", service, revalidate, 304, args, nproc)
        period = [get_request(port, f"/api/boards/{PERIOD_BOARD}/entries?limit={args.limit}")]
        report["period"] = run_load("period", service, period, 200, args, nproc)
        around = [get_request(port, f"/api/leaderboard/around/{uid}?radius={args.radius}") for uid in ids]
        report["around"] = run_load("around", service, around, 200, args, nproc)
        loads = {
            "healthz": [get_request(port, "/healthz")],
            "top": top,
            "revalidate": revalidate,
            "period": period,
            "around": around,
        }
        statuses = {"revalidate": 304}
        report["rounds"] = [{name: report[name]["rate"] for name in ROUND_PHASES}]
        for number in range(2, args.rounds + 1):
            log(f"round {number} of {args.rounds}")
            report["rounds"].append(
                {
                    name: run_load(name, service, loads[name], statuses.get(name, 200), args, nproc)["rate"]
                    for name in ROUND_PHASES
                }
            )
        summarize(report)
    emit(report, args.json, markdown)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the servers were stopped and the temp folder removed")
        sys.exit(130)
