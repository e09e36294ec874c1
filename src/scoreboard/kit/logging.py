"""Process-wide logging in text or JSON lines; a line logged while serving a request carries its id."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import IO

import orjson

from scoreboard.kit.requestids import RequestIdFilter

# `-` where no request is being served (start-up, background work).
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s]: %(message)s"


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            payload["request_id"] = request_id
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload).decode()


def configure_logging(level: str, fmt: str, stream: IO[str] | None = None) -> None:
    """Install one handler on the root logger (on stderr unless `stream` is given)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"}))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
