"""The state of one meeting: who is here, the circle, the round, the hands, the room's flags.

Rules of this module:
- Values only. Every class is frozen; `evolve` builds a new state for every event.
- No judgement here: queries answer questions about the state, they never refuse.
- Meeting state is ephemeral: nothing in it is ever written to disk by Hearth.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rooms.ids import MemberId, TurnId


class Role(StrEnum):
    MEMBER = "member"
    FACILITATOR = "facilitator"


class RoundKind(StrEnum):
    SHARE = "share"
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"


class PauseReason(StrEnum):
    """Why a turn's timer stands still: a fact the engine records, so no client guesses."""

    FACILITATOR = "facilitator"  # a facilitator paused it, or holds it since coming back
    NO_FACILITATOR = "no_facilitator"  # the last facilitator went: the circle is held


class OrderPreset(StrEnum):
    MANUAL = "manual"
    ARRIVAL = "arrival"
    SHUFFLE = "shuffle"
    FACILITATOR_LAST = "facilitator_last"


class Returning(StrEnum):
    """How someone let in earlier in this meeting comes back through the link after their
    seat ended (dropped past the grace period, or left): straight into the circle, or
    through the lobby like anyone new. A facilitator chooses; welcome by default."""

    WELCOME = "welcome"
    KNOCK = "knock"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone in the room: waiting in the lobby, or admitted to the circle."""

    id: MemberId
    name: str
    role: Role
    arrived: int  # arrival number: lobby order and the `arrival` preset
    waiting: bool
    key: str = ""  # the browser's random key, so `remove` with `block` can refuse it
    away: bool = False
    muted: bool = False
    reconnecting_since: float | None = None  # set while the connection is lost

    @property
    def reconnecting(self) -> bool:
        return self.reconnecting_since is not None


@dataclass(frozen=True, slots=True)
class Turn:
    """One person holding the talking piece.

    While running, `deadline` is absolute and `remaining` is None; while paused, `deadline`
    is None and `remaining` holds the seconds left (negative once into overtime).
    """

    id: TurnId
    speaker: MemberId
    seconds: float
    deadline: float | None
    remaining: float | None
    time_up: bool = False
    pause_reason: PauseReason | None = None  # set while paused

    @property
    def paused(self) -> bool:
        return self.deadline is None


@dataclass(frozen=True, slots=True)
class Round:
    """A sharing round walking the circle's order, then a second pass for those who passed."""

    kind: RoundKind
    seconds: int
    overtime: int | None  # seconds past the deadline before the piece moves; None: never
    second_pass: bool
    pass_no: int = 1
    spoken: tuple[MemberId, ...] = ()  # had the piece in the first pass, current included
    passed: tuple[MemberId, ...] = ()  # passed or were skipped in the first pass
    second_spoken: tuple[MemberId, ...] = ()  # had the piece in the second pass
    history: tuple[tuple[MemberId, int], ...] = ()  # (speaker, pass) turn by turn, for `back`
    turn: Turn | None = None


# Support notes a room keeps for its facilitators: the newest this many, so a flood can't
# grow the state (and every facilitator's snapshot) without bound.
MAX_SUPPORT_NOTES = 50


@dataclass(frozen=True, slots=True)
class SupportNote:
    """A private "I need support" note, kept for the facilitators until one marks it seen.

    `name` is the sender's name when they wrote it: a facilitator must still know whom to
    check in with after the sender has left.
    """

    id: int
    from_: MemberId
    name: str
    text: str
    at: float
    seen: bool = False


@dataclass(frozen=True, slots=True)
class RoomState:
    people: tuple[Person, ...] = ()  # in arrival order
    order: tuple[MemberId, ...] = ()
    round: Round | None = None
    hands: tuple[MemberId, ...] = ()
    floor: MemberId | None = None
    topic: str | None = None
    locked: bool = False
    held: bool = False  # no facilitator left: the round is paused, the lobby waits
    ended: bool = False
    successor: MemberId | None = None  # who takes the role if the last facilitator goes
    blocked_keys: frozenset[str] = frozenset()
    returning: Returning = Returning.WELCOME
    known_keys: frozenset[str] = frozenset()  # browsers let in this meeting (not removed)
    arrivals: int = 0
    turns: int = 0
    notes: tuple[SupportNote, ...] = ()  # support notes, oldest first; facilitators only
    notes_made: int = 0  # the last note's id: ids are never reused within a meeting

    def person(self, member: MemberId) -> Person | None:
        for p in self.people:
            if p.id == member:
                return p
        return None

    def admitted(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if not p.waiting)

    def lobby(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if p.waiting)

    def is_admitted(self, member: MemberId) -> bool:
        p = self.person(member)
        return p is not None and not p.waiting

    def facilitators(self) -> tuple[Person, ...]:
        return tuple(p for p in self.people if not p.waiting and p.role is Role.FACILITATOR)

    def lobby_position(self, member: MemberId) -> int | None:
        for i, p in enumerate(self.lobby(), start=1):
            if p.id == member:
                return i
        return None

    @property
    def speaker(self) -> MemberId | None:
        if self.round is None or self.round.turn is None:
            return None
        return self.round.turn.speaker
