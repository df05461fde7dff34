"""The sharing circle: its order, the presets, rounds, and the talking piece."""

from __future__ import annotations

import pytest

from rooms.commands import (
    Admit,
    Back,
    CallOn,
    ComeBack,
    Disconnect,
    Done,
    EndRound,
    GraceExpired,
    Leave,
    Lock,
    Next,
    PassTurn,
    RaiseHand,
    Remove,
    SetOrder,
    Skip,
    StartRound,
    StepAway,
)
from rooms.decide.circle import plan, upcoming
from rooms.errors import Invalid, NotAllowed
from rooms.events import (
    Admitted,
    Away,
    Finished,
    HandRaised,
    Left,
    Locked,
    NextChanged,
    OrderSet,
    Passed,
    Present,
    Removed,
    RoundEnded,
    RoundStarted,
    Skipped,
)
from rooms.state import OrderPreset, RoomState, RoundKind
from tests.unit.rooms.scenario import (
    NOBODY,
    T0,
    W1,
    A,
    B,
    C,
    D,
    F,
    G,
    Scenario,
    a_round,
    by,
    given,
    node,
    room,
    turn,
)

SHARE = RoundStarted("share", 60, None, True)


def in_round(*more: object, **options: object) -> Scenario:
    """The typical room with a 60-second round started at T0: A holds the piece (turn 1)."""
    return given(room(), a_round(**options), *more)  # type: ignore[arg-type]


# --- the order -------------------------------------------------------------------------


def test_the_facilitator_sets_the_order_by_hand() -> None:
    then = given(room()).when(SetOrder((C, A, B)), F).then(OrderSet((C, A, B)))
    assert then.state.order == (C, A, B)


def test_the_order_may_leave_people_out() -> None:
    given(room()).when(SetOrder((B,)), F).then(OrderSet((B,)))


def test_someone_can_appear_only_once_in_the_order() -> None:
    given(room()).when(SetOrder((A, B, A)), F).refused(Invalid, match="only once")


def test_only_people_in_the_circle_can_be_placed_in_the_order() -> None:
    given(room(waiting=(W1,))).when(SetOrder((A, W1)), F).refused(
        Invalid, match="Only people in the circle"
    )
    given(room()).when(SetOrder((A, NOBODY)), F).refused(Invalid, match="Only people in the circle")


def test_members_cannot_set_the_order() -> None:
    given(room()).when(SetOrder((B, A)), A).refused(NotAllowed, match="Only a facilitator")


# --- presets ---------------------------------------------------------------------------


def test_manual_keeps_the_current_order_and_announces_no_new_one() -> None:
    given(room(), by(F, SetOrder((C, A, B)))).when(StartRound(60), F).then(SHARE, turn(C, 1))


def test_arrival_orders_by_who_came_first() -> None:
    given(room(), by(F, SetOrder((C, A, B)))).when(
        StartRound(60, order=OrderPreset.ARRIVAL), F
    ).then(OrderSet((A, B, C)), SHARE, turn(A, 1))


def test_arrival_rearranges_only_the_people_already_in_the_order() -> None:
    given(room(), by(F, SetOrder((C, A)))).when(StartRound(60, order=OrderPreset.ARRIVAL), F).then(
        OrderSet((A, C)), SHARE, turn(A, 1)
    )


def _shuffled(seed: int, order: tuple[str, ...] = (A, B, C)) -> tuple[str, ...]:
    outcome = given(room(members=(A, B, C, D)), by(F, SetOrder(order))).when(  # type: ignore[arg-type]
        StartRound(60, order=OrderPreset.SHUFFLE, seed=seed), F
    )
    return outcome.state.order


def test_shuffle_is_a_permutation_of_the_order() -> None:
    assert sorted(_shuffled(1)) == [A, B, C]


def test_shuffle_is_determined_by_its_seed_alone() -> None:
    assert _shuffled(42) == _shuffled(42)
    assert _shuffled(42, (A, B, C)) == _shuffled(42, (C, B, A))


def test_different_seeds_give_different_orders() -> None:
    assert len({_shuffled(seed) for seed in range(20)}) > 1


