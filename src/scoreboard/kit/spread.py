"""Write chunks to many sockets from several threads at once: the kernel's send runs outside the GIL."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

FAILED = -1  # a write's outcome when the socket refused it with an error (the transport will find out)


class Spreader:
    """Run one batch of non-blocking writes on the calling thread and `threads` helpers; wait for all of them."""

    # A loopback or LAN send costs 5-15 µs of kernel time, almost all of it outside the GIL; one thread writing
    # an event to 10,000 streams spends 50-150 ms in the kernel while a second core idles.

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="live-write") if threads > 0 else None

    def write(self, jobs: Sequence[tuple[int, bytes]]) -> list[int]:
        """Write each chunk to its descriptor once; return the bytes each took (0: it would block; -1: error)."""
        sent = [0] * len(jobs)
        work = iter(enumerate(jobs))  # shared: whichever thread is free takes the next job

        def run() -> None:
            for i, (fd, chunk) in work:
                try:
                    sent[i] = os.write(fd, chunk)
                except BlockingIOError:
                    pass
                except OSError:
                    sent[i] = FAILED

        helpers = [self._pool.submit(run) for _ in range(self.threads)] if self._pool is not None else []
        run()
        for helper in helpers:
            # Blocks the event loop until the helpers are done, as one thread writing them all would have: nothing
            # else may write to these sockets meanwhile.
            helper.result()
        return sent

    def close(self) -> None:
        """Stop the helper threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
