"""`POST /api/scores`: report a completed action."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from scoreboard.deps import Caller, ClientInfo, IdempotencyKey, StateDep
from scoreboard.kit.routing import Route
from scoreboard.scores import service
from scoreboard.scores.schemas import ScoreAwarded, ScoreUpdate

router = APIRouter(prefix="/api/scores", tags=["scores"], route_class=Route)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Report a completed action; the server decides the points",
    response_model=ScoreAwarded,
    responses={
        400: {"description": "Malformed Idempotency-Key, or both a bearer token and an API key"},
        403: {"description": "Server-only action, deactivated user, or API key without scores:write"},
        404: {"description": "Unknown or inactive action, or unknown user"},
        409: {"description": "Idempotency-Key reused for a different action"},
        429: {"description": "Rate limit, cooldown or daily cap; see Retry-After"},
        503: {"description": "PostgreSQL (or, for players, the rate limiter) unavailable; nothing was written"},
    },
)
async def award(
    body: ScoreUpdate, principal: Caller, client: ClientInfo, idempotency_key: IdempotencyKey, state: StateDep
) -> Response:
    """Award the action's points once; a replayed key returns the original award."""
    outcome = await service.award(
        service.Deps.of(state),
        principal,
        body,
        idempotency_key=idempotency_key,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    headers = outcome.verdict.headers() if outcome.verdict is not None else {}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    # The award's own JSON (camelCase, as the response model documents it), without a second validation pass.
    content = outcome.award.model_dump_json(by_alias=True)
    return Response(content, status_code=status.HTTP_201_CREATED, headers=headers, media_type="application/json")
