"""This node's presence in Redis, and the reaping of nodes that died.

Every `heartbeat_seconds` one pipeline renews the node's key `hearth:node:<id>` (its TTL is
`node_ttl_seconds`), publishes a heartbeat to the node's own channel and reads `TIME`:
- the key tells other nodes this one lives; members whose connection sits on a node whose
  key has expired are that dead node's orphans, and `reap` hands them, at most once per
  round (a short `SET NX PX` lock), to one surviving node, which marks them disconnected;
- the heartbeat, coming back through the node's own subscription, proves the subscription
  alive: when it stops arriving while the connection looks up, the connection is wedged and
  is replaced;
- `TIME` keeps the local estimate of the shared clock fresh.
The same loop asks the keeper to re-check every served room now and then.

After an outage of its own, a node reaps nobody until it has been healthy for a whole node
TTL: other nodes' keys may have expired while Redis was away, and they need a beat to
renew them.

A reaping round reads the `where` of every live room, so it runs only when it may find
someone (`may_reap`): each beat also puts the node in the set `hearth:nodes`, and a round
goes ahead when a node in that set has no key, or every `reap_scan_every` rounds anyway
(for a node that never joined the set, or whose entry was lost). A dead node stays in the
set while a live room's `where` still names it, and leaves it after a round that found
none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from rooms import MemberId, RoomId
from signaling import redis_wire as w
from signaling.broker import BrokerDown
from signaling.redis_keeper import Keeper
from signaling.redis_link import Faults, Link, stop_if_cancelled
from signaling.redis_subscriber import Subscriber
from signaling.state_codec import decode

log = structlog.get_logger("hearth.redis")

ALIVE_KEPT = 1024  # other nodes' liveness remembered (a cache: cleared when past this)
REAP_CHUNK = 500  # rooms asked about in one pipeline


class Presence:
    def __init__(
        self, link: Link, node_id: str, subscriber: Subscriber, keeper: Keeper, faults: Faults
    ) -> None:
        self._link = link
        self._node_id = node_id
        self._sub = subscriber
        self._keeper = keeper
        self._faults = faults
        self.key = w.node_key(node_id)
        self.channel = w.node_key(node_id)  # channels and keys are apart in Redis
        self.healthy_since: float | None = None  # monotonic; None after a failed beat
        self._alive: dict[str, float] = {}  # other nodes seen alive: node -> monotonic time
        self._rounds = 0  # reaping rounds asked about (`may_reap`)
        self._suspects: set[str] = set()  # dead nodes of `hearth:nodes` in the last ask

    async def run(self) -> None:
        t = self._link.timing
        last_recheck = time.monotonic()
        while True:
            await asyncio.sleep(t.heartbeat_seconds)
            try:
                await self.beat()
            except BrokerDown:
                self.healthy_since = None
            stop_if_cancelled()
            silent = time.monotonic() - self._sub.heard
            if self._sub.up and silent > 3 * t.heartbeat_seconds + t.timeout_seconds:
                log.warning("pubsub wedged", node=self._node_id, reason="no heartbeat")
                self._sub.restart()
            if time.monotonic() - last_recheck >= t.recheck_seconds:
                last_recheck = time.monotonic()
                self._link.spawn(self._keeper.recheck_all())

    async def beat(self) -> None:
        link = self._link
        with link.guard():
            before = time.time()
            async with link.client.pipeline(transaction=False) as pipe:
                pipe.time()
                if self._faults.heartbeat:
                    pipe.set(self.key, "1", px=int(link.timing.node_ttl_seconds * 1000))
                    pipe.sadd(w.NODES_KEY, self._node_id)
                pipe.publish(self.channel, w.frame("h"))
                out = await pipe.execute()
            after = time.time()
        seconds, micros = out[0]
        link.note_clock(seconds + micros / 1e6, before, after)
        if self.healthy_since is None:
            self.healthy_since = time.monotonic()

    def heard(self) -> None:
        """Our own heartbeat came back through the subscription."""
        if not self._faults.deaf:
            self._sub.heard = time.monotonic()

    async def _dead(self, nodes: list[str]) -> set[str]:
        """Which of `nodes` have no key; a node seen alive is believed for one beat (every
        served room asks about the same few nodes each round)."""
        now = time.monotonic()
        fresh = now - self._link.timing.heartbeat_seconds
        unknown = [n for n in nodes if self._alive.get(n, -1.0) < fresh]
        if not unknown:
            return set()
        async with self._link.client.pipeline(transaction=False) as pipe:
            for node in unknown:
                pipe.exists(w.node_key(node))
            there = await pipe.execute()
        if len(self._alive) > ALIVE_KEPT:
            self._alive.clear()
        dead = set()
        for node, alive in zip(unknown, there, strict=True):
            if alive:
                self._alive[node] = now
            else:
                self._alive.pop(node, None)
                dead.add(node)
        return dead

    def _may_judge(self) -> bool:
        """Healthy for a whole node TTL: other nodes' keys can be believed."""
        healthy = self.healthy_since
        return (
            healthy is not None and time.monotonic() - healthy >= self._link.timing.node_ttl_seconds
        )

    async def may_reap(self) -> bool:
        """Whether the next round (`reap` of every live room) may find anyone."""
        if not self._may_judge():
            return False
        self._rounds += 1
        if self._rounds % self._link.timing.reap_scan_every == 0:
            return True
        link = self._link
        with link.guard():
            raw = await link.client.smembers(w.NODES_KEY)
            nodes = sorted({w.text(n) for n in raw} - {self._node_id})
            self._suspects = await self._dead(nodes)
        return bool(self._suspects)

    async def reap(self, rooms: Sequence[RoomId]) -> dict[RoomId, list[MemberId]]:
        """`rooms` are every live room when asked after `may_reap`: dead nodes it found that
        none of them names leave `hearth:nodes`."""
        link = self._link
        suspects, self._suspects = self._suspects, set()
        if not self._may_judge():
            return {}
        found: dict[RoomId, list[MemberId]] = {}
        named: set[str] = set()
        with link.guard():
            # One round trip per chunk of rooms, not one per room: a round asks this of
            # every live room, meetings or not.
            for at in range(0, len(rooms), REAP_CHUNK):
                found.update(await self._reap_chunk(rooms[at : at + REAP_CHUNK], named))
            if forgotten := suspects - named:
                await link.client.srem(w.NODES_KEY, *sorted(forgotten))
        return found

    async def _reap_chunk(
        self, rooms: Sequence[RoomId], named: set[str]
    ) -> dict[RoomId, list[MemberId]]:
        """Orphans in `rooms` this node won; adds to `named` every node their `where` names."""
        client = self._link.client
        async with client.pipeline(transaction=False) as pipe:
            for room in rooms:
                pipe.hgetall(w.RoomKeys.of(room).where)
            wheres: list[dict[bytes, bytes]] = await pipe.execute()
        placed = {
            room: {MemberId(m.decode()): n.decode() for m, n in raw.items()}
            for room, raw in zip(rooms, wheres, strict=True)
        }
        here = {n for where in placed.values() for n in where.values()}
        named |= here
        others = sorted(here - {self._node_id})
        if not others:
            return {}
        dead = await self._dead(others)
        if not dead:
            return {}  # the common case: no state read, nothing decoded
        suspects = [room for room, where in placed.items() if dead & set(where.values())]
        async with client.pipeline(transaction=False) as pipe:
            for room in suspects:
                pipe.hget(w.RoomKeys.of(room).state, "state")
            states: list[bytes | None] = await pipe.execute()
        candidates: dict[RoomId, list[MemberId]] = {}
        for room, raw in zip(suspects, states, strict=True):
            if raw is None:
                continue
            state = decode(raw)
            orphans = sorted(
                m
                for m, n in placed[room].items()
                if n in dead and (p := state.person(m)) is not None and p.reconnecting_since is None
            )
            if orphans:
                candidates[room] = orphans
        if not candidates:
            return {}
        lock_ms = int(self._link.timing.reap_lock_seconds * 1000)
        async with client.pipeline(transaction=False) as pipe:
            for room in candidates:
                pipe.set(w.RoomKeys.of(room).reap, self._node_id, nx=True, px=lock_ms)
            won = await pipe.execute()
        mine = zip(candidates.items(), won, strict=True)
        return {room: orphans for (room, orphans), ok in mine if ok}
