"""`POST /api/scores`: report a completed action."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from scoreboard.auth.dependencies import Caller
from scoreboard.auth.router import client_of
from scoreboard.scores import service
from scoreboard.scores.schemas import ScoreAwarded, ScoreUpdate

router = APIRouter(prefix="/api/scores", tags=["scores"])


def deps_of(request: Request) -> service.Deps:
    """Collect the write path's resources from the app."""
    state = request.app.state
    return service.Deps(state.pool, state.redis, state.board, state.limiter, state.audit, state.settings)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Report a completed action; the server decides the points",
    responses={
        403: {"description": "Server-only action, deactivated user, or API key without scores:write"},
        404: {"description": "Unknown or inactive action, or unknown user"},
        409: {"description": "Idempotency-Key reused for a different action"},
        429: {"description": "Rate limit, cooldown or daily cap; see Retry-After"},
        503: {"description": "PostgreSQL (or, for players, the rate limiter) unavailable; nothing was written"},
    },
)
async def award(
    body: ScoreUpdate,
    request: Request,
    response: Response,
    principal: Caller,
    idempotency_key: Annotated[
        str | None, Header(description="1-255 printable characters; a retry with the same key never awards twice")
    ] = None,
) -> ScoreAwarded:
    """Award the action's points once; a replayed key returns the original award."""
    client = client_of(request)
    outcome = await service.award(
        deps_of(request),
        principal,
        body,
        idempotency_key=service.check_idempotency_key(idempotency_key),
        ip=client.ip,
        user_agent=client.user_agent,
    )
    if outcome.verdict is not None:
        response.headers.update(outcome.verdict.headers())
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome.award
