"""Who is calling: the caller named by a bearer token or an API key."""

from __future__ import annotations

import contextlib
from uuid import UUID

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


def vouched_key(session_id: UUID | str) -> str:
    """Return the Redis key saying PostgreSQL lately vouched for a session: it exists, for this user and role."""
    return f"auth:session:{session_id}"


async def from_access_token(state: State, token: str) -> Principal:
    """Resolve a player from an access token naming a session PostgreSQL knows and nobody revoked."""
    claims = tokens.decode_access_token(state["settings"], token)
    vouched = f"{claims.user_id} {claims.role}"
    try:
        # One round trip, as the revocation check alone took: a session is checked in PostgreSQL once per
        # access-token lifetime (or after Redis lost its keys), not on every request.
        revoked, known = await state["redis"].mget(
            [service.revoked_key(claims.session_id), vouched_key(claims.session_id)]
        )
    except RedisError:
        # Without the shared deny-list, ask the source of truth rather than accept a possibly revoked token.
        if not await _session_is_live(state, claims):
            raise Unauthorized("The access token has been revoked.") from None
    else:
        if revoked is not None:
            raise Unauthorized("The access token has been revoked.")
        if known != vouched:
            await _vouch(state, claims, vouched)
    return Principal("user", user_id=claims.user_id, role=claims.role, session_id=claims.session_id)


async def _vouch(state: State, claims: tokens.AccessClaims, vouched: str) -> None:
    # A correctly signed token may still name a session PostgreSQL does not know: issued before a restore from an
    # older backup or a database reset, or forged with a leaked secret. Such a token is as invalid as a forged one.
    if not await _session_is_live(state, claims):
        raise Unauthorized("The access token is not valid.")
    ttl = state["settings"].access_token_ttl_seconds
    with contextlib.suppress(RedisError):  # unrecorded, the next request asks PostgreSQL again
        await state["redis"].set(vouched_key(claims.session_id), vouched, ex=ttl)


async def _session_is_live(state: State, claims: tokens.AccessClaims) -> bool:
    async with state["pool"].acquire() as conn:
        return await repository.session_is_live(conn, claims.session_id, claims.user_id, claims.role)


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
