"""Open discussion: the hand queue and the floor.

Hands queue in the order they were raised. During a round they wait: raising is allowed, but
nobody is called on, so the queue never takes the piece away from the speaker; the queue is
kept for the open discussion after it. You may withdraw your own hand; a facilitator may
lower anyone's.
"""

from __future__ import annotations

from rooms import commands as c
from rooms import events as e
from rooms.decide.draft import Draft
from rooms.errors import Invalid, NotAllowed
from rooms.ids import MemberId
from rooms.policy import Place


def raise_hand(d: Draft, actor: MemberId) -> None:
    if actor in d.state.hands:
        raise Invalid("Your hand is already raised.")
    d.emit(e.HandRaised(actor))


def lower_hand(d: Draft, cmd: c.LowerHand, actor: MemberId, place: Place) -> None:
    target = actor if cmd.member is None else cmd.member
    if target != actor and place is not Place.FACILITATOR:
        raise NotAllowed("You can only lower your own hand.")
    if target not in d.state.hands:
        raise Invalid("That hand isn't raised.")
    d.emit(e.HandLowered(target, actor))


def call_on(d: Draft, cmd: c.CallOn) -> None:
    if d.state.round is not None:
        raise Invalid("A round is running. Hands wait until it ends.")
    if not d.state.is_admitted(cmd.member):
        raise Invalid("That person isn't in the circle.")
    d.emit(e.CalledOn(cmd.member))
