"""Given / when / then for the room engine.

A scenario builds a room from a history (commands that `decide` must accept, or bare events),
then asks one question of `decide`:

    given(room(), a_round(60)).when(PassTurn(), A).then(Passed(A, "1", 1), turn(B, 2))
    given(room()).when(Admit(A), B).refused(NotAllowed, match="Only a facilitator")

`then` compares the exact list of events and returns the scenario after them, so a story can
go on (`.when(...).then(...)`). `refused` checks the error's exact type and a fragment of its
message, and that the state held before the command is still the same value.

Setup steps run through `decide` too, so a scenario can only start from a room the engine
itself could have reached.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from rooms import commands as c
from rooms import events as e
from rooms.audience import may_see, viewer_of
from rooms.decide import decide
from rooms.errors import RoomError
from rooms.evolve import replay
from rooms.ids import MemberId, TurnId
from rooms.state import Person, Role, RoomState

T0 = 1000.0  # the time every step happens at unless it says otherwise

F = MemberId("F")  # the facilitator
G = MemberId("G")  # a co-facilitator, when a story needs one
A = MemberId("A")
B = MemberId("B")
C = MemberId("C")
D = MemberId("D")  # a latecomer
W1 = MemberId("W1")  # people waiting in the lobby
W2 = MemberId("W2")
W3 = MemberId("W3")
NOBODY = MemberId("Z")  # never in the room

NAMES: dict[MemberId, str] = {
    F: "Fran",
    G: "Gus",
    A: "Ama",
    B: "Ben",
    C: "Cleo",
    D: "Dev",
    W1: "Wren",
    W2: "Wyn",
    W3: "Wolf",
}


def key_of(member: MemberId) -> str:
    return f"key-{member}"


@dataclass(frozen=True, slots=True)
class Step:
    """One command of a scenario's history: `actor` None is the node itself."""

    command: c.AnyCommand
    actor: MemberId | None
    now: float = T0


def by(actor: MemberId, command: c.AnyCommand, now: float = T0) -> Step:
    return Step(command, actor, now)


def node(command: c.AnyCommand, now: float = T0) -> Step:
    return Step(command, None, now)


def arrive(member: MemberId, role: Role = Role.MEMBER, now: float = T0) -> Step:
    return node(c.Arrive(member, NAMES[member], role, key_of(member)), now)


def room(
    *,
    members: Iterable[MemberId] = (A, B, C),
    waiting: Iterable[MemberId] = (),
    co_facilitators: Iterable[MemberId] = (),
) -> tuple[Step, ...]:
    """A typical room: F facilitating, `members` admitted one by one (so the order is theirs),
    co-facilitators arrived by token (outside any round, so not in the order), then
    `waiting` in the lobby in that order."""
    steps = [arrive(F, Role.FACILITATOR)]
    steps += [arrive(g, Role.FACILITATOR) for g in co_facilitators]
    for m in members:
        steps += [arrive(m), by(F, c.Admit(m))]
    steps += [arrive(w) for w in waiting]
    return tuple(steps)


def a_round(seconds: int = 60, now: float = T0, **options: object) -> Step:
    """F starts a round (`options` are StartRound's other fields)."""
    return by(F, c.StartRound(seconds, **options), now)  # type: ignore[arg-type]


class Unchecked:
    """A field value equal to anything, for the fields a story does not look at."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<unchecked>"


UNCHECKED = Unchecked()


def turn(
    speaker: MemberId,
    n: int,
    *,
    at: float = T0,
    seconds: float = 60,
    pass_no: int = 1,
    back: bool = False,
    paused: bool = False,
    next: MemberId | Unchecked | None = UNCHECKED,
) -> e.TurnStarted:
    """The `turn` event of the n-th turn of the meeting, started at `at`.

    `next` (who the engine says is next) is compared only when a story passes it: stories
    about who is next say so, the others are about something else.
    """
    deadline = None if paused else at + seconds
    return e.TurnStarted(
        TurnId(str(n)),
        speaker,
        deadline,
        float(seconds),
        pass_no,
        back,
        # While the circle is held (the only time a turn starts paused), it says so.
        pause_reason="no_facilitator" if paused else None,
        next=next,  # type: ignore[arg-type]
    )


Setup = Step | e.Event | Iterable["Setup"]


def given(*setup: Setup) -> Scenario:
    return Scenario(RoomState()).and_(*setup)


class Scenario:
    """A room at one moment of its story, with the events that led there."""

    def __init__(self, state: RoomState, history: tuple[e.AnyEvent, ...] = ()) -> None:
        self.state = state
        self.history = history

    def and_(self, *setup: Setup) -> Scenario:
        state, history = self.state, list(self.history)
        for item in _flatten(setup):
            if isinstance(item, Step):
                events = decide(state, item.command, item.actor, item.now)
            else:
                events = [item]  # type: ignore[list-item]
            state = replay(events, state)
            history += events
        return Scenario(state, tuple(history))

    def when(
        self, command: c.AnyCommand, actor: MemberId | None = None, now: float = T0
    ) -> Outcome:
        return Outcome(self, command, actor, now)

    def person(self, member: MemberId) -> Person:
        p = self.state.person(member)
        assert p is not None, f"{member} is not in the room"
        return p


class Outcome:
    """What `decide` makes of one command in one state."""

    def __init__(
        self, scenario: Scenario, command: c.AnyCommand, actor: MemberId | None, now: float
    ) -> None:
        self.scenario = scenario
        self.before = scenario.state
        self.command = command
        self.actor = actor
        self.now = now
        self._events: list[e.AnyEvent] | None = None

    @property
    def events(self) -> list[e.AnyEvent]:
        if self._events is None:
            held = copy.deepcopy(self.before)
            self._events = decide(self.before, self.command, self.actor, self.now)
            assert self.before == held, "decide changed the state it was given"
        return self._events

    @property
    def state(self) -> RoomState:
        """The state after the events."""
        return replay(self.events, self.before)

    def then(self, *expected: e.AnyEvent) -> Scenario:
        assert self.events == list(expected)
        return Scenario(self.state, (*self.scenario.history, *self.events))

    def then_nothing(self) -> Scenario:
        return self.then()

    def refused(self, error: type[RoomError], match: str) -> Scenario:
        held = copy.deepcopy(self.before)
        with pytest.raises(error, match=match) as raised:
            decide(self.before, self.command, self.actor, self.now)
        assert type(raised.value) is error, f"raised {type(raised.value).__name__}"
        assert self.before == held, "a refusal changed the state"
        return self.scenario


def _flatten(items: Iterable[Setup]) -> Iterable[Step | e.Event]:
    for item in items:
        if isinstance(item, Step | e.Event):
            yield item
        else:
            yield from _flatten(item)


def sees(state: RoomState, member: MemberId, event: e.AnyEvent) -> bool:
    """Whether `member`, as they stand in `state`, may see `event`."""
    viewer = viewer_of(state, member)
    assert viewer is not None, f"{member} is not in the room"
    return may_see(viewer, event.audience())


def seen_by(state: RoomState, event: e.AnyEvent) -> set[MemberId]:
    """Everyone in `state` who may see `event`."""
    return {p.id for p in state.people if sees(state, p.id, event)}
