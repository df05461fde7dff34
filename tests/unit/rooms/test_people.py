"""People: leaving, removal, lost connections, away, mute, roles, and nobody locked out."""

from __future__ import annotations

from rooms.commands import (
    Arrive,
    CallOn,
    ComeBack,
    Demote,
    Disconnect,
    GraceExpired,
    HandOver,
    Leave,
    Mute,
    PassTurn,
    Pause,
    Promote,
    RaiseHand,
    Reconnect,
    Remove,
    SetOrder,
    SetSuccessor,
    StepAway,
    TurnTimeUp,
    Unmute,
    Unpause,
)
from rooms.errors import Invalid, NotAllowed
from rooms.events import (
    Admitted,
    Away,
    Held,
    Left,
    LobbyPosition,
    Muted,
    OrderSet,
    Passed,
    Present,
    Reconnecting,
    Removed,
    RoleChanged,
    Skipped,
    SuccessorSet,
    TimerChanged,
    Unheld,
    Unmuted,
)
from rooms.state import Role
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
    a_round,
    by,
    given,
    node,
    room,
    turn,
)

# --- leaving ---------------------------------------------------------------------------


def test_someone_who_leaves_is_gone_from_everywhere_at_once() -> None:
    story = given(
        room(),
        by(A, RaiseHand()),
        by(F, SetSuccessor(A)),
    )
    then = story.when(Leave(), A).then(Left(A, "left"))
    assert then.state.person(A) is None
    assert A not in then.state.order
    assert A not in then.state.hands
    assert then.state.successor is None


def test_someone_with_the_floor_who_leaves_takes_the_floor_with_them() -> None:
    then = given(room(), by(F, CallOn(B))).when(Leave(), B).then(Left(B, "left"))
    assert then.state.floor is None


def test_someone_leaving_the_lobby_lets_those_behind_move_up() -> None:
    given(room(waiting=(W1, W2))).when(Leave(), W1).then(
        Left(W1, "left", waiting=True), LobbyPosition(W2, 1)
    )


def test_someone_who_has_left_can_do_nothing_more() -> None:
    given(room(), by(A, Leave())).when(Leave(), A).refused(NotAllowed, match="not in this room")


# --- removal ---------------------------------------------------------------------------


def test_remove_ends_the_seat() -> None:
    then = given(room()).when(Remove(B), F).then(Removed(B))
    assert then.state.person(B) is None
    assert B not in then.state.order


def test_remove_with_block_remembers_the_browser_key() -> None:
    then = given(room()).when(Remove(B, block=True), F).then(Removed(B, block=True))
    assert then.state.blocked_keys == frozenset({"key-B"})


def test_remove_of_someone_waiting_moves_up_those_behind() -> None:
    given(room(waiting=(W1, W2))).when(Remove(W1), F).then(
        Removed(W1, waiting=True), LobbyPosition(W2, 1)
    )


def test_a_facilitator_cannot_remove_themselves() -> None:
    given(room()).when(Remove(F), F).refused(Invalid, match="use Leave")


def test_remove_refuses_someone_not_here() -> None:
    given(room()).when(Remove(NOBODY), F).refused(Invalid, match="isn't here")


def test_members_cannot_remove() -> None:
    given(room()).when(Remove(B), A).refused(NotAllowed, match="Only a facilitator")


def test_removing_a_co_facilitator_leaves_the_remover_facilitating() -> None:
    then = given(room(co_facilitators=(G,))).when(Remove(G), F).then(Removed(G))
    assert not then.state.held
    assert [p.id for p in then.state.facilitators()] == [F]


# --- lost connections ------------------------------------------------------------------


def test_a_lost_connection_keeps_the_seat_and_shows_as_reconnecting() -> None:
    then = given(room()).when(Disconnect(A), now=T0 + 3).then(Reconnecting(A, T0 + 3))
    assert then.person(A).reconnecting_since == T0 + 3
    assert A in then.state.order


def test_a_repeated_disconnect_changes_nothing() -> None:
    given(room(), node(Disconnect(A))).when(Disconnect(A), now=T0 + 9).then_nothing()


def test_a_disconnect_of_someone_gone_changes_nothing() -> None:
    given(room()).when(Disconnect(NOBODY)).then_nothing()


