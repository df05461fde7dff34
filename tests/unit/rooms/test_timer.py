"""The turn's timer: absolute deadlines, time up and overtime, pause, unpause, extend."""

from __future__ import annotations

import pytest

from rooms.commands import Done, EndRound, Extend, Next, Pause, StartRound, TurnTimeUp, Unpause
from rooms.decide.timer import next_wakeup
from rooms.errors import Invalid, NotAllowed
from rooms.events import Finished, RoundEnded, RoundStarted, TimerChanged, TimeUp, TurnStarted
from rooms.state import RoomState
from tests.unit.rooms.scenario import (
    T0,
    A,
    B,
    C,
    F,
    Scenario,
    a_round,
    by,
    given,
    room,
    turn,
)


def in_round(*more: object, overtime: int | None = 30) -> Scenario:
    """A's 60-second turn (id "1") started at T0, with `overtime` seconds before it moves on."""
    return given(room(), a_round(60, overtime=overtime), *more)  # type: ignore[arg-type]


def timer(
    deadline: float | None,
    *,
    remaining: float | None = None,
    seconds: float = 60,
    time_up: bool = False,
    turn_id: str = "1",
) -> TimerChanged:
    # A facilitator's pause (or extend while paused) says it was theirs.
    reason = "facilitator" if deadline is None else None
    return TimerChanged(turn_id, deadline, deadline is None, remaining, seconds, time_up, reason)


# --- deadlines -------------------------------------------------------------------------


def test_a_turns_deadline_is_absolute_now_plus_the_time_per_share() -> None:
    events = given(room()).when(StartRound(90), F, now=1234.5).events
    assert events == [
        RoundStarted("share", 90, None, True),
        TurnStarted("1", A, 1324.5, 90.0, 1, next=B),
    ]


def test_each_turn_gets_a_fresh_deadline_from_when_it_starts() -> None:
    in_round().when(Next(), F, now=T0 + 17).then(TurnStarted("2", B, T0 + 77, 60.0, 1, next=C))


# --- time up ---------------------------------------------------------------------------


def test_a_timer_firing_early_changes_nothing() -> None:
    in_round().when(TurnTimeUp("1"), now=T0 + 59.9).then_nothing()


def test_a_timer_for_another_turn_changes_nothing() -> None:
    in_round().when(TurnTimeUp("7"), now=T0 + 600).then_nothing()


def test_a_timer_for_a_turn_already_over_changes_nothing() -> None:
    in_round(by(A, Done())).when(TurnTimeUp("1"), now=T0 + 600).then_nothing()


def test_a_timer_firing_while_paused_changes_nothing() -> None:
    in_round(by(F, Pause(), now=T0 + 10)).when(TurnTimeUp("1"), now=T0 + 600).then_nothing()


def test_a_timer_firing_after_the_round_changes_nothing() -> None:
    in_round(by(F, EndRound())).when(TurnTimeUp("1"), now=T0 + 600).then_nothing()


def test_at_the_deadline_the_circle_is_told_time_is_up_and_the_speaker_keeps_the_piece() -> None:
    then = in_round().when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    assert then.state.speaker == A
    assert then.state.round is not None
    assert then.state.round.turn is not None
    assert then.state.round.turn.time_up


def test_a_repeated_time_up_within_the_overtime_changes_nothing() -> None:
    in_round().when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A)).when(
        TurnTimeUp("1"), now=T0 + 89
    ).then_nothing()


def test_after_the_overtime_the_piece_moves_on_by_itself() -> None:
    in_round().when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A)).when(
        TurnTimeUp("1"), now=T0 + 90
    ).then(turn(B, 2, at=T0 + 90))


def test_a_late_first_firing_past_the_overtime_announces_time_up_and_moves_on() -> None:
    in_round().when(TurnTimeUp("1"), now=T0 + 95).then(TimeUp("1", A), turn(B, 2, at=T0 + 95))


def test_with_zero_overtime_the_piece_moves_on_at_the_deadline() -> None:
    in_round(overtime=0).when(TurnTimeUp("1"), now=T0 + 60).then(
        TimeUp("1", A), turn(B, 2, at=T0 + 60)
    )


def test_time_up_for_the_last_speaker_ends_the_round() -> None:
    in_round(by(A, Done()), by(B, Done()), overtime=0).when(TurnTimeUp("3"), now=T0 + 60).then(
        TimeUp("3", C), RoundEnded("complete")
    )


