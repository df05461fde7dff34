"""The room engine: every rule of the sharing circle, pure.

`decide(state, command, actor, now) -> events` judges; `evolve(state, event) -> state`
applies; `replay(events)` rebuilds a state from its history. No I/O, no clock, no randomness:
time, fresh ids and a shuffle's seed arrive as arguments or inside commands.
"""

from rooms.audience import Audience, Viewer, may_see, viewer_of
from rooms.commands import AnyCommand
from rooms.decide import decide
from rooms.decide.timer import next_wakeup
from rooms.errors import Invalid, NotAllowed, RoomError, RoomLocked
from rooms.events import AnyEvent, Event, fields_of, from_fields
from rooms.evolve import evolve, replay
from rooms.ids import MemberId, RoomId, TurnId
from rooms.snapshot import RoomInfo, snapshot
from rooms.state import Person, Role, RoomState

__all__ = [
    "AnyCommand",
    "AnyEvent",
    "Audience",
    "Event",
    "Invalid",
    "MemberId",
    "NotAllowed",
    "Person",
    "Role",
    "RoomError",
    "RoomId",
    "RoomInfo",
    "RoomLocked",
    "RoomState",
    "TurnId",
    "Viewer",
    "decide",
    "evolve",
    "fields_of",
    "from_fields",
    "may_see",
    "next_wakeup",
    "replay",
    "snapshot",
    "viewer_of",
]
