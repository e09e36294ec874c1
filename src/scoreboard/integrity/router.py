"""`/api/admin/integrity`: the integrity report (read only; `scoreboard check --repair` repairs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from scoreboard.deps import AdminUser, BackgroundRedisDep, PoolDep
from scoreboard.integrity import service
from scoreboard.integrity.schemas import IntegrityReport
from scoreboard.kit.routing import Route

router = APIRouter(prefix="/api/admin/integrity", tags=["admin"], route_class=Route)


@router.get("", summary="Integrity report")
async def report(
    _: AdminUser,
    pool: PoolDep,
    redis: BackgroundRedisDep,
    sample: Annotated[int, Query(ge=0, le=1000, description="Problems listed per check")] = 20,
) -> IntegrityReport:
    """Scores against history, orphaned rows, and the Redis board against PostgreSQL; `ok` when all agree."""
    return await service.run(pool, redis, sample=sample)
