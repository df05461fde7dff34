"""Events: the facts a room's history is made of, named in the past tense.

Rules of this module:
- `TYPE` is the wire name (`event.type` in docs/protocol.md); a test keeps the two in step.
- Every event answers `audience()`; most audiences are fixed per type, a few depend on
  whether the person concerned was still waiting in the lobby.
- Fields are plain values (str, int, float, bool, None, bytes, tuples of str), so an event
  turns into a wire map and back without loss (`fields_of`, `from_fields`). A field whose
  Python name ends in `_` (`from_`) drops the underscore on the wire.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from rooms.audience import (
    EVERYONE,
    EVERYONE_AND_LOBBY,
    FACILITATORS,
    LOBBY_AND_FACILITATORS,
    Audience,
    only,
)
from rooms.ids import MemberId, TurnId


@dataclass(frozen=True, slots=True)
class Event:
    TYPE: ClassVar[str] = ""
    AUDIENCE: ClassVar[Audience] = EVERYONE

    def audience(self) -> Audience:
        return self.AUDIENCE


# --- the lobby -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JoinedLobby(Event):
    TYPE = "joined_lobby"
    AUDIENCE = FACILITATORS
    member: MemberId
    name: str
    position: int
    key: str = ""  # the browser key, kept in state for `block`; stripped before the wire


@dataclass(frozen=True, slots=True)
class LobbyMessage(Event):
    TYPE = "lobby_message"
    AUDIENCE = LOBBY_AND_FACILITATORS
    text: str


@dataclass(frozen=True, slots=True)
class LobbyPosition(Event):
    TYPE = "lobby_position"
    member: MemberId
    position: int

    def audience(self) -> Audience:
        return only(self.member)


@dataclass(frozen=True, slots=True)
class Admitted(Event):
    TYPE = "admitted"
    member: MemberId
    name: str
    role: str
    key: str = ""  # as in JoinedLobby: only for state, never sent

    def audience(self) -> Audience:
        return EVERYONE.including(self.member)


@dataclass(frozen=True, slots=True)
class Denied(Event):
    TYPE = "denied"
    member: MemberId

    def audience(self) -> Audience:
        return FACILITATORS.including(self.member)


# --- coming and going ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Left(Event):
    TYPE = "left"
    member: MemberId
    reason: str  # "left" | "timeout"
    waiting: bool = False

    def audience(self) -> Audience:
        return FACILITATORS if self.waiting else EVERYONE


@dataclass(frozen=True, slots=True)
class Removed(Event):
    TYPE = "removed"
    member: MemberId
    block: bool = False
    waiting: bool = False

    def audience(self) -> Audience:
        return (FACILITATORS if self.waiting else EVERYONE).including(self.member)


@dataclass(frozen=True, slots=True)
class Reconnecting(Event):
    TYPE = "reconnecting"
    member: MemberId
    since: float
    waiting: bool = False

    def audience(self) -> Audience:
        return FACILITATORS if self.waiting else EVERYONE


@dataclass(frozen=True, slots=True)
class Away(Event):
    TYPE = "away"
    member: MemberId


@dataclass(frozen=True, slots=True)
class Present(Event):
    TYPE = "present"
    member: MemberId
    was: str  # "away" | "reconnecting"
    waiting: bool = False

    def audience(self) -> Audience:
        return FACILITATORS.including(self.member) if self.waiting else EVERYONE


# --- the circle and its rounds ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderSet(Event):
    TYPE = "order_set"
    order: tuple[MemberId, ...]


@dataclass(frozen=True, slots=True)
class RoundStarted(Event):
    TYPE = "round_started"
    kind: str
    seconds: int
    overtime: int | None  # None: the piece never moves on by itself
    second_pass: bool


@dataclass(frozen=True, slots=True)
class TurnStarted(Event):
    """A turn begins: the talking piece reaches `speaker`.

    `back` marks the piece returned to the previous speaker; the one who held it gets their
    turn again later. A turn that starts while the circle is held starts paused. `next` is
    who gets the piece on `next` from this turn (None: the round would end).
    """

    TYPE = "turn"
    turn_id: TurnId
    speaker: MemberId
    deadline: float | None
    seconds: float
    pass_no: int
    back: bool = False
    pause_reason: str | None = None  # a turn starts paused only while the circle is held
    next: MemberId | None = None


@dataclass(frozen=True, slots=True)
class NextChanged(Event):
    """Who gets the piece on `next` changed without a turn starting (a reorder, someone
    leaving, stepping away or coming back); None: the round would end."""

    TYPE = "next_changed"
    next: MemberId | None


@dataclass(frozen=True, slots=True)
class Passed(Event):
    TYPE = "passed"
    member: MemberId
    turn_id: TurnId
    pass_no: int


@dataclass(frozen=True, slots=True)
class Skipped(Event):
    """The piece went past `member`: skipped by a facilitator, or stepped away (`auto`)."""

    TYPE = "skipped"
    member: MemberId
    turn_id: TurnId | None
    pass_no: int
    auto: bool = False


@dataclass(frozen=True, slots=True)
class Finished(Event):
    """The speaker finished early, or the person with the floor gave it back."""

    TYPE = "finished"
    member: MemberId
    turn_id: TurnId | None


@dataclass(frozen=True, slots=True)
class TimeUp(Event):
    TYPE = "time_up"
    turn_id: TurnId
    speaker: MemberId


@dataclass(frozen=True, slots=True)
class TimerChanged(Event):
    """The turn's timer was paused, unpaused or extended: its whole new reading."""

    TYPE = "timer"
    turn_id: TurnId
    deadline: float | None
    paused: bool
    remaining: float | None
    seconds: float
    time_up: bool
    pause_reason: str | None = None  # while paused: "facilitator" | "no_facilitator"


