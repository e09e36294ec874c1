"""`POST /api/scores`: report a completed action."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from scoreboard.deps import CallDep
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, TooManyRequests
from scoreboard.kit.routing import Route, created
from scoreboard.scores import service
from scoreboard.scores.schemas import ScoreAwarded, ScoreUpdate

router = APIRouter(prefix="/api/scores", tags=["scores"], route_class=Route)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Report a completed action; the server decides the points",
    response_model=ScoreAwarded,
    responses=answers(
        (BadRequest, "Malformed Idempotency-Key, or both a bearer token and an API key"),
        (Forbidden, "Server-only action, deactivated user, or API key without scores:write"),
        (NotFound, "Unknown or inactive action, or unknown user"),
        (Conflict, "Idempotency-Key reused for a different action"),
        (TooManyRequests, "Rate limit, cooldown or daily cap; see Retry-After"),
        (ServiceUnavailable, "PostgreSQL (or, for players, the rate limiter) unavailable; nothing was written"),
    ),
)
async def award(body: ScoreUpdate, call: CallDep) -> Response:
    """Award the action's points once; a replayed key returns the original award."""
    outcome = await service.award(
        service.Deps.of(call.state),
        call.principal,
        body,
        idempotency_key=call.idempotency_key,
        ip=call.client.ip,
        user_agent=call.client.user_agent,
    )
    return created(outcome.award, outcome.verdict, outcome.replayed)
