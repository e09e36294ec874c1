"""What one process shares between requests: the lifespan's resources, typed."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, cast

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from scoreboard.apikeys.cache import KeyCache
    from scoreboard.auth.principal import Principal
    from scoreboard.boards.service import Catalog
    from scoreboard.config import Settings
    from scoreboard.db import Pool
    from scoreboard.kit.pipelined import Pipelined
    from scoreboard.kit.ratelimit import SlidingWindow
    from scoreboard.leaderboard.board import Board
    from scoreboard.leaderboard.tops import Tops
    from scoreboard.live.hub import Hub
    from scoreboard.scores.audit import AuditWriter


class State(TypedDict):
    """The lifespan's state (ASGI `scope["state"]`): opened at start-up, closed in reverse order at shutdown."""

    settings: Settings
    pool: Pool
    redis: Pipelined  # the request path's one Redis client
    background_redis: Redis  # redis-py: pub/sub, background passes, admin work
    limiter: SlidingWindow
    board: Board
    tops: Tops  # every board's current top, in this process's memory
    boards: Catalog  # every other board (the catalog, cached), and their Redis boards
    audit: AuditWriter
    hub: Hub
    api_keys: KeyCache[Principal]
    migration_heads: tuple[str, ...]


def state_of(conn: HTTPConnection) -> State:
    """The state of the app serving `conn` (a request or a WebSocket)."""
    return cast("State", conn.scope["state"])
