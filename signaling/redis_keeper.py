"""Keeping every room this node serves whole: gaps, lost tails, lost keys, rollbacks.

Pub/sub is the fast path and may lose messages; Redis is the truth. A room's `Feed` asks
for a sync when it can't place what arrived; the keeper also re-checks every served room's
epoch and top seq after each pub/sub reconnect and every `recheck_seconds` (a lost last
message shows no gap until the next one). Two waits spare a sync that pub/sub makes
needless: a gap in front of this node's own commit (another node's commit, published
before ours, is usually on its way) is synced only if still open after `GAP_WAIT`, and a
re-check that finds a room a few seqs ahead looks again after `LATE_WAIT`. A sync reads
the room's hash and the log after the delivered seq in one MULTI, and then:

- same epoch, more events: deliver them from the log (or, if they were trimmed, jump to the
  stored state);
- same epoch, FEWER events than delivered: Redis lost acknowledged writes (a machine crash
  past `appendfsync`). Seqs must never be reused, so the room is restored from this node's
  mirror under a new epoch;
- no room at all while this node still has a meeting there (Redis restarted empty,
  FLUSHALL): restore from the mirror under a new epoch; the first node wins by the script's
  compare-and-set; a room dropped on purpose (its `gone` tombstone) is never brought back;
- another epoch: restored from ours (its `from`): jump to it; otherwise ours ended.

After a restore, every node writes back the seats and connection places it knows, so its
members can resume on any node.

Every sync also puts this node (back) in the room's set of serving nodes before it reads,
and so does every write-back after a restore: the set may have gone with the rest of the
room's keys (or been cut by hand), and until the node is back nobody publishes to it. A
node left out of a room that is written shows at the next re-check as behind, and syncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import structlog
from redis.asyncio.client import Pipeline

from rooms import RoomId
from signaling import redis_wire as w
from signaling.broker import BrokerDown
from signaling.redis_feed import Feed
from signaling.redis_link import Link, stop_if_cancelled
from signaling.redis_scripts import RESTORED_V
from signaling.state_codec import encode

log = structlog.get_logger("hearth.redis")

FILL_BATCH = 500  # log entries read per round when filling a gap
SYNC_ROUNDS = 20  # steps of one sync; what is left waits for the next re-check
JOIN_REPLIES = 2  # of `_join`, ahead of a sync's read in its MULTI
GAP_WAIT = 0.05  # seconds pub/sub gets to fill a gap in front of our own commit
LATE_WAIT = 0.1  # seconds pub/sub gets to bring what a re-check found missing


class Keeper:
    def __init__(self, link: Link, node_id: str) -> None:
        self._link = link
        self._node_id = node_id
        self.feeds: dict[RoomId, Feed] = {}

    def want_sync(self, feed: Feed, wait: float = 0.0) -> None:
        """Sync `feed` now or, with `wait`, only if it still has a gap by then."""
        if feed.sync_task is not None and not feed.sync_task.done():
            # Another gap while the task still waits to see whether pub/sub fills one: it
            # looks at every gap when it wakes. Anything else makes it sync (again).
            if not (wait and feed.sync_waiting):
                feed.sync_again = True
            return
        feed.sync_task = self._link.spawn(self._sync(feed, wait))

    async def sync_now(self, feed: Feed, seconds: float) -> None:
        """Sync `feed` and wait for it, at most `seconds`."""
        self.want_sync(feed)
        task = feed.sync_task
        if task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await asyncio.shield(task)

    @staticmethod
    def lost(feed: Feed, stored: w.Stored) -> bool:
        """The room's keys are gone while this node still has a meeting there."""
        return (
            not stored.epoch
            and feed.ready
            and bool(feed.epoch)
            and bool(feed.state.people)
            and not feed.state.ended
        )

    async def recheck_all(self) -> None:
        feeds = [f for f in self.feeds.values() if f.ready]
        if not feeds:
            return
        try:
            with self._link.guard():
                async with self._link.client.pipeline(transaction=False) as pipe:
                    for feed in feeds:
                        pipe.hmget(w.RoomKeys.of(feed.room).state, ["epoch", "seq", "v"])
                    tops = await pipe.execute()
        except BrokerDown:
            return  # the next beat or reconnect tries again
        late: list[tuple[Feed, str, int]] = []
        for feed, (epoch, seq, v) in zip(feeds, tops, strict=True):
            stored = (epoch.decode(), int(seq)) if epoch is not None else ("", 0)
            if stored == (feed.epoch, feed.seq):
                if v is not None:
                    feed.known(stored[0], stored[1], int(v))
            elif stored[0] == feed.epoch and stored[1] > feed.seq:
                late.append((feed, *stored))  # commits in flight, most likely
            else:
                self.want_sync(feed)
        if late:
            await asyncio.sleep(LATE_WAIT)
            for feed, epoch, seq in late:
                if self.feeds.get(feed.room) is feed and feed.epoch == epoch and feed.seq < seq:
                    self.want_sync(feed)

    # --- one sync --------------------------------------------------------------------------

    async def _sync(self, feed: Feed, wait: float) -> None:
        if wait:
            feed.sync_waiting = True
            try:
                await asyncio.sleep(wait)
            finally:
                feed.sync_waiting = False
            if not feed.ahead and not feed.sync_again:
                return  # pub/sub filled the gap meanwhile
        self._link.stats.syncs += 1
        for _ in range(SYNC_ROUNDS):
            feed.sync_again = False
            if self.feeds.get(feed.room) is not feed:
                return  # no longer served here
            try:
                done = await self._step(feed)
            except BrokerDown:
                return  # the next re-check or reconnect tries again
            stop_if_cancelled()
            if done and not feed.sync_again:
                return

    async def _step(self, feed: Feed) -> bool:
        """One step towards what Redis holds; True once the feed has caught up."""
        keys = w.RoomKeys.of(feed.room)
        # Pub/sub may deliver more while Redis answers: judge Redis against what the feed
        # had when it was read, and the log read from there against what it has now.
        read_epoch, read_seq = feed.epoch, feed.seq
        with self._link.guard():
            async with self._link.client.pipeline(transaction=True) as pipe:
                self._join(pipe, keys)
                pipe.hgetall(keys.state)
                pipe.xrange(keys.log, min=f"{read_seq + 1}-0", count=FILL_BATCH)
                raw, entries = (await pipe.execute())[JOIN_REPLIES:]
        stored = w.Stored.of(raw)
        if feed.epoch and stored.epoch == feed.epoch:
            if stored.seq < read_seq and feed.epoch == read_epoch:
                await self._restore(feed, stored, "rolled back")
                return False
            if stored.seq < feed.seq:  # delivered past what Redis held when read
                return not feed.ahead
            if stored.seq == feed.seq:
                feed.ahead.clear()
                feed.known(stored.epoch, stored.seq, stored.v)
                return True
            return self._fill(feed, stored, entries)
        if not stored.epoch:
            if not feed.epoch:
                return True
            if self.lost(feed, stored) and feed.refs > 0:
                await self._restore(feed, stored, "lost")
                return False
            feed.end(feed.epoch)
            return True
        if feed.epoch:
            if stored.previous == feed.epoch:  # another node restored our meeting
                feed.jump(
                    stored.epoch, stored.seq, stored.room_state(), self._link.clock(), stored.v
                )
                await self._reclaim(feed)
                return True
            feed.end(feed.epoch)
            return False
        if not stored.previous and entries and w.seq_of(entries[0][0]) == 1:
            return self._fill(feed, stored, entries)  # a new meeting, replayable from seq 1
        feed.jump(stored.epoch, stored.seq, stored.room_state(), self._link.clock(), stored.v)
        return True

    def _fill(self, feed: Feed, stored: w.Stored, entries: list[w.LogEntry]) -> bool:
        try:
            batches = w.batches_of(stored.epoch, entries, stored.seq)
        except (ValueError, KeyError, TypeError):
            log.error("history unreadable", room=feed.room)
            batches = []
        if not batches or batches[0].first > feed.seq + 1:
            # What we'd need was trimmed: carry on from the state as it is now. (Batches
            # from before `feed.seq` came by pub/sub while Redis answered: `offer` skips.)
            feed.jump(stored.epoch, stored.seq, stored.room_state(), self._link.clock(), stored.v)
            return True
        for batch in batches:
            self._link.stats.filled += len(batch.events)
            feed.offer(batch)
        feed.known(stored.epoch, stored.seq, stored.v)  # log entries don't carry it
        return feed.epoch != stored.epoch or feed.seq >= stored.seq

    async def _restore(self, feed: Feed, stored: w.Stored, reason: str) -> None:
        keys = w.RoomKeys.of(feed.room)
        epoch = secrets.token_hex(6)
        verdict = await self._link.run(
            "restore",
            [keys.state, keys.log, keys.dedupe, keys.gone, keys.nodes],
            [
                stored.epoch,
                stored.seq,
                feed.epoch,
                epoch,
                encode(feed.state),
                self._link.ttl_ms,
                keys.to,
                self._node_id,
            ],
        )
        if verdict == b"GONE":
            feed.end(feed.epoch)
        elif verdict == b"OK":
            self._link.stats.restores += 1
            log.warning("room restored", room=feed.room, epoch=epoch, reason=reason)
            with contextlib.suppress(BrokerDown), self._link.guard():
                await self._link.client.sadd(w.ROOMS_KEY, feed.room)
            feed.jump(epoch, 0, feed.state, self._link.clock(), RESTORED_V)
            await self._reclaim(feed)

    def _join(self, pipe: Pipeline, keys: w.RoomKeys) -> None:
        """Queue this node's (re)joining of the room's serving nodes: JOIN_REPLIES replies."""
        pipe.sadd(keys.nodes, self._node_id)
        pipe.pexpire(keys.nodes, self._link.ttl_ms)

    async def _reclaim(self, feed: Feed) -> None:
        """Write back what this node knows: its members' seats and where they are held."""
        keys = w.RoomKeys.of(feed.room)
        ttl = self._link.ttl_ms
        with contextlib.suppress(BrokerDown), self._link.guard():
            async with self._link.client.pipeline(transaction=False) as pipe:
                self._join(pipe, keys)
                if feed.seats:
                    pipe.hset(keys.seats, mapping={str(m): h for m, h in feed.seats.items()})
                    pipe.pexpire(keys.seats, ttl)
                if feed.claims:
                    pipe.hset(keys.where, mapping={str(m): self._node_id for m in feed.claims})
                    pipe.pexpire(keys.where, ttl)
                await pipe.execute()
