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
- Who is next is worked out here once (`plan`), for moving the piece and for telling people
  "you're next" alike; clients never derive it.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from rooms import commands as c
from rooms import events as e
from rooms.decide.draft import Draft
from rooms.errors import Invalid, NotAllowed
from rooms.evolve import evolve
from rooms.ids import MemberId, TurnId
from rooms.state import OrderPreset, PauseReason, Role, RoomState, Round, Turn

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
    if cmd.overtime is not None and not 0 <= cmd.overtime <= MAX_OVERTIME_SECONDS:
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


def plan(s: RoomState) -> tuple[list[tuple[MemberId, int]], tuple[MemberId, int] | None]:
    """What `next` does from here: whom the piece passes over for being away (with the
    pass), and who gets it in which pass; None when the round would end.

    The one rule behind both `advance` and `upcoming`, so who is told "you're next" is who
    gets the piece: the first in the order who has not had it this round, then (with a second
    pass) those who passed, in order. Someone away is passed over, and counts as passed, so
    may be passed over again in the second pass.
    """
    r = s.round
    if r is None:
        return [], None
    away = {p.id for p in s.people if p.away}
    over: list[tuple[MemberId, int]] = []
    passed = set(r.passed)
    for m in s.order:
        if m in r.spoken:
            continue
        if m not in away:
            return over, (m, 1)
        over.append((m, 1))
        passed.add(m)
    if r.second_pass:
        for m in s.order:
            if m not in passed or m in r.second_spoken:
                continue
            if m not in away:
                return over, (m, 2)
            over.append((m, 2))
    return over, None


def upcoming(s: RoomState) -> MemberId | None:
    """Who gets the piece on `next` (the snapshot's and the `turn` event's `next`)."""
    _, to = plan(s)
    return None if to is None else to[0]


def advance(d: Draft) -> None:
    """Move the piece to the next speaker, skipping anyone away; end the round when done."""
    over, to = plan(d.state)
    for member, pass_no in over:
        d.emit(e.Skipped(member, None, pass_no, auto=True))
    if to is None:
        d.emit(e.RoundEnded("complete"))
        return
    start_turn(d, *to)


def announce_next(d: Draft, before: RoomState) -> None:
    """After a decision, tell the circle who is next if that changed and no `turn` said so.

    Clients know `upcoming(before)` (from a snapshot, a `turn` or a `next_changed`); a reorder,
    a departure, someone stepping away or back can change it without a turn starting.
    """
    if d.state.round is None or all(type(ev) in _QUIET for ev in d.events):
        return
    told = upcoming(before)
    for ev in d.events:
        if isinstance(ev, e.TurnStarted | e.NextChanged):
            told = ev.next
    now = upcoming(d.state)
    if now != told:
        d.emit(e.NextChanged(now))


# Frequent events that never change who is next: no need to work it out after them.
_QUIET: frozenset[type[e.AnyEvent]] = frozenset(
    {e.ChatSent, e.Reacted, e.TimeUp, e.TimerChanged, e.HandRaised, e.HandLowered}
)


def start_turn(d: Draft, member: MemberId, pass_no: int, *, back: bool = False) -> None:
    s = d.state
    assert s.round is not None
    seconds = float(s.round.seconds)
    deadline = None if s.held else d.now + seconds
    reason = PauseReason.NO_FACILITATOR.value if s.held else None
    started = e.TurnStarted(
        TurnId(str(s.turns + 1)), member, deadline, seconds, pass_no, back, pause_reason=reason
    )
    # Who is next is read from the state this turn leads to.
    d.emit(replace(started, next=upcoming(evolve(s, started))))


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