def test_a_waiting_persons_lost_connection_is_for_the_facilitators() -> None:
    given(room(waiting=(W1,))).when(Disconnect(W1)).then(Reconnecting(W1, T0, waiting=True))


def test_coming_back_on_the_same_seat_is_announced_as_present() -> None:
    then = (
        given(room(), node(Disconnect(A)))
        .when(Reconnect(A), now=T0 + 5)
        .then(Present(A, "reconnecting"))
    )
    assert not then.person(A).reconnecting


def test_a_waiting_person_reconnecting_stays_waiting() -> None:
    given(room(waiting=(W1,)), node(Disconnect(W1))).when(Reconnect(W1)).then(
        Present(W1, "reconnecting", waiting=True)
    )


def test_a_reconnect_without_a_lost_connection_changes_nothing() -> None:
    given(room()).when(Reconnect(A)).then_nothing()


def test_a_reconnect_to_an_ended_seat_is_refused() -> None:
    given(room(), by(F, Remove(A))).when(Reconnect(A)).refused(NotAllowed, match="seat has ended")


def test_grace_expiry_of_that_same_disconnection_ends_the_seat() -> None:
    then = (
        given(room(), node(Disconnect(A), now=T0))
        .when(GraceExpired(A, since=T0), now=T0 + 60)
        .then(Left(A, "timeout"))
    )
    assert then.state.person(A) is None


def test_a_repeated_grace_expiry_changes_nothing() -> None:
    given(room(), node(Disconnect(A)), node(GraceExpired(A, T0))).when(
        GraceExpired(A, T0), now=T0 + 61
    ).then_nothing()


def test_a_grace_expiry_after_the_member_came_back_is_stale() -> None:
    given(room(), node(Disconnect(A)), node(Reconnect(A))).when(
        GraceExpired(A, T0), now=T0 + 60
    ).then_nothing()


def test_a_grace_expiry_for_an_earlier_disconnection_is_stale() -> None:
    story = given(
        room(),
        node(Disconnect(A), now=T0),
        node(Reconnect(A), now=T0 + 5),
        node(Disconnect(A), now=T0 + 10),
    )
    story.when(GraceExpired(A, T0), now=T0 + 60).then_nothing()
    story.when(GraceExpired(A, T0 + 10), now=T0 + 70).then(Left(A, "timeout"))


def test_a_grace_expiry_of_someone_waiting_moves_up_those_behind() -> None:
    given(room(waiting=(W1, W2)), node(Disconnect(W1))).when(GraceExpired(W1, T0)).then(
        Left(W1, "timeout", waiting=True), LobbyPosition(W2, 1)
    )


# --- away and back ---------------------------------------------------------------------


def test_stepping_away_is_announced_and_kept_on_the_seat() -> None:
    then = given(room()).when(StepAway(), B).then(Away(B))
    assert then.person(B).away
    assert B in then.state.order


def test_stepping_away_twice_is_refused() -> None:
    given(room(), by(B, StepAway())).when(StepAway(), B).refused(Invalid, match="already marked")


def test_coming_back_from_away_is_announced_as_present() -> None:
    then = given(room(), by(B, StepAway())).when(ComeBack(), B).then(Present(B, "away"))
    assert not then.person(B).away


def test_coming_back_without_being_away_is_refused() -> None:
    given(room()).when(ComeBack(), B).refused(Invalid, match="not marked as away")


def test_the_speaker_stepping_away_is_skipped_and_the_piece_moves_on() -> None:
    given(room(), a_round()).when(StepAway(), A, now=T0 + 7).then(
        Away(A), Skipped(A, "1", 1, auto=True), turn(B, 2, at=T0 + 7)
    )


def test_someone_waiting_cannot_step_away() -> None:
    given(room(waiting=(W1,))).when(StepAway(), W1).refused(NotAllowed, match="let you in")


# --- mute ------------------------------------------------------------------------------


def test_a_facilitator_mutes_a_member() -> None:
    then = given(room()).when(Mute(A), F).then(Muted(A))
    assert then.person(A).muted


def test_muting_someone_already_muted_is_refused() -> None:
    given(room(), by(F, Mute(A))).when(Mute(A), F).refused(Invalid, match="already muted")


def test_only_people_in_the_circle_can_be_muted() -> None:
    given(room(waiting=(W1,))).when(Mute(W1), F).refused(Invalid, match="isn't in the circle")
    given(room()).when(Mute(NOBODY), F).refused(Invalid, match="isn't in the circle")


