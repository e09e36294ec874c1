"""The application factory; its lifespan opens every shared resource and yields them as the typed `State`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from scoreboard import __version__, migrate
from scoreboard.actions import router as actions
from scoreboard.admin.router import router as admin_router
from scoreboard.analytics.router import router as analytics_router
from scoreboard.apikeys.cache import KeyCache
from scoreboard.apikeys.router import router as apikeys_router
from scoreboard.auth import revocations
from scoreboard.auth.router import router as auth_router
from scoreboard.boards import router as boards
from scoreboard.boards.service import Catalog
from scoreboard.config import Settings
from scoreboard.db import Pool, create_pool
from scoreboard.health.router import router as health_router
from scoreboard.history import router as history
from scoreboard.integrity.router import router as integrity_router
from scoreboard.kit.bodylimit import BodyLimitMiddleware
from scoreboard.kit.gc_tuning import tune_for_serving
from scoreboard.kit.logging import configure_logging
from scoreboard.kit.observe import ObserveMiddleware
from scoreboard.kit.openapi import install_problem_openapi
from scoreboard.kit.periodic import Periodic
from scoreboard.kit.problems import install_problem_handlers
from scoreboard.kit.ratelimit import SlidingWindow
from scoreboard.kit.routing import mount_routes
from scoreboard.kit.signals import on_exit_signal
from scoreboard.leaderboard import reconciler
from scoreboard.leaderboard.board import Board
from scoreboard.leaderboard.router import router as leaderboard_router
from scoreboard.leaderboard.tops import Tops
from scoreboard.live import accelerator
from scoreboard.live import router as live
from scoreboard.live.delivery import Delivery, Portable
from scoreboard.live.hub import Hub
from scoreboard.redis import create_redis, create_request_redis
from scoreboard.results import router as results
from scoreboard.scores import router as scores
from scoreboard.scores.audit import AuditWriter
from scoreboard.state import State
from scoreboard.users.router import router as users_router
from scoreboard.web import docs
from scoreboard.web import router as web

log = logging.getLogger(__name__)
SHUTDOWN_STEP_SECONDS = 10.0


async def _close_pool(pool: Pool) -> None:
    # close() waits for every borrowed connection; a stuck one must not hold the whole shutdown.
    try:
        async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
            await pool.close()
    except TimeoutError:
        log.error("PostgreSQL pool did not close within %ss; terminating its connections", SHUTDOWN_STEP_SECONDS)
        pool.terminate()


def _delivery(settings: Settings) -> Delivery:
    """The live accelerator when it is asked for and its tested versions are installed, else the portable path."""
    if not settings.live_accelerator:
        return Portable()
    reason = accelerator.unsupported()
    if reason is not None:
        log.warning("live accelerator off: %s; live events take the portable path", reason)
        return Portable()
    return accelerator.Accelerator(settings.stream_write_threads)


@asynccontextmanager
async def open_state(settings: Settings) -> AsyncIterator[State]:
    """Open the process's resources (stores, background work, the live hub); close them in reverse order."""
    async with AsyncExitStack() as stack:
        pool = await create_pool(settings)
        stack.push_async_callback(_close_pool, pool)
        background_redis = create_redis(settings)
        stack.push_async_callback(background_redis.aclose)
        redis = create_request_redis(settings)
        stack.push_async_callback(redis.aclose)
        republisher = Periodic(
            "revocation-republisher", lambda: revocations.republish_once(pool, redis, settings), every=15.0
        )
        republisher.start()
        stack.push_async_callback(republisher.stop)
        board = Board(redis)
        # The lease outlives a missed pass or two; a holder that died is replaced after it lapses.
        reconciling = reconciler.Reconciler(
            pool,
            background_redis,
            lease_seconds=max(3 * settings.reconcile_interval_seconds, 5),
            grace=settings.board_period_grace_seconds,
            archive_days=settings.board_archive_days,
        )
        stack.push_async_callback(reconciling.release)
        reconciliation = Periodic("leaderboard-reconciler", reconciling, every=settings.reconcile_interval_seconds)
        reconciliation.start()
        stack.push_async_callback(reconciliation.stop)
        audit = AuditWriter(pool)
        audit.start()
        stack.push_async_callback(audit.close)  # before the pool closes: queued audit rows are written
        catalog = Catalog(redis, board, settings.board_catalog_seconds)
        tops = Tops(settings.read_top_size)
        hub = Hub(background_redis, board, pool, settings, _delivery(settings), catalog, tops)
        hub.start()
        stack.push_async_callback(hub.close)  # first to close: streams end before what feeds them
        stack.callback(on_exit_signal(hub.begin_drain))
        log.info("scoreboard %s ready to serve", __version__)
        yield State(
            settings=settings,
            pool=pool,
            redis=redis,
            background_redis=background_redis,
            limiter=SlidingWindow(redis),
            board=board,
            boards=catalog,
            tops=tops,
            audit=audit,
            hub=hub,
            api_keys=KeyCache(settings.api_key_cache_seconds),
            migration_heads=migrate.head_revisions(),
        )


def create_server_app(settings: Settings | None = None) -> ASGIApp:
    """The ASGI app a server runs (behind the live accelerator's recorder when on), its process readied for serving."""
    if settings is None:
        # Called by uvicorn in a worker process (`serve --workers N`): nothing configured logging here yet.
        settings = Settings()
        configure_logging(settings.log_level, settings.log_format)
    app = accelerator.outermost(create_app(settings), settings.live_accelerator)
    tune_for_serving()  # last: the app's routes and schemas are among what it freezes
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI app for `settings` (default: from the environment)."""
    if settings is None:
        settings = Settings()
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("create_app needs database_url and redis_url; `scoreboard serve` provides them")
    resolved = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with open_state(resolved) as state:
            yield state

    app = FastAPI(
        title="Scoreboard",
        version=__version__,
        summary="A secure, live, auditable real-time leaderboard API.",
        description=docs.API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # FastAPI looks up three OpenTelemetry providers on every request unless told not to.
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)
    install_problem_openapi(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObserveMiddleware, metrics=settings.metrics_token is not None)  # outside it: 413s get ids
    # Routing is a linear scan over every route in this order, each candidate costing a regex match and FastAPI's
    # bookkeeping: the award, health checks and the board reads (what clients call most) come first; streams are
    # matched once per connection, the rest is rarer.
    for router in (
        scores.router,
        health_router,
        leaderboard_router,
        boards.router,
        auth_router,
        *live.routers,
        users_router,
        actions.public,
        admin_router,
        actions.admin,
        boards.admin,
        results.router,
        results.admin,
        apikeys_router,
        history.router,
        history.admin,
        analytics_router,
        integrity_router,
        docs.router,
        web.router,
    ):
        mount_routes(app, router)
    app.mount("/static", web.static_files, name="static")
    return app
