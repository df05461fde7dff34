"""The lobby: arrivals in order, admit one or all, deny, and each waiting person's place.

A facilitator token enters at once, locked room or not, and lifts a hold. Everyone else waits
in the lobby until a facilitator lets them in; a locked room refuses new arrivals (resuming
members are not arrivals), and a browser blocked by `remove` with `block` cannot come back
during this meeting. People waiting never see who is in the circle; each is told their place
in line whenever it changes.

Someone let in earlier in this meeting whose seat has ended (dropped past the grace period,
or left) and who comes back through the link from the same browser (`key`) goes straight
back into the circle while the room's `returning` is `welcome` (the default; a facilitator
may set `knock`) and a facilitator is there, locked room or not: they are not new. They
pass through the lobby in the same step (`joined_lobby`, then `admitted`), so their history
starts like anyone's. Removal forgets the browser (it knocks again); with `block`, refuses it.
"""

from __future__ import annotations

from rooms import commands as c
from rooms import events as e
from rooms.decide.draft import Draft
from rooms.decide.timer import pause_for
from rooms.errors import Invalid, NotAllowed, RoomLocked
from rooms.ids import MemberId
from rooms.state import PauseReason, Person, Returning, Role, RoomState


def arrive(d: Draft, cmd: c.Arrive) -> None:
    s = d.state
    if s.person(cmd.member) is not None:
        raise Invalid("That member id is already in use.")
    name = cmd.name.strip()
    if not name:
        raise Invalid("Please type the name you'd like to use here.")
    if cmd.role is Role.FACILITATOR:
        d.emit(e.Admitted(cmd.member, name, Role.FACILITATOR.value, cmd.key))
        # Outside a round a facilitator is not placed in the order; during one they join
        # the circle like any newcomer.
        if s.round is not None:
            d.emit(e.OrderSet((*d.state.order, cmd.member)))
        if d.state.held:
            d.emit(e.Unheld())
            # The turn paused for want of a facilitator is now theirs to unpause: say so.
            pause_for(d, PauseReason.FACILITATOR)
        return
    if cmd.key and cmd.key in s.blocked_keys:
        raise NotAllowed("You can't rejoin this meeting.")
    welcome = returns(s, cmd.key)
    if s.locked and not welcome:
        raise RoomLocked("This room is locked right now. Please ask the facilitator.")
    d.emit(e.JoinedLobby(cmd.member, name, len(s.lobby()) + 1, cmd.key))
    if welcome:
        d.emit(e.Admitted(cmd.member, name, Role.MEMBER.value))
        d.emit(e.OrderSet((*d.state.order, cmd.member)))


def returns(s: RoomState, key: str) -> bool:
    """Whether this browser, let in earlier this meeting, comes straight back into the circle:
    while the room welcomes returners and a facilitator is there (with none, the lobby waits
    for one, as it does for everyone)."""
    return (
        bool(key)
        and key in s.known_keys
        and s.returning is Returning.WELCOME
        and bool(s.facilitators())
    )


def set_returning(d: Draft, cmd: c.SetReturning) -> None:
    if d.state.returning is cmd.returning:
        raise Invalid("That is already the setting.")
    d.emit(e.ReturningSet(cmd.returning.value))


def admit(d: Draft, cmd: c.Admit) -> None:
    before = d.state
    person = _waiting(before, cmd.member)
    d.emit(e.Admitted(person.id, person.name, Role.MEMBER.value))
    d.emit(e.OrderSet((*d.state.order, person.id)))
    reposition(d, before)


def admit_all(d: Draft) -> None:
    waiting = d.state.lobby()
    if not waiting:
        raise Invalid("Nobody is waiting.")
    for person in waiting:
        d.emit(e.Admitted(person.id, person.name, Role.MEMBER.value))
    d.emit(e.OrderSet((*d.state.order, *(p.id for p in waiting))))


def deny(d: Draft, cmd: c.Deny) -> None:
    before = d.state
    _waiting(before, cmd.member)
    d.emit(e.Denied(cmd.member))
    reposition(d, before)


def reposition(d: Draft, before: RoomState) -> None:
    """Tell each person still waiting their new place, if it moved."""
    old = {p.id: i for i, p in enumerate(before.lobby(), start=1)}
    for i, p in enumerate(d.state.lobby(), start=1):
        if old.get(p.id, i) != i:
            d.emit(e.LobbyPosition(p.id, i))


def _waiting(s: RoomState, member: MemberId) -> Person:
    person = s.person(member)
    if person is None or not person.waiting:
        raise Invalid("That person isn't waiting in the lobby.")
    return person
