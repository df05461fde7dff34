"""`RedisBroker`: the broker for many nodes sharing rooms through one Redis.

The design is docs/decisions/005-redis-broker.md; the contract is signaling/broker.py, and
the same suite tests this and `MemoryBroker`. The parts:

- here: the `Broker` protocol. `transact` (redis_transact): events that change no state
  (chat) in a served room take ONE round trip, decided on the room's mirror and appended if
  the room is still at the mirror's epoch and state version; everything else two: `TIME` +
  `HGETALL` (+ the dedupe key), the engine runs here, then one commit script stores,
  appends and publishes atomically if the room's epoch and state version are still what
  was read (else read again: bounded, with jitter). Events that change no state skip the
  version check there, so they never conflict with commands. On one node, transacts on one
  room take turns, so only other nodes can conflict.
- `redis_feed`: ordered delivery per served room; `redis_keeper`: gaps, lost tails, lost
  keys; `redis_presence`: heartbeats and reaping; `redis_subscriber`: the one pub/sub
  connection; `redis_link`: the pool, timeouts, clock and the guard; `redis_courier`: the
  scripts' one pipelined connection, and the pub/sub reader; `redis_scripts`: the Lua;
  `redis_wire`: key names and message formats; `state_codec`: the state as bytes.
- Serving a room = listening on the room's channel for this node and being in the room's
  set of serving nodes, to which the scripts publish (never a commit to the node that made
  it: its transact delivers it). A commit message this node already delivered is dropped
  on its header, without reading its body.
- Every Redis call is bounded by a short timeout, and every failure surfaces as
  `BrokerDown`: never a hang, never a redis exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence

import structlog

from rooms import MemberId, RoomId
from signaling import redis_wire as w
from signaling.broker import (
    BrokerDown,
    Commit,
    Decision,
    Duplicate,
    Listener,
    NoListener,
    RoomView,
    Sequenced,
)
from signaling.limits import Limits
from signaling.redis_feed import Batch, Feed
from signaling.redis_keeper import GAP_WAIT, Keeper
from signaling.redis_link import Faults, Link, RedisTiming, Stats
from signaling.redis_presence import Presence
from signaling.redis_subscriber import Subscriber
from signaling.redis_transact import Transactor

__all__ = ["Faults", "RedisBroker", "RedisTiming", "Stats"]

log = structlog.get_logger("hearth.redis")


class RedisBroker:
    inline = False  # every write is a round trip to Redis, bounded by asyncio.timeout

    def __init__(
        self,
        url: str,
        limits: Limits,
        *,
        grace_seconds: float,
        node_id: str | None = None,
        timing: RedisTiming | None = None,
        clock: Callable[[], float] | None = None,
        faults: Faults | None = None,
    ) -> None:
        """`clock`, for tests only, replaces Redis `TIME` as the broker's clock."""
        self.node_id = node_id or secrets.token_hex(6)
        self.faults = faults or Faults()
        self._limits = limits
        self._link = link = Link(url, timing or RedisTiming(), clock)
        self._keeper = Keeper(link, self.node_id)
        self._sub = Subscriber(
            link.pool,
            timeout=link.timing.timeout_seconds,
            on_message=self._on_message,
            on_up=self._on_up,
        )
        self._presence = Presence(link, self.node_id, self._sub, self._keeper, self.faults)
        self._feeds = self._keeper.feeds
        self._listener: Listener = NoListener()
        self._transactor = Transactor(
            link,
            self._keeper,
            limits,
            node_id=self.node_id,
            grace_seconds=grace_seconds,
            tell=self._tell,
        )

    @property
    def stats(self) -> Stats:
        return self._link.stats

    @property
    def reconnects(self) -> int:
        """How often the pub/sub connection was made again."""
        return self._sub.reconnects

    # --- lifecycle -------------------------------------------------------------------------

    def attach(self, listener: Listener) -> None:
        self._listener = listener

    async def start(self) -> None:
        """Connect, warn if Redis keeps nothing on disk, and begin the heartbeat. Redis being
        down is no error here: the node starts not ready and catches up when it can."""
        self._sub.start([self._presence.channel])
        try:
            with self._link.guard():
                await self._link.scripts.load()
                await self._link.check_persistence()
                await self._presence.beat()
        except BrokerDown:
            log.warning("redis unreachable", reason="start", node=self.node_id)
        self._link.spawn(self._presence.run())
        await self._sub.wait_up(self._link.timing.timeout_seconds * 2)

    async def close(self) -> None:
        for feed in self._feeds.values():
            feed.close()
        self._feeds.clear()
        await self._sub.close()
        # Our key goes at once: a node shutting down is not one to wait a TTL for.
        await self._link.close(last_words=[self._presence.key])

    async def ready(self) -> bool:
        if not self._sub.up:
            return False
        try:
            async with asyncio.timeout(self._link.timing.ready_timeout_seconds):
                return bool(await self._link.client.ping())
        except Exception:  # any failure is simply "not ready"
            return False

    def clock(self) -> float:
        return self._link.clock()

    async def now(self) -> float:
        return await self._link.now()

    # --- transact --------------------------------------------------------------------------

    async def transact(
        self, room: RoomId, decide: Decision, *, dedupe: str | None = None
    ) -> Commit | Duplicate:
        result = await self._transactor.transact(room, decide, dedupe)
        if isinstance(result, Commit) and not result.events:
            await self._heard_up_to(result)
        return result

    async def _heard_up_to(self, commit: Commit) -> None:
        """A commit without events says where the room stood when it was read (a resume
        after a drain: the seat was kept, so nothing changed). Like any other commit, it
        returns once the listener has heard the room up to there: a connection waiting for
        its welcome holds those events and skips the ones its welcome covers, rather than
        being sent them a second time after it. Bounded: on timeout, the caller goes on."""
        feed = self._feeds.get(commit.room)
        if feed is None or not commit.epoch or feed.delivered(commit.epoch, commit.seq):
            return
        self._keeper.want_sync(feed, GAP_WAIT)  # pub/sub may yet bring them; else the log
        await feed.wait(commit.epoch, commit.seq, self._link.timing.transact_seconds)

    # --- reading ---------------------------------------------------------------------------

    async def read(self, room: RoomId) -> RoomView:
        with self._link.guard():
            raw = await self._link.client.hgetall(w.RoomKeys.of(room).state)
        stored = w.Stored.of(raw)
        return RoomView(stored.epoch, stored.seq, stored.room_state())

    async def history(self, room: RoomId, epoch: str, after: int) -> list[Sequenced] | None:
        if after < 0 or not epoch:
            return None
        keys = w.RoomKeys.of(room)
        with self._link.guard():
            async with self._link.client.pipeline(transaction=True) as pipe:
                pipe.hmget(keys.state, ["epoch", "seq"])
                pipe.xrange(keys.log, min=f"{after + 1}-0", count=self._limits.replay_events)
                (stored_epoch, stored_seq), entries = await pipe.execute()
        if stored_epoch is None or stored_epoch.decode() != epoch:
            return None
        top = int(stored_seq)
        limits = self._limits
        if after > top or top - after > min(limits.replay_events, limits.history_events):
            return None  # too many to replay, or past the count bound (the log trims lazily)
        try:
            entries = [(entry_id, f) for entry_id, f in entries if w.seq_of(entry_id) <= top]
            found = [
                Sequenced(w.seq_of(entry_id), w.unpack_event(f[b"e"])) for entry_id, f in entries
            ]
            if entries:
                # The age bound as of the last commit (the log trims lazily, see redis_scripts).
                oldest = float(entries[-1][1][b"t"]) - self._transactor.history_seconds
                if float(entries[0][1][b"t"]) < oldest:
                    return None
        except (ValueError, KeyError, TypeError):
            log.error("history unreadable", room=room)
            return None
        if [sq.seq for sq in found] != list(range(after + 1, top + 1)):
            return None  # the oldest events needed were trimmed
        return found

    async def live_rooms(self) -> list[RoomId]:
        link = self._link
        with link.guard():
            members = await link.client.smembers(w.ROOMS_KEY)
            rooms = sorted(RoomId(w.text(m)) for m in members)
            async with link.client.pipeline(transaction=False) as pipe:
                for room in rooms:
                    pipe.exists(w.RoomKeys.of(room).state)
                exists = await pipe.execute()
            live = [r for r, there in zip(rooms, exists, strict=True) if there]
            stale = [r for r, there in zip(rooms, exists, strict=True) if not there]
            if stale:
                await link.client.srem(w.ROOMS_KEY, *stale)
        return live

    # --- subscriptions ---------------------------------------------------------------------

    async def subscribe(self, room: RoomId) -> None:
        feed = self._feeds.get(room)
        if feed is not None:
            feed.refs += 1
            if not feed.ready:
                await self._await_seeded(feed)
            return
        feed = self._feeds[room] = Feed(room, lambda: self._listener, refs=1)
        keys = w.RoomKeys.of(room)
        channel = keys.to + self.node_id
        try:
            # Subscribed (confirmed), then one of the serving nodes, then the read: nothing
            # published after it is missed. The courier's one connection keeps the join
            # after any leave sent before it (`unsubscribe`).
            await self._sub.subscribe(channel)
            call = self._link.courier.call
            with self._link.guard():
                _, _, raw = await asyncio.gather(
                    call("SADD", keys.nodes, self.node_id),
                    call("PEXPIRE", keys.nodes, self._ttl),
                    call("HGETALL", keys.state),
                )
            stored = w.Stored.of(dict(zip(raw[::2], raw[1::2], strict=True)))
            if feed.seed(stored.epoch, stored.seq, stored.room_state(), stored.v):
                self._keeper.want_sync(feed)
            elif stored.epoch:
                # The listener's observers (the timers) learn the room's deadlines now, not
                # at its next commit: a room can arrive with no event at all, its members
                # moved here from a draining node (server/drain.py).
                seeded = Commit(room, feed.epoch, (), feed.state, self._link.clock(), feed.seq)
                self._tell(lambda lst: lst.on_commit(seeded))
        except BaseException:
            if self._feeds.get(room) is feed:
                del self._feeds[room]
                await self._leave(room)
            feed.close()
            raise

    async def _await_seeded(self, feed: Feed) -> None:
        try:
            async with asyncio.timeout(self._link.timing.timeout_seconds * 2):
                await asyncio.shield(feed.seeded)
        except TimeoutError:
            feed.refs -= 1
            raise BrokerDown("subscribe timed out") from None
        except asyncio.CancelledError:
            feed.refs -= 1
            if feed.seeded.cancelled():  # the first subscriber failed: so do we
                raise BrokerDown("subscribe failed") from None
            raise

    async def unsubscribe(self, room: RoomId) -> None:
        feed = self._feeds.get(room)
        if feed is None:
            return
        feed.refs -= 1
        if feed.refs > 0:
            return
        del self._feeds[room]
        feed.close()
        await self._leave(room)

    async def _leave(self, room: RoomId) -> None:
        """Stop serving `room`: off its channel, and out of its serving nodes (a task made
        now reaches the courier before any later join; best effort: a node left behind only
        costs Redis a publish to nobody until the set expires)."""
        keys = w.RoomKeys.of(room)
        await self._sub.unsubscribe(keys.to + self.node_id)  # never waits
        self._link.spawn(self._quietly(self._link.courier.call("SREM", keys.nodes, self.node_id)))

    @staticmethod
    async def _quietly(call: Awaitable[object]) -> None:
        with contextlib.suppress(Exception):
            await call

    # --- seats, presence, signals ----------------------------------------------------------

    async def save_seat(self, room: RoomId, member: MemberId, secret_hash: str) -> None:
        keys = w.RoomKeys.of(room)
        await self._link.run("seat", [keys.state, keys.seats], [member, secret_hash, self._ttl])
        feed = self._feeds.get(room)
        if feed is not None:
            feed.seats[member] = secret_hash  # to write back should the room be restored

    async def seat_matches(self, room: RoomId, member: MemberId, secret_hash: str) -> bool:
        with self._link.guard():
            stored = await self._link.client.hget(w.RoomKeys.of(room).seats, member)
        if stored is None:
            return False
        text = stored.decode() if isinstance(stored, bytes) else stored
        return hmac.compare_digest(text, secret_hash)

    async def drop_seat(self, room: RoomId, member: MemberId) -> None:
        with self._link.guard():
            await self._link.client.hdel(w.RoomKeys.of(room).seats, member)
        feed = self._feeds.get(room)
        if feed is not None:
            feed.seats.pop(member, None)

    async def claim(self, room: RoomId, member: MemberId) -> None:
        keys = w.RoomKeys.of(room)
        kick = w.frame("k", [room, member])
        await self._link.run(
            "claim", [keys.where], [member, self.node_id, self._ttl, w.NODE_PREFIX, kick]
        )
        feed = self._feeds.get(room)
        if feed is not None:
            feed.claims.add(member)

    async def reap(self, rooms: Sequence[RoomId]) -> dict[RoomId, list[MemberId]]:
        return await self._presence.reap(rooms)

    async def may_reap(self) -> bool:
        return await self._presence.may_reap()

    async def direct(self, room: RoomId, to: MemberId, payload: bytes) -> None:
        keys = w.RoomKeys.of(room)
        message = w.frame("s", [room, to, payload])
        route = await self._link.run(
            "direct", [keys.where, keys.nodes], [to, self.node_id, keys.to, w.NODE_PREFIX, message]
        )
        if route == b"local":
            self._tell(lambda lst: lst.on_direct(room, to, payload))

    async def drop_room(self, room: RoomId) -> None:
        keys = w.RoomKeys.of(room)
        epoch = await self._link.run("drop", keys.all(), [self._ttl, keys.to])
        with contextlib.suppress(BrokerDown), self._link.guard():
            await self._link.client.srem(w.ROOMS_KEY, room)
        if epoch is None:
            return
        ended = epoch.decode()
        feed = self._feeds.get(room)
        if feed is None:
            self._tell(lambda lst: lst.on_dropped(room, ended))
        elif feed.epoch == ended:
            feed.end(ended)
        else:
            self._keeper.want_sync(feed)

    @property
    def _ttl(self) -> int:
        return self._link.ttl_ms

    # --- what pub/sub brings ---------------------------------------------------------------

    def _on_message(self, channel: str, data: bytes) -> None:
        if data.startswith(b"c "):  # a room's commit: most of what arrives
            self._on_commit(channel, data)
            return
        try:
            msg = w.parse(data)
        except Exception:  # another version's message, or damage: never fatal
            log.warning("unreadable message", reason="parse")
            return
        if isinstance(msg, w.HeartbeatMsg):
            self._presence.heard()
        elif isinstance(msg, w.SignalMsg):
            self._tell(lambda lst: lst.on_direct(msg.room, msg.to, msg.payload))
        elif isinstance(msg, w.KickMsg):
            feed = self._feeds.get(msg.room)
            if feed is not None:
                feed.claims.discard(msg.member)
            self._tell(lambda lst: lst.on_kick(msg.room, msg.member))
        else:
            feed = self._room_feed(channel)
            if feed is not None:
                self._on_room_message(feed, msg)

    def _room_feed(self, channel: str) -> Feed | None:
        """The feed a message on `channel` is for; None if none (or the fault hook lost it)."""
        room = w.room_of_channel(channel)
        feed = self._feeds.get(room) if room is not None else None
        if feed is None:
            return None
        if self.faults.drop_room_messages and (
            self.faults.rng.random() < self.faults.drop_room_messages
        ):
            self.stats.dropped_messages += 1
            return None
        return feed

    def _on_commit(self, channel: str, data: bytes) -> None:
        feed = self._room_feed(channel)
        if feed is None:
            return
        try:
            head = w.commit_head(data)
            if (
                feed.ready
                and head.top is not None
                and head.epoch == feed.epoch
                and head.top <= feed.seq
            ):
                return  # delivered already: the body needn't be read
            now, events = w.commit_body_of(head, data)
        except Exception:  # another version's message, or damage: never fatal
            log.warning("unreadable message", reason="parse")
            return
        key = (head.dedupe, now + self._limits.dedupe_window_seconds) if head.dedupe else None
        batch = Batch(head.epoch, head.first, events, now, head.drop, None, head.v, key)
        if feed.offer(batch):
            # A gap behind our own commit in flight is most likely that commit.
            wait = GAP_WAIT if self._transactor.busy(feed.room) else 0.0
            self._keeper.want_sync(feed, wait)

    def _on_room_message(self, feed: Feed, msg: w.Message) -> None:
        """A drop or restore message (commits go by `_on_commit`)."""
        if isinstance(msg, w.DropMsg) and feed.ready and feed.epoch == msg.epoch:
            feed.end(msg.epoch)
        elif isinstance(msg, w.DropMsg | w.RestoreMsg):
            if not feed.ready:
                feed.dirty = True
            elif msg.epoch not in feed.gone and msg.epoch != feed.epoch:
                self._keeper.want_sync(feed)

    def _on_up(self, again: bool) -> None:
        if again:
            log.info("pubsub reconnected", node=self.node_id, rooms=len(self._feeds))
            self._link.spawn(self._after_reconnect())

    async def _after_reconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self._link.pool.disconnect(inuse_connections=False)  # idle ones may be stale
        await self._keeper.recheck_all()

    def _tell(self, call: Callable[[Listener], None]) -> None:
        try:
            call(self._listener)
        except Exception:  # the listener's bug must not break the broker
            log.exception("listener failed")
