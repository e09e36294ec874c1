"""Every dependency of the routes as an `Annotated` alias: the lifespan's resources, the caller, the transaction."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Security
from fastapi.security import HTTPAuthorizationCredentials
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from scoreboard import db
from scoreboard.analytics.rendering import negotiate
from scoreboard.apikeys.cache import KeyCache
from scoreboard.auth.credentials import api_key_scheme, bearer_scheme, resolve
from scoreboard.auth.principal import Principal
from scoreboard.auth.service import Client
from scoreboard.boards.service import Catalog
from scoreboard.config import Settings
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.problems import BadRequest, Forbidden, Unauthorized
from scoreboard.kit.ratelimit import SlidingWindow
from scoreboard.leaderboard.board import Board
from scoreboard.leaderboard.tops import Tops
from scoreboard.live.hub import Hub
from scoreboard.scores.audit import AuditWriter
from scoreboard.state import State, state_of

# The lifespan's resources (see scoreboard.state). Dependencies are `async def` even when they do not await:
# FastAPI runs a plain `def` in the thread pool, a thread hop per dependency per request.


async def _state(conn: HTTPConnection) -> State:
    return state_of(conn)


StateDep = Annotated[State, Depends(_state)]


async def _settings(state: StateDep) -> Settings:
    return state["settings"]


async def _pool(state: StateDep) -> db.Pool:
    return state["pool"]


async def _redis(state: StateDep) -> Pipelined:
    return state["redis"]


async def _background_redis(state: StateDep) -> Redis:
    return state["background_redis"]


async def _board(state: StateDep) -> Board:
    return state["board"]


async def _catalog(state: StateDep) -> Catalog:
    return state["boards"]


async def _tops(state: StateDep) -> Tops:
    return state["tops"]


async def _limiter(state: StateDep) -> SlidingWindow:
    return state["limiter"]


async def _hub(state: StateDep) -> Hub:
    return state["hub"]


async def _audit(state: StateDep) -> AuditWriter:
    return state["audit"]


async def _api_keys(state: StateDep) -> KeyCache[Principal]:
    return state["api_keys"]


SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[db.Pool, Depends(_pool)]
RedisDep = Annotated[Pipelined, Depends(_redis)]
BackgroundRedisDep = Annotated[Redis, Depends(_background_redis)]
BoardDep = Annotated[Board, Depends(_board)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
TopsDep = Annotated[Tops, Depends(_tops)]
LimiterDep = Annotated[SlidingWindow, Depends(_limiter)]
HubDep = Annotated[Hub, Depends(_hub)]
AuditDep = Annotated[AuditWriter, Depends(_audit)]
ApiKeysDep = Annotated[KeyCache[Principal], Depends(_api_keys)]

# The transaction: the HTTP edge owns it; what others may see happens after it commits.


async def _after_commit() -> db.AfterCommit:
    return db.AfterCommit()


AfterCommit = Annotated[db.AfterCommit, Depends(_after_commit)]


async def _transaction(pool: PoolDep, after_commit: AfterCommit) -> AsyncIterator[db.Connection]:
    async with db.transaction(pool, after_commit) as conn:
        yield conn


# scope="function": commit before the response is sent, so a failed commit is the client's error response.
Db = Annotated[db.Connection, Depends(_transaction, scope="function")]

# The caller.


async def _optional_caller(
    conn: HTTPConnection,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal | None:
    token = bearer.credentials if bearer is not None else None
    return await resolve(state, conn.headers.get("authorization"), token, api_key)


OptionalCaller = Annotated[Principal | None, Depends(_optional_caller)]


async def _caller(principal: OptionalCaller) -> Principal:
    if principal is None:
        raise Unauthorized("Authentication required.")
    return principal


Caller = Annotated[Principal, Depends(_caller)]


async def _current_user(principal: Caller) -> Principal:
    # API keys act only where an endpoint names the user.
    if principal.kind != "user":
        raise Forbidden("This endpoint needs a user's access token, not an API key.")
    return principal


CurrentUser = Annotated[Principal, Depends(_current_user)]


async def _admin_user(principal: CurrentUser) -> Principal:
    if principal.role != "admin":
        raise Forbidden("Admins only.")
    return principal


AdminUser = Annotated[Principal, Depends(_admin_user)]

# Where the request comes from, and request headers with rules of their own.


def _client_of(conn: HTTPConnection) -> Client:
    host = conn.client.host if conn.client else None
    return Client(ip=_address(host) if host else None, user_agent=conn.headers.get("user-agent"))


async def _client(conn: HTTPConnection) -> Client:
    return _client_of(conn)


@functools.lru_cache(maxsize=4096)  # a client sends many requests from one address: parse each address once
def _address(host: str) -> str | None:
    # Behind a trusted proxy uvicorn takes the client's address from X-Forwarded-For as sent, and PostgreSQL's inet
    # columns refuse anything that is not an address: an unusable one is recorded as unknown.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host


ClientInfo = Annotated[Client, Depends(_client)]

_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")


IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="1-255 printable ASCII characters; a retry with the same key never awards twice",
        json_schema_extra={"pattern": f"^{_IDEMPOTENCY_KEY.pattern}$"},
    ),
]


def _checked_key(idempotency_key: str | None) -> str | None:
    # Checked here rather than by a `pattern` (which the schema states all the same): a malformed key is a 400 like
    # any malformed request header, not a 422 about the body.
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise BadRequest("Idempotency-Key must be 1 to 255 printable ASCII characters.")
    return idempotency_key


async def _idempotency_key(idempotency_key: IdempotencyHeader = None) -> str | None:
    return _checked_key(idempotency_key)


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]

# The hot writes (awards, results) in one dependency: each resolution costs FastAPI more than reading a header does.


@dataclass(frozen=True)
class Call:
    """An authenticated write: who calls, from where, with which idempotency key, and the process's state."""

    principal: Principal
    client: Client
    idempotency_key: str | None
    state: State


async def _call(
    conn: HTTPConnection,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
    idempotency_key: IdempotencyHeader = None,
) -> Call:
    state = state_of(conn)
    token = bearer.credentials if bearer is not None else None
    principal = await resolve(state, conn.headers.get("authorization"), token, api_key)
    if principal is None:
        raise Unauthorized("Authentication required.")
    return Call(principal, _client_of(conn), _checked_key(idempotency_key), state)


CallDep = Annotated[Call, Depends(_call)]


async def _media_type(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> str:
    return negotiate(accept)


MediaType = Annotated[str, Depends(_media_type)]
