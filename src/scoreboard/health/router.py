"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from scoreboard.deps import StateDep
from scoreboard.health import service
from scoreboard.health.schemas import Alive, Ready
from scoreboard.kit import metrics
from scoreboard.kit.problems import NotFound, ServiceUnavailable, Unauthorized
from scoreboard.kit.routing import Route

router = APIRouter(tags=["health"], route_class=Route)


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Alive:
    """Answer as long as the event loop runs; touches no dependency."""
    return Alive()


@router.get(
    "/readyz",
    summary="PostgreSQL and Redis answer, migrations are at head, the board mirrors PostgreSQL",
    responses={503: {"description": "Not ready; `checks` says why"}},
)
async def readyz(state: StateDep) -> Ready:
    """Report readiness, or 503 with the reason per dependency."""
    ready, checks = await service.readiness(
        state["pool"],
        state["redis"],
        state["background_redis"],
        state["migration_heads"],
        state["settings"].readiness_timeout_seconds,
    )
    if not ready:
        failing = ", ".join(f"{name}: {value}" for name, value in checks.items() if value != "ok")
        raise ServiceUnavailable(f"not ready ({failing})", headers={"Retry-After": "5"}, checks=checks)
    return Ready(checks=checks)


# Not in the OpenAPI document: it is for a Prometheus server, not for API clients.
@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request, state: StateDep) -> Response:
    """Prometheus metrics of every worker, for `Authorization: Bearer <SCOREBOARD_METRICS_TOKEN>` only."""
    token = state["settings"].metrics_token
    if token is None:
        raise NotFound()  # as if there were no such route
    if not metrics.bearer_matches(request.headers.get("authorization"), token.get_secret_value()):
        raise Unauthorized("/metrics needs the metrics token as a bearer token.")
    metrics.refresh_pool(state["pool"])
    # Off the event loop: in multi-process mode this reads every worker's files.
    body, media_type = await asyncio.to_thread(metrics.exposition)
    return Response(body, media_type=media_type)
