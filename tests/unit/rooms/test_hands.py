"""Open discussion: the hand queue, paused during a round and kept after it, and the floor."""

from __future__ import annotations

from rooms.commands import CallOn, Done, EndRound, Leave, LowerHand, Next, RaiseHand
from rooms.errors import Invalid, NotAllowed
from rooms.events import CalledOn, FloorCleared, HandLowered, HandRaised, Left, RoundEnded
from tests.unit.rooms.scenario import NOBODY, W1, A, B, C, F, a_round, by, given, room


def test_raising_a_hand_joins_the_end_of_the_queue() -> None:
    then = given(room(), by(B, RaiseHand())).when(RaiseHand(), A).then(HandRaised(A))
    assert then.state.hands == (B, A)


def test_raising_a_hand_already_raised_is_refused() -> None:
    given(room(), by(A, RaiseHand())).when(RaiseHand(), A).refused(Invalid, match="already raised")


def test_someone_waiting_cannot_raise_a_hand() -> None:
    given(room(waiting=(W1,))).when(RaiseHand(), W1).refused(NotAllowed, match="let you in")


def test_a_member_withdraws_their_own_hand() -> None:
    then = (
        given(room(), by(A, RaiseHand()), by(B, RaiseHand()))
        .when(LowerHand(), A)
        .then(HandLowered(A, A))
    )
    assert then.state.hands == (B,)


def test_naming_yourself_when_withdrawing_is_the_same_as_not_naming_anyone() -> None:
    given(room(), by(A, RaiseHand())).when(LowerHand(A), A).then(HandLowered(A, A))


def test_withdrawing_a_hand_that_is_not_raised_is_refused() -> None:
    given(room()).when(LowerHand(), A).refused(Invalid, match="isn't raised")


def test_a_member_cannot_lower_someone_elses_hand() -> None:
    given(room(), by(B, RaiseHand())).when(LowerHand(B), A).refused(
        NotAllowed, match="only lower your own"
    )


def test_a_facilitator_may_lower_anyones_hand() -> None:
    given(room(), by(B, RaiseHand())).when(LowerHand(B), F).then(HandLowered(B, F))


def test_a_facilitator_lowering_a_hand_not_raised_is_refused() -> None:
    given(room()).when(LowerHand(B), F).refused(Invalid, match="isn't raised")


def test_call_on_takes_the_member_off_the_queue_and_gives_them_the_floor() -> None:
    then = (
        given(room(), by(A, RaiseHand()), by(B, RaiseHand())).when(CallOn(B), F).then(CalledOn(B))
    )
    assert then.state.hands == (A,)
    assert then.state.floor == B


def test_call_on_may_give_the_floor_to_someone_without_a_raised_hand() -> None:
    then = given(room(), by(A, RaiseHand())).when(CallOn(C), F).then(CalledOn(C))
    assert then.state.hands == (A,)
    assert then.state.floor == C


def test_call_on_someone_not_in_the_circle_is_refused() -> None:
    given(room(waiting=(W1,))).when(CallOn(W1), F).refused(Invalid, match="isn't in the circle")
    given(room()).when(CallOn(NOBODY), F).refused(Invalid, match="isn't in the circle")


def test_members_cannot_call_on_anyone() -> None:
    given(room(), by(B, RaiseHand())).when(CallOn(B), A).refused(
        NotAllowed, match="Only a facilitator"
    )


def test_during_a_round_hands_wait_but_may_still_be_raised() -> None:
    story = given(room(), a_round())
    then = story.when(RaiseHand(), B).then(HandRaised(B))
    then.when(CallOn(B), F).refused(Invalid, match="Hands wait until it ends")
    assert then.state.speaker == A


def test_the_queue_raised_during_a_round_is_kept_for_the_open_discussion_after() -> None:
    story = given(
        room(),
        by(C, RaiseHand()),
        a_round(),
        by(A, RaiseHand()),
        by(B, RaiseHand()),
        by(A, LowerHand()),
    )
    then = story.when(EndRound(), F).then(RoundEnded("ended"))
    assert then.state.hands == (C, B)
    then.when(CallOn(B), F).then(CalledOn(B))


def test_withdrawing_works_during_a_round() -> None:
    given(room(), a_round(), by(B, RaiseHand())).when(LowerHand(), B).then(HandLowered(B, B))


def test_next_outside_a_round_calls_on_the_first_hand() -> None:
    then = given(room(), by(B, RaiseHand()), by(A, RaiseHand())).when(Next(), F).then(CalledOn(B))
    assert then.state.hands == (A,)


def test_next_outside_a_round_with_no_hand_raised_is_refused() -> None:
    given(room()).when(Next(), F).refused(Invalid, match="no hand raised")


def test_done_gives_back_the_floor() -> None:
    then = given(room(), by(F, CallOn(B))).when(Done(), B).then(FloorCleared(B))
    assert then.state.floor is None


def test_a_facilitator_may_close_anyones_floor() -> None:
    given(room(), by(F, CallOn(B))).when(Done(), F).then(FloorCleared(B))


def test_another_member_cannot_close_the_floor() -> None:
    given(room(), by(F, CallOn(B))).when(Done(), A).refused(Invalid, match="don't have the floor")


def test_done_with_nobody_holding_the_floor_is_refused() -> None:
    given(room()).when(Done(), A).refused(Invalid, match="don't have the floor")
    given(room()).when(Done(), F).refused(Invalid, match="don't have the floor")


def test_someone_leaving_takes_their_hand_down_with_them() -> None:
    then = (
        given(room(), by(A, RaiseHand()), by(B, RaiseHand())).when(Leave(), A).then(Left(A, "left"))
    )
    assert then.state.hands == (B,)
