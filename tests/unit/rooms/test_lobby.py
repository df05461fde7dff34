"""The lobby: arrivals in order, admit one or all, deny, places in line, lock and block."""

from __future__ import annotations

from rooms.commands import (
    Admit,
    AdmitAll,
    Arrive,
    Deny,
    Disconnect,
    Leave,
    Lock,
    Reconnect,
    Remove,
    Unlock,
)
from rooms.errors import Invalid, NotAllowed, RoomLocked
from rooms.events import (
    Admitted,
    Denied,
    JoinedLobby,
    LobbyPosition,
    OrderSet,
    Present,
    Removed,
    Unheld,
)
from rooms.state import Role
from tests.unit.rooms.scenario import (
    T0,
    W1,
    W2,
    W3,
    A,
    B,
    C,
    D,
    F,
    G,
    a_round,
    arrive,
    by,
    given,
    key_of,
    node,
    room,
)

# --- arriving --------------------------------------------------------------------------


def test_a_member_arriving_waits_in_the_lobby_first_in_line() -> None:
    given(room()).when(Arrive(W1, "Wren", key="k1")).then(JoinedLobby(W1, "Wren", 1, "k1"))


def test_each_arrival_is_told_its_place_behind_those_already_waiting() -> None:
    given(room(waiting=(W1, W2))).when(Arrive(W3, "Wolf")).then(JoinedLobby(W3, "Wolf", 3))


def test_the_name_is_trimmed_of_surrounding_spaces() -> None:
    given(room()).when(Arrive(W1, "  Wren \t")).then(JoinedLobby(W1, "Wren", 1))


def test_a_blank_name_is_refused() -> None:
    given(room()).when(Arrive(W1, "   ")).refused(Invalid, match="type the name")


def test_a_member_id_already_in_use_is_refused() -> None:
    given(room(waiting=(W1,))).when(Arrive(A, "Someone")).refused(Invalid, match="already in use")
    given(room(waiting=(W1,))).when(Arrive(W1, "Someone")).refused(Invalid, match="already in use")


def test_a_facilitator_token_admits_at_once_and_outside_a_round_stays_out_of_the_order() -> None:
    then = (
        given(room())
        .when(Arrive(G, "Gus", Role.FACILITATOR, "kg"))
        .then(Admitted(G, "Gus", "facilitator", "kg"))
    )
    assert then.state.order == (A, B, C)
    assert then.person(G).role is Role.FACILITATOR
    assert not then.person(G).waiting


def test_a_facilitator_arriving_during_a_round_joins_the_circle_like_a_newcomer() -> None:
    given(room(), a_round()).when(Arrive(G, "Gus", Role.FACILITATOR)).then(
        Admitted(G, "Gus", "facilitator"), OrderSet((A, B, C, G))
    )


def test_a_facilitator_token_enters_a_locked_room() -> None:
    given(room(), by(F, Lock())).when(Arrive(G, "Gus", Role.FACILITATOR)).then(
        Admitted(G, "Gus", "facilitator")
    )


def test_a_facilitator_token_enters_even_from_a_blocked_browser() -> None:
    given(room(), by(F, Remove(A, block=True))).when(
        Arrive(G, "Gus", Role.FACILITATOR, key_of(A))
    ).then(Admitted(G, "Gus", "facilitator", key_of(A)))


def test_a_locked_room_refuses_new_arrivals() -> None:
    given(room(), by(F, Lock())).when(Arrive(W1, "Wren")).refused(RoomLocked, match="locked")


def test_an_unlocked_room_lets_arrivals_wait_again() -> None:
    given(room(), by(F, Lock()), by(F, Unlock())).when(Arrive(W1, "Wren")).then(
        JoinedLobby(W1, "Wren", 1)
    )


def test_resuming_members_are_not_arrivals_so_a_locked_room_lets_them_back() -> None:
    given(room(), node(Disconnect(A)), by(F, Lock())).when(Reconnect(A), now=T0 + 5).then(
        Present(A, "reconnecting")
    )


def test_a_browser_blocked_by_remove_cannot_come_back_during_the_meeting() -> None:
    given(room(), by(F, Remove(A, block=True))).when(Arrive(D, "Ama again", key=key_of(A))).refused(
        NotAllowed, match="can't rejoin"
    )


def test_the_block_is_checked_before_the_lock() -> None:
    given(room(), by(F, Remove(A, block=True)), by(F, Lock())).when(
        Arrive(D, "Ama", key=key_of(A))
    ).refused(NotAllowed, match="can't rejoin")


