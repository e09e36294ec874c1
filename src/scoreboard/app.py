"""The application factory; its lifespan owns every shared resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from scoreboard import __version__, migrate
from scoreboard.actions import router as actions
from scoreboard.admin.router import router as admin_router
from scoreboard.analytics.router import router as analytics_router
from scoreboard.apikeys.cache import KeyCache
from scoreboard.apikeys.router import router as apikeys_router
from scoreboard.auth import revocations
from scoreboard.auth.router import router as auth_router
from scoreboard.config import Settings
from scoreboard.db import Pool, create_pool
from scoreboard.health.router import router as health_router
from scoreboard.history import router as history
from scoreboard.integrity.router import router as integrity_router
from scoreboard.kit.bodylimit import BodyLimitMiddleware
from scoreboard.kit.logging import configure_logging
from scoreboard.kit.openapi import install_problem_openapi
from scoreboard.kit.periodic import Periodic
from scoreboard.kit.problems import install_problem_handlers
from scoreboard.kit.ratelimit import SlidingWindow
from scoreboard.kit.rawsend import RawSendApp
from scoreboard.kit.signals import on_exit_signal
from scoreboard.leaderboard import healing
from scoreboard.leaderboard.board import Board
from scoreboard.leaderboard.router import router as leaderboard_router
from scoreboard.live import router as live
from scoreboard.live.hub import Hub
from scoreboard.redis import create_redis, create_script_host
from scoreboard.scores import router as scores
from scoreboard.scores.audit import AuditWriter
from scoreboard.users.router import router as users_router
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


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the PostgreSQL pool and the Redis client; close them in reverse order."""
    settings: Settings = app.state.settings
    async with AsyncExitStack() as stack:
        pool = await create_pool(settings)
        stack.push_async_callback(_close_pool, pool)
        app.state.pool = pool
        redis = create_redis(settings)
        stack.push_async_callback(redis.aclose)
        app.state.redis = redis
        # The award's two scripts and the board reads: one pipelined connection, not a pool checkout per call.
        script_host = create_script_host(settings)
        if script_host is not None:
            stack.push_async_callback(script_host.aclose)
        app.state.limiter = SlidingWindow(redis, script_host)
        republisher = Periodic(
            "revocation-republisher", lambda: revocations.republish_once(pool, redis, settings), every=15.0
        )
        republisher.start()
        stack.push_async_callback(republisher.stop)
        app.state.board = Board(redis, script_host=script_host)
        # The lease outlives a missed pass or two; a holder that died is replaced after it lapses.
        reconciling = healing.Reconciler(pool, redis, lease_seconds=max(3 * settings.reconcile_interval_seconds, 5))
        stack.push_async_callback(reconciling.release)
        reconciler = Periodic("leaderboard-reconciler", reconciling, every=settings.reconcile_interval_seconds)
        reconciler.start()
        stack.push_async_callback(reconciler.stop)
        audit = AuditWriter(pool)
        audit.start()
        stack.push_async_callback(audit.close)  # before the pool closes: queued audit rows are written
        app.state.audit = audit
        hub = Hub(redis, app.state.board, pool, settings)
        hub.start()
        stack.push_async_callback(hub.close)  # first to close: streams end before what feeds them
        stack.callback(on_exit_signal(hub.begin_drain))
        app.state.hub = hub
        log.info("scoreboard %s ready to serve", __version__)
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app for `settings` (default: from the environment)."""
    if settings is None:
        # Called by uvicorn in a worker process (`serve --workers N`): nothing configured logging here yet.
        settings = Settings()
        configure_logging(settings.log_level, settings.log_format)
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("create_app needs database_url and redis_url; `scoreboard serve` provides them")
    app = RawSendApp(
        title="Scoreboard",
        version=__version__,
        summary="A secure, live, auditable real-time leaderboard API.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.api_keys = KeyCache(settings.api_key_cache_seconds)
    app.state.migration_heads = migrate.head_revisions()
    install_problem_handlers(app)
    install_problem_openapi(app)
    # The bare routes (below) skip middleware: they apply the body limit themselves, and so must anything added here.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Routing is a linear scan in this order: the award, the hottest route, is matched first.
    routers = (scores.router, health_router, auth_router, live.router, leaderboard_router, users_router, actions.public)
    for router in (
        *routers,
        admin_router,
        actions.admin,
        apikeys_router,
        history.router,
        history.admin,
        analytics_router,
        integrity_router,
        web.router,
    ):
        app.include_router(router)
    app.mount("/static", web.static_files, name="static")
    app.bare_routes.update(live.bare_routes)
    app.bare_routes.update(scores.bare_routes)
    return app
