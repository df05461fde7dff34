"""`evolve` is total and deterministic, and replaying a room's history rebuilds its state."""

from __future__ import annotations

import pytest

from rooms import commands as c
from rooms import events as e
from rooms.evolve import evolve, replay
from rooms.state import Role, RoomState
from tests.unit.rooms.samples import EVENTS
from tests.unit.rooms.scenario import (
    T0,
    W1,
    W2,
    A,
    B,
    C,
    D,
    F,
    G,
    Scenario,
    a_round,
    arrive,
    by,
    given,
    node,
    room,
)


def busy() -> Scenario:
    return given(
        room(waiting=(W1, W2), co_facilitators=(G,)),
        by(F, c.SetSuccessor(C)),
        by(C, c.RaiseHand()),
        a_round(60, overtime=5),
        by(A, c.PassTurn(), now=T0 + 3),
        by(F, c.Pause(), now=T0 + 10),
        by(F, c.Extend(20)),
        by(F, c.Unpause(), now=T0 + 30),
        node(c.Disconnect(W2), now=T0 + 31),
        by(B, c.Done(), now=T0 + 40),
        by(F, c.Back(), now=T0 + 41),
        by(F, c.Admit(W1)),
        by(F, c.Remove(G, block=True)),
        by(B, c.StepAway()),
    )


STORIES = {
    "a busy round": busy,
    "a round run to its end": lambda: busy().and_(
        by(B, c.ComeBack()),
        node(c.TurnTimeUp("3"), now=T0 + 200),
        by(C, c.Done()),
        by(W1, c.PassTurn()),
        by(A, c.Done()),
    ),
    "a hold and its lifting": lambda: given(
        room(waiting=(W1,)),
        a_round(),
        node(c.Disconnect(F)),
        node(c.GraceExpired(F, T0), now=T0 + 30),
        by(A, c.PassTurn()),
        arrive(G, Role.FACILITATOR),
        by(G, c.HandOver(B)),
        by(B, c.EndRound()),
        by(B, c.CallOn(A)),
    ),
    "an ended meeting": lambda: busy().and_(by(F, c.EndMeeting())),
}


@pytest.mark.parametrize("story", STORIES.values(), ids=STORIES.keys())
def test_replaying_the_history_from_empty_gives_the_current_state(story: object) -> None:
    scenario = story()  # type: ignore[operator]
    assert scenario.history, "a story has events"
    assert replay(scenario.history) == scenario.state


def test_replaying_can_continue_from_a_state() -> None:
    history = busy().history
    middle = replay(history[:10])
    assert replay(history[10:], middle) == replay(history)


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.TYPE)
def test_evolve_is_total_on_an_empty_room(event: e.AnyEvent) -> None:
    assert isinstance(evolve(RoomState(), event), RoomState)


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: event.TYPE)
def test_evolve_is_total_and_deterministic_in_a_busy_room(event: e.AnyEvent) -> None:
    state = busy().state
    assert evolve(state, event) == evolve(state, event)


@pytest.mark.parametrize(
    "event",
    [
        e.TurnStarted("1", A, T0 + 60, 60.0, 1),  # type: ignore[arg-type]
        e.Passed(A, "1", 1),  # type: ignore[arg-type]
        e.Skipped(A, "1", 1),  # type: ignore[arg-type]
        e.TimeUp("1", A),  # type: ignore[arg-type]
        e.TimerChanged("1", None, True, 5.0, 60.0, False),  # type: ignore[arg-type]
    ],
    ids=lambda event: event.TYPE,
)
def test_turn_events_without_a_round_change_nothing(event: e.AnyEvent) -> None:
    state = given(room()).state
    assert evolve(state, event) == state


@pytest.mark.parametrize(
    "event",
    [
        e.TimeUp("99", A),  # type: ignore[arg-type]
        e.TimerChanged("99", None, True, 5.0, 60.0, False),  # type: ignore[arg-type]
    ],
    ids=lambda event: event.TYPE,
)
def test_timer_events_for_another_turn_change_nothing(event: e.AnyEvent) -> None:
    state = given(room(), a_round()).state
    assert evolve(state, event) == state


@pytest.mark.parametrize(
    "event",
    [
        e.LobbyMessage("hi"),
        e.LobbyPosition(W1, 1),
        e.ChatSent(A, 1, "hi", None, T0),
        e.Reacted(A, "🙏"),
        e.Finished(A, "1"),  # type: ignore[arg-type]
    ],
    ids=lambda event: event.TYPE,
)
def test_words_and_signs_leave_the_state_as_it_was(event: e.AnyEvent) -> None:
    state = busy().state
    assert evolve(state, event) == state


def test_evolve_builds_a_new_state_and_leaves_the_old_one_alone() -> None:
    state = given(room()).state
    after = evolve(state, e.Locked())
    assert after.locked
    assert not state.locked


def test_a_person_admitted_directly_gets_the_next_arrival_number() -> None:
    state = given(room()).state
    after = evolve(state, e.Admitted(D, "Dev", "facilitator"))
    person = after.person(D)
    assert person is not None
    assert person.arrived == state.arrivals + 1
    assert person.role is Role.FACILITATOR
    assert not person.waiting
