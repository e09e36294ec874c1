"""The collector readied for serving: start-up frozen, young collections rare while requests hold objects."""

from __future__ import annotations

import gc
from typing import Any

from scoreboard.kit.gc_tuning import YOUNG_THRESHOLD, tune_for_serving
from tests.fixtures.collector import restored_collector


def young_collections_while_requests_are_in_flight(in_flight: int = 32, objects: int = 200, rounds: int = 50) -> int:
    """Young collections while batches of `in_flight` requests each hold `objects` containers, then all end."""
    seen = 0

    def count(phase: str, info: dict[str, Any]) -> None:
        nonlocal seen
        seen += phase == "start" and info["generation"] == 0

    held: list[list[dict[str, int]]] = []
    gc.callbacks.append(count)
    try:
        for _ in range(rounds):  # as a server's loop does: a batch of requests starts and awaits, then all end
            held.clear()
            held.extend([{"n": n} for n in range(objects)] for _ in range(in_flight))
    finally:
        gc.callbacks.remove(count)
    return seen


def test_start_up_objects_are_frozen_and_the_young_threshold_raised() -> None:
    with restored_collector():
        before = young_collections_while_requests_are_in_flight()
        tune_for_serving()
        assert gc.get_freeze_count() > 10_000  # modules, classes, schemas: never traversed again
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        after = young_collections_while_requests_are_in_flight()
    assert before > 50 * 32 / 8  # at CPython's default threshold: a young pass every few requests
    assert after == 0
