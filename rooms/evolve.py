"""`evolve(state, event) -> state`: total, deterministic, and boring.

One case per event, no validation and no judgement: every decision was taken in `decide`,
and the event carries what the new state needs. Replaying a room's events from an empty
`RoomState()` rebuilds its current state (`replay`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import assert_never

from rooms import events as e
from rooms.ids import MemberId
from rooms.state import (
    MAX_SUPPORT_NOTES,
    PauseReason,
    Person,
    Returning,
    Role,
    RoomState,
    Round,
    RoundKind,
    SupportNote,
    Turn,
)


def replay(events: Iterable[e.AnyEvent], state: RoomState | None = None) -> RoomState:
    s = RoomState() if state is None else state
    for event in events:
        s = evolve(s, event)
    return s


def evolve(state: RoomState, event: e.AnyEvent) -> RoomState:
    s = state
    match event:
        case e.JoinedLobby():
            return replace(
                s,
                people=(*s.people, _person(s, event.member, event.name, Role.MEMBER, event.key)),
                arrivals=s.arrivals + 1,
            )
        case e.Admitted():
            s = _known(s, event)
            if s.person(event.member) is not None:
                return _update(s, event.member, waiting=False, role=Role(event.role))
            person = _person(s, event.member, event.name, Role(event.role), event.key, False)
            return replace(s, people=(*s.people, person), arrivals=s.arrivals + 1)
        case e.LobbyMessage() | e.LobbyPosition() | e.ChatSent() | e.Reacted():
            return s
        case e.Finished():
            return s
        case e.NextChanged():  # a reading of the state for clients, derived, not stored
            return s
        case e.SupportAsked():
            note = SupportNote(event.id, event.from_, event.name, event.text, event.at)
            notes = (*s.notes, note)[-MAX_SUPPORT_NOTES:]
            return replace(s, notes=notes, notes_made=max(s.notes_made, event.id))
        case e.SupportSeen():
            notes = tuple(replace(n, seen=True) if n.id == event.note else n for n in s.notes)
            return replace(s, notes=notes)
        case e.Passed():
            return _passed(s, event)
        case e.TimeUp():
            return _time_up(s, event)
        case e.Denied() | e.Left():
            return _without(s, event.member, block=False)
        case e.Removed():
            return _without(s, event.member, block=event.block, removed=True)
        case e.Reconnecting():
            return _update(s, event.member, reconnecting_since=event.since)
        case e.Away():
            return _update(s, event.member, away=True)
        case e.Present():
            if event.was == "away":
                return _update(s, event.member, away=False)
            return _update(s, event.member, reconnecting_since=None)
        case e.OrderSet():
            return replace(s, order=event.order)
        case e.RoundStarted():
            new_round = Round(
                kind=RoundKind(event.kind),
                seconds=event.seconds,
                overtime=event.overtime,
                second_pass=event.second_pass,
            )
            return replace(s, round=new_round, floor=None)
        case e.TurnStarted():
            return _turn(s, event)
        case e.Skipped():
            return _skipped(s, event)
        case e.TimerChanged():
            return _timer(s, event)
        case e.RoundEnded():
            return replace(s, round=None)
        case e.HandRaised():
            return replace(s, hands=(*s.hands, event.member))
        case e.HandLowered():
            return replace(s, hands=_drop(s.hands, event.member))
        case e.CalledOn():
            return replace(s, hands=_drop(s.hands, event.member), floor=event.member)
        case e.FloorCleared():
            return replace(s, floor=None)
        case e.TopicSet():
            return replace(s, topic=event.text)
        case e.Locked():
            return replace(s, locked=True)
        case e.Unlocked():
            return replace(s, locked=False)
        case e.Muted():
            return _update(s, event.member, muted=True)
        case e.Unmuted():
            return _update(s, event.member, muted=False)
        case e.RoleChanged():
            s = _update(s, event.member, role=Role(event.role))
            if event.role == Role.FACILITATOR and s.successor == event.member:
                s = replace(s, successor=None)
            return s
        case e.SuccessorSet():
            return replace(s, successor=event.member)
        case e.ReturningSet():
            return replace(s, returning=Returning(event.returning))
        case e.Held():
            return replace(s, held=True)
        case e.Unheld():
            return replace(s, held=False)
        case e.MeetingEnded():
            return replace(s, ended=True, round=None, hands=(), floor=None, notes=())
        case _:
            assert_never(event)


def _person(
    s: RoomState, member: MemberId, name: str, role: Role, key: str, waiting: bool = True
) -> Person:
    return Person(id=member, name=name, role=role, arrived=s.arrivals + 1, waiting=waiting, key=key)


def _update(s: RoomState, member: MemberId, **changes: object) -> RoomState:
    people = tuple(replace(p, **changes) if p.id == member else p for p in s.people)  # type: ignore[arg-type]
    return replace(s, people=people)


def _drop(ids: tuple[MemberId, ...], member: MemberId) -> tuple[MemberId, ...]:
    return tuple(m for m in ids if m != member)


def _add(ids: tuple[MemberId, ...], member: MemberId) -> tuple[MemberId, ...]:
    return ids if member in ids else (*ids, member)


def _known(s: RoomState, event: e.Admitted) -> RoomState:
    """Remember the browser of someone let in, so they may return (`returning`)."""
    person = s.person(event.member)
    key = person.key if person is not None else event.key
    return replace(s, known_keys=s.known_keys | {key}) if key else s


def _without(s: RoomState, member: MemberId, *, block: bool, removed: bool = False) -> RoomState:
    """The person is gone: from the people, the order, the hands, the floor and the piece.
    Someone removed must knock to come back (or, blocked, cannot)."""
    person = s.person(member)
    blocked, known = s.blocked_keys, s.known_keys
    if block and person is not None and person.key:
        blocked = blocked | {person.key}
    if removed and person is not None:
        known = known - {person.key}
    rnd = s.round
    if rnd is not None and rnd.turn is not None and rnd.turn.speaker == member:
        rnd = replace(rnd, turn=None)
    return replace(
        s,
        people=tuple(p for p in s.people if p.id != member),
        order=_drop(s.order, member),
        hands=_drop(s.hands, member),
        floor=None if s.floor == member else s.floor,
        successor=None if s.successor == member else s.successor,
        round=rnd,
        blocked_keys=blocked,
        known_keys=known,
    )


def _turn(s: RoomState, event: e.TurnStarted) -> RoomState:
    rnd = s.round
    if rnd is None:  # a turn outside a round is never decided; keep evolve total anyway
        return s
    paused = event.deadline is None
    turn = Turn(
        id=event.turn_id,
        speaker=event.speaker,
        seconds=event.seconds,
        deadline=event.deadline,
        remaining=event.seconds if paused else None,
        pause_reason=_reason(event.pause_reason) if paused else None,
    )
    if event.back and rnd.history:
        old, old_pass = rnd.history[-1]
        history = rnd.history[:-1]
        spoken, second = rnd.spoken, rnd.second_spoken
        if old_pass == 1:
            spoken = _drop(spoken, old)
        else:
            second = _drop(second, old)
        passed = _drop(rnd.passed, event.speaker) if event.pass_no == 1 else rnd.passed
        rnd = replace(rnd, history=history, spoken=spoken, second_spoken=second, passed=passed)
    else:
        rnd = replace(
            rnd,
            history=(*rnd.history, (event.speaker, event.pass_no)),
            spoken=_add(rnd.spoken, event.speaker) if event.pass_no == 1 else rnd.spoken,
            second_spoken=(
                _add(rnd.second_spoken, event.speaker) if event.pass_no == 2 else rnd.second_spoken
            ),
        )
    return replace(s, round=replace(rnd, pass_no=event.pass_no, turn=turn), turns=s.turns + 1)


def _passed(s: RoomState, event: e.Passed) -> RoomState:
    rnd = s.round
    if rnd is None or event.pass_no != 1:
        return s
    return replace(s, round=replace(rnd, passed=_add(rnd.passed, event.member)))


def _skipped(s: RoomState, event: e.Skipped) -> RoomState:
    rnd = s.round
    if rnd is None:
        return s
    if event.pass_no == 1:
        rnd = replace(
            rnd, spoken=_add(rnd.spoken, event.member), passed=_add(rnd.passed, event.member)
        )
    else:
        rnd = replace(rnd, second_spoken=_add(rnd.second_spoken, event.member))
    return replace(s, round=rnd)


def _timer(s: RoomState, event: e.TimerChanged) -> RoomState:
    rnd = s.round
    if rnd is None or rnd.turn is None or rnd.turn.id != event.turn_id:
        return s
    turn = replace(
        rnd.turn,
        deadline=event.deadline,
        remaining=event.remaining,
        seconds=event.seconds,
        time_up=event.time_up,
        pause_reason=_reason(event.pause_reason) if event.paused else None,
    )
    return replace(s, round=replace(rnd, turn=turn))


def _reason(reason: str | None) -> PauseReason:
    # An event from before reasons were recorded was a facilitator's pause.
    return PauseReason.FACILITATOR if reason is None else PauseReason(reason)


def _time_up(s: RoomState, event: e.TimeUp) -> RoomState:
    rnd = s.round
    if rnd is None or rnd.turn is None or rnd.turn.id != event.turn_id:
        return s
    return replace(s, round=replace(rnd, turn=replace(rnd.turn, time_up=True)))