def test_shuffle_announces_the_new_order_before_the_round() -> None:
    events = (
        given(room(members=(A, B, C, D)))
        .when(StartRound(60, order=OrderPreset.SHUFFLE, seed=5), F)
        .events
    )
    first = events[0]
    assert isinstance(first, OrderSet)
    assert sorted(first.order) == [A, B, C, D]
    assert first.order != (A, B, C, D), "seed 5 is one that moves someone"
    assert events[1:] == [SHARE, turn(first.order[0], 1)]


def test_facilitator_last_moves_facilitators_in_the_order_to_the_end() -> None:
    given(room(), by(F, SetOrder((F, A, B)))).when(
        StartRound(60, order=OrderPreset.FACILITATOR_LAST), F
    ).then(OrderSet((A, B, F)), SHARE, turn(A, 1))


def test_facilitator_last_includes_facilitators_outside_the_order() -> None:
    given(room(co_facilitators=(G,))).when(
        StartRound(60, order=OrderPreset.FACILITATOR_LAST), F
    ).then(OrderSet((A, B, C, F, G)), SHARE, turn(A, 1))


def test_facilitator_last_puts_those_in_the_order_before_those_outside_it() -> None:
    given(room(co_facilitators=(G,)), by(F, SetOrder((B, G, A)))).when(
        StartRound(60, order=OrderPreset.FACILITATOR_LAST), F
    ).then(OrderSet((B, A, G, F)), SHARE, turn(B, 1))


# --- starting a round ------------------------------------------------------------------


def test_a_round_starts_with_the_first_in_the_order_holding_the_piece() -> None:
    then = given(room()).when(StartRound(60), F, now=T0 + 5).then(SHARE, turn(A, 1, at=T0 + 5))
    assert then.state.speaker == A


@pytest.mark.parametrize("kind", [RoundKind.CHECK_IN, RoundKind.CHECK_OUT, RoundKind.SHARE])
def test_check_in_and_check_out_rounds_are_rounds_of_their_kind(kind: RoundKind) -> None:
    then = (
        given(room())
        .when(StartRound(90, overtime=15, kind=kind, second_pass=False), F)
        .then(RoundStarted(kind.value, 90, 15, False), turn(A, 1, seconds=90))
    )
    assert then.state.round is not None
    assert then.state.round.kind is kind


@pytest.mark.parametrize("seconds", [0, -5, 2 * 60 * 60 + 1])
def test_the_time_per_share_must_be_between_a_second_and_two_hours(seconds: int) -> None:
    given(room()).when(StartRound(seconds), F).refused(
        Invalid, match="between 1 second and 2 hours"
    )


@pytest.mark.parametrize("seconds", [1, 2 * 60 * 60])
def test_the_time_per_share_bounds_are_inclusive(seconds: int) -> None:
    given(room()).when(StartRound(seconds), F).then(
        RoundStarted("share", seconds, None, True), turn(A, 1, seconds=seconds)
    )


@pytest.mark.parametrize("overtime", [-1, 60 * 60 + 1])
def test_overtime_must_be_between_nothing_and_an_hour(overtime: int) -> None:
    given(room()).when(StartRound(60, overtime=overtime), F).refused(
        Invalid, match="Overtime must be between"
    )


def test_a_second_round_cannot_start_while_one_runs() -> None:
    in_round().when(StartRound(60), F).refused(Invalid, match="already running")


def test_a_round_needs_someone_in_the_order() -> None:
    given(room(), by(F, SetOrder(()))).when(StartRound(60), F).refused(
        Invalid, match="Nobody is in the circle's order"
    )


def test_a_round_takes_the_floor_back_but_keeps_the_hands() -> None:
    then = (
        given(room(), by(B, RaiseHand()), by(F, CallOn(A)))
        .when(StartRound(60), F)
        .then(SHARE, turn(A, 1))
    )
    assert then.state.floor is None
    assert then.state.hands == (B,)


def test_members_cannot_start_a_round() -> None:
    given(room()).when(StartRound(60), A).refused(NotAllowed, match="Only a facilitator")


def test_there_is_no_next_speaker_without_a_round() -> None:
    assert plan(RoomState()) == ([], None)


# --- moving the piece ------------------------------------------------------------------


def test_next_moves_the_piece_to_the_next_in_the_order() -> None:
    in_round().when(Next(), F, now=T0 + 30).then(turn(B, 2, at=T0 + 30))


