"""Prometheus metrics: their definitions, and the text `GET /metrics` serves (every worker's under `--workers N`).

With `PROMETHEUS_MULTIPROC_DIR` set before this module is first imported (`scoreboard serve --workers N` sets it),
each process writes its values to files there and a scrape, whichever worker serves it, adds them all up.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import hashlib
import hmac
import os
from typing import TYPE_CHECKING, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase

if TYPE_CHECKING:
    from scoreboard.db import Pool

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# A worker's pool gauges are refreshed this often, so a scrape served by another worker sees them recent.
POOL_REFRESH_SECONDS = 5.0
# Any other method a client invents is counted as this, so it cannot grow the series without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED = "unmatched"

# `_created` series double the output and multi-process mode has none: the same names either way.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUEST_SECONDS = Histogram(
    "scoreboard_http_request_duration_seconds",
    "Time until a request's response started (a stream's lifetime is not latency); its _count counts requests.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
AWARDS = Counter("scoreboard_awards", "Awards committed, by action.", ["action"])
BOARD_AWARDS = Counter(
    "scoreboard_board_awards", "Awards counted on each board (global: every award), by board.", ["board"]
)
RESULTS = Counter("scoreboard_results", "Results submitted to result boards, by board.", ["board"])
REFUSALS = Counter(
    "scoreboard_refusals",
    "Requests refused by a rate limit or an award policy: rate_limit, max_per_day, cooldown, login, register.",
    ["reason"],
)
REPLAYS = Counter("scoreboard_idempotent_replays", "Awards answered from an earlier request with the same key.")
LIVE_STREAMS = Gauge("scoreboard_live_streams", "Live streams open (SSE and WebSocket).", multiprocess_mode="livesum")
LIVE_EVENTS_SENT = Counter("scoreboard_live_events_sent", "Board events handed to live streams (one per stream).")
LIVE_CONFLATED = Counter(
    "scoreboard_live_conflated", "Times a lagging stream's queue was dropped for a snapshot of the board."
)
LIVE_DROPPED = Counter("scoreboard_live_dropped", "Live streams disconnected because their writes stalled.")
STORE_ERRORS = Counter("scoreboard_store_errors", "Requests answered 503 because a store failed, by store.", ["store"])
BOARD_REBUILDS = Counter(
    "scoreboard_board_rebuilds", "Rebuilds of the Redis boards the reconciler started (no longer mirroring PostgreSQL)."
)
BOARD_REPAIRS = Counter(
    "scoreboard_board_repairs", "Players whose global-board score a reconciler pass changed (Redis had missed it)."
)
POOL_SIZE = Gauge(
    "scoreboard_db_pool_connections", "PostgreSQL connections open in the pools.", multiprocess_mode="livesum"
)
POOL_IDLE = Gauge(
    "scoreboard_db_pool_idle_connections", "Open PostgreSQL connections no one uses.", multiprocess_mode="livesum"
)
POOL_MAX = Gauge(
    "scoreboard_db_pool_max_connections", "The most connections the pools may open.", multiprocess_mode="livesum"
)

# prometheus-client chose where values go when it was imported, just before this module: read the same variable now.
_MULTIPROCESS = MULTIPROCESS_DIR in os.environ


def multiprocess_mode() -> bool:
    """Whether values go to files shared by the workers."""
    return _MULTIPROCESS


Metric = TypeVar("Metric", bound=MetricWrapperBase)


@functools.lru_cache(maxsize=4096)
def series(metric: Metric, *values: str) -> Metric:
    """The series of `metric` with these label values (`labels()` validates and locks on every call)."""
    return metric.labels(*values)


def observe_request(route: object, method: str, status: int, seconds: float) -> None:
    """Count a request by the template of the route that served it (never its raw path: ids would be series)."""
    template = getattr(route, "path_format", None) or UNMATCHED
    series(REQUEST_SECONDS, template, method if method in METHODS else OTHER_METHOD, str(status)).observe(seconds)


def refresh_pool(pool: Pool) -> None:
    """Set this process's pool gauges from `pool` as it is now."""
    POOL_SIZE.set(pool.get_size())
    POOL_IDLE.set(pool.get_idle_size())
    POOL_MAX.set(pool.get_max_size())


async def watch_pool(pool: Pool) -> None:
    """Refresh the pool gauges until cancelled; then this process holds no connections any more."""
    try:
        while True:
            refresh_pool(pool)
            await asyncio.sleep(POOL_REFRESH_SECONDS)
    finally:
        for gauge in (POOL_SIZE, POOL_IDLE, POOL_MAX):
            gauge.set(0)


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an `Authorization: Bearer <token>` header carries `token` (compared in constant time)."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Digests, so the comparison takes as long whatever the lengths are.
    digest = hashlib.sha256(presented.strip().encode()).digest()
    return hmac.compare_digest(digest, hashlib.sha256(token.encode()).digest())


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, with its media type (file reads in multi-process mode)."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _forget_live_gauges() -> None:
    # A worker that exits leaves its files; its open streams and pool must no longer be added to the others'.
    multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


if multiprocess_mode():
    atexit.register(_forget_live_gauges)
