"""People in the circle: leaving, removal, lost connections, away, mute, and the roles.

Rules:
- Whoever goes (leaves, is removed, or stays disconnected past the grace period) is gone
  from everywhere at once; if they held the piece, it moves on; if they waited in line, the
  others move up.
- `remove` always ends the seat (and with it the resume token); with `block`, the browser's
  key is refused for the rest of the meeting.
- A lost connection is a fact, not a departure: the seat is kept, shown as reconnecting, until
  `GraceExpired` for that same disconnection says otherwise. Stale expiries change nothing.
- Nobody is locked out of their own room: when the last facilitator is gone, the chosen
  successor takes the role; with none, the circle is held (the round paused, the lobby
  waiting) until a facilitator token comes back.
"""

from __future__ import annotations

from rooms import commands as c
from rooms import events as e
from rooms.decide.circle import advance
from rooms.decide.draft import Draft
from rooms.decide.lobby import reposition
from rooms.decide.timer import pause_for
from rooms.errors import Invalid, NotAllowed
from rooms.ids import MemberId
from rooms.state import PauseReason, Person, Role


def leave(d: Draft, actor: MemberId) -> None:
    person = _present(d, actor)
    depart(d, e.Left(actor, "left", person.waiting))


def remove(d: Draft, cmd: c.Remove, actor: MemberId) -> None:
    if cmd.member == actor:
        raise Invalid("To leave the circle yourself, use Leave.")
    person = _present(d, cmd.member)
    depart(d, e.Removed(cmd.member, cmd.block, person.waiting))


def grace_expired(d: Draft, cmd: c.GraceExpired) -> None:
    person = d.state.person(cmd.member)
    if person is None or person.reconnecting_since != cmd.since:
        return
    depart(d, e.Left(cmd.member, "timeout", person.waiting))


def depart(d: Draft, event: e.Left | e.Removed) -> None:
    before = d.state
    person = before.person(event.member)
    assert person is not None
    d.emit(event)
    if person.waiting:
        reposition(d, before)
        return
    if before.speaker == event.member:
        advance(d)
    if person.role is Role.FACILITATOR:
        ensure_facilitator(d)


def ensure_facilitator(d: Draft) -> None:
    s = d.state
    if s.facilitators() or not s.admitted():
        return
    if s.successor is not None and s.is_admitted(s.successor):
        d.emit(e.RoleChanged(s.successor, Role.FACILITATOR.value, "handover"))
        return
    if s.held:
        return
    pause_for(d, PauseReason.NO_FACILITATOR)
    d.emit(e.Held())


def disconnect(d: Draft, cmd: c.Disconnect) -> None:
    person = d.state.person(cmd.member)
    if person is None or person.reconnecting:
        return
    d.emit(e.Reconnecting(cmd.member, d.now, person.waiting))


def reconnect(d: Draft, cmd: c.Reconnect) -> None:
    person = d.state.person(cmd.member)
    if person is None:
        raise NotAllowed("This seat has ended.")
    if person.reconnecting:
        d.emit(e.Present(cmd.member, "reconnecting", person.waiting))


def step_away(d: Draft, actor: MemberId) -> None:
    person = _present(d, actor)
    if person.away:
        raise Invalid("You're already marked as away.")
    d.emit(e.Away(actor))
    r = d.state.round
    if r is not None and r.turn is not None and r.turn.speaker == actor:
        d.emit(e.Skipped(actor, r.turn.id, r.pass_no, auto=True))
        advance(d)


def come_back(d: Draft, actor: MemberId) -> None:
    if not _present(d, actor).away:
        raise Invalid("You're not marked as away.")
    d.emit(e.Present(actor, "away"))


def mute(d: Draft, cmd: c.Mute) -> None:
    if _admitted(d, cmd.member).muted:
        raise Invalid("That person is already muted.")
    d.emit(e.Muted(cmd.member))


def unmute(d: Draft, actor: MemberId) -> None:
    if not _present(d, actor).muted:
        raise Invalid("You're not muted.")
    d.emit(e.Unmuted(actor))


def promote(d: Draft, cmd: c.Promote) -> None:
    if _admitted(d, cmd.member).role is Role.FACILITATOR:
        raise Invalid("That person is already a facilitator.")
    d.emit(e.RoleChanged(cmd.member, Role.FACILITATOR.value, "promoted"))


def demote(d: Draft, cmd: c.Demote) -> None:
    if _admitted(d, cmd.member).role is not Role.FACILITATOR:
        raise Invalid("That person isn't a facilitator.")
    if len(d.state.facilitators()) < 2:
        raise Invalid("The circle needs a facilitator. Hand the role on instead.")
    d.emit(e.RoleChanged(cmd.member, Role.MEMBER.value, "demoted"))


def hand_over(d: Draft, cmd: c.HandOver, actor: MemberId) -> None:
    if cmd.member == actor:
        raise Invalid("You already hold the facilitator role.")
    if _admitted(d, cmd.member).role is Role.FACILITATOR:
        raise Invalid("That person is already a facilitator.")
    d.emit(e.RoleChanged(cmd.member, Role.FACILITATOR.value, "handover"))
    d.emit(e.RoleChanged(actor, Role.MEMBER.value, "handover"))


def set_successor(d: Draft, cmd: c.SetSuccessor) -> None:
    if cmd.member is not None and _admitted(d, cmd.member).role is Role.FACILITATOR:
        raise Invalid("That person is already a facilitator.")
    d.emit(e.SuccessorSet(cmd.member))


def _present(d: Draft, member: MemberId) -> Person:
    person = d.state.person(member)
    if person is None:
        raise Invalid("That person isn't here.")
    return person


def _admitted(d: Draft, member: MemberId) -> Person:
    person = d.state.person(member)
    if person is None or person.waiting:
        raise Invalid("That person isn't in the circle.")
    return person
