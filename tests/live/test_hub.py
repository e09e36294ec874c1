"""The hub's walk over its clients: an event reaches them in the order they connected."""

from __future__ import annotations

import asyncio
from typing import Any

from scoreboard.live.client import Client
from scoreboard.live.hub import Hub
from tests.fixtures.accounts import player
from tests.fixtures.live import Live, award
from tests.fixtures.polling import eventually


def _recording(hub: Hub, name: str, order: list[str]) -> Client:
    """A global-board client whose `send` notes `name` for each score_update it is given."""

    async def send(message: dict[str, Any]) -> None:
        if b"event: score_update" in message.get("body", b""):
            order.append(name)

    return Client(kind="sse", send=send, limit=10, limits=hub.client_limits, snapshot=hub.snapshot)


async def test_an_event_reaches_the_clients_in_the_order_they_connected(live: Live) -> None:
    """Connect order is memory order: a walk in hash order would scatter each broadcast over the heap."""
    async with live() as (_, http, hub):
        alice = await player(http)
        order: list[str] = []
        names = [f"c{n:02d}" for n in range(40)]
        clients = {name: _recording(hub, name, order) for name in names}
        for client in clients.values():
            hub.attach(client, None)
        hub.detach(clients["c07"])  # one leaves, another comes: the newcomer is last
        late = _recording(hub, "late", order)
        hub.attach(late, None)
        await eventually(
            lambda: asyncio.sleep(0, all(c.live for c in (*clients.values(), late) if c is not clients["c07"]))
        )
        await award(http, alice)
        await eventually(lambda: asyncio.sleep(0, len(order) == len(names)))
        assert order == [name for name in names if name != "c07"] + ["late"]
        for client in (*clients.values(), late):
            hub.detach(client)