def test_pass_by_the_speaker_moves_the_piece_on() -> None:
    then = in_round().when(PassTurn(), A).then(Passed(A, "1", 1), turn(B, 2))
    assert then.state.round is not None
    assert then.state.round.passed == (A,)


def test_only_the_speaker_can_pass() -> None:
    in_round().when(PassTurn(), B).refused(NotAllowed, match="holding the talking piece can pass")
    in_round().when(PassTurn(), F).refused(NotAllowed, match="holding the talking piece can pass")


def test_passing_outside_a_round_is_refused() -> None:
    given(room()).when(PassTurn(), A).refused(Invalid, match="no round running")


def test_done_by_the_speaker_finishes_early_and_moves_the_piece_on() -> None:
    in_round().when(Done(), A, now=T0 + 12).then(Finished(A, "1"), turn(B, 2, at=T0 + 12))


def test_only_the_speaker_can_finish_their_turn() -> None:
    in_round().when(Done(), B).refused(NotAllowed, match="holding the talking piece can finish")


def test_skip_moves_the_piece_past_the_speaker() -> None:
    in_round().when(Skip(), F).then(Skipped(A, "1", 1), turn(B, 2))


def test_skipping_outside_a_round_is_refused() -> None:
    given(room()).when(Skip(), F).refused(Invalid, match="no round running")


def test_members_cannot_skip_or_move_the_piece() -> None:
    in_round().when(Skip(), A).refused(NotAllowed, match="Only a facilitator")
    in_round().when(Next(), A).refused(NotAllowed, match="Only a facilitator")
    in_round().when(Back(), A).refused(NotAllowed, match="Only a facilitator")


# --- back ------------------------------------------------------------------------------


def test_back_returns_the_piece_and_the_one_who_held_it_gets_it_again_next() -> None:
    in_round(by(A, Done(), now=T0 + 10)).when(Back(), F, now=T0 + 20).then(
        turn(A, 3, at=T0 + 20, back=True)
    ).when(Next(), F, now=T0 + 30).then(turn(B, 4, at=T0 + 30))


def test_back_twice_walks_further_back() -> None:
    story = in_round(by(A, Done()), by(B, Done()))
    story.when(Back(), F).then(turn(B, 4, back=True)).when(Back(), F).then(
        turn(A, 5, back=True)
    ).when(Done(), A).then(Finished(A, "5"), turn(B, 6))


def test_back_at_the_first_turn_is_refused() -> None:
    in_round().when(Back(), F).refused(Invalid, match="Nobody has spoken before")


def test_back_to_someone_who_left_is_refused() -> None:
    in_round(by(A, Done()), by(A, Leave())).when(Back(), F).refused(Invalid, match="has left")


def test_back_outside_a_round_is_refused() -> None:
    given(room()).when(Back(), F).refused(Invalid, match="no round running")


def test_back_to_someone_who_passed_undoes_their_pass() -> None:
    story = in_round(by(A, PassTurn()))
    then = story.when(Back(), F).then(turn(A, 3, back=True))
    assert then.state.round is not None
    assert then.state.round.passed == ()
    then.when(Done(), A).then(Finished(A, "3"), turn(B, 4)).when(Done(), B).then(
        Finished(B, "4"), turn(C, 5)
    ).when(Done(), C).then(Finished(C, "5"), RoundEnded("complete"))


def test_back_from_the_second_pass_returns_to_the_first_and_the_second_follows() -> None:
    story = in_round(by(A, PassTurn()), by(B, Done()), by(C, Done()))
    assert story.state.speaker == A
    story.when(Back(), F).then(turn(C, 5, back=True)).when(Done(), C).then(
        Finished(C, "5"), turn(A, 6, pass_no=2)
    )


# --- the second pass -------------------------------------------------------------------


def test_those_who_passed_get_a_second_turn_after_the_last_speaker() -> None:
    in_round(by(A, PassTurn()), by(B, Done())).when(Done(), C).then(
        Finished(C, "3"), turn(A, 4, pass_no=2)
    )


