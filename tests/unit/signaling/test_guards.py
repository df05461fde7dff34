"""Per-address limits: connections held at once, hello attempts a minute, bounded memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from signaling.guards import AddressGuard
from signaling.limits import Limits

T0 = 1000.0


def guard(connections: int = 3, hellos: int = 3) -> AddressGuard:
    return AddressGuard(Limits(connections_per_ip=connections, hello_per_minute=hellos))


def test_connections_are_capped_per_address() -> None:
    g = guard(connections=2)
    assert g.connect("10.0.0.1")
    assert g.connect("10.0.0.1")
    assert not g.connect("10.0.0.1")
    assert g.connect("10.0.0.2")  # another address has its own count


def test_a_refused_connection_is_not_counted() -> None:
    g = guard(connections=1)
    assert g.connect("a")
    assert not g.connect("a")
    assert not g.connect("a")
    g.disconnect("a", T0)
    assert g.connect("a")  # one close frees the one place


def test_a_disconnect_frees_a_place() -> None:
    g = guard(connections=2)
    g.connect("a")
    g.connect("a")
    g.disconnect("a", T0)
    assert g.connect("a")
    assert not g.connect("a")


def test_disconnects_never_go_below_zero() -> None:
    g = guard(connections=1)
    g.disconnect("never-seen", T0)
    g.connect("a")
    g.disconnect("a", T0)
    g.disconnect("a", T0)
    assert g.connect("a")
    assert not g.connect("a")


def test_hellos_are_capped_per_minute() -> None:
    g = guard(hellos=3)
    assert [g.hello("a", T0 + i) for i in range(4)] == [True, True, True, False]
    assert g.hello("b", T0)  # another address has its own window


def test_the_hello_window_slides() -> None:
    g = guard(hellos=2)
    assert g.hello("a", T0)
    assert g.hello("a", T0 + 30)
    assert not g.hello("a", T0 + 59.9)
    assert g.hello("a", T0 + 60)  # the first one is a minute old: out of the window
    assert not g.hello("a", T0 + 61)
    assert g.hello("a", T0 + 90)


def test_a_refused_hello_is_not_counted() -> None:
    g = guard(hellos=1)
    assert g.hello("a", T0)
    for i in range(1, 50):
        assert not g.hello("a", T0 + i)
    assert g.hello("a", T0 + 60)


def test_an_idle_address_is_forgotten_when_its_last_connection_closes() -> None:
    g = guard()
    g.connect("a")
    g.connect("a")
    g.disconnect("a", T0)
    assert g.tracked() == 1
    g.disconnect("a", T0)
    assert g.tracked() == 0


def test_an_address_with_recent_hellos_is_kept_until_its_window_passes() -> None:
    g = guard(hellos=1)
    g.connect("a")
    g.hello("a", T0)
    g.disconnect("a", T0 + 1)
    assert g.tracked() == 1  # forgetting it now would reset its hello count
    g.sweep(T0 + 30)
    assert g.tracked() == 1
    assert not g.hello("a", T0 + 30)
    g.sweep(T0 + 61)
    assert g.tracked() == 0
    assert g.hello("a", T0 + 61)


def test_sweep_keeps_addresses_with_connections() -> None:
    g = guard()
    g.connect("a")
    g.hello("b", T0)
    g.sweep(T0 + 3600)
    assert g.tracked() == 1
    assert g.connect("a")
    assert g.connect("a")
    assert not g.connect("a")  # still counting the first connection


def test_the_defaults_come_from_limits() -> None:
    g = AddressGuard(Limits())
    assert all(g.connect("a") for _ in range(Limits().connections_per_ip))
    assert not g.connect("a")
    assert all(g.hello("a", T0) for _ in range(Limits().hello_per_minute))
    assert not g.hello("a", T0)


@given(
    limit=st.integers(min_value=1, max_value=5),
    steps=st.lists(
        st.tuples(st.sampled_from(["a", "b"]), st.floats(min_value=0.0, max_value=45.0)),
        max_size=60,
    ),
)
def test_hellos_follow_an_exact_sliding_minute(limit: int, steps: list[tuple[str, float]]) -> None:
    """Against the plainest model: a hello is let in when fewer than `limit` of that address's
    earlier accepted hellos are under a minute old, and only let-in hellos count."""
    g = guard(hellos=limit)
    accepted: dict[str, list[float]] = {"a": [], "b": []}
    now = T0
    for address, gap in steps:
        now += gap
        recent = [t for t in accepted[address] if t > now - AddressGuard.WINDOW]
        expected = len(recent) < limit
        assert g.hello(address, now) is expected
        if expected:
            accepted[address].append(now)
    g.sweep(now + AddressGuard.WINDOW + 1)
    assert g.tracked() == 0  # every window has passed and no address holds a connection
