"""`POST /api/boards/{id}/results` (trusted servers) and the moderators' `/api/admin` results routes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response, status

from scoreboard.deps import AdminUser, CallDep, Db, StateDep
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable, TooManyRequests
from scoreboard.kit.routing import Route, created
from scoreboard.results import repository, service
from scoreboard.results.schemas import Removal, ResultRecorded, ResultSubmit, SubmissionList, SubmissionView

router = APIRouter(prefix="/api/boards", tags=["results"], route_class=Route)
admin = APIRouter(prefix="/api/admin", tags=["admin"], route_class=Route)

BoardId = Annotated[str, Path(min_length=1, max_length=64, description="A result board's id")]


@router.post(
    "/{board_id}/results",
    status_code=status.HTTP_201_CREATED,
    summary="Submit a player's result (trusted game servers)",
    response_model=ResultRecorded,
    responses=answers(
        (BadRequest, "Malformed Idempotency-Key, or both a bearer token and an API key"),
        (Forbidden, "A player's token, an API key without results:write, or a deactivated user"),
        (NotFound, "No such board or user"),
        (Conflict, "A points board, an inactive board or season, or an Idempotency-Key used for another submission"),
        (TooManyRequests, "The API key's rate limit; see Retry-After"),
        (ServiceUnavailable, "PostgreSQL unavailable; nothing was recorded"),
    ),
)
async def submit(board_id: BoardId, body: ResultSubmit, call: CallDep) -> Response:
    """Record the result; the board keeps each player's best (or latest) per period. A replayed key answers again."""
    ip, user_agent = call.client.ip, call.client.user_agent
    outcome = await service.submit(
        call.state, call.principal, board_id, body, idempotency_key=call.idempotency_key, ip=ip, user_agent=user_agent
    )
    return created(outcome.recorded, outcome.verdict, outcome.replayed)


@admin.get(
    "/boards/{board_id}/results",
    summary="A result board's submissions, newest first",
    responses=answers((NotFound, "No such board")),
)
async def submissions(
    board_id: BoardId,
    _: AdminUser,
    conn: Db,
    state: StateDep,
    user_id: Annotated[UUID | None, Query(alias="userId", description="Only this player's")] = None,
    period: Annotated[str | None, Query(max_length=16, description="Only this period's (a key)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SubmissionList:
    """Every submission kept (removed ones too, with who removed them and why)."""
    await state["boards"].spec(state["pool"], board_id)  # 404 when unknown
    rows = await repository.submissions(conn, board_id, user_id, period, limit)
    return SubmissionList(submissions=[service.view(r) for r in rows])


@admin.post(
    "/results/{submission_id}/remove",
    summary="Remove a submission (moderation)",
    responses=answers((NotFound, "No such submission"), (Conflict, "Removed already")),
)
async def remove(
    submission_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: Removal, admin_user: AdminUser, state: StateDep
) -> SubmissionView:
    """Strike a result (a cheater's lap) with a reason: the player's standing is derived again from the rest."""
    assert admin_user.user_id is not None
    return await service.remove(state, submission_id, admin_user.user_id, body.reason)
