"""The turn's timer: pause, unpause, extend, and what happens when it runs out.

Deadlines are absolute times on the node's clock; clients draw the countdown. At the deadline
a `time_up` event gives the circle a gentle cue and the piece stays: nobody is cut off
mid-sentence by a machine. Only a round started with `overtime` moves the piece on by itself,
that long after the deadline. `TurnTimeUp(turn_id)` is idempotent: it acts only on the
current, running turn, and only once `now` has reached the moment it is for, so a stale,
early or repeated firing (any node may fire it) changes nothing.
"""

from __future__ import annotations

from rooms import commands as c
from rooms import events as e
from rooms.decide.circle import advance, running
from rooms.decide.draft import Draft
from rooms.errors import Invalid
from rooms.ids import TurnId
from rooms.state import PauseReason, RoomState

MAX_EXTEND_SECONDS = 60 * 60


def pause(d: Draft) -> None:
    _, turn = running(d.state)
    if turn.deadline is None:
        raise Invalid("The timer is already paused.")
    d.emit(pause_event(d.state, d.now))


def pause_event(
    s: RoomState, now: float, reason: PauseReason = PauseReason.FACILITATOR
) -> e.TimerChanged:
    """The reading of the current turn's timer paused at `now` (the turn must be running)."""
    _, turn = running(s)
    assert turn.deadline is not None
    remaining = turn.deadline - now
    return e.TimerChanged(
        turn.id, None, True, remaining, turn.seconds, turn.time_up, pause_reason=reason.value
    )


def pause_for(d: Draft, reason: PauseReason) -> None:
    """Hold the current turn's timer for `reason` (the circle held, or a facilitator back to
    hold it): a running turn pauses now; a paused one keeps its reading under the new reason,
    so every client is told why the timer stands still. Nothing without a turn."""
    r = d.state.round
    turn = r.turn if r is not None else None
    if turn is None or turn.pause_reason is reason:
        return
    if turn.deadline is not None:
        if reason is PauseReason.NO_FACILITATOR:
            d.emit(pause_event(d.state, d.now, reason))
        return
    d.emit(
        e.TimerChanged(
            turn.id, None, True, turn.remaining, turn.seconds, turn.time_up, reason.value
        )
    )


def unpause(d: Draft) -> None:
    _, turn = running(d.state)
    if turn.remaining is None:
        raise Invalid("The timer isn't paused.")
    deadline = d.now + turn.remaining
    d.emit(e.TimerChanged(turn.id, deadline, False, None, turn.seconds, turn.time_up))


def extend(d: Draft, cmd: c.Extend) -> None:
    _, turn = running(d.state)
    if not 1 <= cmd.seconds <= MAX_EXTEND_SECONDS:
        raise Invalid("You can extend a turn by 1 second up to 1 hour.")
    seconds = turn.seconds + cmd.seconds
    if turn.deadline is None:
        assert turn.remaining is not None
        remaining = turn.remaining + cmd.seconds
        time_up = turn.time_up and remaining <= 0
        reason = (turn.pause_reason or PauseReason.FACILITATOR).value
        d.emit(e.TimerChanged(turn.id, None, True, remaining, seconds, time_up, reason))
        return
    deadline = turn.deadline + cmd.seconds
    # Extended past now, the turn is no longer over time and will be announced again.
    time_up = turn.time_up and deadline <= d.now
    d.emit(e.TimerChanged(turn.id, deadline, False, None, seconds, time_up))


def time_up(d: Draft, cmd: c.TurnTimeUp) -> None:
    s = d.state
    r = s.round
    turn = r.turn if r is not None else None
    if r is None or turn is None or turn.id != cmd.turn_id or turn.deadline is None:
        return
    if not turn.time_up:
        if d.now < turn.deadline:
            return
        d.emit(e.TimeUp(turn.id, turn.speaker))
    # Without overtime the cue is all: the piece stays until someone moves it.
    if r.overtime is None or d.now < turn.deadline + r.overtime:
        return
    advance(d)


def next_wakeup(s: RoomState) -> tuple[TurnId, float] | None:
    """When the node should fire `TurnTimeUp` next, and for which turn; None if never."""
    r = s.round
    if r is None or r.turn is None or r.turn.deadline is None:
        return None
    if r.turn.time_up:
        if r.overtime is None:
            return None
        return r.turn.id, r.turn.deadline + r.overtime
    return r.turn.id, r.turn.deadline
