"""The node's Prometheus metrics, owned by one `Metrics` object per app.

Rules of this module:
- No global registry: each `Metrics` has its own `CollectorRegistry`, so two apps in one
  process (tests) never clash and nothing registers itself at import time.
- Labels are closed sets written in code (error codes, op names, resume outcomes), never
  anything a client sent: a label value per room or per member would leak who meets where
  and grow without bound.
"""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

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
        self.frames_in = Counter(
            "hearth_frames_in", "Frames received from clients.", registry=self.registry
        )
        self.frames_out = Counter(
            "hearth_frames_out", "Frames queued to clients.", registry=self.registry
        )
        self.errors = Counter(
            "hearth_errors",
            "Error frames sent, by wire code.",
            ["code"],
            registry=self.registry,
        )
        self.commands = Counter(
            "hearth_commands", "Room commands applied, by op.", ["op"], registry=self.registry
        )
        self.fanout_seconds = Histogram(
            "hearth_fanout_seconds",
            "From an event's commit to its frames queued to every local recipient.",
            buckets=FANOUT_BUCKETS,
            registry=self.registry,
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

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
