"""`MemoryBroker`: the broker for one process, the default, with no setup.

Everything lives in this process's memory and nothing is written to disk. A `transact` runs
without awaiting between reading and storing, so on one event loop it is atomic by
construction: no locks, no retries. When a meeting ends or its room empties, its state,
history, seats and dedupe keys are dropped, and the next arrival starts a new epoch.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import typing
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgpack

from rooms import AnyEvent, MemberId, RoomId, RoomState, evolve, fields_of, from_fields
from signaling.broker import (
    Commit,
    Decision,
    Duplicate,
    Listener,
    NoListener,
    RoomView,
    Sequenced,
)
from signaling.limits import Limits


def new_epoch() -> str:
    return secrets.token_hex(6)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(slots=True)
class _Room:
    epoch: str
    seq: int = 0
    state: RoomState = field(default_factory=RoomState)
    # (committed at, seq, event as msgpack): bytes and numbers only, so the garbage
    # collector never walks a thousand events per room (it did, in ~50 ms pauses).
    history: deque[tuple[float, int, bytes]] = field(default_factory=deque)
    dedupe: OrderedDict[str, float] = field(default_factory=OrderedDict)
    seats: dict[MemberId, str] = field(default_factory=dict)


class MemoryBroker:
    node_id = "local"
    inline = True  # nothing here ever waits

    def __init__(
        self, limits: Limits, *, grace_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._rooms: dict[RoomId, _Room] = {}
        self._listener: Listener = NoListener()
        # History must reach back at least as far as anyone may be away and still resume.
        self._history_seconds = max(limits.history_seconds, grace_seconds * 2)

    def attach(self, listener: Listener) -> None:
        self._listener = listener

    def clock(self) -> float:
        return self._clock()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._rooms.clear()

    async def ready(self) -> bool:
        return True

    async def now(self) -> float:
        return self._clock()

    async def subscribe(self, room: RoomId) -> None:
        pass  # one process: every commit already reaches the one listener

    async def unsubscribe(self, room: RoomId) -> None:
        pass

    async def claim(self, room: RoomId, member: MemberId) -> None:
        pass  # one process: the hub itself closes an older connection of the same seat

    async def reap(self, rooms: Sequence[RoomId]) -> dict[RoomId, list[MemberId]]:
        return {}  # one process: a connection that drops tells us itself

    async def may_reap(self) -> bool:
        return False

    async def read(self, room: RoomId) -> RoomView:
        r = self._rooms.get(room)
        if r is None:
            return RoomView("", 0, RoomState())
        return RoomView(r.epoch, r.seq, r.state)

    async def live_rooms(self) -> list[RoomId]:
        return list(self._rooms)

    async def transact(
        self, room: RoomId, decide: Decision, *, dedupe: str | None = None
    ) -> Commit | Duplicate:
        now = self._clock()
        r = self._rooms.get(room)
        fresh = r is None
        if r is None:
            r = _Room(new_epoch())
        if dedupe is not None:
            _expire(r.dedupe, now)
            if dedupe in r.dedupe:
                return Duplicate()
        events = decide(r.state, now)  # a refusal raises here, before anything is stored
        if dedupe is not None and not fresh:
            r.dedupe[dedupe] = now + self._limits.dedupe_window_seconds
        if not events:
            return Commit(room, r.epoch, (), r.state, now, r.seq)
        if fresh:
            self._rooms[room] = r
            if dedupe is not None:
                r.dedupe[dedupe] = now + self._limits.dedupe_window_seconds
        state, seq = r.state, r.seq
        sequenced = []
        for event in events:
            seq += 1
            state = evolve(state, event)
            sequenced.append(Sequenced(seq, event))
            r.history.append((now, seq, _pack(event)))
        r.state, r.seq = state, seq
        self._trim(r, now)
        commit = Commit(room, r.epoch, tuple(sequenced), state, now, seq)
        self._listener.on_commit(commit)
        if state.ended or not state.people:
            self._drop(room)
        return commit

    async def history(self, room: RoomId, epoch: str, after: int) -> list[Sequenced] | None:
        r = self._rooms.get(room)
        if r is None or r.epoch != epoch or after > r.seq:
            return None
        if after == r.seq:
            return []
        if r.seq - after > self._limits.replay_events:
            return None
        if not r.history or r.history[0][1] > after + 1:
            return None  # the oldest events we'd need were already trimmed
        return [Sequenced(seq, _unpack(data)) for _, seq, data in r.history if seq > after]

    async def direct(self, room: RoomId, to: MemberId, payload: bytes) -> None:
        self._listener.on_direct(room, to, payload)

    async def save_seat(self, room: RoomId, member: MemberId, secret_hash: str) -> None:
        r = self._rooms.get(room)
        if r is not None:
            r.seats[member] = secret_hash

    async def seat_matches(self, room: RoomId, member: MemberId, secret_hash: str) -> bool:
        r = self._rooms.get(room)
        stored = r.seats.get(member) if r is not None else None
        return stored is not None and hmac.compare_digest(stored, secret_hash)

    async def drop_seat(self, room: RoomId, member: MemberId) -> None:
        r = self._rooms.get(room)
        if r is not None:
            r.seats.pop(member, None)

    async def drop_room(self, room: RoomId) -> None:
        if room in self._rooms:
            self._drop(room)

    def _drop(self, room: RoomId) -> None:
        r = self._rooms.pop(room)
        self._listener.on_dropped(room, r.epoch)

    def _trim(self, r: _Room, now: float) -> None:
        h = r.history
        limit = self._limits.history_events
        oldest = now - self._history_seconds
        while h and (len(h) > limit or h[0][0] < oldest):
            h.popleft()


# One packer for the process, reused: `msgpack.packb` builds a new one per call. Only the
# event loop packs, so it is never used by two callers at once.
_packer = msgpack.Packer(use_bin_type=True)


def _pack(event: AnyEvent) -> bytes:
    return typing.cast(bytes, _packer.pack(fields_of(event, private=True)))


def _unpack(data: bytes) -> AnyEvent:
    return from_fields(msgpack.unpackb(data, raw=False))


def _expire(keys: OrderedDict[str, float], now: float) -> None:
    # Keys were inserted in time order with the same window, so expiries are ordered too.
    while keys:
        first = next(iter(keys.values()))
        if first > now:
            return
        keys.popitem(last=False)
