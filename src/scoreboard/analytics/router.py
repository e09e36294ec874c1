"""`/api/admin/analytics`: top actions, daily distribution, sign-up growth, top performers; JSON or CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from scoreboard.analytics import service
from scoreboard.analytics.rendering import CSV_RESPONSES, render
from scoreboard.analytics.schemas import Daily, Growth, Report, TopActions, TopPerformers
from scoreboard.deps import AdminUser, Db, MediaType
from scoreboard.kit.routing import Route

router = APIRouter(prefix="/api/admin/analytics", tags=["admin"], responses=CSV_RESPONSES, route_class=Route)

MAX_DAYS = 365


Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description=f"Window in days, 1-{MAX_DAYS}")]
Limit = Annotated[int, Query(ge=1, le=100, description="Rows, 1-100")]


@router.get("/top-actions", summary="Most frequent actions (seed query 6)", response_model=TopActions)
async def top_actions(
    _: AdminUser,
    media: MediaType,
    conn: Db,
    response: Response,
    days: Days = 7,
    limit: Limit = 10,
) -> Report | Response:
    """Actions by how often they were awarded in the last `days` days, with the points they gave."""
    return render(await service.top_actions(conn, days, limit), media, response, "top-actions")


@router.get("/daily", summary="Daily score distribution (seed query 11)", response_model=Daily)
async def daily(_: AdminUser, media: MediaType, conn: Db, response: Response, days: Days = 30) -> Report | Response:
    """Per UTC day: active players, awards, points (total, mean, largest); days without awards are left out."""
    return render(await service.daily(conn, days), media, response, "daily")


@router.get("/growth", summary="Sign-ups over time (seed query 12)", response_model=Growth)
async def growth(_: AdminUser, media: MediaType, conn: Db, response: Response, days: Days = 90) -> Report | Response:
    """Per UTC day: how many users signed up, and the sum of those users' scores today."""
    return render(await service.growth(conn, days), media, response, "growth")


@router.get("/top-performers", summary="Who earned the most recently (seed query 13)", response_model=TopPerformers)
async def top_performers(
    _: AdminUser,
    media: MediaType,
    conn: Db,
    response: Response,
    days: Days = 7,
    limit: Limit = 20,
) -> Report | Response:
    """Active players by points earned in the last `days` days."""
    return render(await service.top_performers(conn, days, limit), media, response, "top-performers")
