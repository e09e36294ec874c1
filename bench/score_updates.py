"""Benchmark the award hot path, `POST /api/scores`, over real HTTP against `scoreboard serve --workers 2`.

The machine is small and noisy, so every figure comes with baselines measured in the same run, by the same client,
against the same server processes:

- `GET /healthz`: a bare FastAPI endpoint (no I/O), the framework ceiling;
- `pgbench` running the award's own SQL statement (`scoreboard.scores.repository.AWARD`), the database ceiling.

The award phase runs in rounds that alternate the global board alone with four boards (global plus daily, weekly and
monthly boards, switched on and off in the catalog between phases), so "four boards ÷ global only" compares the same
build, server processes and data in one sitting.

Phases: start the service (embedded PostgreSQL and Valkey in a fresh temp folder, or the given URLs), create an
admin with the CLI, log in, create an API key, insert the players straight into PostgreSQL, load `/healthz`, load
`/api/scores`, check that PostgreSQL and the Redis board agree, run pgbench, print the results, stop everything.

    .tools/bin/uv run --frozen --no-sync python bench/score_updates.py            # defaults
    .tools/bin/uv run --frozen --no-sync python bench/score_updates.py --quick    # smoke run, well under a minute
    .tools/bin/uv run --frozen --no-sync python bench/score_updates.py --clients 2 --concurrency 64 --json

Progress goes to stderr; the Markdown report (or, with --json, a JSON document) to stdout. Exit status 1 when the
post-run consistency check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:  # `benchkit` lives next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import HOST, log, options
from benchkit.loadgen import get_request, run_load
from benchkit.pgbench import run_pgbench
from benchkit.report import cpu_table, emit, fmt, header, heading, machine_info, ratio, worker_line
from benchkit.service import Service, cleanup
from benchkit.setup import create_api_key, insert_players

ACTION = "complete-quest"
TARGET_AWARDS_PER_SECOND = 2000
TARGET_P95_MS = 10.0
# Connections pgbench opens: the service's own total with default settings (2 workers x pool of 8).
PGBENCH_CLIENTS = 16


# ---------------------------------------------------------------------------------------------------------------
# Options


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure POST /api/scores over HTTP against `scoreboard serve`, with same-session baselines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    options.add_common(parser, players=1000, quick_players=200)
    parser.add_argument("--skip-pgbench", action="store_true", help="do not run the pgbench baseline")
    parser.add_argument(
        "--rounds", type=int, default=2, help="award phases per configuration (global only, four boards), alternated"
    )
    args = options.finish(parser, parser.parse_args(argv))
    return args


# ---------------------------------------------------------------------------------------------------------------
# Setup through the real CLI and API


@dataclass
class Setup:
    api_key: str
    prefix: str
    player_ids: list[str]


def prepare(service: Service, players: int) -> Setup:
    assert service.database_url is not None
    run_id = secrets.token_hex(4)
    username, key, key_prefix = create_api_key(service, run_id, ["scores:write"])
    prefix = f"bp_{run_id}_"
    ids = asyncio.run(insert_players(service.database_url, prefix, players))
    log(f"admin {username}, API key {key_prefix}..., {len(ids)} players {prefix}*")
    return Setup(key, prefix, ids)


# ---------------------------------------------------------------------------------------------------------------
# The award phase


def award_requests(port: int, api_key: str, player_ids: list[str]) -> list[bytes]:
    """One ready-made request per player, so the client spends no CPU building them."""
    requests = []
    for player in player_ids:
        body = json.dumps({"actionId": ACTION, "userId": player}, separators=(",", ":")).encode()
        head = (
            f"POST /api/scores HTTP/1.1\r\nHost: {HOST}:{port}\r\nX-API-Key: {api_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


PERIOD_BOARDS = (("bench-day", "daily"), ("bench-week", "weekly"), ("bench-month", "monthly"))


async def period_boards(database_url: str, active: bool) -> None:
    """Create the bench's daily, weekly and monthly boards if needed, and switch them on or off."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        for board_id, period in PERIOD_BOARDS:
            await conn.execute(
                """
                INSERT INTO boards (id, name, period, is_active) VALUES ($1, $1, $2, $3)
                ON CONFLICT (id) DO UPDATE SET is_active = EXCLUDED.is_active
                """,
                board_id,
                period,
                active,
            )
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------------------
# After the award run: PostgreSQL and the Redis board must agree


