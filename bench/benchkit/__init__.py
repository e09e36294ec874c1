"""Shared parts of the benches: the service under test, the load generator, pgbench, CPU accounting, reports.

The benches run as `python bench/<name>.py`, so `bench/` is on `sys.path` and this package imports as `benchkit`.
"""

from __future__ import annotations

import sys
import time

HOST = "127.0.0.1"


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()
