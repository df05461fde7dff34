"""The scenario harness itself: if it could not fail, no test built on it would prove a thing."""

from __future__ import annotations

import pytest

from rooms import commands as c
from rooms import events as e
from rooms.errors import Invalid, NotAllowed, RoomLocked
from rooms.evolve import replay
from tests.unit.rooms.scenario import W1, A, F, by, given, room

FAILED = (AssertionError, pytest.fail.Exception)


def test_then_fails_on_other_events() -> None:
    with pytest.raises(AssertionError):
        given(room()).when(c.Lock(), F).then(e.Unlocked())


def test_then_fails_on_missing_or_extra_events() -> None:
    with pytest.raises(AssertionError):
        given(room()).when(c.Lock(), F).then()
    with pytest.raises(AssertionError):
        given(room()).when(c.Lock(), F).then(e.Locked(), e.Locked())


def test_then_fails_when_the_command_is_refused() -> None:
    with pytest.raises(NotAllowed):
        given(room()).when(c.Lock(), A).then(e.Locked())


def test_refused_fails_when_the_command_is_accepted() -> None:
    with pytest.raises(FAILED):
        given(room()).when(c.Lock(), F).refused(Invalid, match="already locked")


def test_refused_fails_on_a_subclass_of_the_error_named() -> None:
    locked = given(room(), by(F, c.Lock())).when(c.Arrive(W1, "Wren"))
    locked.refused(RoomLocked, match="locked")
    with pytest.raises(FAILED):
        locked.refused(NotAllowed, match="locked")


def test_refused_fails_on_another_message() -> None:
    with pytest.raises(FAILED):
        given(room()).when(c.Lock(), A).refused(NotAllowed, match="something else")


def test_a_scenario_keeps_its_history_and_goes_on_from_its_state() -> None:
    story = given(room()).when(c.Lock(), F).then(e.Locked())
    assert story.state.locked
    assert story.history[-1] == e.Locked()
    assert replay(story.history) == story.state
    assert story.when(c.Unlock(), F).then(e.Unlocked()).state.locked is False
