"""The per-frame counts reach /metrics under the names and shapes Prometheus expects."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from server.metrics import FANOUT_BUCKETS, Metrics


def samples(metrics: Metrics) -> dict[tuple[str, str | None], float]:
    body, _ = metrics.render()
    found: dict[tuple[str, str | None], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            found[(s.name, s.labels.get("le"))] = s.value
    return found


def test_frame_counts_are_exported_as_counters() -> None:
    m = Metrics()
    m.frames.frames_in += 3
    m.frames.frames_out += 33
    got = samples(m)
    assert got[("hearth_frames_in_total", None)] == 3
    assert got[("hearth_frames_out_total", None)] == 33


def test_fanout_histogram_buckets_are_cumulative_and_inclusive() -> None:
    m = Metrics()
    for seconds in (0.00005, FANOUT_BUCKETS[2], 0.0007, 3.0):
        m.frames.fanout(seconds)
    got = samples(m)
    bucket = lambda le: got[("hearth_fanout_seconds_bucket", le)]  # noqa: E731
    assert bucket("0.0001") == 1
    assert bucket("0.0005") == 2  # a value equal to a bound counts in that bound's bucket
    assert bucket("0.001") == 3
    assert bucket("1.0") == 3
    assert bucket("+Inf") == 4
    assert got[("hearth_fanout_seconds_count", None)] == 4
    assert abs(got[("hearth_fanout_seconds_sum", None)] - (0.00005 + 0.0005 + 0.0007 + 3.0)) < 1e-9


def test_two_apps_keep_their_own_counts() -> None:
    a, b = Metrics(), Metrics()
    a.frames.frames_in += 1
    assert samples(b)[("hearth_frames_in_total", None)] == 0


def test_a_shared_brokers_counts_are_read_at_each_scrape() -> None:
    m = Metrics()
    counts = {"appends": 2, "stale": 0}
    m.watch_broker(lambda: counts)
    body, _ = m.render()
    [family] = [
        f for f in text_string_to_metric_families(body.decode()) if f.name == "hearth_broker_events"
    ]
    assert {s.labels["kind"]: s.value for s in family.samples} == {"appends": 2, "stale": 0}
    counts["appends"] = 5
    assert b'hearth_broker_events_total{kind="appends"} 5.0' in m.render()[0]


def test_one_node_exports_no_broker_counts() -> None:
    assert b"hearth_broker_events" not in Metrics().render()[0]
