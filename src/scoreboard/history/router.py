"""`/api/users/.../history`, `/api/users/me/stats` and `/api/admin/rate-limit-violations`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from scoreboard.deps import AdminUser, CurrentUser, Db
from scoreboard.history import service
from scoreboard.history.cursor import PATTERN, in_utc
from scoreboard.history.schemas import HistoryPage, UserStats, ViolationPage
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import Forbidden, NotFound, Unprocessable
from scoreboard.kit.routing import Route

router = APIRouter(prefix="/api/users", tags=["history"], route_class=Route)
admin = APIRouter(prefix="/api/admin/rate-limit-violations", tags=["admin"], route_class=Route)

Limit = Annotated[int, Query(ge=1, le=100, description="Items per page")]
CursorParam = Annotated[
    str | None, Query(pattern=PATTERN, description="`nextCursor` of the previous page; omit for the first")
]


@router.get("/me/history", summary="My score history")
async def my_history(user: CurrentUser, conn: Db, limit: Limit = 50, cursor: CursorParam = None) -> HistoryPage:
    """My awards, newest first, with the action's name, points, reason and balances; keyset paging."""
    assert user.user_id is not None
    return await service.history(conn, user.user_id, cursor, limit)


@router.get("/me/stats", summary="My score statistics")
async def my_stats(user: CurrentUser, conn: Db) -> UserStats:
    """Total actions and points, the average, the best single action and the last action."""
    assert user.user_id is not None
    return await service.stats(conn, user.user_id)


@router.get(
    "/{user_id:id}/history",
    summary="A player's score history (admins; players: their own)",
    responses=answers(
        (Forbidden, "A player asking for another player's history, or an API key"), (NotFound, "No user has this id")
    ),
)
async def user_history(
    user_id: UUID, user: CurrentUser, conn: Db, limit: Limit = 50, cursor: CursorParam = None
) -> HistoryPage:
    """Any player's awards for admins, newest first; a player may ask only for their own."""
    service.readable_by(user, user_id)
    return await service.history(conn, user_id, cursor, limit)


@admin.get("", summary="Rate-limit violations")
async def violations(
    _: AdminUser,
    conn: Db,
    user_id: Annotated[UUID | None, Query(alias="userId", description="Only this user's")] = None,
    since: Annotated[AwareDatetime | None, Query(description="Not before this time (ISO 8601 with zone)")] = None,
    limit: Limit = 50,
    cursor: CursorParam = None,
) -> ViolationPage:
    """Requests refused by a rate limit, newest first (from `rate_limit_audit`); keyset paging."""
    if since is not None:
        try:
            since = in_utc(since)
        except OverflowError:
            raise Unprocessable(
                "`since` is out of the range the database can hold.",
                errors=[{"loc": ["query", "since"], "msg": "out of range", "type": "value_error"}],
            ) from None
    return await service.violations(conn, user_id, since, cursor, limit)
