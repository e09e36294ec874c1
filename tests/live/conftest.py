"""Live-stream fixtures: an app with setting overrides, served over real TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from scoreboard.config import Settings
from scoreboard.live.hub import Hub
from tests.fixtures.apps import running
from tests.fixtures.live import Live
from tests.fixtures.polling import eventually
from tests.fixtures.streams import serving


@pytest.fixture
def live(settings: Settings) -> Live:
    """Start an app with these setting overrides, served over TCP; yield (base URL, in-process client, hub)."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
        async with running(settings.model_copy(update={"score_rate_limit": 1000, **overrides})) as app:
            hub = app.state["hub"]
            await asyncio.wait_for(hub.subscribed.wait(), 10)
            # Until the reconciler's first pass has built the board, snapshots come from PostgreSQL and carry the
            # last event id seen rather than Redis's counter: tests of ids must start from a built board.
            await eventually(lambda: app.state["redis"].exists("leaderboard:built"), within=10)
            transport = httpx.ASGITransport(app=app)
            async with serving(app) as base, httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield base, client, hub

    return start
