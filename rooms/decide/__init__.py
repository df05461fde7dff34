"""`decide(state, command, actor, now) -> events`: every judgement of the room, and only here.

The steps are always the same: a finished meeting refuses everything (the node's own
commands become no-ops); the policy table says whether this actor may ask at all; then the
command's handler applies the circle's rules, emitting events into a draft. A refusal raises
`NotAllowed` or `Invalid` and, since states are immutable, changes nothing. This function is
only the dispatcher: the rules live in the modules beside it, split by concern.
"""

from __future__ import annotations

from typing import assert_never

from rooms import commands as c
from rooms.decide import circle, hands, lobby, people, timer, words
from rooms.decide.draft import Draft
from rooms.errors import Invalid, NotAllowed
from rooms.events import AnyEvent
from rooms.ids import MemberId
from rooms.policy import Place, check
from rooms.state import RoomState


def decide(
    state: RoomState, command: c.AnyCommand, actor: MemberId | None, now: float
) -> list[AnyEvent]:
    """The events `command` by `actor` (None: the node itself) causes at time `now`.

    Raises `NotAllowed` or `Invalid` (with a message for the person) to refuse. An empty list
    means the command was valid but changes nothing (a stale timer, a repeated disconnect).
    """
    if state.ended:
        if actor is None:
            return []
        raise Invalid("This meeting has ended.")
    place = check(state, command, actor)
    d = Draft(state, now)
    if place is Place.NODE:
        _node(d, command)
    else:
        assert actor is not None  # the policy gives a place other than NODE only to people
        _person(d, command, actor, place)
    circle.announce_next(d, state)
    return d.events


def _node(d: Draft, cmd: c.AnyCommand) -> None:
    match cmd:
        case c.Arrive():
            lobby.arrive(d, cmd)
        case c.Disconnect():
            people.disconnect(d, cmd)
        case c.Reconnect():
            people.reconnect(d, cmd)
        case c.GraceExpired():
            people.grace_expired(d, cmd)
        case c.TurnTimeUp():
            timer.time_up(d, cmd)
        case _:
            raise NotAllowed("Only a person in the room can do that.")


def _person(d: Draft, cmd: c.AnyCommand, me: MemberId, place: Place) -> None:
    # `match` tries its cases in order, so the commands sent most (chat, reactions) go first.
    match cmd:
        case c.SendChat():
            words.chat(d, cmd, me)
        case c.React():
            words.react(d, cmd, me)
        case c.Admit():
            lobby.admit(d, cmd)
        case c.AdmitAll():
            lobby.admit_all(d)
        case c.Deny():
            lobby.deny(d, cmd)
        case c.MessageLobby():
            words.message_lobby(d, cmd)
        case c.Remove():
            people.remove(d, cmd, me)
        case c.Mute():
            people.mute(d, cmd)
        case c.Unmute():
            people.unmute(d, me)
        case c.Promote():
            people.promote(d, cmd)
        case c.Demote():
            people.demote(d, cmd)
        case c.HandOver():
            people.hand_over(d, cmd, me)
        case c.SetSuccessor():
            people.set_successor(d, cmd)
        case c.SetReturning():
            lobby.set_returning(d, cmd)
        case c.StepAway():
            people.step_away(d, me)
        case c.ComeBack():
            people.come_back(d, me)
        case c.Leave():
            people.leave(d, me)
        case c.Lock():
            words.lock(d)
        case c.Unlock():
            words.unlock(d)
        case c.SetTopic():
            words.set_topic(d, cmd)
        case c.EndMeeting():
            words.end_meeting(d)
        case c.SetOrder():
            circle.set_order(d, cmd)
        case c.StartRound():
            circle.start_round(d, cmd)
        case c.Next():
            circle.next_(d)
        case c.Back():
            circle.back(d)
        case c.Skip():
            circle.skip(d)
        case c.PassTurn():
            circle.pass_turn(d, me)
        case c.Done():
            circle.done(d, me)
        case c.Extend():
            timer.extend(d, cmd)
        case c.Pause():
            timer.pause(d)
        case c.Unpause():
            timer.unpause(d)
        case c.EndRound():
            circle.end_round(d)
        case c.RaiseHand():
            hands.raise_hand(d, me)
        case c.LowerHand():
            hands.lower_hand(d, cmd, me, place)
        case c.CallOn():
            hands.call_on(d, cmd)
        case c.AskSupport():
            words.support(d, cmd, me)
        case c.MarkSupportSeen():
            words.support_seen(d, cmd, me)
        case c.Arrive() | c.Disconnect() | c.Reconnect() | c.GraceExpired() | c.TurnTimeUp():
            raise NotAllowed("Only the server can do that.")
        case _:
            assert_never(cmd)
