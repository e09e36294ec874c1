"""Ready the cyclic garbage collector for serving: start-up's objects frozen, young objects collected less often."""

from __future__ import annotations

import gc

# Net allocations of container objects between young-generation collections (CPython's default is 700). Each request
# in flight keeps many such objects alive across its awaits (the ASGI scope, middleware closures, coroutines, the
# Request), so at 700 the collector ran every few requests and promoted the in-flight objects, and every tenth middle
# pass swept the whole heap. docs/performance.md has the measurement.
YOUNG_THRESHOLD = 10_000


def tune_for_serving() -> None:
    """Collect start-up's garbage, freeze what remains (modules, routes, schemas) and raise the young threshold."""
    gc.collect()
    gc.freeze()  # never traversed again: later collections see only what serving allocates
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