@dataclass(frozen=True, slots=True)
class RoundEnded(Event):
    TYPE = "round_ended"
    reason: str  # "complete" | "ended"


# --- open discussion -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandRaised(Event):
    TYPE = "hand_raised"
    member: MemberId


@dataclass(frozen=True, slots=True)
class HandLowered(Event):
    TYPE = "hand_lowered"
    member: MemberId
    by: MemberId


@dataclass(frozen=True, slots=True)
class CalledOn(Event):
    TYPE = "called_on"
    member: MemberId


@dataclass(frozen=True, slots=True)
class FloorCleared(Event):
    TYPE = "floor_cleared"
    member: MemberId


# --- words and signs -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatSent(Event):
    TYPE = "chat"
    from_: MemberId
    id: int
    text: str | None
    box: bytes | None
    at: float


@dataclass(frozen=True, slots=True)
class Reacted(Event):
    TYPE = "reaction"
    from_: MemberId
    emoji: str


@dataclass(frozen=True, slots=True)
class SupportAsked(Event):
    """A support note: kept in state (`notes`) for the facilitators until one marks it seen."""

    TYPE = "support"
    AUDIENCE = FACILITATORS
    from_: MemberId
    text: str
    at: float
    id: int = 0  # the note's id, for `support_seen`
    name: str = ""  # the sender's name as they wrote it


@dataclass(frozen=True, slots=True)
class SupportSeen(Event):
    TYPE = "support_seen"
    AUDIENCE = FACILITATORS
    note: int
    by: MemberId


@dataclass(frozen=True, slots=True)
class TopicSet(Event):
    TYPE = "topic_set"
    text: str | None


# --- the room --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Locked(Event):
    TYPE = "locked"


@dataclass(frozen=True, slots=True)
class Unlocked(Event):
    TYPE = "unlocked"


@dataclass(frozen=True, slots=True)
class Muted(Event):
    TYPE = "muted"
    member: MemberId


@dataclass(frozen=True, slots=True)
class Unmuted(Event):
    TYPE = "unmuted"
    member: MemberId


@dataclass(frozen=True, slots=True)
class RoleChanged(Event):
    TYPE = "role_changed"
    member: MemberId
    role: str
    reason: str  # "promoted" | "demoted" | "handover"


