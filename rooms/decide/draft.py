"""A draft of one decision: the events emitted so far and the state they lead to.

Handlers often emit several events where later ones depend on earlier ones (a speaker leaves,
then the piece moves on). Each `emit` applies `evolve` at once, so a handler always reads the
state as it will be. A refusal raises before the draft is returned, and since states are
immutable, nothing changes.
"""

from __future__ import annotations

from rooms.events import AnyEvent
from rooms.evolve import evolve
from rooms.state import RoomState


class Draft:
    __slots__ = ("events", "now", "state")

    def __init__(self, state: RoomState, now: float) -> None:
        self.state = state
        self.now = now
        self.events: list[AnyEvent] = []

    def emit(self, event: AnyEvent) -> None:
        self.events.append(event)
        self.state = evolve(self.state, event)
