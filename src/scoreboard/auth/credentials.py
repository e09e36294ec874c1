"""Who is calling: the caller named by a bearer token or an API key."""

from __future__ import annotations

from fastapi.security import APIKeyHeader, HTTPBearer
from redis.exceptions import RedisError

from scoreboard.apikeys import repository as apikeys_repository
from scoreboard.auth import repository, service, tokens
from scoreboard.auth.principal import Principal
from scoreboard.kit.problems import BadRequest, Unauthorized
from scoreboard.state import State

# The schemes parse the headers for the dependencies and name them in the OpenAPI document.
bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="Trusted game server key")


async def from_access_token(state: State, token: str) -> Principal:
    """Resolve a player from an access token, refusing revoked sessions (PostgreSQL decides if Redis is away)."""
    claims = tokens.decode_access_token(state["settings"], token)
    try:
        revoked = bool(await state["redis"].exists(service.revoked_key(claims.session_id)))
    except RedisError:
        # Without the shared deny-list, ask the source of truth rather than accept a possibly revoked token.
        async with state["pool"].acquire() as conn:
            revoked = not await repository.session_is_live(conn, claims.session_id)
    if revoked:
        raise Unauthorized("The access token has been revoked.")
    return Principal("user", user_id=claims.user_id, role=claims.role, session_id=claims.session_id)


async def _from_api_key(state: State, key: str) -> Principal:
    digest, cache = tokens.digest(key), state["api_keys"]
    principal = cache.get(digest)
    if principal is not None:
        return principal
    async with state["pool"].acquire() as conn:
        row = await apikeys_repository.live_key_by_hash(conn, digest)
    if row is None:
        raise Unauthorized("The API key is not valid.")
    principal = Principal("api_key", api_key_id=row["id"], scopes=frozenset(row["scopes"]))
    cache.put(digest, row["id"], principal)
    return principal


async def resolve(state: State, authorization: str | None, bearer: str | None, api_key: str | None) -> Principal | None:
    """The caller named by a bearer token or an API key, if any; invalid credentials are always a 401."""
    # Any Authorization header beside an API key is ambiguous: a bearer token (read from it), an empty or Basic one.
    if api_key is not None and authorization:
        raise BadRequest("Send either a bearer token or an API key, not both.")
    if api_key is not None:
        return await _from_api_key(state, api_key)
    if bearer is not None:
        return await from_access_token(state, bearer)
    if authorization:
        raise Unauthorized("Only Bearer access tokens are accepted.")
    return None