@dataclass(frozen=True, slots=True)
class SuccessorSet(Event):
    TYPE = "successor_set"
    member: MemberId | None

    def audience(self) -> Audience:
        return FACILITATORS if self.member is None else FACILITATORS.including(self.member)


@dataclass(frozen=True, slots=True)
class ReturningSet(Event):
    TYPE = "returning_set"
    AUDIENCE = FACILITATORS
    returning: str  # "welcome" | "knock"


@dataclass(frozen=True, slots=True)
class Held(Event):
    """No facilitator is left: the round is paused and the lobby waits until one returns."""

    TYPE = "held"


@dataclass(frozen=True, slots=True)
class Unheld(Event):
    TYPE = "unheld"


@dataclass(frozen=True, slots=True)
class MeetingEnded(Event):
    TYPE = "meeting_ended"
    AUDIENCE = EVERYONE_AND_LOBBY


AnyEvent = (
    JoinedLobby
    | LobbyMessage
    | LobbyPosition
    | Admitted
    | Denied
    | Left
    | Removed
    | Reconnecting
    | Away
    | Present
    | OrderSet
    | RoundStarted
    | TurnStarted
    | NextChanged
    | Passed
    | Skipped
    | Finished
    | TimeUp
    | TimerChanged
    | RoundEnded
    | HandRaised
    | HandLowered
    | CalledOn
    | FloorCleared
    | ChatSent
    | Reacted
    | SupportAsked
    | SupportSeen
    | TopicSet
    | Locked
    | Unlocked
    | Muted
    | Unmuted
    | RoleChanged
    | SuccessorSet
    | ReturningSet
    | Held
    | Unheld
    | MeetingEnded
)

EVENT_TYPES: dict[str, type[AnyEvent]] = {
    cls.TYPE: cls
    for cls in (
        JoinedLobby,
        LobbyMessage,
        LobbyPosition,
        Admitted,
        Denied,
        Left,
        Removed,
        Reconnecting,
        Away,
        Present,
        OrderSet,
        RoundStarted,
        TurnStarted,
        NextChanged,
        Passed,
        Skipped,
        Finished,
        TimeUp,
        TimerChanged,
        RoundEnded,
        HandRaised,
        HandLowered,
        CalledOn,
        FloorCleared,
        ChatSent,
        Reacted,
        SupportAsked,
        SupportSeen,
        TopicSet,
        Locked,
        Unlocked,
        Muted,
        Unmuted,
        RoleChanged,
        SuccessorSet,
        ReturningSet,
        Held,
        Unheld,
        MeetingEnded,
    )
}

# Fields kept in state and history but never shown to a client.
PRIVATE_FIELDS = frozenset({"key"})


def wire_name(field: str) -> str:
    return field[:-1] if field.endswith("_") else field


def _wire_fields(cls: type[AnyEvent]) -> tuple[tuple[str, str, bool], ...]:
    return tuple(
        (f.name, wire_name(f.name), f.name in PRIVATE_FIELDS) for f in dataclasses.fields(cls)
    )


# (python name, wire name, private) per event type, worked out once: fan-out runs this a lot.
WIRE_FIELDS: dict[type[AnyEvent], tuple[tuple[str, str, bool], ...]] = {
    cls: _wire_fields(cls) for cls in EVENT_TYPES.values()
}


def fields_of(event: AnyEvent, *, private: bool = False) -> dict[str, object]:
    """The event as a flat map with `type`; `private=True` keeps fields meant for storage."""
    out: dict[str, object] = {"type": event.TYPE}
    for name, wire, is_private in WIRE_FIELDS[type(event)]:
        if private or not is_private:
            out[wire] = getattr(event, name)
    return out


def from_fields(data: dict[str, object]) -> AnyEvent:
    """Rebuild an event stored with `fields_of(..., private=True)`; raises KeyError/TypeError."""
    cls = EVENT_TYPES[str(data["type"])]
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        name = wire_name(f.name)
        if name in data:
            value = data[name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)  # type: ignore[arg-type]
