"""The node's collector settings: fewer full collections, every pause timed and exported."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.collector import FULL_AFTER_YOUNG, PAUSE_BUCKETS, PAUSES, Pauses, settle_collector
from server.metrics import Metrics, PauseCollector


@pytest.fixture
def pauses(no_collector: None) -> Iterator[Pauses]:
    """A Pauses of its own, timing this process's real collections while the test runs
    (only the test's own: automatic collections are off meanwhile)."""
    p = Pauses()
    gc.callbacks.append(p.callback)
    try:
        yield p
    finally:
        gc.callbacks.remove(p.callback)


def test_every_collection_is_timed_under_its_generation(pauses: Pauses) -> None:
    gc.collect(0)
    gc.collect(2)
    gc.collect(2)
    assert [sum(b) for b in pauses.buckets] == [1, 0, 2]
    assert pauses.sums[0] > 0
    assert pauses.sums[2] > 0
    assert pauses.sums[1] == 0


def test_a_pause_lands_in_the_first_bucket_that_holds_it() -> None:
    p = Pauses()
    p.callback("start", {"generation": 1})
    p._started -= PAUSE_BUCKETS[3] * 0.99  # as if it started just under 5 ms ago
    p.callback("stop", {"generation": 1, "collected": 0, "uncollectable": 0})
    assert p.buckets[1].index(1) == 3
    p.callback("start", {"generation": 2})
    p._started -= 2.0  # past the last bound: +Inf
    p.callback("stop", {"generation": 2, "collected": 0, "uncollectable": 0})
    assert p.buckets[2][-1] == 1


def test_pauses_are_exported_as_one_histogram_per_generation(pauses: Pauses) -> None:
    gc.collect(2)
    registry = CollectorRegistry()
    registry.register(PauseCollector(pauses))
    counts = {
        (s.name, s.labels.get("generation"), s.labels.get("le")): s.value
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        for s in f.samples
    }
    assert counts[("hearth_gc_pause_seconds_count", "2", None)] == 1
    assert counts[("hearth_gc_pause_seconds_bucket", "2", "+Inf")] == 1
    assert counts[("hearth_gc_pause_seconds_count", "1", None)] == 0
    assert counts[("hearth_gc_pause_seconds_sum", "2", None)] == pauses.sums[2]
    # Every node's /metrics carries the process's own.
    assert b'hearth_gc_pause_seconds_bucket{generation="0",le="+Inf"}' in Metrics().render()[0]


def test_settling_freezes_what_exists_and_spaces_full_collections_out() -> None:
    before = gc.get_threshold()
    try:
        settle_collector()
        settle_collector()  # again is harmless: one callback
        assert gc.get_threshold() == (before[0], before[1], FULL_AFTER_YOUNG)
        assert gc.get_freeze_count() > 0
        assert gc.callbacks.count(PAUSES.callback) == 1
    finally:
        gc.set_threshold(*before)


# A process whose long-lived objects die as cycles, as a closed connection's do: each lives
# through young collections into the old generation, and only a full one reclaims it.
CHURN = textwrap.dedent(
    """
    import gc, sys
    from collections import deque
    if sys.argv[1] == "settled":
        from server.collector import settle_collector
        settle_collector()
    alive = deque(maxlen=20_000)
    for i in range(1_000_000):
        cycle = [i]
        cycle.append(cycle)
        alive.append(cycle)
    full = gc.get_stats()[2]
    print(full["collections"], full["collected"])
    """
)


def full_collections(mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True, timeout=60
    )
    runs, collected = out.stdout.split()
    return int(runs), int(collected)


def test_churn_brings_a_tenth_as_many_full_collections_and_still_reclaims() -> None:
    (default, default_reclaimed), (settled, reclaimed) = map(
        full_collections, ("default", "settled")
    )
    assert default >= 8  # CPython's own rule, for scale: one per ten young collections
    assert 1 <= settled <= default // 5
    assert reclaimed > default_reclaimed // 2  # what died as cycles was still collected
