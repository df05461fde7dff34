"""Events and commands on the wire: names kept in step with DESIGN.md, lossless round trips."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest

from rooms import commands as c
from rooms import events as e
from rooms.events import EVENT_TYPES, fields_of, from_fields
from tests.unit.rooms.samples import EVENTS
from tests.unit.rooms.scenario import W1, A

# DESIGN.md, "The core protocol, by name": the names independent clients are written against.
DESIGN_OPS = {
    "admit": {"member"},
    "admit_all": set(),
    "deny": {"member"},
    "remove": {"member", "block"},
    "lobby_message": {"text"},
    "lock": set(),
    "unlock": set(),
    "set_order": {"members"},
    "start_round": {"seconds", "overtime", "order", "kind", "second_pass"},
    "set_topic": {"text"},
    "next": set(),
    "back": set(),
    "skip": set(),
    "pass": set(),
    "done": set(),
    "extend": {"seconds"},
    "pause": set(),
    "unpause": set(),
    "end_round": set(),
    "raise_hand": set(),
    "lower_hand": {"member"},
    "call_on": {"member"},
    "mute": {"member"},
    "promote": {"member"},
    "away": set(),
    "present": set(),
    "support": {"text"},
    "end_meeting": set(),
    "leave": set(),
}

DESIGN_EVENTS = {
    "joined_lobby": set(),
    "lobby_message": set(),
    "admitted": set(),
    "denied": set(),
    "left": set(),
    "reconnecting": set(),
    "removed": set(),
    "order_set": set(),
    "round_started": set(),
    "turn": {"speaker", "turn_id", "deadline"},
    "passed": set(),
    "time_up": {"turn_id", "speaker"},
    "timer": {"deadline", "paused", "remaining"},
    "round_ended": set(),
    "hand_raised": set(),
    "hand_lowered": set(),
    "called_on": set(),
    "chat": {"from", "id", "text", "box", "at"},
    "reaction": set(),
    "away": set(),
    "present": set(),
    "support": set(),
    "locked": set(),
    "unlocked": set(),
    "muted": set(),
    "role_changed": set(),
    "topic_set": set(),
    "meeting_ended": set(),
}

BY_TYPE = {event.TYPE: event for event in EVENTS}


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize("op", sorted(DESIGN_OPS))
def test_every_core_op_of_design_md_is_a_client_op_with_its_fields(op: str) -> None:
    assert op in c.OPS
    fields = {f.name for f in dataclasses.fields(c.OPS[op])}
    assert DESIGN_OPS[op] <= fields


@pytest.mark.parametrize("name", sorted(DESIGN_EVENTS))
def test_every_core_event_type_of_design_md_exists_with_its_fields(name: str) -> None:
    assert name in EVENT_TYPES
    assert DESIGN_EVENTS[name] <= set(fields_of(BY_TYPE[name]))


def test_each_name_maps_to_the_class_that_carries_it() -> None:
    assert all(op == cls.OP for op, cls in c.OPS.items())
    assert all(name == cls.TYPE for name, cls in EVENT_TYPES.items())


def test_every_event_class_has_a_wire_name_and_a_sample() -> None:
    assert set(EVENT_TYPES.values()) == set(get_args(e.AnyEvent))
    assert set(BY_TYPE) == set(EVENT_TYPES)
    assert len(EVENTS) == len(EVENT_TYPES)


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.TYPE)
def test_every_event_round_trips_through_its_stored_fields(event: e.AnyEvent) -> None:
    stored = fields_of(event, private=True)
    assert stored["type"] == event.TYPE
    assert from_fields(stored) == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.TYPE)
def test_every_event_round_trips_when_tuples_come_back_as_lists(event: e.AnyEvent) -> None:
    # msgpack decodes arrays as lists.
    stored = {
        k: list(v) if isinstance(v, tuple) else v for k, v in fields_of(event, private=True).items()
    }
    assert from_fields(stored) == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.TYPE)
def test_every_wire_field_is_a_plain_value(event: e.AnyEvent) -> None:
    for name, value in fields_of(event, private=True).items():
        if isinstance(value, tuple):
            assert all(isinstance(v, str) for v in value), name
        else:
            assert value is None or isinstance(value, str | int | float | bool | bytes), name


# --- private fields and wire names -----------------------------------------------------


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.TYPE)
def test_the_browser_key_never_appears_without_private(event: e.AnyEvent) -> None:
    assert "key" not in fields_of(event)


def test_the_browser_key_is_kept_for_storage() -> None:
    assert fields_of(e.JoinedLobby(W1, "Wren", 1, "k1"), private=True)["key"] == "k1"
    assert fields_of(e.Admitted(A, "Ama", "member", "k2"), private=True)["key"] == "k2"
    assert fields_of(e.JoinedLobby(W1, "Wren", 1, "k1")) == {
        "type": "joined_lobby",
        "member": W1,
        "name": "Wren",
        "position": 1,
    }


@pytest.mark.parametrize("event", [BY_TYPE["chat"], BY_TYPE["reaction"], BY_TYPE["support"]])
def test_from_underscore_becomes_from_on_the_wire(event: e.AnyEvent) -> None:
    fields = fields_of(event)
    assert fields["from"] == A
    assert "from_" not in fields


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.TYPE)
def test_no_wire_name_ends_in_an_underscore(event: e.AnyEvent) -> None:
    assert not any(name.endswith("_") for name in fields_of(event, private=True))


def test_an_unknown_type_cannot_be_rebuilt() -> None:
    with pytest.raises(KeyError):
        from_fields({"type": "no_such_event"})


def test_an_event_missing_a_field_cannot_be_rebuilt() -> None:
    with pytest.raises(TypeError):
        from_fields({"type": "muted"})