def test_members_cannot_mute() -> None:
    given(room()).when(Mute(B), A).refused(NotAllowed, match="Only a facilitator")


def test_a_muted_member_may_unmute_themselves() -> None:
    then = given(room(), by(F, Mute(A))).when(Unmute(), A).then(Unmuted(A))
    assert not then.person(A).muted


def test_unmuting_yourself_when_not_muted_is_refused() -> None:
    given(room()).when(Unmute(), A).refused(Invalid, match="not muted")


# --- roles -----------------------------------------------------------------------------


def test_promote_makes_a_co_facilitator() -> None:
    then = given(room()).when(Promote(A), F).then(RoleChanged(A, "facilitator", "promoted"))
    assert then.person(A).role is Role.FACILITATOR


def test_promoting_a_facilitator_is_refused() -> None:
    given(room(co_facilitators=(G,))).when(Promote(G), F).refused(
        Invalid, match="already a facilitator"
    )


def test_only_people_in_the_circle_can_be_promoted() -> None:
    given(room(waiting=(W1,))).when(Promote(W1), F).refused(Invalid, match="isn't in the circle")


def test_members_cannot_promote() -> None:
    given(room()).when(Promote(B), A).refused(NotAllowed, match="Only a facilitator")


def test_demote_makes_a_co_facilitator_a_member_again() -> None:
    then = (
        given(room(co_facilitators=(G,)))
        .when(Demote(G), F)
        .then(RoleChanged(G, "member", "demoted"))
    )
    assert then.person(G).role is Role.MEMBER


def test_a_facilitator_may_demote_themselves_while_another_remains() -> None:
    given(room(co_facilitators=(G,))).when(Demote(F), F).then(RoleChanged(F, "member", "demoted"))


def test_demoting_the_last_facilitator_is_refused() -> None:
    given(room()).when(Demote(F), F).refused(Invalid, match="needs a facilitator")


def test_demoting_a_member_is_refused() -> None:
    given(room()).when(Demote(A), F).refused(Invalid, match="isn't a facilitator")


def test_hand_over_gives_the_role_and_makes_the_giver_a_member() -> None:
    then = (
        given(room())
        .when(HandOver(A), F)
        .then(RoleChanged(A, "facilitator", "handover"), RoleChanged(F, "member", "handover"))
    )
    assert [p.id for p in then.state.facilitators()] == [A]


def test_hand_over_to_yourself_is_refused() -> None:
    given(room()).when(HandOver(F), F).refused(Invalid, match="already hold")


def test_hand_over_to_a_facilitator_is_refused() -> None:
    given(room(co_facilitators=(G,))).when(HandOver(G), F).refused(
        Invalid, match="already a facilitator"
    )


def test_hand_over_to_someone_waiting_is_refused() -> None:
    given(room(waiting=(W1,))).when(HandOver(W1), F).refused(Invalid, match="isn't in the circle")


def test_a_successor_is_chosen_for_when_the_last_facilitator_goes() -> None:
    then = given(room()).when(SetSuccessor(A), F).then(SuccessorSet(A))
    assert then.state.successor == A


def test_the_successor_can_be_cleared() -> None:
    then = (
        given(room(), by(F, SetSuccessor(A))).when(SetSuccessor(None), F).then(SuccessorSet(None))
    )
    assert then.state.successor is None


def test_a_facilitator_cannot_be_the_successor() -> None:
    given(room(co_facilitators=(G,))).when(SetSuccessor(G), F).refused(
        Invalid, match="already a facilitator"
    )


def test_only_people_in_the_circle_can_be_the_successor() -> None:
    given(room(waiting=(W1,))).when(SetSuccessor(W1), F).refused(
        Invalid, match="isn't in the circle"
    )


def test_a_successor_who_is_promoted_is_no_longer_waiting_to_succeed() -> None:
    then = (
        given(room(), by(F, SetSuccessor(A)))
        .when(Promote(A), F)
        .then(RoleChanged(A, "facilitator", "promoted"))
    )
    assert then.state.successor is None


# --- nobody locked out -----------------------------------------------------------------


def test_when_the_last_facilitator_leaves_the_successor_takes_the_role() -> None:
    then = (
        given(room(), by(F, SetSuccessor(B)))
        .when(Leave(), F)
        .then(Left(F, "left"), RoleChanged(B, "facilitator", "handover"))
    )
    assert [p.id for p in then.state.facilitators()] == [B]
    assert not then.state.held