# --- without overtime: the deadline is a cue, and the piece stays ----------------------


def test_a_round_moves_the_piece_by_itself_only_when_started_with_overtime() -> None:
    assert StartRound(60).overtime is None
    given(room()).when(StartRound(60), F).then(
        RoundStarted("share", 60, None, True), turn(A, 1, next=B)
    )


def test_without_overtime_the_deadline_is_a_cue_and_the_piece_stays() -> None:
    cued = in_round(overtime=None).when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    assert cued.state.speaker == A
    assert next_wakeup(cued.state) is None


def test_without_overtime_no_later_firing_moves_the_piece() -> None:
    cued = in_round(overtime=None).when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    for late in (T0 + 61, T0 + 60 + 3600, T0 + 60 + 10 * 24 * 3600):
        cued.when(TurnTimeUp("1"), now=late).then_nothing()


def test_without_overtime_a_first_firing_long_after_the_deadline_only_cues() -> None:
    in_round(overtime=None).when(TurnTimeUp("1"), now=T0 + 9999).then(TimeUp("1", A))


def test_without_overtime_the_piece_moves_when_the_speaker_finishes() -> None:
    cued = in_round(overtime=None).when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    cued.when(Done(), A, now=T0 + 200).then(Finished(A, "1"), turn(B, 2, at=T0 + 200, next=C))


def test_without_overtime_the_piece_moves_when_the_facilitator_moves_it() -> None:
    cued = in_round(overtime=None).when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    cued.when(Next(), F, now=T0 + 300).then(turn(B, 2, at=T0 + 300, next=C))


def test_without_overtime_a_stale_firing_for_the_turn_before_changes_nothing() -> None:
    moved = in_round(by(A, Done(), now=T0 + 10), overtime=None)
    moved.when(TurnTimeUp("1"), now=T0 + 60).then_nothing()
    assert next_wakeup(moved.state) == ("2", T0 + 70)


def test_without_overtime_extend_after_the_cue_gives_a_new_deadline_and_a_new_cue() -> None:
    cued = in_round(overtime=None).when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    extended = cued.when(Extend(60), F, now=T0 + 70).then(timer(T0 + 120, seconds=120))
    assert next_wakeup(extended.state) == ("1", T0 + 120)
    again = extended.when(TurnTimeUp("1"), now=T0 + 120).then(TimeUp("1", A))
    assert next_wakeup(again.state) is None
    assert again.state.speaker == A


def test_without_overtime_pause_and_unpause_after_the_cue_keep_the_piece_where_it_is() -> None:
    cued = in_round(overtime=None).when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    paused = cued.when(Pause(), F, now=T0 + 70).then(timer(None, remaining=-10.0, time_up=True))
    resumed = paused.when(Unpause(), F, now=T0 + 100).then(timer(T0 + 90, time_up=True))
    assert next_wakeup(resumed.state) is None
    resumed.when(TurnTimeUp("1"), now=T0 + 5000).then_nothing()


def test_without_overtime_a_turn_paused_before_its_deadline_is_cued_after_unpause() -> None:
    paused = in_round(by(F, Pause(), now=T0 + 20), overtime=None)
    paused.when(TurnTimeUp("1"), now=T0 + 60).then_nothing()
    resumed = paused.when(Unpause(), F, now=T0 + 100).then(timer(T0 + 140))
    resumed.when(TurnTimeUp("1"), now=T0 + 140).then(TimeUp("1", A))


# --- pause and unpause -----------------------------------------------------------------


def test_pause_keeps_the_time_remaining() -> None:
    then = in_round().when(Pause(), F, now=T0 + 20).then(timer(None, remaining=40.0))
    assert next_wakeup(then.state) is None


def test_pausing_a_paused_timer_is_refused() -> None:
    in_round(by(F, Pause())).when(Pause(), F).refused(Invalid, match="already paused")


def test_pausing_outside_a_round_is_refused() -> None:
    given(room()).when(Pause(), F).refused(Invalid, match="no round running")


def test_unpause_sets_a_new_deadline_from_the_time_remaining() -> None:
    in_round(by(F, Pause(), now=T0 + 20)).when(Unpause(), F, now=T0 + 100).then(timer(T0 + 140))


def test_unpausing_a_running_timer_is_refused() -> None:
    in_round().when(Unpause(), F).refused(Invalid, match="isn't paused")


