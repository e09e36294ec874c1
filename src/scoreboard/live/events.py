"""Live events: parsed once, encoded once per shape (SSE frame, WebSocket text, board size), sent to many."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from scoreboard.leaderboard.board import Page, iso_seconds
from scoreboard.leaderboard.messages import rows

HEARTBEAT_SSE = b": heartbeat\n\n"
MAX_LIMIT = 100  # the largest board a stream may ask for


class Event:
    """One event for clients; id 0 = not part of the resumable sequence (heartbeats, hints)."""

    __slots__ = ("_messages", "_sse", "_variants", "extra", "id", "payload", "text", "type", "wide")

    def __init__(self, event_id: int, kind: str, payload: dict[str, Any], text: str | None = None) -> None:
        self.id = event_id
        self.type = kind
        self.payload = payload
        self.text = text if text is not None else orjson.dumps(payload).decode()
        self.wide: list[dict[str, Any]] | None = None  # a longer top for clients that asked for more than 10
        self._sse: bytes | None = None
        self._variants: dict[int, Event] = {}
        self._messages: dict[tuple[str, int], dict[str, Any]] = {}
        self.extra: dict[Any, Any] = {}  # other encodings of this event, made once by whoever needs them

    @classmethod
    def build(cls, kind: str, event_id: int = 0, **fields: Any) -> Event:
        """Make an event of our own (snapshot, my_rank, reconnect, heartbeat)."""
        payload = {"type": kind, **fields}
        if event_id:
            payload["eventId"] = event_id
        return cls(event_id, kind, payload)

    @classmethod
    def from_message(cls, raw: str | bytes) -> Event:
        """Parse a `leaderboard:updates` message (leaderboard.messages); its text is forwarded as published."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        payload = orjson.loads(text)
        if not isinstance(payload, dict) or not isinstance(payload.get("eventId"), int):
            raise ValueError("not a score_update message")
        return cls(payload["eventId"], str(payload.get("type", "score_update")), payload, text)

    def sse(self) -> bytes:
        """The event as one Server-Sent Events frame."""
        if self._sse is None:
            if self.type == "heartbeat":
                self._sse = HEARTBEAT_SSE
            else:
                head = f"id: {self.id}\n" if self.id else ""
                self._sse = f"{head}event: {self.type}\ndata: {self.text}\n\n".encode()
        return self._sse

    def message(self, kind: str, limit: int) -> dict[str, Any]:
        """The ASGI message carrying this event to a client of `kind` ("sse" / "ws") that keeps `limit` rows."""
        # Built once per shape and shared by every client: servers read send() messages, never change them.
        key = (kind, limit)
        message = self._messages.get(key)
        if message is None:
            sized = self.sized(limit)
            if kind == "sse":
                message = {"type": "http.response.body", "body": sized.sse(), "more_body": True}
            else:
                message = {"type": "websocket.send", "text": sized.text}
            self._messages[key] = message
        return message

    def sized(self, limit: int) -> Event:
        """This event with its `leaderboard` cut (or widened) to `limit` rows."""
        board = self.payload.get("leaderboard")
        if not isinstance(board, list):
            return self
        source = self.wide if self.wide is not None and limit > len(board) else board
        if source is board and len(board) <= limit:
            return self
        variant = self._variants.get(limit)
        if variant is None:
            variant = Event(self.id, self.type, {**self.payload, "leaderboard": source[:limit]})
            self._variants[limit] = variant
        return variant


def reconnect(reason: str, retry_ms: int) -> Event:
    """The last event of a stream the server ends: why, and how long to wait before reconnecting."""
    return Event.build("reconnect", reason=reason, retryMs=retry_ms)


def snapshot(event_id: int, page: Page, source: str, **board: Any) -> Event:
    """The board as it is now; `event_id` is the last update it already reflects (`board`: which board and period)."""
    return Event.build(
        "snapshot",
        event_id,
        eventId=event_id,  # also when 0 (no award published yet), unlike the SSE `id:` line
        **board,
        leaderboard=rows(page),
        totalPlayers=page.total,
        source=source,
        timestamp=iso_seconds(datetime.now(UTC)),
    )
