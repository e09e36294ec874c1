"""Leaderboard reads: top N, my rank, around a player, friends, score ranges, scores."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from scoreboard.deps import BoardDep, CurrentUser, PoolDep, RedisDep
from scoreboard.kit.openapi import STORES, answers
from scoreboard.kit.problems import NotFound, Unprocessable
from scoreboard.kit.routing import Route, answer
from scoreboard.leaderboard import repository, service, tops
from scoreboard.leaderboard.schemas import BoardPage, RankedSubset, RankRequest, ScoreBatch, UserRank, UserScore
from scoreboard.state import state_of

router = APIRouter(tags=["leaderboard"], route_class=Route)
SOURCE = "X-Scoreboard-Source"
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
UNRANKED = (NotFound, "The user is not on the board: unknown or deactivated")


@router.get(
    "/api/leaderboard",
    summary="Top players, a page at a time",
    response_model=BoardPage,
    responses={**tops.NOT_MODIFIED, **STORES},
)
async def top(
    request: Request,
    limit: Limit = 10,
    offset: Offset = 0,
    if_none_match: tops.IfNoneMatch = None,
) -> Response:
    """Ranked players in board order: score, then who reached it first; competition ranks (1, 2, 2, 4).

    The top is answered from memory with a strong ETag: `If-None-Match` gets a `304` while the board has not moved.
    """
    # The state from the request rather than from dependencies: FastAPI solves each dependency on every request,
    # which costs the hottest read more than its answer does.
    state = state_of(request)
    board, pool, memory, settings = state["board"], state["pool"], state["tops"], state["settings"]

    def render(top: tops.Top) -> str:
        return service.as_page(top.page.cut(offset, limit), top.at).model_dump_json(by_alias=True)

    kept = await tops.from_memory(
        memory, tops.GLOBAL, board, (offset, limit), render, if_none_match, settings.read_cache_seconds
    )
    if kept is not None:
        return kept
    page, source = await service.read(
        board, pool, lambda b: b.page(offset, limit), lambda c: repository.page(c, offset, limit)
    )
    headers = {SOURCE: source, "Cache-Control": tops.cache_control(settings.read_cache_seconds)}
    return answer(service.as_page(page), headers)


@router.get(
    "/api/leaderboard/around/{user_id}",
    summary="A player and their neighbours",
    response_model=BoardPage,
    responses={**answers(UNRANKED), **STORES},
)
async def around(user_id: UUID, request: Request, radius: Annotated[int, Query(ge=0, le=50)] = 5) -> Response:
    """The player with up to `radius` players above and below."""
    state = state_of(request)  # as in `top`: no dependencies to solve on a hot read
    page, source = await service.read(
        state["board"],
        state["pool"],
        lambda b: b.around(user_id, radius),
        lambda c: repository.around(c, user_id, radius),
    )
    service.entry_of(page, user_id)  # 404 when the player is not on the board
    return answer(service.as_page(page), {SOURCE: source})


async def _rank(board: BoardDep, pool: PoolDep, response: Response, user_id: UUID) -> UserRank:
    page, response.headers[SOURCE] = await service.read(
        board, pool, lambda b: b.ranks([user_id]), lambda c: repository.ranks(c, [user_id])
    )
    return service.rank_of(page, user_id)


@router.get(
    "/api/leaderboard/me",
    summary="My rank",
    responses=answers((NotFound, "The caller is not on the board (deactivated since the token was issued)")),
)
async def my_rank(board: BoardDep, pool: PoolDep, response: Response, user: CurrentUser) -> UserRank:
    """The caller's rank, score, number of players and percentile."""
    assert user.user_id is not None
    return await _rank(board, pool, response, user.user_id)


@router.get("/api/users/{user_id:id}/rank", summary="A player's rank", responses=answers(UNRANKED))
async def user_rank(user_id: UUID, board: BoardDep, pool: PoolDep, response: Response) -> UserRank:
    """A player's rank, score, number of players and percentile (share of players ranked below)."""
    return await _rank(board, pool, response, user_id)


@router.post("/api/leaderboard/ranks", summary="Rank a list of players (a friends board)")
async def ranks(body: RankRequest, board: BoardDep, pool: PoolDep, response: Response) -> RankedSubset:
    """The ranked ones among up to 100 players, in board order, with their global ranks."""
    wanted = list(dict.fromkeys(body.user_ids))
    page, response.headers[SOURCE] = await service.read(
        board, pool, lambda b: b.ranks(wanted), lambda c: repository.ranks(c, wanted)
    )
    found = {e.user_id for e in page.entries}
    rendered = service.as_page(page)
    return RankedSubset(**rendered.model_dump(), missing=[u for u in wanted if u not in found])


@router.get("/api/leaderboard/range", summary="Players with a score in a range")
async def score_range(
    board: BoardDep,
    pool: PoolDep,
    response: Response,
    # JSON Schema cannot relate two parameters: min <= max is said here and checked below (a 422 naming `min`).
    min_score: Annotated[int, Query(alias="min", ge=0, description="Lowest score; at most `max`")],
    max_score: Annotated[int, Query(alias="max", ge=0, description="Highest score; at least `min`")],
    limit: Limit = 50,
    offset: Offset = 0,
) -> BoardPage:
    """Players with min <= score <= max, highest first (the seed's query 4, ZRANGEBYSCORE); min > max is a 422."""
    if min_score > max_score:
        raise Unprocessable(
            "min must not be greater than max.",
            errors=[{"loc": ["query", "min"], "msg": "must not be greater than max", "type": "value_error"}],
        )
    page, response.headers[SOURCE] = await service.read(
        board,
        pool,
        lambda b: b.score_range(min_score, max_score, offset, limit),
        lambda c: repository.score_range(c, min_score, max_score, offset, limit),
    )
    return service.as_page(page)


@router.get(
    "/api/users/{user_id:id}/score",
    summary="A player's score",
    responses=answers((NotFound, "No active user has this id")),
)
async def user_score(user_id: UUID, redis: RedisDep, pool: PoolDep, response: Response) -> UserScore:
    """From the seed's `user:{id}:score` cache, refilled from PostgreSQL on a miss."""
    score, response.headers[SOURCE] = await service.cached_score(redis, pool, user_id)
    return UserScore(user_id=user_id, score=score)


@router.post("/api/users/scores", summary="Several players' scores")
async def user_scores(body: RankRequest, redis: RedisDep, pool: PoolDep) -> ScoreBatch:
    """One MGET of `user:{id}:score`; misses come from PostgreSQL and refill the cache."""
    wanted = list(dict.fromkeys(body.user_ids))
    return ScoreBatch(scores=await service.cached_scores(redis, pool, wanted))
