"""The room as one viewer may see it: DESIGN.md's snapshot, rendered from state.

Members never see the lobby list or the support notes (`notes`: facilitators only, like
the events that make them); people waiting in the lobby see the room's guidelines and
their place in line, and nothing about who is in the circle until they are let in.
"""

from __future__ import annotations

from dataclasses import dataclass

from rooms.decide.circle import upcoming
from rooms.ids import MemberId, RoomId
from rooms.state import Person, Role, RoomState, Round, SupportNote, Turn

Snapshot = dict[str, object]


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """The room's definition as the host set it: not meeting state, but part of every view."""

    room: RoomId
    name: str
    guidelines: str = ""
    crisis: str = ""
    share_seconds: int = 180


def snapshot(state: RoomState, viewer: MemberId, info: RoomInfo) -> Snapshot:
    person = state.person(viewer)
    waiting = person is None or person.waiting
    facilitator = person is not None and not waiting and person.role is Role.FACILITATOR
    view: Snapshot = {
        "room": info.room,
        "name": info.name,
        "guidelines": info.guidelines,
        "crisis": info.crisis,
        "share_seconds": info.share_seconds,
        "locked": state.locked,
        "ended": state.ended,
        "lobby": waiting,
        "position": state.lobby_position(viewer),
        "members": [],
        "waiting": [],
        "order": [],
        "round": None,
        "hands": [],
        "floor": None,
        "topic": None,
        "held": False,
        "successor": None,
        "notes": [],
        "returning": None,
    }
    if waiting:
        return view
    view.update(
        members=[_member(p) for p in state.admitted()],
        order=list(state.order),
        round=_round(state.round, upcoming(state)),
        hands=list(state.hands),
        floor=state.floor,
        topic=state.topic,
        held=state.held,
    )
    if facilitator:
        view["waiting"] = [
            {"id": p.id, "name": p.name, "position": i, "reconnecting": p.reconnecting}
            for i, p in enumerate(state.lobby(), start=1)
        ]
        view["successor"] = state.successor
        view["returning"] = state.returning.value
        view["notes"] = [_note(n) for n in state.notes]
    return view


def _pause_reason(t: Turn | None) -> str | None:
    if t is None or not t.paused or t.pause_reason is None:
        return None
    return t.pause_reason.value


def _note(n: SupportNote) -> dict[str, object]:
    return {"id": n.id, "from": n.from_, "name": n.name, "text": n.text, "at": n.at, "seen": n.seen}


def _member(p: Person) -> dict[str, object]:
    return {
        "id": p.id,
        "name": p.name,
        "role": p.role.value,
        "away": p.away,
        "muted": p.muted,
        "reconnecting": p.reconnecting,
    }


def _round(r: Round | None, next_: MemberId | None) -> dict[str, object] | None:
    if r is None:
        return None
    t = r.turn
    return {
        "kind": r.kind.value,
        "seconds": t.seconds if t is not None else r.seconds,
        "share_seconds": r.seconds,
        "overtime": r.overtime,
        "second_pass": r.second_pass,
        "pass_no": r.pass_no,
        "speaker": t.speaker if t is not None else None,
        "next": next_,  # who gets the piece on `next`: the engine's rule, never the client's
        "turn_id": t.id if t is not None else None,
        "deadline": t.deadline if t is not None else None,
        "paused": t.paused if t is not None else False,
        "remaining": t.remaining if t is not None else None,
        "time_up": t.time_up if t is not None else False,
        "pause_reason": _pause_reason(t),
        "passed": list(r.passed),
    }
