"""The broker contract: where a room's meeting state, history and fan-out live.

One interface, two implementations: `MemoryBroker` (one process, the default) and, later,
`RedisBroker` (many nodes). The shared contract tests in tests/unit/signaling run against
both. The promises:

- `transact(room, decide)` reads the room's state and the broker's clock, runs `decide`
  (which calls the pure engine), and if it produced events, stores the new state, appends the
  events to history with consecutive sequence numbers and publishes them, as one step. A
  refusal raised by `decide` stores nothing. With a `dedupe` key seen before (within the
  window), nothing runs and `Duplicate` comes back: a client that lost its ack may resend.
- Every room's stream has an `epoch`, made when its meeting state is created; it changes
  whenever the state is dropped (meeting ended, room emptied, keys lost), so a sequence
  number is never reused within an epoch.
- `history(room, epoch, after)` answers the events after `after` in order, or None when
  they can't be given whole (other epoch, too old, too many): the caller sends a snapshot.
- Published commits reach the node's `Listener` in sequence order.
- Seats: the hash of each member's resume secret, stored when the seat is made, so a crash
  of the node that held the connection can't lose it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from rooms import AnyEvent, MemberId, RoomId, RoomState


# Sequenced and Commit are named tuples rather than frozen dataclasses: as immutable, and
# made several times per chat, where a frozen dataclass's __init__ sets each field through
# object.__setattr__.
class Sequenced(NamedTuple):
    seq: int
    event: AnyEvent


class Commit(NamedTuple):
    room: RoomId
    epoch: str
    events: tuple[Sequenced, ...]
    state: RoomState  # after the events
    now: float
    seq: int  # the room's top sequence number after this commit


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The dedupe key was seen: the first request took effect; answer it with the same ack."""


@dataclass(frozen=True, slots=True)
class RoomView:
    epoch: str  # "" when the room has no meeting state yet
    seq: int
    state: RoomState


class BrokerDown(Exception):
    """The broker's store can't be reached or didn't answer in time; nothing was stored."""


Decision = Callable[[RoomState, float], list[AnyEvent]]


class Listener(Protocol):
    """The node's side of fan-out: what the broker calls as commits and signals arrive."""

    def on_commit(self, commit: Commit) -> None: ...

    def on_direct(self, room: RoomId, to: MemberId, payload: bytes) -> None: ...

    def on_dropped(self, room: RoomId, epoch: str) -> None:
        """The room's meeting state is gone (ended, emptied or lost); its epoch is over."""
        ...

    def on_kick(self, room: RoomId, member: MemberId) -> None:
        """`member`'s seat connected on another node: close the connection held here."""
        ...


class NoListener:
    """The listener a broker has until the node attaches its hub."""

    def on_commit(self, commit: Commit) -> None:
        pass

    def on_direct(self, room: RoomId, to: MemberId, payload: bytes) -> None:
        pass

    def on_dropped(self, room: RoomId, epoch: str) -> None:
        pass

    def on_kick(self, room: RoomId, member: MemberId) -> None:
        pass


class Broker(Protocol):
    node_id: str
    # True when what a seated member's frame asks of the broker (transact, now, direct)
    # completes without waiting: the frame may then be handled inside the read callback
    # that brought it (signaling/eager.py). The memory broker; not Redis.
    inline: bool

    def attach(self, listener: Listener) -> None: ...

    def clock(self) -> float:
        """The broker's time now, estimated locally without a round trip (for timers)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ready(self) -> bool: ...

    async def now(self) -> float: ...

    async def subscribe(self, room: RoomId) -> None:
        """A connection here serves `room`: deliver its commits to the listener. Counted:
        each call is matched by one `unsubscribe`, and the last one stops delivery."""
        ...

    async def unsubscribe(self, room: RoomId) -> None: ...

    async def claim(self, room: RoomId, member: MemberId) -> None:
        """This node now holds `member`'s connection; another node holding it is kicked."""
        ...

    async def reap(self, rooms: Sequence[RoomId]) -> dict[RoomId, list[MemberId]]:
        """Members of `rooms` whose node is gone, for this node to mark as disconnected, by
        room (rooms with none are left out); at most one node gets them for each death."""
        ...

    async def may_reap(self) -> bool:
        """Whether a round of `reap` over every live room may find anyone (a cheap look, so
        that a round nobody needs costs nothing); True when unsure."""
        ...

    async def read(self, room: RoomId) -> RoomView: ...

    async def live_rooms(self) -> list[RoomId]:
        """Rooms with meeting state now (for timers after a restart, and live counts)."""
        ...

    async def transact(
        self, room: RoomId, decide: Decision, *, dedupe: str | None = None
    ) -> Commit | Duplicate: ...

    async def history(self, room: RoomId, epoch: str, after: int) -> list[Sequenced] | None: ...

    async def direct(self, room: RoomId, to: MemberId, payload: bytes) -> None:
        """Send `payload` (an encoded frame) to whichever node holds `to`; not stored."""
        ...

    async def save_seat(self, room: RoomId, member: MemberId, secret_hash: str) -> None: ...

    async def seat_matches(self, room: RoomId, member: MemberId, secret_hash: str) -> bool: ...

    async def drop_seat(self, room: RoomId, member: MemberId) -> None: ...

    async def drop_room(self, room: RoomId) -> None:
        """End the room's meeting state now: state, history, seats and dedupe keys."""
        ...