def test_when_the_last_facilitator_leaves_with_no_successor_the_circle_is_held() -> None:
    then = given(room()).when(Leave(), F).then(Left(F, "left"), Held())
    assert then.state.held


def test_holding_the_circle_pauses_the_running_turn_with_its_time_left() -> None:
    then = (
        given(room(), a_round(60))
        .when(Leave(), F, now=T0 + 20)
        .then(
            Left(F, "left"),
            TimerChanged("1", None, True, 40.0, 60.0, False, "no_facilitator"),
            Held(),
        )
    )
    assert then.state.round is not None
    assert then.state.round.turn is not None
    assert then.state.round.turn.paused


def test_holding_a_circle_whose_turn_was_already_paused_only_gives_the_new_reason() -> None:
    given(room(), a_round(60), by(F, Pause(), now=T0 + 10)).when(Leave(), F, now=T0 + 30).then(
        Left(F, "left"), TimerChanged("1", None, True, 50.0, 60.0, False, "no_facilitator"), Held()
    )


def test_a_last_facilitator_who_was_speaking_passes_the_piece_before_the_hold() -> None:
    story = given(room(), by(F, SetOrder((F, A, B))), a_round(60))
    story.when(Leave(), F, now=T0 + 10).then(
        Left(F, "left"),
        turn(A, 2, at=T0 + 10),
        TimerChanged("2", None, True, 60.0, 60.0, False, "no_facilitator"),
        Held(),
    )


def test_the_last_facilitator_timing_out_past_grace_holds_the_circle() -> None:
    story = given(room(), node(Disconnect(F), now=T0))
    assert not story.state.held, "a lost connection alone is no departure"
    story.when(GraceExpired(F, T0), now=T0 + 60).then(Left(F, "timeout"), Held())


def test_the_last_facilitator_timing_out_hands_the_role_to_the_successor() -> None:
    given(room(), by(F, SetSuccessor(C)), node(Disconnect(F))).when(
        GraceExpired(F, T0), now=T0 + 60
    ).then(Left(F, "timeout"), RoleChanged(C, "facilitator", "handover"))


def test_a_successor_who_already_left_cannot_take_over() -> None:
    given(room(), by(F, SetSuccessor(B)), by(B, Leave())).when(Leave(), F).then(
        Left(F, "left"), Held()
    )


def test_a_co_facilitator_staying_means_no_hand_over_and_no_hold() -> None:
    given(room(co_facilitators=(G,)), by(F, SetSuccessor(A))).when(Leave(), F).then(Left(F, "left"))


def test_the_last_facilitator_leaving_an_empty_circle_holds_nothing() -> None:
    given(room(members=(), waiting=(W1,))).when(Leave(), F).then(Left(F, "left"))


def test_while_held_new_turns_start_paused() -> None:
    given(room(), a_round(60), by(F, Leave())).when(PassTurn(), A, now=T0 + 30).then(
        Passed(A, "1", 1), turn(B, 2, paused=True)
    )


def test_while_held_the_timer_never_runs_out() -> None:
    given(room(), a_round(60), by(F, Leave(), now=T0 + 5)).when(
        TurnTimeUp("1"), now=T0 + 600
    ).then_nothing()


def test_a_facilitator_token_arriving_mid_round_lifts_the_hold_and_may_resume_the_timer() -> None:
    story = given(room(), a_round(60), by(F, Leave(), now=T0 + 20))
    lifted = story.when(Arrive(G, "Gus", Role.FACILITATOR), now=T0 + 100).then(
        Admitted(G, "Gus", "facilitator"),
        OrderSet((A, B, C, G)),
        Unheld(),
        TimerChanged("1", None, True, 40.0, 60.0, False, "facilitator"),
    )
    assert not lifted.state.held
    lifted.when(Unpause(), G, now=T0 + 100).then(
        TimerChanged("1", T0 + 140, False, None, 60.0, False)
    )


def test_a_facilitator_who_is_only_reconnecting_still_holds_the_role() -> None:
    then = given(room(), a_round(60)).when(Disconnect(F), now=T0 + 1).then(Reconnecting(F, T0 + 1))
    assert not then.state.held
    then.when(Remove(A), F).then(Removed(A), turn(B, 2))
