"""Support notes kept for the facilitators, and why a paused turn stands still.

A note stays in the room's state until a facilitator marks it seen, reaches facilitators
only (events and snapshots alike, co-facilitators promoted later included), is bounded in
number, and goes when the meeting ends.
"""

from __future__ import annotations

from rooms import commands as c
from rooms import events as e
from rooms.errors import Invalid, NotAllowed
from rooms.snapshot import RoomInfo, snapshot
from rooms.state import MAX_SUPPORT_NOTES, PauseReason
from tests.unit.rooms.scenario import (
    NAMES,
    T0,
    W1,
    A,
    B,
    F,
    G,
    a_round,
    by,
    given,
    room,
    seen_by,
)

INFO = RoomInfo("r", "Room")  # type: ignore[arg-type]


def notes_of(state: object, viewer: str) -> list[dict[str, object]]:
    view = snapshot(state, viewer, INFO)  # type: ignore[arg-type]
    notes = view["notes"]
    assert isinstance(notes, list)
    return notes


def test_a_note_is_kept_for_the_facilitators_with_who_wrote_it() -> None:
    then = (
        given(room())
        .when(c.AskSupport("I'm not doing well tonight"), A, now=T0 + 3)
        .then(e.SupportAsked(A, "I'm not doing well tonight", T0 + 3, 1, NAMES[A]))
    )
    assert notes_of(then.state, F) == [
        {
            "id": 1,
            "from": A,
            "name": NAMES[A],
            "text": "I'm not doing well tonight",
            "at": T0 + 3,
            "seen": False,
        }
    ]


def test_a_note_and_its_seen_mark_reach_the_facilitators_only() -> None:
    story = given(room(co_facilitators=(G,), waiting=(W1,)))
    asked = story.when(c.AskSupport("help"), A)
    assert all(seen_by(story.state, ev) == {F, G} for ev in asked.events)
    seen = asked.then(e.SupportAsked(A, "help", T0, 1, NAMES[A])).when(c.MarkSupportSeen(1), G)
    assert all(seen_by(asked.state, ev) == {F, G} for ev in seen.events)
    for member in (A, B, W1):
        assert notes_of(seen.state, member) == []


def test_the_note_stays_until_a_facilitator_marks_it_seen() -> None:
    story = given(room(), by(A, c.AskSupport("one")), by(B, c.AskSupport("two")))
    then = story.when(c.MarkSupportSeen(2), F).then(e.SupportSeen(2, F))
    assert [(n["id"], n["seen"]) for n in notes_of(then.state, F)] == [(1, False), (2, True)]


def test_marking_a_note_seen_twice_changes_nothing() -> None:
    # Two facilitators pressing "Mark as seen" at once both meant the same thing.
    story = given(
        room(co_facilitators=(G,)), by(A, c.AskSupport("one")), by(F, c.MarkSupportSeen(1))
    )
    story.when(c.MarkSupportSeen(1), G).then_nothing()


def test_marking_an_unknown_note_seen_is_refused() -> None:
    given(room(), by(A, c.AskSupport("one"))).when(c.MarkSupportSeen(7), F).refused(
        Invalid, match="isn't here any more"
    )


def test_only_a_facilitator_marks_a_note_seen() -> None:
    story = given(room(), by(A, c.AskSupport("one")))
    story.when(c.MarkSupportSeen(1), A).refused(NotAllowed, match="Only a facilitator")


def test_a_co_facilitator_promoted_later_finds_the_unseen_notes() -> None:
    story = given(room(), by(A, c.AskSupport("I need a moment")))
    assert notes_of(story.state, B) == []
    promoted = story.when(c.Promote(B), F).then(e.RoleChanged(B, "facilitator", "promoted"))
    assert [n["text"] for n in notes_of(promoted.state, B)] == ["I need a moment"]


def test_a_note_keeps_its_senders_name_after_they_leave() -> None:
    then = given(room(), by(A, c.AskSupport("help")), by(A, c.Leave())).state
    assert [(n["from"], n["name"]) for n in notes_of(then, F)] == [(A, NAMES[A])]


def test_someone_waiting_may_write_a_note_too() -> None:
    then = (
        given(room(waiting=(W1,)))
        .when(c.AskSupport("Please"), W1)
        .then(e.SupportAsked(W1, "Please", T0, 1, NAMES[W1]))
    )
    assert len(notes_of(then.state, F)) == 1


def test_only_the_newest_notes_are_kept_and_ids_never_repeat() -> None:
    flood = [by(A, c.AskSupport(f"note {i}")) for i in range(MAX_SUPPORT_NOTES + 5)]
    state = given(room(), flood).state
    ids = [n.id for n in state.notes]
    assert ids == list(range(6, MAX_SUPPORT_NOTES + 6))
    then = given(room(), flood).when(c.AskSupport("one more"), B)
    assert then.events == [e.SupportAsked(B, "one more", T0, MAX_SUPPORT_NOTES + 6, NAMES[B])]


def test_notes_are_gone_when_the_meeting_ends() -> None:
    then = given(room(), by(A, c.AskSupport("help"))).when(c.EndMeeting(), F)
    assert then.events == [e.MeetingEnded()]
    assert then.state.notes == ()


# --- why a turn is paused --------------------------------------------------------------


def test_a_facilitators_pause_says_so() -> None:
    then = given(room(), a_round(60)).when(c.Pause(), F, now=T0 + 10)
    assert then.events == [e.TimerChanged("1", None, True, 50.0, 60.0, False, "facilitator")]  # type: ignore[arg-type]
    rnd = snapshot(then.state, A, INFO)["round"]
    assert isinstance(rnd, dict)
    assert rnd["pause_reason"] == "facilitator"


def test_the_last_facilitator_going_pauses_for_want_of_one() -> None:
    held = given(room(), a_round(60), by(F, c.Leave(), now=T0 + 20))
    turn = held.state.round.turn if held.state.round is not None else None
    assert turn is not None
    assert turn.pause_reason is PauseReason.NO_FACILITATOR
    rnd = snapshot(held.state, A, INFO)["round"]
    assert isinstance(rnd, dict)
    assert rnd["pause_reason"] == "no_facilitator"
    back = held.and_(by(A, c.Leave()))  # the piece moves on while held: still paused, same why
    turn = back.state.round.turn if back.state.round is not None else None
    assert turn is not None
    assert turn.pause_reason is PauseReason.NO_FACILITATOR


def test_unpausing_clears_the_reason() -> None:
    state = given(room(), a_round(60), by(F, c.Pause()), by(F, c.Unpause())).state
    rnd = snapshot(state, A, INFO)["round"]
    assert isinstance(rnd, dict)
    assert (rnd["paused"], rnd["pause_reason"]) == (False, None)