async def verify(service: Service, setup: Setup, awarded_201: int) -> dict[str, Any]:
    import asyncpg
    from redis.asyncio import Redis

    from scoreboard.leaderboard import keys

    assert service.database_url is not None
    assert service.redis_url is not None
    conn = await asyncpg.connect(service.database_url)
    try:
        history_points = await conn.fetchval("SELECT coalesce(sum(points_awarded), 0) FROM score_history")
        user_points = await conn.fetchval("SELECT coalesce(sum(current_score), 0) FROM users")
        ours = await conn.fetchrow(
            """
            SELECT count(h.id) AS rows, coalesce(sum(h.points_awarded), 0) AS points,
                   (SELECT coalesce(sum(current_score), 0) FROM users WHERE starts_with(username, $1)) AS scores
            FROM score_history h JOIN users u ON u.id = h.user_id WHERE starts_with(u.username, $1)
            """,
            setup.prefix,
        )
        assert ours is not None
        sample = await conn.fetch(
            "SELECT id::text, current_score FROM users WHERE starts_with(username, $1) ORDER BY random() LIMIT 100",
            setup.prefix,
        )
    finally:
        await conn.close()
    redis = Redis.from_url(service.redis_url)
    try:
        board = await redis.zmscore(keys.BOARD, [row["id"] for row in sample])
    finally:
        await redis.aclose()
    mismatches = [
        {"user": row["id"], "current_score": row["current_score"], "zscore": z}
        for row, z in zip(sample, board, strict=True)
        if (z or 0) != row["current_score"]
    ]
    result = {
        "history_points": history_points,
        "users_current_score": user_points,
        "run_history_rows": ours["rows"],
        "run_history_points": ours["points"],
        "run_users_current_score": ours["scores"],
        "awards_201_seen": awarded_201,
        "redis_sampled": len(sample),
        "redis_mismatches": mismatches[:5],
        "redis_mismatch_count": len(mismatches),
    }
    result["ok"] = (
        history_points == user_points
        and ours["points"] == ours["scores"]
        and ours["rows"] == awarded_201
        and not mismatches
    )
    log(
        "consistency: "
        + ("OK" if result["ok"] else "FAILED")
        + f" (history {history_points} = users {user_points}; {ours['rows']} rows for {awarded_201} 201s; "
        f"{len(sample) - len(mismatches)}/{len(sample)} ZSCOREs match)"
    )
    return result


# ---------------------------------------------------------------------------------------------------------------
# pgbench on the award statement itself


def pgbench_script() -> str:
    """The service's award statement with its parameters bound the way a trusted server's award binds them."""
    from scoreboard.scores.repository import AWARD

    values = {
        "1": "(SELECT id FROM bench_users WHERE n = :n)",  # user_id
        "2": f"'{ACTION}'",  # action_id
        "3": "NULL",  # reason
        "4": "NULL",  # ip
        "5": "NULL",  # user_agent
        "6": "NULL",  # idempotency_key
        "7": "true",  # trusted
    }
    numbers = set(re.findall(r"\$(\d+)", AWARD))
    if not numbers <= values.keys():
        raise RuntimeError(f"AWARD has parameters this bench does not know: {sorted(numbers - values.keys())}")
    if ";" in AWARD or "\\" in AWARD:
        raise RuntimeError("AWARD no longer fits a one-statement pgbench script")
    sql = re.sub(r"\$(\d+)\b", lambda m: values[m.group(1)], AWARD.strip())
    return f"\\set n random(1, :players)\n{sql};\n"


