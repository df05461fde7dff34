"""The node's local fan-out: which connections sit in which room, and who sees which event.

Rules:
- Each event is encoded once, into one `OutFrame`, only if someone may see it, and the same
  bytes go to every viewer whose audience check passes. Sending never awaits.
- A viewer is judged as they stood when the event happened: visibility is checked before the
  event's effect on that viewer (admitted, role changed) is applied.
- A connection that has not had its `welcome` yet is pending: its events are held, then
  flushed after the welcome, so the first frame is always the welcome and no seq is missed.
- After delivery, events that end a seat (removed, denied, left, meeting ended) close that
  connection with the matching close code.
- The room's view here (`LocalRoom`: who is admitted, against which signals are checked)
  never waits for the room's next event: a seat's welcome hands over the state its hello or
  resume read (`learn`), which a view that is empty (the node just began serving the room)
  or behind in the same epoch takes. A resume after a drain or a crash commits no event.
  Within an epoch the view never goes back to an older seq.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from rooms import MemberId, RoomId, RoomState, Viewer, may_see
from rooms import events as e
from rooms.audience import EVERYONE
from signaling.broker import Commit, Sequenced
from signaling.closes import Close
from signaling.codec import Codec
from signaling.outlet import OutFrame, Outlet
from signaling.wire import event_frame


class Seat(Protocol):
    """What the hub needs of a member's connection."""

    member: MemberId
    viewer: Viewer | None  # None while pending
    outlet: Outlet

    def hold(self, epoch: str, sq: Sequenced) -> bool:
        """Keep `sq` for after the welcome; False once the connection is live."""
        ...

    def close(self, code: int, reason: str) -> None: ...

    def refresh(self) -> None:
        """The room's stream started over (a new epoch): send a fresh welcome."""
        ...

    def observe(self, event: e.AnyEvent) -> None:
        """An event that may concern this seat (see PERSONAL) was delivered."""
        ...


# Events that can change what a viewer may see, or end their seat.
PERSONAL: frozenset[type[e.AnyEvent]] = frozenset(
    {e.Admitted, e.RoleChanged, e.Removed, e.Denied, e.Left, e.MeetingEnded, e.Reconnecting}
)


@dataclass(slots=True)
class LocalRoom:
    epoch: str = ""
    seq: int = 0
    state: RoomState = field(default_factory=RoomState)
    seats: dict[MemberId, Seat] = field(default_factory=dict)


CommitObserver = Callable[[Commit], None]
FanoutObserver = Callable[[int, float], None]  # (frames sent, seconds taken)


class Hub:
    def __init__(self, codec: Codec, *, on_fanout: FanoutObserver | None = None) -> None:
        self._codec = codec
        self.rooms: dict[RoomId, LocalRoom] = {}
        self.observers: list[CommitObserver] = []
        self._on_fanout = on_fanout

    # --- seats ----------------------------------------------------------------------------

    def seat(self, room: RoomId, seat: Seat) -> Seat | None:
        """Register `seat`; returns the seat it replaces (same member), for closing."""
        local = self.rooms.get(room)
        if local is None:
            local = self.rooms[room] = LocalRoom()
        old = local.seats.get(seat.member)
        local.seats[seat.member] = seat
        return old if old is not seat else None

    def unseat(self, room: RoomId, seat: Seat) -> bool:
        """Forget `seat` if it still holds its member's place; True if it did."""
        local = self.rooms.get(room)
        if local is None or local.seats.get(seat.member) is not seat:
            return False
        del local.seats[seat.member]
        if not local.seats:
            del self.rooms[room]
        return True

    def holder(self, room: RoomId, member: MemberId) -> Seat | None:
        local = self.rooms.get(room)
        return local.seats.get(member) if local is not None else None

    def state(self, room: RoomId) -> RoomState | None:
        local = self.rooms.get(room)
        return local.state if local is not None else None

    def learn(self, commit: Commit) -> None:
        """A seat's hello or resume read the room as `commit` (its welcome is built from it).
        The view here takes it when empty, or behind in the same epoch: a resume moved from
        a draining or dead node commits no event, and the commit RedisBroker's `subscribe`
        tells of the room came before the seat's `LocalRoom` existed. Another epoch is left
        to the broker's stream, whose commit of it refreshes every seat."""
        local = self.rooms.get(commit.room)
        if local is None or not commit.epoch:
            return
        if not local.epoch or (local.epoch == commit.epoch and local.seq < commit.seq):
            local.epoch, local.seq, local.state = commit.epoch, commit.seq, commit.state

    # --- the broker's listener ------------------------------------------------------------

    def on_commit(self, commit: Commit) -> None:
        local = self.rooms.get(commit.room)
        if local is not None:
            started = time.perf_counter()
            restarted = bool(local.epoch) and commit.epoch != local.epoch
            if restarted or commit.seq >= local.seq:  # not behind what a welcome taught it
                local.epoch, local.seq, local.state = commit.epoch, commit.seq, commit.state
            sent = self._deliver(local, commit.epoch, commit.events)
            if restarted:
                # Old seqs mean nothing in the new epoch: each seat gets the room afresh.
                for seat in list(local.seats.values()):
                    seat.refresh()
            if self._on_fanout is not None:
                self._on_fanout(sent, time.perf_counter() - started)
        for observe in self.observers:
            observe(commit)

    def on_direct(self, room: RoomId, to: MemberId, payload: bytes) -> None:
        seat = self.holder(room, to)
        if seat is not None and seat.viewer is not None:
            seat.outlet.send(OutFrame(payload))

    def on_dropped(self, room: RoomId, epoch: str) -> None:
        # Usually the seats already closed on the events that ended the meeting; a meeting
        # dropped another way (its room deleted, an end noticed late) closes them here.
        local = self.rooms.get(room)
        if local is None or (local.epoch and local.epoch != epoch):
            return
        loop = asyncio.get_running_loop()
        for seat in list(local.seats.values()):
            # Soon, not now: an ack for the command that ended the meeting goes out first.
            loop.call_soon(seat.close, Close.ENDED, "meeting over")

    def on_kick(self, room: RoomId, member: MemberId) -> None:
        seat = self.holder(room, member)
        if seat is not None:
            # Forget it first: its goodbye must not mark the seat disconnected, since the
            # seat lives on at the other node.
            self.unseat(room, seat)
            seat.close(Close.REPLACED, "connected elsewhere")

    def _deliver(self, local: LocalRoom, epoch: str, events: tuple[Sequenced, ...]) -> int:
        sent = 0
        seats = list(local.seats.values())
        for sq in events:
            event = sq.event
            audience = event.audience()
            # EVERYONE (chat and reactions: most of what goes out) names nobody and not the
            # lobby, so `may_see` comes down to "not waiting": no call per seat for it.
            everyone = audience is EVERYONE
            frame: OutFrame | None = None
            personal = type(event) in PERSONAL
            for seat in seats:
                viewer = seat.viewer
                if viewer is None:
                    seat.hold(epoch, sq)
                    continue
                if (not viewer.waiting) if everyone else may_see(viewer, audience):
                    if frame is None:
                        frame = OutFrame(self._codec.pack(event_frame(epoch, sq)))
                    seat.outlet.send(frame)
                    sent += 1
                if personal:
                    seat.observe(event)
        return sent