def test_a_waiting_person_removed_with_block_cannot_come_back_either() -> None:
    given(room(waiting=(W1,)), by(F, Remove(W1, block=True))).when(
        Arrive(D, "Wren", key=key_of(W1))
    ).refused(NotAllowed, match="can't rejoin")


def test_removal_without_block_lets_the_same_browser_come_back() -> None:
    given(room(), by(F, Remove(A))).when(Arrive(D, "Ama", key=key_of(A))).then(
        JoinedLobby(D, "Ama", 1, key_of(A))
    )


def test_a_browser_without_a_key_is_never_blocked_by_someone_elses_removal() -> None:
    keyless = node(Arrive(D, "Dev")), by(F, Admit(D))
    then = given(room(), keyless, by(F, Remove(D, block=True)))
    assert then.state.blocked_keys == frozenset()
    then.when(Arrive(W1, "Wren")).then(JoinedLobby(W1, "Wren", 1))


def test_arrivals_while_the_circle_is_held_wait_in_the_lobby() -> None:
    held = given(room(), by(F, Leave()))
    assert held.state.held
    held.when(Arrive(W1, "Wren")).then(JoinedLobby(W1, "Wren", 1))


def test_a_facilitator_token_arriving_lifts_the_hold() -> None:
    given(room(), by(F, Leave())).when(Arrive(G, "Gus", Role.FACILITATOR)).then(
        Admitted(G, "Gus", "facilitator"), Unheld()
    )


# --- admitting -------------------------------------------------------------------------


def test_admit_lets_one_person_in_at_the_end_of_the_order_and_the_rest_move_up() -> None:
    then = (
        given(room(waiting=(W1, W2, W3)))
        .when(Admit(W1), F)
        .then(
            Admitted(W1, "Wren", "member"),
            OrderSet((A, B, C, W1)),
            LobbyPosition(W2, 1),
            LobbyPosition(W3, 2),
        )
    )
    assert not then.person(W1).waiting
    assert then.state.lobby_position(W2) == 1


def test_admitting_from_the_middle_moves_up_only_those_behind() -> None:
    given(room(waiting=(W1, W2, W3))).when(Admit(W2), F).then(
        Admitted(W2, "Wyn", "member"), OrderSet((A, B, C, W2)), LobbyPosition(W3, 2)
    )


def test_an_admitted_member_keeps_their_browser_key_so_block_still_works() -> None:
    then = given(room()).when(Remove(A, block=True), F).then(Removed(A, block=True))
    assert key_of(A) in then.state.blocked_keys


def test_admit_refuses_someone_not_waiting() -> None:
    given(room()).when(Admit(A), F).refused(Invalid, match="isn't waiting")
    given(room()).when(Admit(W1), F).refused(Invalid, match="isn't waiting")


def test_admit_all_lets_everyone_waiting_in_in_lobby_order() -> None:
    then = (
        given(room(waiting=(W1, W2)))
        .when(AdmitAll(), F)
        .then(
            Admitted(W1, "Wren", "member"),
            Admitted(W2, "Wyn", "member"),
            OrderSet((A, B, C, W1, W2)),
        )
    )
    assert then.state.lobby() == ()


def test_admit_all_with_nobody_waiting_is_refused() -> None:
    given(room()).when(AdmitAll(), F).refused(Invalid, match="Nobody is waiting")


def test_members_cannot_admit() -> None:
    given(room(waiting=(W1,))).when(Admit(W1), A).refused(NotAllowed, match="Only a facilitator")


# --- denying ---------------------------------------------------------------------------


def test_deny_sends_the_person_away_and_moves_up_those_behind() -> None:
    then = given(room(waiting=(W1, W2))).when(Deny(W1), F).then(Denied(W1), LobbyPosition(W2, 1))
    assert then.state.person(W1) is None


def test_denying_the_last_in_line_moves_nobody() -> None:
    given(room(waiting=(W1, W2))).when(Deny(W2), F).then(Denied(W2))


def test_deny_refuses_someone_not_waiting() -> None:
    given(room(waiting=(W1,))).when(Deny(B), F).refused(Invalid, match="isn't waiting")


def test_lobby_arrival_numbers_keep_counting_after_people_go() -> None:
    then = given(room(waiting=(W1,)), by(F, Deny(W1)), arrive(W2))
    assert then.person(W2).arrived == then.person(C).arrived + 2
    assert then.state.lobby_position(W2) == 1
