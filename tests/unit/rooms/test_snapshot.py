"""The room as one viewer may see it: members, the lobby, facilitators."""

from __future__ import annotations

from rooms import commands as c
from rooms.ids import RoomId
from rooms.snapshot import RoomInfo, snapshot
from rooms.state import RoundKind
from tests.unit.rooms.scenario import (
    NOBODY,
    T0,
    W1,
    W2,
    A,
    B,
    C,
    F,
    Scenario,
    a_round,
    by,
    given,
    node,
    room,
)

INFO = RoomInfo(RoomId("r1"), "Tuesday circle", "Be kind.", "Call 116 123", share_seconds=120)


def busy() -> Scenario:
    """A room in the middle of things: a round, a hand, a topic, a successor, a lobby."""
    return given(
        room(waiting=(W1, W2)),
        by(F, c.SetTopic("Hope")),
        by(F, c.SetSuccessor(B)),
        by(F, c.Mute(C)),
        by(B, c.StepAway()),
        by(C, c.RaiseHand()),
        node(c.Disconnect(W2)),
        a_round(60, overtime=10, kind=RoundKind.CHECK_IN),
        by(A, c.PassTurn(), now=T0 + 5),
    )


def test_the_room_as_the_host_defined_it_is_in_every_view() -> None:
    state = busy().state
    for viewer in (F, A, W1, NOBODY):
        view = snapshot(state, viewer, INFO)
        assert (view["room"], view["name"]) == ("r1", "Tuesday circle")
        assert (view["guidelines"], view["crisis"]) == ("Be kind.", "Call 116 123")
        assert view["share_seconds"] == 120
        assert view["locked"] is False
        assert view["ended"] is False


def test_a_member_sees_the_circle() -> None:
    view = snapshot(busy().state, A, INFO)
    assert view["lobby"] is False
    assert view["position"] is None
    assert view["members"] == [
        {"id": F, "name": "Fran", "role": "facilitator", "away": False, "muted": False,
         "reconnecting": False},
        {"id": A, "name": "Ama", "role": "member", "away": False, "muted": False,
         "reconnecting": False},
        {"id": B, "name": "Ben", "role": "member", "away": True, "muted": False,
         "reconnecting": False},
        {"id": C, "name": "Cleo", "role": "member", "away": False, "muted": True,
         "reconnecting": False},
    ]  # fmt: skip
    assert view["order"] == [A, B, C]
    assert view["hands"] == [C]
    assert view["topic"] == "Hope"
    assert view["floor"] is None
    assert view["held"] is False


def test_a_member_never_sees_the_lobby_or_the_successor() -> None:
    view = snapshot(busy().state, A, INFO)
    assert view["waiting"] == []
    assert view["successor"] is None


def test_the_round_shows_the_speaker_the_deadline_and_who_passed() -> None:
    # A passed at T0+5; B is away, so C holds the piece from T0+5 (turn 2).
    view = snapshot(busy().state, A, INFO)
    assert view["round"] == {
        "kind": "check_in",
        "seconds": 60.0,
        "share_seconds": 60,
        "overtime": 10,
        "second_pass": True,
        "pass_no": 1,
        "speaker": C,
        "next": A,  # B is away, A passed: the second pass starts with A
        "turn_id": "2",
        "deadline": T0 + 65,
        "paused": False,
        "remaining": None,
        "time_up": False,
        "pause_reason": None,
        "passed": [A, B],
    }


def test_a_paused_extended_turn_shows_its_time_remaining() -> None:
    state = busy().and_(by(F, c.Pause(), now=T0 + 15), by(F, c.Extend(30))).state
    rnd = snapshot(state, A, INFO)["round"]
    assert isinstance(rnd, dict)
    assert (rnd["paused"], rnd["deadline"], rnd["remaining"]) == (True, None, 80.0)
    assert rnd["pause_reason"] == "facilitator"
    assert (rnd["seconds"], rnd["share_seconds"]) == (90.0, 60)


def test_a_turn_over_time_shows_it() -> None:
    state = busy().and_(node(c.TurnTimeUp("2"), now=T0 + 65)).state
    rnd = snapshot(state, A, INFO)["round"]
    assert isinstance(rnd, dict)
    assert rnd["time_up"] is True


def test_no_round_is_shown_as_none() -> None:
    assert snapshot(given(room()).state, A, INFO)["round"] is None


def test_the_floor_is_shown_to_the_circle() -> None:
    state = given(room(), by(F, c.CallOn(B))).state
    assert snapshot(state, A, INFO)["floor"] == B


def test_someone_waiting_sees_the_guidelines_and_their_place_and_nothing_of_the_circle() -> None:
    view = snapshot(busy().state, W2, INFO)
    assert view["lobby"] is True
    assert view["position"] == 2
    assert view["guidelines"] == "Be kind."
    assert view["crisis"] == "Call 116 123"
    assert view["members"] == []
    assert view["order"] == []
    assert view["hands"] == []
    assert view["round"] is None
    assert view["floor"] is None
    assert view["topic"] is None
    assert view["waiting"] == []
    assert view["successor"] is None
    assert view["held"] is False


def test_someone_waiting_sees_neither_a_hold_nor_the_topic() -> None:
    state = given(room(waiting=(W1,)), by(F, c.SetTopic("Hope")), by(F, c.Leave())).state
    assert state.held
    view = snapshot(state, W1, INFO)
    assert view["held"] is False
    assert view["topic"] is None


def test_someone_unknown_gets_the_lobby_view_with_no_place() -> None:
    view = snapshot(busy().state, NOBODY, INFO)
    assert view["lobby"] is True
    assert view["position"] is None
    assert view["members"] == []


def test_a_facilitator_sees_the_lobby_and_the_successor() -> None:
    view = snapshot(busy().state, F, INFO)
    assert view["waiting"] == [
        {"id": W1, "name": "Wren", "position": 1, "reconnecting": False},
        {"id": W2, "name": "Wyn", "position": 2, "reconnecting": True},
    ]
    assert view["successor"] == B


def test_a_promoted_member_sees_what_a_facilitator_sees() -> None:
    state = busy().and_(by(F, c.Promote(A))).state
    assert [p["id"] for p in snapshot(state, A, INFO)["waiting"]] == [W1, W2]  # type: ignore[attr-defined,index]


def test_the_circle_sees_a_hold_and_the_end() -> None:
    held = given(room(), by(F, c.Leave())).state
    assert snapshot(held, A, INFO)["held"] is True
    ended = given(room(waiting=(W1,)), by(F, c.EndMeeting())).state
    assert snapshot(ended, A, INFO)["ended"] is True
    assert snapshot(ended, W1, INFO)["ended"] is True


def test_everyone_sees_whether_the_room_is_locked() -> None:
    state = given(room(waiting=(W1,)), by(F, c.Lock())).state
    assert snapshot(state, A, INFO)["locked"] is True
    assert snapshot(state, W1, INFO)["locked"] is True


def test_a_reconnecting_member_is_shown_as_such() -> None:
    state = given(room(), node(c.Disconnect(B))).state
    members = snapshot(state, A, INFO)["members"]
    assert isinstance(members, list)
    assert [m["reconnecting"] for m in members] == [False, False, True, False]
