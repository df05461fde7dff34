"""Coming back through the link: people let in earlier in this meeting, `set_returning`."""

from __future__ import annotations

from rooms.commands import (
    Arrive,
    Disconnect,
    GraceExpired,
    Leave,
    Lock,
    Remove,
    SetReturning,
)
from rooms.errors import Invalid, NotAllowed, RoomLocked
from rooms.events import Admitted, JoinedLobby, OrderSet, ReturningSet
from rooms.state import Returning, Role
from tests.unit.rooms.scenario import (
    T0,
    W1,
    A,
    B,
    C,
    D,
    F,
    Step,
    by,
    given,
    key_of,
    node,
    room,
)

# A came back with a new seat (a fresh member id, D) from the same browser (A's key).
BACK = Arrive(D, "Ama", Role.MEMBER, key_of(A))


def a_dropped_past_the_grace() -> tuple[Step, ...]:
    return (node(Disconnect(A), T0), node(GraceExpired(A, T0), T0 + 60))


def test_someone_let_in_earlier_comes_straight_back_into_the_circle() -> None:
    given(room(), a_dropped_past_the_grace()).when(BACK).then(
        JoinedLobby(D, "Ama", 1, key_of(A)),
        Admitted(D, "Ama", Role.MEMBER.value),
        OrderSet((B, C, D)),
    )


def test_after_leaving_too() -> None:
    given(room(), by(A, Leave())).when(BACK).then(
        JoinedLobby(D, "Ama", 1, key_of(A)),
        Admitted(D, "Ama", Role.MEMBER.value),
        OrderSet((B, C, D)),
    )


def test_a_locked_room_still_welcomes_them_back_they_are_not_new() -> None:
    story = given(room(), by(F, Lock()), a_dropped_past_the_grace())
    assert story.when(BACK).state.is_admitted(D)


def test_with_knock_they_wait_in_the_lobby_like_anyone_new() -> None:
    given(room(), by(F, SetReturning(Returning.KNOCK)), a_dropped_past_the_grace()).when(BACK).then(
        JoinedLobby(D, "Ama", 1, key_of(A))
    )


def test_with_knock_a_locked_room_refuses_them() -> None:
    story = given(room(), by(F, SetReturning(Returning.KNOCK)), by(F, Lock()), by(A, Leave()))
    story.when(BACK).refused(RoomLocked, match="locked")


def test_a_browser_never_let_in_knocks() -> None:
    # W1 waited and left without being let in: their key was never admitted.
    given(room(waiting=(W1,)), by(W1, Leave())).when(
        Arrive(D, "Wren", Role.MEMBER, key_of(W1))
    ).then(JoinedLobby(D, "Wren", 1, key_of(W1)))


def test_an_arrival_without_a_key_knocks() -> None:
    given(room(), by(A, Leave())).when(Arrive(D, "Ama")).then(JoinedLobby(D, "Ama", 1))


def test_someone_removed_knocks_to_come_back() -> None:
    given(room(), by(F, Remove(A))).when(BACK).then(JoinedLobby(D, "Ama", 1, key_of(A)))


def test_someone_removed_with_block_is_still_refused() -> None:
    given(room(), by(F, Remove(A, block=True))).when(BACK).refused(NotAllowed, match="can't rejoin")


def test_removing_the_returned_seat_forgets_the_browser_again() -> None:
    story = given(room(), by(A, Leave()), node(BACK), by(F, Remove(D)))
    again = Arrive(W1, "Ama", Role.MEMBER, key_of(A))
    story.when(again).then(JoinedLobby(W1, "Ama", 1, key_of(A)))


def test_a_facilitator_chooses_and_everyone_facilitating_hears_it() -> None:
    story = given(room()).when(SetReturning(Returning.KNOCK), F).then(ReturningSet("knock"))
    assert story.state.returning is Returning.KNOCK
    story.when(SetReturning(Returning.WELCOME), F).then(ReturningSet("welcome"))


def test_choosing_the_setting_already_in_place_is_invalid() -> None:
    given(room()).when(SetReturning(Returning.WELCOME), F).refused(Invalid, match="already")


def test_a_member_may_not_choose() -> None:
    given(room()).when(SetReturning(Returning.KNOCK), A).refused(
        NotAllowed, match="Only a facilitator"
    )


def test_the_room_remembers_every_browser_let_in_and_welcome_is_the_default() -> None:
    state = given(room()).state
    assert state.returning is Returning.WELCOME
    assert state.known_keys == {key_of(F), key_of(A), key_of(B), key_of(C)}


def test_with_no_facilitator_there_they_wait_for_one_like_everyone() -> None:
    # F left before anyone else came back; the circle is empty of facilitators.
    story = given(room(members=(A,)), by(A, Leave()), by(F, Leave()))
    story.when(BACK).then(JoinedLobby(D, "Ama", 1, key_of(A)))
