"""The service's PostgreSQL pool: how its connections are set up."""

from __future__ import annotations

from tests.fixtures.apps import Running


async def test_the_pools_connections_never_compile_queries_with_jit(app: Running) -> None:
    """A rank counted per row inflates a read's estimated cost: JIT then compiled for longer than the read ran."""
    async with app.state["pool"].acquire() as conn:
        assert await conn.fetchval("SHOW jit") == "off"
        assert await conn.fetchval("SHOW application_name") == "scoreboard"
