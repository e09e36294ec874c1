"""How live events reach the sockets: the portable path every ASGI server runs, and the interface of others."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from starlette.types import Scope

from scoreboard.live.client import Client
from scoreboard.live.events import Event


class Delivery(Protocol):
    """How events reach the sockets: each client's ASGI `send` (`Portable`), or a server-specific accelerator."""

    def client(self, scope: Scope, **fields: Any) -> Client:
        """A client for the connection of `scope` (fields: `Client`'s arguments)."""

    def attach(self, client: Client) -> None:
        """A client joined the hub."""

    def detach(self, client: Client) -> None:
        """A client left the hub."""

    def broadcast(self, event: Event, clients: Collection[Client], everyone: bool) -> None:
        """Give `event` to `clients` (`everyone`: they are all of the hub's clients)."""

    def close(self) -> None:
        """Release what the delivery holds."""


class Portable:
    """Events go through each client's ASGI `send`, stepped inline while its socket keeps up: any ASGI server."""

    def client(self, scope: Scope, **fields: Any) -> Client:
        """A client on the connection's ASGI `send`."""
        return Client(**fields)

    def attach(self, client: Client) -> None:
        """Nothing to track."""

    def detach(self, client: Client) -> None:
        """Nothing to track."""

    def broadcast(self, event: Event, clients: Collection[Client], everyone: bool) -> None:
        """Push `event` to each client."""
        for client in clients:
            client.push(event)

    def close(self) -> None:
        """Nothing to release."""
