"""Who sees what: the circle, the facilitators, the lobby, and the one person concerned.

Each scenario asks `decide` for real events, then who among the people in the room (as they
stood before the command) may see each one.
"""

from __future__ import annotations

from rooms import commands as c
from rooms.audience import EVERYONE, FACILITATORS, Audience, Viewer, may_see, only, viewer_of
from rooms.ids import MemberId
from rooms.state import Role
from tests.unit.rooms.samples import EVENTS
from tests.unit.rooms.scenario import (
    NOBODY,
    T0,
    W1,
    W2,
    A,
    B,
    C,
    F,
    G,
    Scenario,
    a_round,
    arrive,
    by,
    given,
    node,
    room,
    seen_by,
)

CIRCLE = {F, A, B, C}
LOBBY = {W1, W2}


def story(*more: object) -> Scenario:
    """F facilitating, A, B and C in the circle, W1 then W2 waiting."""
    return given(room(waiting=(W1, W2)), *more)  # type: ignore[arg-type]


def audiences(scenario: Scenario, command: c.AnyCommand, actor: MemberId | None) -> list[set[str]]:
    """Who may see each event `command` causes, in order."""
    events = scenario.when(command, actor, T0).events
    return [seen_by(scenario.state, event) for event in events]


# --- people waiting see nothing of the circle ------------------------------------------


def test_people_waiting_see_no_chat() -> None:
    assert audiences(story(), c.SendChat(1, "hello"), A) == [CIRCLE]


def test_people_waiting_see_no_one_else_being_admitted_nor_the_order_but_their_new_place() -> None:
    assert audiences(story(), c.Admit(W1), F) == [CIRCLE | {W1}, CIRCLE, {W2}]


def test_the_person_admitted_sees_their_own_admission() -> None:
    assert W1 in audiences(story(), c.Admit(W1), F)[0]


def test_people_waiting_see_no_one_leave_the_circle() -> None:
    assert audiences(story(), c.Leave(), A) == [CIRCLE]


def test_people_waiting_see_no_one_leave_the_lobby_but_their_new_place() -> None:
    assert audiences(story(), c.Leave(), W1) == [{F}, {W2}]


def test_people_waiting_see_nothing_of_a_round() -> None:
    assert audiences(story(), c.StartRound(60), F) == [CIRCLE, CIRCLE]
    assert audiences(story(a_round()), c.PassTurn(), A) == [CIRCLE, CIRCLE]


def test_people_waiting_see_no_hold() -> None:
    assert audiences(story(), c.Leave(), F) == [CIRCLE, CIRCLE]


def test_people_waiting_see_the_lobby_message_and_members_do_not() -> None:
    assert audiences(story(), c.MessageLobby("Soon"), F) == [{F} | LOBBY]


def test_a_denied_person_and_the_facilitators_see_the_denial() -> None:
    assert audiences(story(), c.Deny(W1), F) == [{F, W1}, {W2}]


def test_everyone_sees_the_meeting_end_the_lobby_included() -> None:
    assert audiences(story(), c.EndMeeting(), F) == [CIRCLE | LOBBY]


# --- facilitators only -----------------------------------------------------------------


def test_support_notes_reach_facilitators_only_not_even_their_sender() -> None:
    assert audiences(story(), c.AskSupport("help"), A) == [{F}]
    assert audiences(story(), c.AskSupport("help"), W1) == [{F}]


def test_every_facilitator_sees_support_notes() -> None:
    co = given(room(co_facilitators=(G,)))
    assert audiences(co, c.AskSupport("help"), A) == [{F, G}]


def test_lobby_arrivals_reach_facilitators_only_not_even_the_one_arriving() -> None:
    arrival = story().when(c.Arrive(NOBODY, "Zed"))
    (joined,) = arrival.events
    assert seen_by(arrival.state, joined) == {F}  # the state after: Zed is in the lobby


def test_a_lost_connection_in_the_lobby_is_for_the_facilitators() -> None:
    assert audiences(story(), c.Disconnect(W1), None) == [{F}]