def test_the_second_pass_goes_in_circle_order() -> None:
    story = in_round(by(A, PassTurn()), by(B, Done()))
    story.when(PassTurn(), C).then(Passed(C, "3", 1), turn(A, 4, pass_no=2)).when(Done(), A).then(
        Finished(A, "4"), turn(C, 5, pass_no=2)
    )


def test_someone_skipped_gets_a_second_turn_too() -> None:
    in_round(by(F, Skip()), by(B, Done())).when(Done(), C).then(
        Finished(C, "3"), turn(A, 4, pass_no=2)
    )


def test_passing_in_the_second_pass_is_final() -> None:
    in_round(by(A, PassTurn()), by(B, Done()), by(C, Done())).when(PassTurn(), A).then(
        Passed(A, "4", 2), RoundEnded("complete")
    )


def test_skipping_in_the_second_pass_is_final() -> None:
    in_round(by(A, PassTurn()), by(B, Done()), by(C, Done())).when(Skip(), F).then(
        Skipped(A, "4", 2), RoundEnded("complete")
    )


def test_without_a_second_pass_the_round_ends_after_the_last_speaker() -> None:
    given(room(), a_round(second_pass=False), by(A, PassTurn()), by(B, Done())).when(
        Done(), C
    ).then(Finished(C, "3"), RoundEnded("complete"))


# --- people coming and going mid-round -------------------------------------------------


def test_a_newcomer_admitted_mid_round_joins_the_end_of_the_order_and_gets_a_turn() -> None:
    story = given(room(waiting=(D,)), a_round(), by(A, Done()), by(B, Done()))
    story.when(Admit(D), F).then(
        Admitted(D, "Dev", "member"), OrderSet((A, B, C, D)), NextChanged(D)
    ).when(Done(), C).then(Finished(C, "3"), turn(D, 4, next=None))


def test_a_reorder_mid_round_applies_to_everyone_still_to_come() -> None:
    in_round().when(SetOrder((A, C, B)), F).then(OrderSet((A, C, B)), NextChanged(C)).when(
        Done(), A
    ).then(Finished(A, "1"), turn(C, 2, next=B))


def test_a_reorder_mid_round_gives_nobody_a_second_first_turn() -> None:
    in_round(by(A, Done()), by(F, SetOrder((B, C, A)))).when(Done(), B).then(
        Finished(B, "2"), turn(C, 3)
    ).when(Done(), C).then(Finished(C, "3"), RoundEnded("complete"))


def test_someone_away_is_skipped_when_the_piece_reaches_them() -> None:
    given(room(), by(B, StepAway()), a_round()).when(Done(), A).then(
        Finished(A, "1"), Skipped(B, None, 1, auto=True), turn(C, 2)
    )


def test_someone_away_at_the_start_is_skipped_before_the_first_turn() -> None:
    given(room(), by(A, StepAway())).when(StartRound(60), F).then(
        SHARE, Skipped(A, None, 1, auto=True), turn(B, 1)
    )


def test_someone_skipped_for_being_away_counts_as_passed_and_gets_the_second_pass() -> None:
    given(room(), by(B, StepAway()), a_round(), by(A, Done()), by(B, ComeBack())).when(
        Done(), C
    ).then(Finished(C, "2"), turn(B, 3, pass_no=2))


def test_someone_still_away_in_the_second_pass_is_skipped_again_and_the_round_ends() -> None:
    given(room(), by(B, StepAway()), a_round(), by(A, Done())).when(Done(), C).then(
        Finished(C, "2"), Skipped(B, None, 2, auto=True), RoundEnded("complete")
    )


def test_a_round_where_everyone_is_away_ends_at_once() -> None:
    given(room(members=(A,)), by(A, StepAway())).when(StartRound(60), F).then(
        SHARE,
        Skipped(A, None, 1, auto=True),
        Skipped(A, None, 2, auto=True),
        RoundEnded("complete"),
    )


def test_the_speaker_leaving_passes_the_piece_on() -> None:
    in_round().when(Leave(), A, now=T0 + 5).then(Left(A, "left"), turn(B, 2, at=T0 + 5))


def test_the_speaker_removed_passes_the_piece_on() -> None:
    in_round().when(Remove(A), F).then(Removed(A), turn(B, 2))


