"""Who is calling: `Caller` (user or API key), `CurrentUser` (a player or admin), `AdminUser`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from scoreboard.apikeys import repository as apikeys_repository
from scoreboard.auth import repository, service, tokens
from scoreboard.db import get_pool
from scoreboard.kit.problems import BadRequest, Forbidden, Unauthorized
from scoreboard.redis import get_redis

log = logging.getLogger(__name__)

bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="Trusted game server key")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    kind: Literal["user", "api_key"]
    user_id: UUID | None = None
    role: str | None = None
    session_id: UUID | None = None
    api_key_id: UUID | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)


async def from_access_token(request: HTTPConnection, token: str) -> Principal:
    """Resolve a player from an access token, refusing revoked sessions (PostgreSQL decides if Redis is away)."""
    claims = tokens.decode_access_token(request.app.state.settings, token)
    try:
        revoked = bool(await get_redis(request).exists(service.revoked_key(claims.session_id)))
    except RedisError:
        # Without the shared deny-list, ask the source of truth rather than accept a possibly revoked token.
        async with get_pool(request).acquire() as conn:
            revoked = not await repository.session_is_live(conn, claims.session_id)
    if revoked:
        raise Unauthorized("The access token has been revoked.")
    return Principal("user", user_id=claims.user_id, role=claims.role, session_id=claims.session_id)


async def _from_api_key(request: HTTPConnection, key: str) -> Principal:
    digest, cache = tokens.digest(key), request.app.state.api_keys
    principal: Principal | None = cache.get(digest)
    if principal is not None:
        return principal
    async with get_pool(request).acquire() as conn:
        row = await apikeys_repository.live_key_by_hash(conn, digest)
    if row is None:
        raise Unauthorized("The API key is not valid.")
    principal = Principal("api_key", api_key_id=row["id"], scopes=frozenset(row["scopes"]))
    cache.put(digest, row["id"], principal)
    return principal


async def resolve(conn: HTTPConnection, bearer: str | None, api_key: str | None) -> Principal | None:
    """Resolve the caller from a bearer token or an API key, if sent; invalid credentials are always a 401."""
    # Any Authorization header beside an API key is ambiguous, a bearer token (read from it) or an empty or Basic one.
    if api_key is not None and conn.headers.get("authorization"):
        raise BadRequest("Send either a bearer token or an API key, not both.")
    if api_key is not None:
        return await _from_api_key(conn, api_key)
    if bearer is not None:
        return await from_access_token(conn, bearer)
    if conn.headers.get("authorization"):
        raise Unauthorized("Only Bearer access tokens are accepted.")
    return None


def bearer_credentials(authorization: str | None) -> str | None:
    """The token of a `Bearer` Authorization header, read as `HTTPBearer` reads it."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    return credentials if scheme.lower() == "bearer" and credentials else None


async def caller_of(conn: HTTPConnection) -> Principal:
    """Require credentials of any kind, for routes served outside the framework (as `Caller` does)."""
    headers = conn.headers
    principal = await resolve(conn, bearer_credentials(headers.get("authorization")), headers.get("x-api-key") or None)
    if principal is None:
        raise Unauthorized("Authentication required.")
    return principal


async def optional_caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal | None:
    """Resolve the caller if credentials were sent; invalid credentials are always a 401."""
    return await resolve(request, bearer.credentials if bearer is not None else None, api_key)


async def caller(principal: Annotated[Principal | None, Depends(optional_caller)]) -> Principal:
    """Require credentials of any kind."""
    if principal is None:
        raise Unauthorized("Authentication required.")
    return principal


async def current_user(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    """Require a logged-in player or admin (API keys act only where an endpoint names the user)."""
    if principal.kind != "user":
        raise Forbidden("This endpoint needs a user's access token, not an API key.")
    return principal


async def admin_user(principal: Annotated[Principal, Depends(current_user)]) -> Principal:
    """Require an admin."""
    if principal.role != "admin":
        raise Forbidden("Admins only.")
    return principal


Caller = Annotated[Principal, Depends(caller)]
OptionalCaller = Annotated[Principal | None, Depends(optional_caller)]
CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
