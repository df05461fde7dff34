"""The sharing circle: its order, rounds, and the talking piece.

The rules, as circles run them:
- A round walks `order`: the piece goes to the first person in the order who has not had it
  in this round, so a newcomer admitted mid-round (appended to the order) still gets a turn,
  and a facilitator's reorder mid-round takes effect for everyone still to come.
- Passing (or being skipped) in the first pass puts you on the second-pass list; with
  `second_pass` on, after the last first-pass speaker those people get another turn, in
  circle order. Passing in the second pass is final.
- Someone who stepped away is skipped when the piece reaches them, and counts as passed.
- `back` returns the piece to the previous speaker; the one who held it gets it again next.
- A turn has an absolute deadline. While the circle is held (no facilitator), new turns
  start paused.
"""

from __future__ import annotations

import hashlib

from rooms import commands as c
from rooms import events as e
from rooms.decide.draft import Draft
from rooms.errors import Invalid, NotAllowed
from rooms.ids import MemberId, TurnId
from rooms.state import OrderPreset, Role, RoomState, Round, Turn

MAX_SHARE_SECONDS = 2 * 60 * 60
MAX_OVERTIME_SECONDS = 60 * 60


def set_order(d: Draft, cmd: c.SetOrder) -> None:
    members = tuple(cmd.members)
    if len(set(members)) != len(members):
        raise Invalid("Each person can appear only once in the circle.")
    for m in members:
        if not d.state.is_admitted(m):
            raise Invalid("Only people in the circle can be placed in the order.")
    d.emit(e.OrderSet(members))


def start_round(d: Draft, cmd: c.StartRound) -> None:
    s = d.state
    if s.round is not None:
        raise Invalid("A round is already running. End it before starting another.")
    if not 1 <= cmd.seconds <= MAX_SHARE_SECONDS:
        raise Invalid("The time per share must be between 1 second and 2 hours.")
    if not 0 <= cmd.overtime <= MAX_OVERTIME_SECONDS:
        raise Invalid("Overtime must be between 0 seconds and 1 hour.")
    order = preset_order(s, OrderPreset(cmd.order), cmd.seed)
    if not order:
        raise Invalid("Nobody is in the circle's order yet.")
    if order != s.order:
        d.emit(e.OrderSet(order))
    d.emit(e.RoundStarted(str(cmd.kind), cmd.seconds, cmd.overtime, cmd.second_pass))
    advance(d)


def preset_order(s: RoomState, preset: OrderPreset, seed: int) -> tuple[MemberId, ...]:
    """The order a round starts with; presets rearrange the people already in the order."""
    if preset is OrderPreset.MANUAL:
        return s.order
    arrived = {p.id: p.arrived for p in s.people}
    if preset is OrderPreset.ARRIVAL:
        return tuple(sorted(s.order, key=lambda m: arrived[m]))
    if preset is OrderPreset.SHUFFLE:
        return tuple(sorted(s.order, key=lambda m: _shuffle_key(seed, m)))
    # Facilitator last: everyone else keeps their place, then the facilitators share,
    # including facilitators who were not yet in the order.
    facilitators = [p.id for p in s.facilitators()]
    rest = [m for m in s.order if m not in facilitators]
    in_order = [m for m in s.order if m in facilitators]
    outside = [m for m in facilitators if m not in s.order]
    return (*rest, *in_order, *outside)


def _shuffle_key(seed: int, member: MemberId) -> bytes:
    return hashlib.sha256(f"{seed}:{member}".encode()).digest()


def next_speaker(s: RoomState) -> tuple[MemberId, int] | None:
    """Who gets the piece next, and in which pass; None when the round is complete."""
    r = s.round
    if r is None:
        return None
    for m in s.order:
        if m not in r.spoken:
            return m, 1
    if r.second_pass:
        for m in s.order:
            if m in r.passed and m not in r.second_spoken:
                return m, 2
    return None


def advance(d: Draft) -> None:
    """Move the piece to the next speaker, skipping anyone away; end the round when done."""
    # Each skip marks someone as having had the piece in a pass, so two passes over the
    # people bound the loop.
    for _ in range(2 * len(d.state.people) + 2):
        nxt = next_speaker(d.state)
        if nxt is None:
            break
        member, pass_no = nxt
        person = d.state.person(member)
        if person is not None and person.away:
            d.emit(e.Skipped(member, None, pass_no, auto=True))
            continue
        start_turn(d, member, pass_no)
        return
    d.emit(e.RoundEnded("complete"))


def start_turn(d: Draft, member: MemberId, pass_no: int, *, back: bool = False) -> None:
    s = d.state
    assert s.round is not None
    seconds = float(s.round.seconds)
    deadline = None if s.held else d.now + seconds
    d.emit(e.TurnStarted(TurnId(str(s.turns + 1)), member, deadline, seconds, pass_no, back))


def running(s: RoomState) -> tuple[Round, Turn]:
    if s.round is None or s.round.turn is None:
        raise Invalid("There's no round running.")
    return s.round, s.round.turn


def next_(d: Draft) -> None:
    s = d.state
    if s.round is not None:
        advance(d)
        return
    # Open discussion: "next" calls on the first raised hand.
    if not s.hands:
        raise Invalid("There's no round running and no hand raised.")
    d.emit(e.CalledOn(s.hands[0]))


def back(d: Draft) -> None:
    r, _ = running(d.state)
    if len(r.history) < 2:
        raise Invalid("Nobody has spoken before this turn.")
    previous, pass_no = r.history[-2]
    if not d.state.is_admitted(previous):
        raise Invalid("The previous speaker has left the circle.")
    start_turn(d, previous, pass_no, back=True)


def skip(d: Draft) -> None:
    r, turn = running(d.state)
    d.emit(e.Skipped(turn.speaker, turn.id, r.pass_no))
    advance(d)


def pass_turn(d: Draft, actor: MemberId) -> None:
    r, turn = running(d.state)
    if turn.speaker != actor:
        raise NotAllowed("Only the person holding the talking piece can pass.")
    d.emit(e.Passed(actor, turn.id, r.pass_no))
    advance(d)


def done(d: Draft, actor: MemberId) -> None:
    s = d.state
    if s.round is not None:
        _, turn = running(s)
        if turn.speaker != actor:
            raise NotAllowed("Only the person holding the talking piece can finish.")
        d.emit(e.Finished(actor, turn.id))
        advance(d)
        return
    person = s.person(actor)
    may_close = person is not None and person.role is Role.FACILITATOR
    if s.floor is None or (s.floor != actor and not may_close):
        raise Invalid("You don't have the floor.")
    d.emit(e.FloorCleared(s.floor))


def end_round(d: Draft) -> None:
    if d.state.round is None:
        raise Invalid("There's no round running.")
    d.emit(e.RoundEnded("ended"))