async def make_lookup(database_url: str, prefix: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_users")
        await conn.execute("CREATE TABLE bench_users (n bigint PRIMARY KEY, id uuid NOT NULL)")
        await conn.execute(
            """
            INSERT INTO bench_users
            SELECT row_number() OVER (ORDER BY id), id FROM users WHERE starts_with(username, $1)
            """,
            prefix,
        )
        await conn.execute("ANALYZE bench_users")
        count: int = await conn.fetchval("SELECT count(*) FROM bench_users")
        return count
    finally:
        await conn.close()


async def drop_lookup(database_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS bench_users")
    finally:
        await conn.close()


def award_pgbench(service: Service, setup: Setup, args: argparse.Namespace, root: Path, nproc: int) -> dict[str, Any]:
    assert service.database_url is not None
    players = asyncio.run(make_lookup(service.database_url, setup.prefix))
    try:
        return run_pgbench(
            database_url=service.database_url,
            script=pgbench_script(),
            script_name="award.sql",
            defines={"players": players},
            clients=PGBENCH_CLIENTS,
            duration=max(1, round(args.duration)),
            root=root,
            embedded=service.embedded,
            processes=service.processes,
            nproc=nproc,
        )
    finally:
        asyncio.run(drop_lookup(service.database_url))


# ---------------------------------------------------------------------------------------------------------------
# Report


def _mean_rate(runs: list[dict[str, Any]]) -> float:
    return sum(r["rate"] for r in runs) / len(runs)


def summarize(report: dict[str, Any]) -> None:
    awards, healthz, pgbench = report["awards"], report["healthz"], report.get("pgbench")
    report["boards"] = {
        "global_only_rate": _mean_rate(report["rounds"]["global"]),
        "four_boards_rate": _mean_rate(report["rounds"]["four"]),
    }
    report["boards"]["four_per_global"] = ratio(
        report["boards"]["four_boards_rate"], report["boards"]["global_only_rate"]
    )
    report["ratios"] = {
        "awards_per_healthz": ratio(awards["rate"], healthz["rate"]),
        "awards_per_pgbench_tps": ratio(awards["rate"], pgbench["tps"] if pgbench else None),
    }
    p95 = awards["p95_ms"]
    report["target"] = {
        "awards_per_second": TARGET_AWARDS_PER_SECOND,
        "p95_ms": TARGET_P95_MS,
        "met": awards["rate"] >= TARGET_AWARDS_PER_SECOND and p95 is not None and p95 <= TARGET_P95_MS,
    }


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    awards, healthz, pgbench = report["awards"], report["healthz"], report.get("pgbench")
    lines = [
        *heading("Score updates benchmark", report),
        f"- Service: `scoreboard serve --workers {s['workers']}` on {s['servers']} (settings: {s['settings']}); "
        f"{s['players']} players; "
        f"{s['concurrency']} connections ({s['connect']}) from {s['clients']} client process(es); "
        f"{s['warmup']:g} s warm-up + {s['duration']:g} s measured per phase",
        "",
        "| Workload | Rate | p50 | p95 | p99 | Errors |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for title, run, unit in (
        ("`POST /api/scores` (award, API key)", awards, "awards/s"),
        ("`GET /healthz` (framework ceiling)", healthz, "req/s"),
    ):
        lines.append(
            f"| {title} | {run['rate']:,.0f} {unit} | {fmt(run['p50_ms'])} ms | {fmt(run['p95_ms'])} ms "
            f"| {fmt(run['p99_ms'])} ms | {run['error_count']} |"
        )
    if pgbench:
        lines.append(
            f"| pgbench, the award SQL (-c {PGBENCH_CLIENTS} -j 2 -M prepared; avg {fmt(pgbench['latency_avg_ms'])}"
            f" ms) | {fmt(pgbench['tps'], 0)} TPS | {fmt(pgbench['p50_ms'])} ms | {fmt(pgbench['p95_ms'])} ms "
            f"| {fmt(pgbench['p99_ms'])} ms | {fmt(pgbench['failed'], 0)} |"
        )
    for label, key in (("global only", "global"), ("four boards", "four")):
        for n, run in enumerate(report["rounds"][key], 1):
            lines.append(
                f"| `POST /api/scores`, {label}, round {n} | {run['rate']:,.0f} awards/s | {fmt(run['p50_ms'])} ms "
                f"| {fmt(run['p95_ms'])} ms | {fmt(run['p99_ms'])} ms | {run['error_count']} |"
            )
    ratios, target, boards = report["ratios"], report["target"], report["boards"]
    lines += [
        "",
        f"- Four boards (global, daily, weekly, monthly) ÷ global only, mean of {len(report['rounds']['four'])} "
        f"alternated rounds each: {boards['four_boards_rate']:,.0f} ÷ {boards['global_only_rate']:,.0f} awards/s "
        f"= **{fmt(boards['four_per_global'])}**",
        f"- awards/s ÷ healthz req/s = **{fmt(ratios['awards_per_healthz'])}**; "
        f"awards/s ÷ pgbench TPS = **{fmt(ratios['awards_per_pgbench_tps'])}**",
        f"- Target >= {TARGET_AWARDS_PER_SECOND:,} awards/s with p95 <= {TARGET_P95_MS:g} ms: "
        + ("**met**" if target["met"] else "**not met**"),
        f"- Award statuses {awards['statuses']}, connection errors {awards['errors'] or 'none'}",
        "",
        "CPU while measuring, in cores busy (µs of CPU per request):",
        "",
        *cpu_table(
            [("awards", awards), ("healthz", healthz), ("pgbench", pgbench)],
            ("machine", "client", "workers", "postgres", "valkey", "pgbench", "other"),
        ),
        "",
        worker_line("award", awards),
        worker_line("healthz", healthz),
    ]
    check = report.get("verification")
    if check:
        lines += [
            "",
            "Consistency after the award run: "
            + ("**OK**" if check["ok"] else "**FAILED**")
            + f" (sum of score_history points {check['history_points']} vs sum of current_score "
            f"{check['users_current_score']}; {check['run_history_rows']} history rows for "
            f"{check['awards_201_seen']} 201 responses; {check['redis_sampled'] - check['redis_mismatch_count']}/"
            f"{check['redis_sampled']} sampled ZSCOREs equal current_score)",
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    root = Path(tempfile.mkdtemp(prefix="scoreboard-bench-"))
    service = Service(root, args)
    report: dict[str, Any] = {
        **header(machine),
        "settings": options.settings_summary(args, service.embedded),
    }
    with cleanup(root, service):
        service.start()
        setup = prepare(service, args.players)
        nproc = machine["nproc"]
        healthz = [get_request(service.port, "/healthz")]
        report["healthz"] = run_load("healthz", service, healthz, 200, args, nproc)
        awards = award_requests(service.port, setup.api_key, setup.player_ids)
        assert service.database_url is not None
        rounds: dict[str, list[dict[str, Any]]] = {"global": [], "four": []}
        for _ in range(max(args.rounds, 1)):
            for key, active in (("global", False), ("four", True)):
                asyncio.run(period_boards(service.database_url, active))
                rounds[key].append(run_load(f"awards ({key})", service, awards, 201, args, nproc))
        report["rounds"] = rounds
        report["awards"] = rounds["global"][0]
        awarded = sum(run["ok_total_including_warmup"] for runs in rounds.values() for run in runs)
        report["verification"] = asyncio.run(verify(service, setup, awarded))
        if not args.skip_pgbench:
            report["pgbench"] = award_pgbench(service, setup, args, root, nproc)
        summarize(report)
    emit(report, args.json, markdown)
    return 0 if report["verification"]["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the service was stopped and the temp folder removed")
        sys.exit(130)
