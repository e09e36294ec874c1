"""Process-wide logging in text or JSON lines; a line logged while serving a request carries its id."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import IO

import orjson

from scoreboard.kit.requestids import RequestIdFilter

# `-` where no request is being served (start-up, background work).
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s]: %(message)s"
# Query parameters that carry a credential: EventSource cannot send headers, so stream tickets travel in the URL.
_SECRET_QUERY = re.compile(r"([?&](?:ticket)=)[^&\s\"]*")


class SecretQueryFilter(logging.Filter):
    """Blank the values of credential query parameters in the server's access lines (the path is an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place, so every handler sees the redacted record; never drops one."""
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


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
    # On the logger, not the handler: a filter there runs once, before any handler (a test's capture too) sees it.
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, SecretQueryFilter) for f in access.filters):
        access.addFilter(SecretQueryFilter())
