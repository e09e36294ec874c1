"""`/healthz` and `/readyz`."""

from __future__ import annotations

from fastapi import APIRouter

from scoreboard.deps import StateDep
from scoreboard.health import service
from scoreboard.health.schemas import Alive, Ready
from scoreboard.kit.problems import ServiceUnavailable
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
