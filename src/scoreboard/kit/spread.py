"""Write chunks to many sockets from several threads at once: the kernel's send runs outside the GIL."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)
FAILED = -1  # a write's outcome when the socket refused it with an error (the transport will find out)


class Spreader:
    """Run one batch of non-blocking writes on the calling thread and `threads` helpers; wait for all of them."""

    # A loopback or LAN send costs 5-15 µs of kernel time, almost all of it outside the GIL; one thread writing
    # an event to 10,000 streams spends 50-150 ms in the kernel while a second core idles.

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.jobs = 0  # how many writes were asked for (skipped descriptors too), for tests and diagnostics
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="live-write") if threads > 0 else None

    def write(self, fds: Sequence[int], chunks: Sequence[bytes]) -> list[int]:
        """Write each chunk to its descriptor at most once; return the bytes each took (0: none; -1: an error)."""
        # Parallel lists rather than (fd, chunk) pairs: a broadcast builds them with C-level passes (see Roster).
        # A negative descriptor is skipped: the caller delivers that one another way.
        sent = [0] * len(fds)  # a job nobody got to stays 0: the caller hands it to its transport
        work = iter(range(len(fds)))  # shared: whichever thread is free takes the next job

        def run() -> None:
            for i in work:
                fd = fds[i]
                if fd < 0:
                    continue
                try:
                    sent[i] = os.write(fd, chunks[i])
                except BlockingIOError:
                    pass
                except OSError:
                    sent[i] = FAILED
                except Exception:  # nothing was written (os.write raises before writing): the transport will try
                    log.exception("live write to descriptor %d failed", fd)

        helpers: list[Future[None]] = []
        try:
            if self._pool is not None:
                for _ in range(self.threads):
                    helpers.append(self._pool.submit(run))
        except RuntimeError as exc:  # shut down, or no thread to be had: this thread writes what is left
            log.warning("live writes on one thread: %s", exc)
        try:
            run()
        finally:
            # Blocks the event loop until every helper is done, as one thread writing them all would have: the
            # caller settles the jobs next, and no helper may still be writing to these sockets then.
            wait(helpers)
        self.jobs += len(fds)
        return sent

    def close(self) -> None:
        """Stop the helper threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
