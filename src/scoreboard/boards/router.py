"""`/api/boards` (reads of every board and period) and `/api/admin/boards` (the catalog, admins)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response, status

from scoreboard.boards import service
from scoreboard.boards.schemas import (
    Backfilled,
    BoardCreate,
    BoardList,
    BoardPatch,
    BoardRank,
    BoardView,
    PeriodPage,
    PeriodSubset,
)
from scoreboard.deps import (
    AdminUser,
    BackgroundRedisDep,
    CatalogDep,
    CurrentUser,
    Db,
    PoolDep,
    SettingsDep,
)
from scoreboard.kit.openapi import STORES, answers
from scoreboard.kit.problems import Conflict, NotFound
from scoreboard.kit.routing import Route, answer
from scoreboard.leaderboard import service as global_reads
from scoreboard.leaderboard import tops
from scoreboard.leaderboard.router import SOURCE
from scoreboard.leaderboard.schemas import RankRequest
from scoreboard.state import state_of

router = APIRouter(prefix="/api/boards", tags=["boards"], route_class=Route)
admin = APIRouter(prefix="/api/admin/boards", tags=["admin"], route_class=Route)

BoardId = Annotated[str, Path(min_length=1, max_length=64, description="The board's id (`global` is the seed's)")]
PeriodName = Annotated[
    str,
    Query(
        min_length=1,
        max_length=16,
        description="`current`, `previous` or a period key: `2026-12-03` (daily), `2026-W49` (weekly), `2026-12` "
        "(monthly), `season`, `all` (all time)",
    ),
]
UNKNOWN = (NotFound, "No such board, or no such period on it")
UNRANKED = (NotFound, "No such board or period, or the player has no score there")


@router.get("", summary="Every active board with its current period")
async def list_boards(catalog: CatalogDep, pool: PoolDep) -> BoardList:
    """The boards players can see: `global` first, then in the order they were made."""
    specs = await catalog.specs(pool)
    return BoardList(boards=[service.view(s) for s in specs.values() if s.is_active])


@router.get("/{board_id}", summary="One board", responses=answers((NotFound, "No such board")))
async def get_board(board_id: BoardId, catalog: CatalogDep, pool: PoolDep) -> BoardView:
    """A board, its rules and its current period (inactive boards still answer: their archives stay)."""
    return service.view(await catalog.spec(pool, board_id))


@router.get(
    "/{board_id}/entries",
    summary="A period's ranked players",
    response_model=PeriodPage,
    responses={**answers(UNKNOWN), **tops.NOT_MODIFIED, **STORES},
)
async def entries(
    board_id: BoardId,
    request: Request,
    period: PeriodName = "current",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    cursor: Annotated[str | None, Query(max_length=64, description="`nextCursor` of the previous page")] = None,
    if_none_match: tops.IfNoneMatch = None,
) -> Response:
    """Competition ranks, first to reach a score first; current periods from Redis, finished ones from PostgreSQL.

    A current period's top is answered from memory with a strong ETag (`If-None-Match`: `304` while unmoved).
    """
    # The state from the request rather than from dependencies: FastAPI solves each dependency on every request,
    # which costs the hottest read more than its answer does.
    state = state_of(request)
    catalog, pool, memory, settings = state["boards"], state["pool"], state["tops"], state["settings"]
    target = await service.target(catalog, pool, board_id, period)
    offset = service.offset_of(cursor)
    if target.live is not None and target.spec.kind == "points":  # result entries carry PostgreSQL's metadata

        def render(top: tops.Top) -> str:
            cut = service.period_page(target, top.page.cut(offset, limit), offset + limit)
            return cut.model_dump_json(by_alias=True)

        key = tops.key_of(target.spec.id, target.period.key)
        kept = await tops.from_memory(
            memory, key, target.live, (offset, limit), render, if_none_match, settings.read_cache_seconds
        )
        if kept is not None:
            return kept
    page, source = await service.read(
        target, pool, lambda b: b.page(offset, limit), service.page_sql(target, offset, limit)
    )
    headers = {SOURCE: source, "Cache-Control": tops.cache_control(settings.read_cache_seconds)}
    rendered = service.period_page(target, page, offset + limit, await service.metadata_of(pool, target, page))
    return answer(rendered, headers)


@router.get("/{board_id}/around/{user_id}", summary="A player and their neighbours", responses=answers(UNRANKED))
async def around(
    board_id: BoardId,
    user_id: UUID,
    catalog: CatalogDep,
    pool: PoolDep,
    response: Response,
    period: PeriodName = "current",
    radius: Annotated[int, Query(ge=0, le=50)] = 5,
) -> PeriodPage:
    """The player with up to `radius` players above and below in that period."""
    target = await service.target(catalog, pool, board_id, period)
    page, response.headers[SOURCE] = await service.read(
        target, pool, lambda b: b.around(user_id, radius), service.around_sql(target, user_id, radius)
    )
    global_reads.entry_of(page, user_id)  # 404 when the player has no score there
    return service.period_page(target, page, None, await service.metadata_of(pool, target, page))


@router.post("/{board_id}/ranks", summary="Rank a list of players on a board", responses=answers(UNKNOWN))
async def ranks(
    board_id: BoardId,
    body: RankRequest,
    catalog: CatalogDep,
    pool: PoolDep,
    response: Response,
    period: PeriodName = "current",
) -> PeriodSubset:
    """The ranked ones among up to 100 players, in board order, with their ranks on the whole board."""
    target = await service.target(catalog, pool, board_id, period)
    wanted = list(dict.fromkeys(body.user_ids))
    page, response.headers[SOURCE] = await service.read(
        target, pool, lambda b: b.ranks(wanted), service.ranks_sql(target, wanted)
    )
    found = {e.user_id for e in page.entries}
    rendered = service.period_page(target, page, None, await service.metadata_of(pool, target, page))
    return PeriodSubset(**rendered.model_dump(), missing=[u for u in wanted if u not in found])


@router.get("/{board_id}/me", summary="My rank on a board", responses=answers(UNRANKED))
async def me(
    board_id: BoardId,
    user: CurrentUser,
    catalog: CatalogDep,
    pool: PoolDep,
    response: Response,
    period: PeriodName = "current",
) -> BoardRank:
    """The caller's rank, score, number of players and percentile in that period."""
    user_id = user.user_id
    assert user_id is not None
    target = await service.target(catalog, pool, board_id, period)
    page, response.headers[SOURCE] = await service.read(
        target, pool, lambda b: b.ranks([user_id]), service.ranks_sql(target, [user_id])
    )
    standing = global_reads.rank_of(page, user_id)
    return BoardRank(**standing.model_dump(), board_id=target.spec.id, period=target.period.key)


