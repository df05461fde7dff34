"""The node's Prometheus metrics, owned by one `Metrics` object per app.

Rules of this module:
- Whatever is counted for every frame (frames in and out, fan-out time) is a plain int or
  float in `FrameCounts`, turned into Prometheus families only when scraped: a library
  counter takes a lock on every increment, which on the hot path cost more than the count.
- No global registry: each `Metrics` has its own `CollectorRegistry`, so two apps in one
  process (tests) never clash and nothing registers itself at import time.
- Labels are closed sets written in code (error codes, op names, resume outcomes), never
  anything a client sent: a label value per room or per member would leak who meets where
  and grow without bound.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from server.collector import GENERATIONS, PAUSE_BUCKETS, PAUSES, Pauses

ResumeOutcome = Literal["replay", "snapshot", "expired"]
RESUME_OUTCOMES: Final[tuple[ResumeOutcome, ...]] = ("replay", "snapshot", "expired")
CheckOutcome = Literal["answered", "busy", "rate_limited", "invalid", "failed"]
CHECK_OUTCOMES: Final[tuple[CheckOutcome, ...]] = (
    "answered",
    "busy",
    "rate_limited",
    "invalid",
    "failed",
)

# Fan-out on one node is expected in the 0.1-5 ms range; the upper buckets catch stalls.
FANOUT_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)


def bucket_labels(bounds: Sequence[float]) -> tuple[str, ...]:
    """The `le` labels, as the library writes them ("0.0001" ... "1.0", "+Inf")."""
    return (*(repr(float(b)) for b in bounds), "+Inf")


def cumulative(labels: Sequence[str], counts: Sequence[int]) -> list[tuple[str, float]]:
    """A histogram's buckets from per-bucket counts (the last for +Inf)."""
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, n in zip(labels, list(counts), strict=True):
        total += n
        buckets.append((bound, total))
    return buckets


BUCKET_LABELS: Final = bucket_labels(FANOUT_BUCKETS)
PAUSE_LABELS: Final = bucket_labels(PAUSE_BUCKETS)


class FrameCounts:
    """Per-frame counts, bumped on the event loop and read at scrape time.

    Only the event loop writes them; a scrape from another thread may read a count one
    frame old, never a torn one (ints and floats are replaced whole).
    """

    __slots__ = ("fanout_buckets", "fanout_sum", "frames_in", "frames_out")

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_out = 0
        # One slot per bucket bound, and a last one for +Inf.
        self.fanout_buckets = [0] * (len(FANOUT_BUCKETS) + 1)
        self.fanout_sum = 0.0

    def fanout(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket ("le").
        self.fanout_buckets[bisect_left(FANOUT_BUCKETS, seconds)] += 1
        self.fanout_sum += seconds


class FrameCollector:
    """Exports `FrameCounts` under the names the library's own metrics would have."""

    def __init__(self, counts: FrameCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        c = self._counts
        yield CounterMetricFamily(
            "hearth_frames_in", "Frames received from clients.", value=c.frames_in
        )
        yield CounterMetricFamily(
            "hearth_frames_out", "Frames queued to clients.", value=c.frames_out
        )
        yield HistogramMetricFamily(
            "hearth_fanout_seconds",
            "From an event's commit to its frames queued to every local recipient.",
            buckets=cumulative(BUCKET_LABELS, c.fanout_buckets),
            sum_value=c.fanout_sum,
        )


class PauseCollector:
    """Exports the garbage collector's pauses (server.collector), one histogram per
    generation: how long the node stopped, and how often."""

    def __init__(self, pauses: Pauses = PAUSES) -> None:
        self._pauses = pauses

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "hearth_gc_pause_seconds",
            "Time the garbage collector stopped the node, by generation (2: a full collection).",
            labels=["generation"],
        )
        p = self._pauses
        for generation in GENERATIONS:
            buckets = cumulative(PAUSE_LABELS, p.buckets[generation])
            family.add_metric([str(generation)], buckets, p.sums[generation])
        yield family


class BrokerCollector:
    """Exports the shared broker's own counts, read at scrape time: how often chat took the
    one-round-trip path, mirrors were found stale, commits conflicted, gaps were filled from
    the log, rooms were restored, pub/sub reconnected. One family; `kind` is a field name
    of the broker's counters, a closed set written in code."""

    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "hearth_broker_events", "What the shared (Redis) broker did, by kind.", labels=["kind"]
        )
        for kind, n in self._read().items():
            family.add_metric([kind], n)
        yield family


class Metrics:
    """Every metric the node exports; `render()` is the body of `GET /metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Memory, CPU and open files of this process: what a host sizes a machine by.
        ProcessCollector(registry=self.registry)
        self.connections = Gauge(
            "hearth_connections", "Open WebSocket connections.", registry=self.registry
        )
        self.rooms_live = Gauge(
            "hearth_rooms_live", "Rooms with a meeting on this node.", registry=self.registry
        )
        self.frames = FrameCounts()
        self.registry.register(FrameCollector(self.frames))
        self.registry.register(PauseCollector())
        self.errors = Counter(
            "hearth_errors",
            "Error frames sent, by wire code.",
            ["code"],
            registry=self.registry,
        )
        self.commands = Counter(
            "hearth_commands", "Room commands applied, by op.", ["op"], registry=self.registry
        )
        self.resumes = Counter(
            "hearth_resumes",
            "Resume attempts, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        # Known outcomes start at zero, so a dashboard shows 0 rather than "no data".
        for outcome in RESUME_OUTCOMES:
            self.resumes.labels(outcome=outcome)
        self.checks = Counter(
            "hearth_checks",
            "Pre-join connection check requests, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        for check_outcome in CHECK_OUTCOMES:
            self.checks.labels(outcome=check_outcome)
        self.check_peers = Gauge(
            "hearth_check_peers", "Live echo peers of connection checks.", registry=self.registry
        )

    def watch_broker(self, read: Callable[[], Mapping[str, int]]) -> None:
        """Export the counts `read` returns (a multi-node broker's) at every scrape."""
        self.registry.register(BrokerCollector(read))

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
