"""The room state as bytes (signaling/state_codec.py): exact, versioned, and loud when not.

Two kinds of states go through the codec: states the engine reaches (random commands by
random people at random times, through `decide` and `evolve`) and states built directly
from every field's type, reachable or not. Either way the state comes back equal and every
value keeps its type.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from enum import Enum
from typing import get_args

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms import MemberId, RoomState, TurnId, decide, evolve
from rooms import commands as c
from rooms.decide.words import REACTIONS
from rooms.errors import RoomError
from rooms.state import (
    OrderPreset,
    PauseReason,
    Person,
    Returning,
    Role,
    Round,
    RoundKind,
    SupportNote,
    Turn,
)
from signaling import state_codec
from signaling.state_codec import StateCodecError, decode, encode

T0 = 1_000_000.0
F = MemberId("f0")
PEOPLE = (F, MemberId("m1"), MemberId("m2"), MemberId("m3"), MemberId("m4"))
TURNS = tuple(TurnId(str(n)) for n in range(1, 9))


def same(a: object, b: object) -> bool:
    """Equal, and of the same type all the way down (1 is not 1.0, a list is no tuple)."""
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, tuple):
        assert isinstance(b, tuple)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, frozenset):
        return a == b and all(type(x) is str for x in a)
    if isinstance(a, Enum):
        return a is b
    return a == b


def round_trips(state: RoomState) -> None:
    data = encode(state)
    back = decode(data)
    assert back == state
    assert same(back, state)
    assert encode(back) == data


# --- reachable states ----------------------------------------------------------------------

members = st.sampled_from(PEOPLE)
maybe_member = st.none() | members
texts = st.sampled_from(("", "Hope", "Gratitude 🌱", "x" * 50))

FIELD_STRATEGIES: dict[str, st.SearchStrategy[object]] = {
    "member": members,
    "members": st.lists(members, max_size=6).map(tuple),
    "block": st.booleans(),
    "text": texts,
    "seconds": st.sampled_from((1, 5, 60, 120)),
    "overtime": st.sampled_from((0, 3, 30)),
    "order": st.sampled_from(OrderPreset),
    "kind": st.sampled_from(RoundKind),
    "second_pass": st.booleans(),
    "seed": st.integers(0, 2**32),
    "id": st.integers(0, 1000),
    "box": st.none(),
    "emoji": st.sampled_from(sorted(REACTIONS)),
    "name": st.sampled_from(("Ann", "Bo", "Cy")),
    "role": st.sampled_from(Role),
    "key": st.sampled_from(("", "k1", "k2")),
    "since": st.floats(T0, T0 + 10_000, allow_nan=False),
    "turn_id": st.sampled_from(TURNS),
    "note": st.integers(0, 6),
    "returning": st.sampled_from(Returning),
}
OPTIONAL = {"SetSuccessor": maybe_member, "LowerHand": maybe_member, "SetTopic": st.none() | texts}


def command_of(cls: type[c.AnyCommand]) -> st.SearchStrategy[c.AnyCommand]:
    kwargs = {}
    for f in dataclasses.fields(cls):
        strategy = FIELD_STRATEGIES[f.name]
        if cls.__name__ in OPTIONAL and f.name in ("member", "text"):
            strategy = OPTIONAL[cls.__name__]
        kwargs[f.name] = strategy
    return st.builds(cls, **kwargs)


commands = st.one_of([command_of(cls) for cls in get_args(c.AnyCommand)])
actors = st.sampled_from((F, F, F, None)) | members  # mostly the facilitator
steps = st.lists(st.tuples(commands, actors, st.floats(0, 90, allow_nan=False)), max_size=80)


def reachable(script: list[tuple[c.AnyCommand, MemberId | None, float]]) -> list[RoomState]:
    """Every state along the way of `script`, after a facilitator and four people arrived
    (two let in, two still waiting), so that most commands have someone to act on."""
    now = T0
    prologue: list[tuple[c.AnyCommand, MemberId | None]] = [
        (c.Arrive(F, "Fay", Role.FACILITATOR), None),
        *((c.Arrive(m, f"name-{m}", Role.MEMBER, f"k{m}"), None) for m in PEOPLE[1:]),
        (c.Admit(PEOPLE[1]), F),
        (c.Admit(PEOPLE[2]), F),
    ]
    state = RoomState()
    for command, actor in prologue:
        for event in decide(state, command, actor, now):
            state = evolve(state, event)
    states = [state]
    for command, actor, dt in script:
        now += dt
        if isinstance(command, c.GraceExpired):  # aim at someone actually reconnecting
            away = [p for p in state.people if p.reconnecting_since is not None]
            if away:
                command = c.GraceExpired(away[0].id, away[0].reconnecting_since or 0.0)
        try:
            events = decide(state, command, actor, now)
        except RoomError:
            continue
        for event in events:
            state = evolve(state, event)
        states.append(state)
    return states


@given(steps)
def test_every_reachable_state_round_trips_exactly(
    script: list[tuple[c.AnyCommand, MemberId | None, float]],
) -> None:
    for state in reachable(script):
        round_trips(state)


def test_the_engine_reaches_rich_states() -> None:
    # The generator above is only as good as the states it reaches: make sure a round with a
    # turn, a lobby, hands and a reconnecting person are all within its reach.
    script: list[tuple[c.AnyCommand, MemberId | None, float]] = [
        (c.Arrive(PEOPLE[1], "Ann", Role.MEMBER, "k1"), None, 1.0),
        (c.Arrive(PEOPLE[2], "Bo", Role.MEMBER), None, 1.0),
        (c.Admit(PEOPLE[1]), F, 1.5),
        (c.StartRound(60, 5, OrderPreset.ARRIVAL), F, 0.25),
        (c.RaiseHand(), PEOPLE[1], 2.0),
        (c.Pause(), F, 3.5),
        (c.Disconnect(PEOPLE[1]), None, 1.0),
        (c.Lock(), F, 1.0),
        (c.Remove(PEOPLE[2], block=True), F, 1.0),
        (c.AskSupport("I need a moment"), PEOPLE[1], 1.0),
        (c.AskSupport("Me too"), PEOPLE[3], 1.0),
        (c.MarkSupportSeen(1), F, 1.0),
    ]
    last = reachable(script)[-1]
    assert [n.seen for n in last.notes] == [True, False]
    assert last.round is not None
    assert last.round.turn is not None
    assert last.round.turn.paused
    assert any(p.reconnecting for p in last.people)
    assert last.blocked_keys or last.locked
    round_trips(last)


# --- any state -------------------------------------------------------------------------------

ids = st.text(max_size=8).map(MemberId)
times = st.floats(allow_nan=False)
people = st.builds(
    Person,
    id=ids,
    name=st.text(max_size=40),
    role=st.sampled_from(Role),
    arrived=st.integers(0, 2**40),
    waiting=st.booleans(),
    key=st.text(max_size=8),
    away=st.booleans(),
    muted=st.booleans(),
    reconnecting_since=st.none() | times,
)
turns = st.builds(
    Turn,
    id=st.text(max_size=4).map(TurnId),
    speaker=ids,
    seconds=st.integers(0, 7200) | times,
    deadline=st.none() | times,
    remaining=st.none() | times,
    time_up=st.booleans(),
    pause_reason=st.none() | st.sampled_from(PauseReason),
)
notes = st.builds(
    SupportNote,
    id=st.integers(0, 2**40),
    from_=ids,
    name=st.text(max_size=40),
    text=st.text(max_size=200),
    at=times,
    seen=st.booleans(),
)
id_tuples = st.lists(ids, max_size=5).map(tuple)
rounds = st.builds(
    Round,
    kind=st.sampled_from(RoundKind),
    seconds=st.integers(0, 7200),
    overtime=st.integers(0, 3600),
    second_pass=st.booleans(),
    pass_no=st.integers(1, 2),
    spoken=id_tuples,
    passed=id_tuples,
    second_spoken=id_tuples,
    history=st.lists(st.tuples(ids, st.integers(1, 2)), max_size=5).map(tuple),
    turn=st.none() | turns,
)
states = st.builds(
    RoomState,
    people=st.lists(people, max_size=6).map(tuple),
    order=id_tuples,
    round=st.none() | rounds,
    hands=id_tuples,
    floor=st.none() | ids,
    topic=st.none() | st.text(max_size=200),
    locked=st.booleans(),
    held=st.booleans(),
    ended=st.booleans(),
    successor=st.none() | ids,
    blocked_keys=st.frozensets(st.text(max_size=8), max_size=4),
    returning=st.sampled_from(Returning),
    known_keys=st.frozensets(st.text(max_size=8), max_size=4),
    arrivals=st.integers(0, 2**40),
    turns=st.integers(0, 2**40),
    notes=st.lists(notes, max_size=4).map(tuple),
    notes_made=st.integers(0, 2**40),
)


@given(states)
def test_any_state_round_trips_exactly(state: RoomState) -> None:
    round_trips(state)


# --- versions and damage ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "layout"),
    [
        (Person, state_codec.PERSON_FIELDS),
        (Turn, state_codec.TURN_FIELDS),
        (Round, state_codec.ROUND_FIELDS),
        (RoomState, state_codec.STATE_FIELDS),
    ],
)
def test_the_layout_covers_every_field(cls: type, layout: tuple[str, ...]) -> None:
    # A new field in the state needs a new codec VERSION (and a reader for the old one).
    assert tuple(f.name for f in dataclasses.fields(cls)) == layout


def _golden() -> RoomState:
    return RoomState(
        people=(Person(F, "Fay", Role.FACILITATOR, 1, False, "k", False, True, 5.5),),
        order=(F,),
        round=Round(
            RoundKind.SHARE,
            60,
            0,
            True,
            1,
            (F,),
            (),
            (),
            ((F, 1),),
            Turn(TurnId("1"), F, 60, 1060.0, None, False),
        ),
        blocked_keys=frozenset({"b", "a"}),
        arrivals=1,
        turns=1,
    )


def test_version_two_bytes_stay_the_same() -> None:
    # Golden bytes: a change to the layout without a new VERSION shows up here.
    state = replace(
        _golden(),
        known_keys=frozenset({"k"}),
        notes=(SupportNote(1, F, "Fay", "help", 1000.5, True),),
        notes_made=1,
    )
    assert encode(state).hex() == (
        "dc0012029199a26630a3466179ab666163696c697461746f7201c2a16bc2c3cb401600000000000091"
        "a266309aa573686172653c00c30191a2663090909192a266300197a131a266303ccb40909000000000"
        "00c0c2c090c0c0c2c2c2c092a161a162a777656c636f6d6591a16b0101919601a26630a3466179a468"
        "656c70cb408f440000000000c301"
    )


def test_version_one_bytes_are_still_read() -> None:
    # A meeting stored by the version before survives an upgrade: what it lacks is default.
    assert decode(bytes.fromhex(V1_GOLDEN)) == _golden()


V1_GOLDEN = (
    "9e019199a26630a3466179ab666163696c697461746f7201c2a16bc2c3cb401600000000000091a266"
    "309aa573686172653c00c30191a2663090909192a266300196a131a266303ccb4090900000000000c0"
    "c290c0c0c2c2c2c092a161a1620101"
)


def test_another_version_is_refused() -> None:
    raw = msgpack.unpackb(encode(RoomState()))
    raw[0] = state_codec.VERSION + 1
    with pytest.raises(StateCodecError, match="version"):
        decode(msgpack.packb(raw))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        msgpack.packb({"v": 1}),
        msgpack.packb([]),
        msgpack.packb([1]),
        msgpack.packb([1, *[None] * 13]),
        encode(RoomState())[:-1],
        msgpack.packb([1, [["id"]], [], None, [], None, None, False, False, False, None, [], 0, 0]),
    ],
)
def test_damage_is_refused_with_one_error(data: bytes) -> None:
    with pytest.raises(StateCodecError):
        decode(data)
