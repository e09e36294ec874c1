"""Request ids: the one a request came with or a new one, in a context variable that every log line reads."""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterable
from contextvars import ContextVar

from starlette.types import Scope

HEADER = b"x-request-id"
SCOPE_KEY = "scoreboard.request_id"
# Printable ASCII only: an id is copied into log lines and response headers, where a control character could forge
# a line or a header.
_VALID = re.compile(rb"[\x20-\x7e]{1,128}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


class _Ids:
    """New ids: 16 random bytes each, as hex, cut from a block read from the OS (one system call per 256 ids)."""

    __slots__ = ("_at", "_block")

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop the ids left in the block (a forked child must not hand out its parent's)."""
        self._block, self._at = b"", 0

    def __call__(self) -> str:
        if self._at >= len(self._block):
            self._block, self._at = secrets.token_bytes(4096), 0
        at = self._at
        self._at = at + 16
        return self._block[at : at + 16].hex()


new_id = _Ids()
os.register_at_fork(after_in_child=new_id.forget)


def accepted(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's `X-Request-ID` if it is 1-128 printable ASCII characters, else 32 new random hex digits."""
    for name, value in headers:
        if name == HEADER:  # ASGI servers lower-case header names
            return value.decode("ascii") if _VALID.fullmatch(value) else new_id()
    return new_id()


def current() -> str | None:
    """The id of the request being served (None outside a request)."""
    return _current.get()


def of(scope: Scope) -> str | None:
    """The id the middleware gave the request of `scope` (for code that runs after it, outside its context)."""
    request_id: str | None = scope.get(SCOPE_KEY)
    return request_id


class bound:  # a lower-case name: it reads as the function it replaces, `with bound(request_id):`
    """Make `request_id` the current one inside the block: every line logged there carries it."""

    # A class, not a generator: it stays alive as long as its request (a live stream: hours), one per open request.
    __slots__ = ("_request_id", "_token")

    def __init__(self, request_id: str | None) -> None:
        self._request_id = request_id

    def __enter__(self) -> None:
        self._token = _current.set(self._request_id)

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)


class RequestIdFilter(logging.Filter):
    """Give each record logged inside a request that request's id (`record.request_id`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Stamp the record; never drops one."""
        request_id = _current.get()
        if request_id is not None:
            record.request_id = request_id
        return True
