"""`POST /api/scores`: report a completed action."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, status
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from scoreboard.auth.dependencies import Caller, Principal, caller_of
from scoreboard.auth.router import client_of
from scoreboard.kit import jsonbody
from scoreboard.kit.problems import render
from scoreboard.scores import service
from scoreboard.scores.schemas import ScoreAwarded, ScoreUpdate

router = APIRouter(prefix="/api/scores", tags=["scores"])
JSON = "application/json"


def deps_of(conn: HTTPConnection) -> service.Deps:
    """Collect the write path's resources from the app."""
    state = conn.app.state
    return service.Deps(state.pool, state.redis, state.board, state.limiter, state.audit, state.settings)


async def respond(conn: HTTPConnection, principal: Principal, body: ScoreUpdate) -> Response:
    """Award the action once for `principal` and answer 201 with the award (a replay: the original one)."""
    client = client_of(conn)
    outcome = await service.award(
        deps_of(conn),
        principal,
        body,
        idempotency_key=service.check_idempotency_key(conn.headers.get("idempotency-key")),
        ip=client.ip,
        user_agent=client.user_agent,
    )
    headers = outcome.verdict.headers() if outcome.verdict is not None else {}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    # by_alias: the same camelCase document FastAPI renders for the response model.
    content = outcome.award.model_dump_json(by_alias=True)
    return Response(content, status_code=status.HTTP_201_CREATED, headers=headers, media_type=JSON)


async def award_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve `POST /api/scores` before routing (RawSendApp.bare_routes): the hottest route skips the layers."""
    conn = HTTPConnection(scope)
    try:
        # Size first (nothing read past the limit), then credentials: a stranger learns nothing about the body.
        raw = await jsonbody.read_body(scope, receive, conn.app.state.settings.max_body_bytes)
        principal = await caller_of(conn)
        response = await respond(conn, principal, jsonbody.parse(ScoreUpdate, raw, conn.headers.get("content-type")))
    except ClientDisconnect:
        return
    except Exception as exc:
        response = await render(Request(scope), exc)
    await response(scope, receive, send)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Report a completed action; the server decides the points",
    response_model=ScoreAwarded,
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
    principal: Caller,
    idempotency_key: Annotated[
        str | None, Header(description="1-255 printable characters; a retry with the same key never awards twice")
    ] = None,
) -> Response:
    """Award the action's points once; a replayed key returns the original award."""
    # The app serves this path before routing (`award_app`); this entry documents it, and serves it where the
    # router is mounted in a plain FastAPI app.
    return await respond(request, principal, body)


# Served by RawSendApp ahead of routing.
bare_routes: dict[tuple[str, str], ASGIApp] = {("POST", "/api/scores"): award_app}