def test_the_speaker_timing_out_past_grace_passes_the_piece_on() -> None:
    in_round(node(Disconnect(A))).when(GraceExpired(A, T0), now=T0 + 45).then(
        Left(A, "timeout"), turn(B, 2, at=T0 + 45)
    )


def test_someone_else_leaving_leaves_the_piece_where_it_is() -> None:
    then = in_round().when(Leave(), B).then(Left(B, "left"), NextChanged(C))
    assert then.state.speaker == A


def test_the_last_speaker_leaving_ends_the_round() -> None:
    in_round(by(A, Done()), by(B, Done())).when(Leave(), C).then(
        Left(C, "left"), RoundEnded("complete")
    )


# --- the end of a round ----------------------------------------------------------------


def test_the_round_ends_after_the_last_speaker() -> None:
    then = (
        in_round(by(A, Done()), by(B, Done()))
        .when(Done(), C)
        .then(Finished(C, "3"), RoundEnded("complete"))
    )
    assert then.state.round is None
    assert then.state.speaker is None


def test_next_after_the_last_speaker_ends_the_round() -> None:
    in_round(by(F, Next()), by(F, Next())).when(Next(), F).then(RoundEnded("complete"))


def test_end_round_ends_it_at_once() -> None:
    then = in_round().when(EndRound(), F).then(RoundEnded("ended"))
    assert then.state.round is None


def test_end_round_without_a_round_is_refused() -> None:
    given(room()).when(EndRound(), F).refused(Invalid, match="no round running")


def test_turn_ids_keep_counting_across_rounds() -> None:
    in_round(by(F, EndRound())).when(StartRound(30), F).then(
        RoundStarted("share", 30, None, True), turn(A, 2, seconds=30)
    )


# --- who is next -------------------------------------------------------------------------
# The engine says who is next (`turn.next`, `next_changed`, the snapshot's `round.next`), by
# the same rule that moves the piece, so nobody is told "you're next" and then passed over.


def test_each_turn_says_who_gets_the_piece_next() -> None:
    story = given(room()).when(StartRound(60), F).then(SHARE, turn(A, 1, next=B))
    story = story.when(Done(), A).then(Finished(A, "1"), turn(B, 2, next=C))
    story.when(Done(), B).then(Finished(B, "2"), turn(C, 3, next=None))


def test_the_last_first_pass_turn_names_the_first_who_passed() -> None:
    in_round(by(A, PassTurn())).when(Done(), B).then(Finished(B, "2"), turn(C, 3, next=A))


def test_after_a_skip_next_is_the_first_in_order_still_to_speak() -> None:
    in_round().when(Skip(), F).then(Skipped(A, "1", 1), turn(B, 2, next=C))


def test_after_back_next_is_the_one_who_lost_the_piece() -> None:
    in_round(by(A, Done())).when(Back(), F).then(turn(A, 3, back=True, next=B))


def test_after_a_reorder_next_is_the_first_still_to_speak_not_whoever_follows() -> None:
    # B holds the piece; in the new order A follows B, but A has spoken: C is still next.
    story = in_round(by(A, Done())).when(SetOrder((B, A, C)), F).then(OrderSet((B, A, C)))
    assert upcoming(story.state) == C
    story.when(Done(), B).then(Finished(B, "2"), turn(C, 3, next=None))


def test_someone_away_is_not_named_next_and_coming_back_names_them_again() -> None:
    away = in_round().when(StepAway(), B).then(Away(B), NextChanged(C))
    away.when(ComeBack(), B).then(Present(B, "away"), NextChanged(B))


def test_the_next_person_leaving_names_the_one_after() -> None:
    in_round(by(A, Done())).when(Leave(), C).then(Left(C, "left"), NextChanged(None))


def test_things_that_do_not_touch_the_circle_say_nothing_about_next() -> None:
    in_round().when(Lock(), F).then(Locked())
    in_round().when(RaiseHand(), B).then(HandRaised(B))


def test_a_turn_with_only_people_away_left_says_the_round_would_end() -> None:
    given(room(), by(B, StepAway()), by(C, StepAway())).when(StartRound(60), F).then(
        SHARE, turn(A, 1, next=None)
    )


def test_next_is_nobody_outside_a_round() -> None:
    assert upcoming(given(room()).state) is None
