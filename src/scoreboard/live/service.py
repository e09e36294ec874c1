"""Who a live stream belongs to: a bearer token, or a single-use stream ticket (EventSource cannot send headers)."""

from __future__ import annotations

import secrets
from uuid import UUID

from scoreboard.auth import service as auth_service
from scoreboard.auth import tokens
from scoreboard.auth.principal import Principal
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.problems import BadRequest, Unauthorized

TICKET_PREFIX = "slt_"


def ticket_key(ticket: str) -> str:
    """Redis key of a ticket (its digest: a leaked key dump holds no usable tickets)."""
    return f"live:ticket:{tokens.digest(ticket).hex()}"


async def issue_ticket(redis: Pipelined, principal: Principal, ttl_seconds: int) -> str:
    """Mint a ticket that opens one stream as this player within `ttl_seconds`."""
    assert principal.user_id is not None
    assert principal.session_id is not None
    ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
    await redis.set(ticket_key(ticket), f"{principal.user_id}:{principal.session_id}", ex=ttl_seconds)
    return ticket


async def _redeem(redis: Pipelined, ticket: str) -> UUID:
    # GETDEL: a ticket opens one stream only, even if it leaks through a URL in some log.
    value = await redis.getdel(ticket_key(ticket)) if ticket.startswith(TICKET_PREFIX) else None
    if not value:
        raise Unauthorized("The stream ticket is unknown, used or expired.")
    user_id, session_id = str(value).split(":", 1)
    if await redis.exists(auth_service.revoked_key(UUID(session_id))):
        raise Unauthorized("The session behind this stream ticket has ended.")
    return UUID(user_id)


async def stream_owner(redis: Pipelined, principal: Principal | None, ticket: str | None) -> UUID | None:
    """The player a stream is for (a ticket's, or a token's), or None for an anonymous viewer."""
    if ticket is not None and principal is not None:
        raise BadRequest("Send either a stream ticket or credentials, not both.")
    if ticket is not None:
        return await _redeem(redis, ticket)
    return principal.user_id if principal is not None else None
