"""`/api/admin/integrity`: the integrity report (read only; `scoreboard check --repair` repairs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from scoreboard.auth.dependencies import AdminUser
from scoreboard.integrity import service
from scoreboard.integrity.schemas import IntegrityReport
from scoreboard.redis import RedisClient

router = APIRouter(prefix="/api/admin/integrity", tags=["admin"])


@router.get("", summary="Integrity report")
async def report(
    request: Request,
    _: AdminUser,
    redis: RedisClient,
    sample: Annotated[int, Query(ge=0, le=1000, description="Problems listed per check")] = 20,
) -> IntegrityReport:
    """Scores against history, orphaned rows, and the Redis board against PostgreSQL; `ok` when all agree."""
    return await service.run(request.app.state.pool, redis, sample=sample)
