"""Who may do what: the WHO_MAY table, checked row by row through `decide`."""

from __future__ import annotations

from typing import get_args

import pytest

from rooms import commands as c
from rooms.errors import NotAllowed
from rooms.policy import WHO_MAY, Place, check, place_of
from tests.unit.rooms.samples import COMMANDS
from tests.unit.rooms.scenario import NOBODY, W1, A, B, F, Scenario, by, given, room

ACTOR: dict[Place, str | None] = {
    Place.NODE: None,
    Place.WAITING: W1,
    Place.MEMBER: A,
    Place.FACILITATOR: F,
}
SAMPLE = {type(command): command for command in COMMANDS}


def everyone() -> Scenario:
    """F facilitating, A, B and C in the circle, W1 waiting."""
    return given(room(waiting=(W1,)))


def test_every_command_has_a_row_in_the_table_and_a_sample() -> None:
    assert set(WHO_MAY) == set(get_args(c.AnyCommand)) == set(SAMPLE)


def test_the_table_is_what_design_md_says_each_person_may_do() -> None:
    def allowed(place: Place) -> set[str]:
        return {cls.OP for cls, places in WHO_MAY.items() if place in places}

    assert allowed(Place.WAITING) == {"leave", "support"}
    assert allowed(Place.MEMBER) == {
        "leave", "support", "unmute", "away", "present", "pass", "done",
        "raise_hand", "lower_hand", "chat", "react",
    }  # fmt: skip
    assert allowed(Place.FACILITATOR) == allowed(Place.MEMBER) | {
        "admit", "admit_all", "deny", "lobby_message", "remove", "mute", "promote", "demote",
        "hand_over", "set_successor", "lock", "unlock", "set_topic", "end_meeting",
        "set_order", "start_round", "next", "back", "skip", "extend", "pause", "unpause",
        "end_round", "call_on", "support_seen", "set_returning",
    }  # fmt: skip
    assert allowed(Place.NODE) == {
        "arrive", "disconnect", "reconnect", "grace_expired", "turn_time_up",
    }  # fmt: skip


def test_no_client_op_is_a_node_command() -> None:
    for cls in (*c.OPS.values(), *c.FRAME_COMMANDS):
        assert Place.NODE not in WHO_MAY[cls], cls.OP
    for cls in c.NODE_COMMANDS:
        assert WHO_MAY[cls] == {Place.NODE}, cls.OP


def _refusal(cls: type[c.AnyCommand], place: Place) -> str:
    if Place.NODE in WHO_MAY[cls]:
        return "Only the server can do that"
    return {
        Place.NODE: "Only a person in the room can do that",
        Place.WAITING: "once a facilitator has let you in",
        Place.MEMBER: "Only a facilitator can do that",
    }[place]


REFUSED = [
    pytest.param(cls, place, id=f"{cls.OP}-by-{place.value}")
    for cls, places in WHO_MAY.items()
    for place in Place
    if place not in places
]
ALLOWED = [
    pytest.param(cls, place, id=f"{cls.OP}-by-{place.value}")
    for cls, places in WHO_MAY.items()
    for place in places
]


@pytest.mark.parametrize(("cls", "place"), REFUSED)
def test_a_command_is_refused_from_every_place_the_table_does_not_list(
    cls: type[c.AnyCommand], place: Place
) -> None:
    everyone().when(SAMPLE[cls], ACTOR[place]).refused(NotAllowed, match=_refusal(cls, place))


@pytest.mark.parametrize(("cls", "place"), ALLOWED)
def test_the_table_lets_each_listed_place_ask(cls: type[c.AnyCommand], place: Place) -> None:
    assert check(everyone().state, SAMPLE[cls], ACTOR[place]) is place


@pytest.mark.parametrize("person", [W1, A, F])
@pytest.mark.parametrize("cls", c.NODE_COMMANDS, ids=lambda cls: cls.OP)
def test_node_commands_are_refused_from_any_person(person: str, cls: type[c.AnyCommand]) -> None:
    everyone().when(SAMPLE[cls], person).refused(NotAllowed, match="Only the server")  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [*c.OPS.values(), *c.FRAME_COMMANDS], ids=lambda cls: cls.OP)
def test_someone_not_in_the_room_is_refused_everything(cls: type[c.AnyCommand]) -> None:
    everyone().when(SAMPLE[cls], NOBODY).refused(NotAllowed, match="not in this room")


def test_someone_who_left_is_no_longer_in_the_room() -> None:
    gone = everyone().and_(by(A, c.Leave()))
    gone.when(c.RaiseHand(), A).refused(NotAllowed, match="not in this room")


def test_place_follows_the_persons_standing() -> None:
    state = everyone().and_(by(F, c.Promote(A))).state
    assert place_of(state, None) is Place.NODE
    assert place_of(state, W1) is Place.WAITING
    assert place_of(state, A) is Place.FACILITATOR
    assert place_of(state, B) is Place.MEMBER
    assert place_of(state, F) is Place.FACILITATOR