BUILT_IN = (Conflict, "`global` is built in and cannot change")


@admin.get("", summary="Every board, inactive ones included")
async def list_all(_: AdminUser, catalog: CatalogDep, pool: PoolDep) -> BoardList:
    """The whole catalog."""
    catalog.forget()
    return BoardList(boards=[service.view(s) for s in (await catalog.specs(pool)).values()])


@admin.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a board",
    responses=answers((Conflict, "A board with this id exists")),
)
async def create(body: BoardCreate, _: AdminUser, conn: Db, catalog: CatalogDep) -> BoardView:
    """Add a board; it counts awards from now on (backfill counts the past)."""
    spec = await service.create(conn, body)
    catalog.forget()
    return service.view(spec)


@admin.patch(
    "/{board_id}",
    summary="Change a board (future awards only)",
    responses=answers((NotFound, "No such board"), BUILT_IN),
)
async def patch(board_id: BoardId, body: BoardPatch, _: AdminUser, conn: Db, catalog: CatalogDep) -> BoardView:
    """Rename, describe, activate or deactivate; which actions count and the zone apply to future awards only."""
    spec = await service.change(conn, board_id, body)
    catalog.forget()
    return service.view(spec)


@admin.post(
    "/{board_id}/deactivate",
    summary="Deactivate a board",
    responses=answers((NotFound, "No such board"), BUILT_IN),
)
async def deactivate(board_id: BoardId, _: AdminUser, conn: Db, catalog: CatalogDep) -> BoardView:
    """Stop counting awards on a board; its standings stay readable."""
    spec = await service.change(conn, board_id, BoardPatch(is_active=False))
    catalog.forget()
    return service.view(spec)


@admin.post(
    "/{board_id}/backfill",
    summary="Recount a board from score_history",
    responses=answers((NotFound, "No such board"), BUILT_IN),
)
async def backfill(
    board_id: BoardId, _: AdminUser, pool: PoolDep, redis: BackgroundRedisDep, settings: SettingsDep
) -> Backfilled:
    """Recount every period of the board from the awards (awards wait meanwhile), then reload its current period."""
    count = await service.backfill(pool, redis, board_id, settings.board_period_grace_seconds)
    return Backfilled(board_id=board_id, standings=count)