def test_a_return_in_the_lobby_is_for_the_facilitators_and_the_one_returning() -> None:
    assert audiences(story(node(c.Disconnect(W1))), c.Reconnect(W1), None) == [{F, W1}]


def test_the_circle_sees_a_lost_connection_and_a_return_in_the_circle() -> None:
    assert audiences(story(), c.Disconnect(A), None) == [CIRCLE]
    assert audiences(story(node(c.Disconnect(A))), c.Reconnect(A), None) == [CIRCLE]


def test_the_chosen_successor_and_the_facilitators_see_the_choice() -> None:
    assert audiences(story(), c.SetSuccessor(A), F) == [{F, A}]
    assert audiences(story(by(F, c.SetSuccessor(A))), c.SetSuccessor(None), F) == [{F}]


# --- the person concerned --------------------------------------------------------------


def test_the_removed_person_sees_their_removal_with_the_circle() -> None:
    assert audiences(story(), c.Remove(A), F) == [CIRCLE]


def test_someone_removed_from_the_lobby_sees_it_with_the_facilitators_only() -> None:
    assert audiences(story(), c.Remove(W1, block=True), F) == [{F, W1}, {W2}]


def test_each_waiting_person_sees_only_their_own_place_in_line() -> None:
    three = given(room(waiting=(W1, W2)), arrive(MemberId("W3")))
    assert audiences(three, c.Admit(W1), F)[2:] == [{W2}, {MemberId("W3")}]


# --- the rule over every event type ----------------------------------------------------

STRANGER_WAITING = Viewer(MemberId("W9"), Role.MEMBER, waiting=True)
STRANGER_MEMBER = Viewer(MemberId("M9"), Role.MEMBER, waiting=False)
STRANGER_FACILITATOR = Viewer(MemberId("F9"), Role.FACILITATOR, waiting=False)


def _types_seen_by(viewer: Viewer) -> set[str]:
    return {event.TYPE for event in EVENTS if may_see(viewer, event.audience())}


def test_someone_waiting_sees_only_the_lobby_message_and_the_end_of_events_not_about_them() -> None:
    assert _types_seen_by(STRANGER_WAITING) == {"lobby_message", "meeting_ended"}


def test_a_member_sees_neither_the_lobby_nor_support_notes_nor_the_successor() -> None:
    hidden = {event.TYPE for event in EVENTS} - _types_seen_by(STRANGER_MEMBER)
    # The samples of left, removed, reconnecting and present are about someone waiting.
    assert hidden == {
        "joined_lobby", "lobby_message", "lobby_position", "denied", "left", "removed",
        "reconnecting", "present", "support", "support_seen", "successor_set", "returning_set",
    }  # fmt: skip


def test_a_facilitator_sees_everything_but_another_persons_place_in_line() -> None:
    hidden = {event.TYPE for event in EVENTS} - _types_seen_by(STRANGER_FACILITATOR)
    assert hidden == {"lobby_position"}


def test_a_person_named_in_an_audience_sees_it_wherever_they_stand() -> None:
    for viewer in (STRANGER_WAITING, STRANGER_MEMBER, STRANGER_FACILITATOR):
        assert may_see(viewer, only(viewer.id))
        assert may_see(viewer, FACILITATORS.including(viewer.id))
    assert not may_see(STRANGER_WAITING, EVERYONE)
    assert not may_see(STRANGER_MEMBER, only(STRANGER_WAITING.id))
    assert not may_see(STRANGER_MEMBER, Audience())


def test_a_viewer_is_taken_from_the_state_and_nobody_outside_it_is_one() -> None:
    state = story().state
    assert viewer_of(state, W1) == Viewer(W1, Role.MEMBER, True)
    assert viewer_of(state, F) == Viewer(F, Role.FACILITATOR, False)
    assert viewer_of(state, NOBODY) is None


def test_everyone_is_every_viewer_not_waiting() -> None:
    # The hub's fan-out relies on this to skip `may_see` for EVERYONE's events.
    for role in Role:
        for waiting in (False, True):
            viewer = Viewer(MemberId("m1"), role, waiting)
            assert may_see(viewer, EVERYONE) is (not waiting)
