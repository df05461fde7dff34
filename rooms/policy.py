"""Who may do what: one table, consulted before any rule of the circle.

The table answers only "may someone in this place ask for this at all". Rules that depend on
the moment (only the speaker may pass, only your own hand unless you facilitate) live with
the command's handler in `rooms.decide`, and refuse with the same error types.
"""

from __future__ import annotations

from enum import Enum

from rooms import commands as c
from rooms.errors import NotAllowed
from rooms.ids import MemberId
from rooms.state import Role, RoomState


class Place(Enum):
    NODE = "node"  # the server itself: arrivals, lost connections, timers
    WAITING = "waiting"
    MEMBER = "member"
    FACILITATOR = "facilitator"


NODE = frozenset({Place.NODE})
FACILITATOR = frozenset({Place.FACILITATOR})
ADMITTED = frozenset({Place.MEMBER, Place.FACILITATOR})
ANYONE_PRESENT = frozenset({Place.WAITING, Place.MEMBER, Place.FACILITATOR})

WHO_MAY: dict[type[c.AnyCommand], frozenset[Place]] = {
    c.Admit: FACILITATOR,
    c.AdmitAll: FACILITATOR,
    c.Deny: FACILITATOR,
    c.MessageLobby: FACILITATOR,
    c.Remove: FACILITATOR,
    c.Mute: FACILITATOR,
    c.Unmute: ADMITTED,
    c.Promote: FACILITATOR,
    c.Demote: FACILITATOR,
    c.HandOver: FACILITATOR,
    c.SetSuccessor: FACILITATOR,
    c.SetReturning: FACILITATOR,
    c.StepAway: ADMITTED,
    c.ComeBack: ADMITTED,
    c.Leave: ANYONE_PRESENT,
    c.Lock: FACILITATOR,
    c.Unlock: FACILITATOR,
    c.SetTopic: FACILITATOR,
    c.EndMeeting: FACILITATOR,
    c.SetOrder: FACILITATOR,
    c.StartRound: FACILITATOR,
    c.Next: FACILITATOR,
    c.Back: FACILITATOR,
    c.Skip: FACILITATOR,
    c.PassTurn: ADMITTED,
    c.Done: ADMITTED,
    c.Extend: FACILITATOR,
    c.Pause: FACILITATOR,
    c.Unpause: FACILITATOR,
    c.EndRound: FACILITATOR,
    c.RaiseHand: ADMITTED,
    c.LowerHand: ADMITTED,
    c.CallOn: FACILITATOR,
    # Someone in distress while still waiting may reach the facilitators too.
    c.AskSupport: ANYONE_PRESENT,
    c.MarkSupportSeen: FACILITATOR,
    c.SendChat: ADMITTED,
    c.React: ADMITTED,
    c.Arrive: NODE,
    c.Disconnect: NODE,
    c.Reconnect: NODE,
    c.GraceExpired: NODE,
    c.TurnTimeUp: NODE,
}

# What someone in each place is told when the table does not list them; a command only the
# node may send gets ONLY_THE_NODE instead, whoever tried it.
ONLY_THE_NODE = "Only the server can do that."
_REFUSALS = {
    Place.NODE: "Only a person in the room can do that.",
    Place.WAITING: "You can do that once a facilitator has let you in.",
    Place.MEMBER: "Only a facilitator can do that.",
    Place.FACILITATOR: "Facilitators can't do that.",
}


def place_of(state: RoomState, actor: MemberId | None) -> Place:
    """Where the actor stands; raises NotAllowed for someone who is not in the room."""
    if actor is None:
        return Place.NODE
    p = state.person(actor)
    if p is None:
        raise NotAllowed("You are not in this room.")
    if p.waiting:
        return Place.WAITING
    return Place.FACILITATOR if p.role is Role.FACILITATOR else Place.MEMBER


def check(state: RoomState, command: c.AnyCommand, actor: MemberId | None) -> Place:
    """Raise NotAllowed unless the table lets `actor` send `command`; return their place."""
    place = place_of(state, actor)
    allowed = WHO_MAY[type(command)]
    if place not in allowed:
        if Place.NODE in allowed:
            raise NotAllowed(ONLY_THE_NODE)
        raise NotAllowed(_REFUSALS[place])
    return place