def test_unpausing_outside_a_round_is_refused() -> None:
    given(room()).when(Unpause(), F).refused(Invalid, match="no round running")


def test_a_pause_in_overtime_keeps_the_overtime_left() -> None:
    story = in_round()
    overtime = story.when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    paused = overtime.when(Pause(), F, now=T0 + 70).then(timer(None, remaining=-10.0, time_up=True))
    resumed = paused.when(Unpause(), F, now=T0 + 200).then(timer(T0 + 190, time_up=True))
    assert next_wakeup(resumed.state) == ("1", T0 + 220)
    resumed.when(TurnTimeUp("1"), now=T0 + 219).then_nothing()
    resumed.when(TurnTimeUp("1"), now=T0 + 220).then(turn(B, 2, at=T0 + 220))


# --- extend ----------------------------------------------------------------------------


def test_extend_while_running_moves_the_deadline() -> None:
    in_round().when(Extend(30), F, now=T0 + 10).then(timer(T0 + 90, seconds=90))


def test_the_old_deadline_does_nothing_once_extended() -> None:
    in_round(by(F, Extend(30))).when(TurnTimeUp("1"), now=T0 + 60).then_nothing()


def test_extend_while_paused_adds_to_the_time_remaining() -> None:
    in_round(by(F, Pause(), now=T0 + 20)).when(Extend(30), F, now=T0 + 50).then(
        timer(None, remaining=70.0, seconds=90)
    )


def test_extend_after_time_up_past_now_lifts_time_up_and_it_is_announced_again() -> None:
    story = in_round().when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    extended = story.when(Extend(30), F, now=T0 + 70).then(timer(T0 + 90, seconds=90))
    assert next_wakeup(extended.state) == ("1", T0 + 90)
    extended.when(TurnTimeUp("1"), now=T0 + 90).then(TimeUp("1", A))


def test_extend_after_time_up_that_stays_in_the_past_keeps_time_up() -> None:
    story = in_round().when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    story.when(Extend(5), F, now=T0 + 80).then(timer(T0 + 65, seconds=65, time_up=True))
    story.when(Extend(20), F, now=T0 + 80).then(timer(T0 + 80, seconds=80, time_up=True))


def test_extend_while_paused_in_overtime_lifts_time_up_only_once_time_is_left() -> None:
    story = in_round().when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    paused = story.when(Pause(), F, now=T0 + 70).then(timer(None, remaining=-10.0, time_up=True))
    paused.when(Extend(30), F).then(timer(None, remaining=20.0, seconds=90))
    paused.when(Extend(5), F).then(timer(None, remaining=-5.0, seconds=65, time_up=True))


@pytest.mark.parametrize("seconds", [0, -10, 60 * 60 + 1])
def test_extend_must_be_between_a_second_and_an_hour(seconds: int) -> None:
    in_round().when(Extend(seconds), F).refused(Invalid, match="1 second up to 1 hour")


def test_extend_by_a_whole_hour_is_allowed() -> None:
    in_round().when(Extend(3600), F).then(timer(T0 + 3660, seconds=3660))


def test_extending_outside_a_round_is_refused() -> None:
    given(room()).when(Extend(30), F).refused(Invalid, match="no round running")


def test_members_cannot_touch_the_timer() -> None:
    in_round().when(Pause(), A).refused(NotAllowed, match="Only a facilitator")
    in_round().when(Extend(30), A).refused(NotAllowed, match="Only a facilitator")
    in_round(by(F, Pause())).when(Unpause(), A).refused(NotAllowed, match="Only a facilitator")


def test_members_cannot_fire_the_timer() -> None:
    in_round().when(TurnTimeUp("1"), A, now=T0 + 60).refused(NotAllowed, match="Only the server")


# --- when to wake up -------------------------------------------------------------------


def test_next_wakeup_is_never_without_a_round() -> None:
    assert next_wakeup(RoomState()) is None
    assert next_wakeup(given(room()).state) is None


def test_next_wakeup_is_the_deadline_of_the_running_turn() -> None:
    assert next_wakeup(in_round().state) == ("1", T0 + 60)


def test_next_wakeup_after_time_up_is_the_end_of_the_overtime() -> None:
    then = in_round().when(TurnTimeUp("1"), now=T0 + 60).then(TimeUp("1", A))
    assert next_wakeup(then.state) == ("1", T0 + 90)
