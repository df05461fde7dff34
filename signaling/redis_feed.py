"""One served room's stream of commits to the node's listener, in order, without I/O.

Commits reach a node three ways: its own (from `transact`, at once), other nodes' (pub/sub,
which may drop, repeat or come late) and the log (when the broker fills a gap). A `Feed`
takes them all through `offer` and hands the listener each sequence number exactly once, in
order, each commit with the state after it (evolved from the mirror when the commit came
without one). What it can't place it keeps and asks for a sync: the broker reads Redis
and comes back with the missing commits, a jump to a state it can't replay, or the end
of the epoch.

Rules:
- Within an epoch, seq N+1 is delivered only after N; a commit at or below the delivered
  seq is a repeat and is dropped.
- A feed at epoch "" (no meeting yet) adopts a new epoch at seq 1. Any other epoch change
  goes through the broker's sync, which decides between `end` (the epoch is over: the
  listener's `on_dropped`) and `jump` (the room was restored from a node's mirror, or the
  history needed is gone: one commit without events carrying the whole state).
- An ended epoch is remembered, so late copies of its messages are ignored.
- The mirror: the state after the delivered seq, and its version `v` (the room hash's `v`
  at that seq; None when this node can't tell, e.g. after events filled from the log,
  until the next sync or re-check reads it). A mirror whose `v` equals the stored one IS
  the stored state, which is what lets `transact` decide chat on it (`current`). That
  holds with later commits held back or a sync under way too: every commit that changes
  the state moves `v`, so the ones the mirror lacks changed nothing (or the script, which
  compares `v`, answers STALE).
- The dedupe keys of the commits delivered in this epoch (the newest `KEYS_KEPT`), so that
  a repeated key is answered without running the decision again; Redis remains the judge.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from rooms import MemberId, RoomId, RoomState, replay
from signaling.broker import Commit, Listener, Sequenced

log = structlog.get_logger("hearth.redis")

GONE_KEPT = 8  # ended epochs remembered per room: late messages of older ones are harmless
KEYS_KEPT = 128  # dedupe keys remembered per room (a hint: the commit script decides)


@dataclass(slots=True)  # not frozen, for speed: one is made per commit heard; never changed
class Batch:
    """Consecutive events of one epoch, from `first` on, as they arrived."""

    epoch: str
    first: int
    events: tuple[Sequenced, ...]
    now: float
    drop: bool = False  # the epoch ends after these events
    state: RoomState | None = None  # the state after them, when the sender knew it
    v: int | None = None  # the state version after them, when the sender said
    dedupe: tuple[str, float] | None = None  # the commit's dedupe key and its expiry

    @property
    def last(self) -> int:
        return self.first + len(self.events) - 1


@dataclass(slots=True)
class Feed:
    room: RoomId
    listener: Callable[[], Listener]
    refs: int = 0
    epoch: str = ""
    seq: int = 0
    state: RoomState = field(default_factory=RoomState)
    v: int | None = None  # the stored state version `state` is at (None: unknown)
    ready: bool = False  # seeded from Redis after the subscription was confirmed
    dirty: bool = False  # something arrived before seeding that needs a sync
    early: list[Batch] = field(default_factory=list)
    ahead: dict[int, Batch] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    seats: dict[MemberId, str] = field(default_factory=dict)  # saved through this node
    claims: set[MemberId] = field(default_factory=set)  # connections held on this node
    keys: OrderedDict[str, float] = field(default_factory=OrderedDict)  # dedupe → expiry
    sync_task: asyncio.Task[None] | None = None
    sync_again: bool = False
    sync_waiting: bool = False  # the sync task waits to see whether pub/sub fills a gap
    seeded: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    _moved: asyncio.Event = field(default_factory=asyncio.Event)

    # --- what arrives ----------------------------------------------------------------------

    def seed(self, epoch: str, seq: int, state: RoomState, v: int | None = None) -> bool:
        """Start from what Redis holds now; True if a sync is needed."""
        self.epoch, self.seq, self.state, self.ready = epoch, seq, state, True
        self.v = v if epoch else None
        early, self.early = self.early, []
        need, self.dirty = self.dirty, False
        for batch in early:
            need = self.offer(batch) or need
        if not self.seeded.done():
            self.seeded.set_result(None)
        return need

    def offer(self, batch: Batch) -> bool:
        """Deliver what can be delivered; True if the broker should sync this room."""
        if not self.ready:
            self.early.append(batch)
            return False
        if batch.epoch != self.epoch:
            if batch.epoch in self.gone:
                return False
            if self.epoch != "" or batch.first != 1:
                return True
            self.epoch, self.seq, self.state, self.v = batch.epoch, 0, RoomState(), None
            self.keys.clear()
        if batch.last <= self.seq:
            return False
        if batch.first > self.seq + 1:
            self.ahead[batch.first] = batch
            return True
        self._deliver(batch)
        self._drain()
        return False

    def end(self, epoch: str) -> None:
        """The epoch is over (ended, emptied, dropped or lost for good)."""
        if not epoch or epoch != self.epoch:
            return
        self.gone = [*self.gone[-(GONE_KEPT - 1) :], epoch]
        self.epoch, self.seq, self.state, self.v = "", 0, RoomState(), None
        self.ahead.clear()
        self.keys.clear()
        self._wake()
        self._tell(lambda lst: lst.on_dropped(self.room, epoch))

    def jump(
        self, epoch: str, seq: int, state: RoomState, now: float, v: int | None = None
    ) -> None:
        """Continue from a state that can't be replayed here: the listener gets it whole."""
        if self.epoch and epoch != self.epoch and self.epoch not in self.gone:
            self.gone = [*self.gone[-(GONE_KEPT - 1) :], self.epoch]
        if epoch != self.epoch:
            self.keys.clear()
        self.epoch, self.seq, self.state, self.v = epoch, seq, state, v
        self.ahead = {k: b for k, b in self.ahead.items() if b.epoch == epoch and b.last > seq}
        commit = Commit(self.room, epoch, (), state, now, seq)
        self._tell(lambda lst: lst.on_commit(commit))
        self._wake()
        self._drain()

    # --- the mirror ------------------------------------------------------------------------

    @property
    def current(self) -> bool:
        """Whether the mirror may stand in for the stored state (the commit script still
        checks `epoch` and `v`): a live meeting, its version known. A gap held or a sync
        under way doesn't matter (see the module's rules); under load both are common, and
        each chat sent meanwhile would take two round trips and the room's turn."""
        return (
            self.ready and self.v is not None and bool(self.state.people) and not self.state.ended
        )

    def known(self, epoch: str, seq: int, v: int) -> None:
        """Redis said the room is at (`epoch`, `seq`) with state version `v`."""
        if self.epoch == epoch and self.seq == seq:
            self.v = v

    def seen(self, dedupe: str, now: float) -> bool:
        """Whether a commit delivered here used `dedupe`, and its window is still open."""
        expiry = self.keys.get(dedupe)
        return expiry is not None and expiry > now

    # --- waiting for delivery --------------------------------------------------------------

    def delivered(self, epoch: str, seq: int) -> bool:
        """Whether `seq` of `epoch` has reached the listener (or never will here)."""
        if not self.ready or epoch in self.gone:
            return True
        return self.epoch == epoch and self.seq >= seq

    async def wait(self, epoch: str, seq: int, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, until `delivered(epoch, seq)`."""
        try:
            async with asyncio.timeout(timeout):
                while not self.delivered(epoch, seq):
                    self._moved.clear()
                    await self._moved.wait()
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if self.sync_task is not None:
            self.sync_task.cancel()
        if not self.seeded.done():
            self.seeded.cancel()
        self.ready = False  # nothing more will be delivered here: waiters may go
        self._wake()

    # --- inside ----------------------------------------------------------------------------

    def _deliver(self, batch: Batch) -> None:
        events = batch.events
        if batch.first <= self.seq:  # overlaps what was delivered: only the rest is new
            events = tuple(sq for sq in events if sq.seq > self.seq)
        state = batch.state
        if state is None:
            state = replay((sq.event for sq in events), self.state)
        commit = Commit(self.room, batch.epoch, events, state, batch.now, batch.last)
        self.seq, self.state, self.v = batch.last, state, batch.v
        if batch.dedupe is not None:
            key, expiry = batch.dedupe
            self.keys[key] = expiry
            if len(self.keys) > KEYS_KEPT:
                self.keys.popitem(last=False)
        self._tell(lambda lst: lst.on_commit(commit))
        self._wake()
        if batch.drop:
            self.end(batch.epoch)

    def _drain(self) -> None:
        while self.ahead:
            for first in [k for k, b in self.ahead.items() if b.last <= self.seq]:
                del self.ahead[first]
            nxt = min(self.ahead, default=None)
            if nxt is None or nxt > self.seq + 1:
                return
            self._deliver(self.ahead.pop(nxt))

    def _wake(self) -> None:
        self._moved.set()

    def _tell(self, call: Callable[[Listener], None]) -> None:
        try:
            call(self.listener())
        except Exception:  # the listener's bug must not stop delivery to other rooms
            log.exception("listener failed", room=self.room)
