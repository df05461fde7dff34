"""The garbage collector's settings for a node, and its pauses as a metric.

A full collection walks every object the process holds, and a node holds some sixty per
connection: 20-35 ms with 600 connections, 200 ms with 5,000, during which no frame moves.
CPython starts one when ten young (generation 1) collections have run since the last and
the old generation has grown by a quarter, so every wave of arrivals, and the teardown
of closed connections (their objects died as cycles; server/ws_protocol.py now frees them
without the collector), brought one on: under load every 15-20 s (docs/decisions/009 has
the figures). Here:

- everything made before the node took its first connection (modules, the app) is frozen:
  no collection walks it again;
- a full collection waits for `FULL_AFTER_YOUNG` young collections instead of ten, so a node
  pauses for one about a tenth as often; the young collections, which find the short-lived
  cycles, run as before. A cycle that outlived two young collections is reclaimed that
  much later: memory, bounded by the same count of allocations, for latency;
- every collection's pause is timed (`PAUSES`, exported by server.metrics as
  `hearth_gc_pause_seconds`, by generation), so a host sees what the collector costs.

The collector is one per process: so are these settings and the pause counts (two apps in
one process, as in tests, export the same figures, as they do the process's memory).
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_left
from typing import Any, Final

FULL_AFTER_YOUNG: Final = 100  # CPython's default is 10

# A young collection takes well under a millisecond to a few; a full one, tens to hundreds.
PAUSE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
GENERATIONS: Final = (0, 1, 2)


class Pauses:
    """Each generation's collections: counts per pause bucket (the last is +Inf) and the sum
    of their seconds. Written by the collector's callback, read at scrape time."""

    __slots__ = ("_started", "buckets", "sums")

    def __init__(self) -> None:
        self.buckets = [[0] * (len(PAUSE_BUCKETS) + 1) for _ in GENERATIONS]
        self.sums = [0.0 for _ in GENERATIONS]
        self._started = 0.0

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        self.buckets[generation][bisect_left(PAUSE_BUCKETS, seconds)] += 1
        self.sums[generation] += seconds


PAUSES: Final = Pauses()


def settle_collector() -> None:
    """Freeze what exists now and space full collections out; time every pause. Call once
    the node is built and before it serves (again is harmless)."""
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_AFTER_YOUNG)
    if PAUSES.callback not in gc.callbacks:
        gc.callbacks.append(PAUSES.callback)
