"""Command-line options every bench shares: load shape, servers, output."""

from __future__ import annotations

import argparse


def add_common(parser: argparse.ArgumentParser, *, players: int, quick_players: int) -> None:
    """Add the options every bench takes (load, servers, output, --quick)."""
    parser.add_argument(
        "--players", type=int, default=None, help=f"players on the board (default {players}; --quick {quick_players})"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (keep-alive connections)")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per phase (default 15)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds per phase (default 3)")
    parser.add_argument("--clients", type=int, default=1, help="load generator processes sharing --concurrency")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of the service")
    parser.add_argument("--database-url", default=None, help="use this PostgreSQL instead of an embedded one")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of an embedded Valkey")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of Markdown")
    add_setting(parser)
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s phases, 1 s warm-up, fewer players")
    parser.add_argument(
        "--connect-burst",
        action="store_true",
        help="open all connections at once instead of spreading them over the first half of the warm-up "
        "(a burst tends to land on one worker: see the connections-per-worker line)",
    )
    parser.set_defaults(_players=players, _quick_players=quick_players)


def add_setting(parser: argparse.ArgumentParser) -> None:
    """Add --setting NAME=VALUE, a service setting passed as SCOREBOARD_NAME (read by `Service`)."""
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a service setting, e.g. api_key_cache_seconds=0 (becomes SCOREBOARD_API_KEY_CACHE_SECONDS); repeatable",
    )


def finish(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Fill the --quick-dependent defaults and refuse impossible combinations."""
    if args.players is None:
        args.players = args._quick_players if args.quick else args._players
    if args.duration is None:
        args.duration = 3.0 if args.quick else 15.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 3.0
    if args.players < 1 or args.concurrency < 1 or args.clients < 1 or args.workers < 1:
        parser.error("--players, --concurrency, --clients and --workers must be positive")
    if args.clients > args.concurrency:
        parser.error("--clients cannot exceed --concurrency")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    return args


def settings_summary(args: argparse.Namespace, embedded: bool, **extra: object) -> dict[str, object]:
    """The run's settings as the reports print them."""
    if not (args.database_url or args.redis_url):
        servers = "embedded PostgreSQL + Valkey"
    elif embedded:
        servers = "given PostgreSQL/Redis URLs (embedded for the other)"
    else:
        servers = "the given PostgreSQL and Redis"
    return {
        "workers": args.workers,
        "players": args.players,
        **extra,
        "concurrency": args.concurrency,
        "clients": args.clients,
        "duration": args.duration,
        "warmup": args.warmup,
        "connect": "burst" if args.connect_burst else "spread over the warm-up",
        "servers": servers,
        "settings": ", ".join(args.setting) or "defaults",
    }
