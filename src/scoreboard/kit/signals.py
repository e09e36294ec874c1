"""Run a callback when the server is asked to stop, before it starts waiting for open connections."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_exit_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Chain `callback` before the current SIGINT/SIGTERM handlers; return a function that unchains it."""
    # uvicorn waits for open connections before the lifespan's shutdown runs, and live streams never end by
    # themselves: they must hear about the signal first. Outside the main thread signals cannot be chained.
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        chained = previous.get(signum)
        if callable(chained):
            chained(signum, frame)
        else:  # SIG_DFL or SIG_IGN: let the original disposition act
            signal.signal(signum, chained)
            signal.raise_signal(signum)

    for sig in EXIT_SIGNALS:
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, old)

    return restore
