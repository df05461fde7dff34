"""One `transact` of the Redis broker: read, decide here, compare-and-set, deliver.

The fast path, ONE round trip, for decisions whose events leave the state as it is (chat,
reactions, lobby messages: the events `evolve` returns the state unchanged for; support
notes are kept in state, so they go the full path) in a room this node serves: the
decision runs on the feed's mirror of the room, with `now` from the local estimate of the
shared clock (`Link.clock`), and the `append` script adds its events if the room is still at
the mirror's epoch and state version `v`, which makes the mirror exactly the stored state.
A stale mirror (STALE), a decision that changes the state, makes no events or is refused,
goes the full path, which decides again on what Redis holds.

The full path, two round trips when nobody else writes the room: (1) a pipeline of `TIME`,
`HGETALL` of the room's hash and, with a dedupe key, its entry in the dedupe set; (2) the
commit script, which stores, appends, records the dedupe key and publishes in one step, if
the epoch (and, for events that change the state, its version) is still what was read.
Otherwise CONFLICT: read again and decide again, after a short random pause (bounded by
attempts and by the transact's time budget). A decision whose events leave the state as it
was skips the version check: it can't lose an update, so it never conflicts with commands.

Rules:
- A refusal raised by the decision stores nothing, spends no seq and no dedupe key.
- A repeated dedupe key runs nothing: the read in (1) sees it, and the fast path knows the
  keys of the commits its feed delivered; the script checks again (so on the fast path a
  key used moments ago on another node, not yet heard here, is found after the decision
  ran on the mirror: nothing is stored and the answer is `Duplicate` all the same).
- On one node, the full paths of one room take turns (a lock per room), so conflicts only
  come from other nodes; waiting for the turn counts against the time budget. The fast path
  does not wait for the turn: its appends change no state, so Redis may take those of one
  room in any order (a state change between them only makes the later one STALE), and
  they share the one connection whose replies come back in the order sent. Were it to
  wait, each member's chat would queue behind the round trip of every chat before it in
  the same room: under load, latency that grows with the room's rate.
- The listener hears of the commit before `transact` returns, after any earlier commit that
  pub/sub has not brought yet (the feed fetches those from the log). Pub/sub never brings a
  node its own commits, so a transact that failed without an answer (Redis may have stored
  it all the same) asks for a sync of the room.
- A room whose keys vanished while this node serves it is restored first (the keeper), so
  a command can't start a fresh meeting over the members' heads.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.exceptions import ConnectionError as RedisConnectionError

from rooms import RoomId, RoomState, replay
from rooms.errors import RoomError
from signaling import redis_wire as w
from signaling.broker import BrokerDown, Commit, Decision, Duplicate, Listener, Sequenced
from signaling.limits import Limits
from signaling.redis_feed import Batch, Feed
from signaling.redis_keeper import GAP_WAIT, Keeper
from signaling.redis_link import Link
from signaling.state_codec import decode, encode

MAX_ATTEMPTS = 64  # commit attempts of one transact, within its time budget
FAST_CLOCK_SECONDS = 300.0  # the fast path needs a clock offset measured this recently

Tell = Callable[[Callable[[Listener], None]], None]


@dataclass(slots=True)
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Transactor:
    def __init__(
        self,
        link: Link,
        keeper: Keeper,
        limits: Limits,
        *,
        node_id: str,
        grace_seconds: float,
        tell: Tell,
    ) -> None:
        self._link = link
        self._node = w.published_node(node_id)
        self._keeper = keeper
        self._limits = limits
        # History must reach back at least as far as anyone may be away and still resume.
        self.history_seconds = max(limits.history_seconds, grace_seconds * 2)
        self._tell = tell
        self._turns: dict[RoomId, _Turn] = {}

    def busy(self, room: RoomId) -> bool:
        """Whether a transact on `room` is under way here (its commit may be in flight)."""
        return room in self._turns

    async def transact(
        self, room: RoomId, decide: Decision, dedupe: str | None
    ) -> Commit | Duplicate:
        link = self._link
        budget = asyncio.get_running_loop().time() + link.timing.transact_seconds
        link.stats.transacts += 1
        turn = self._turns.get(room)
        if turn is None:
            turn = self._turns[room] = _Turn()
        turn.users += 1
        try:
            feed = self._keeper.feeds.get(room)
            if feed is not None and feed.current and link.clock_age() < FAST_CLOCK_SECONDS:
                fast = await self._append(feed, w.RoomKeys.of(room), decide, dedupe, budget)
                if fast is not None:
                    return fast
            if turn.lock.locked():
                link.stats.turn_waits += 1
                try:
                    async with asyncio.timeout_at(budget):
                        await turn.lock.acquire()
                except TimeoutError:
                    raise BrokerDown("the room is busy") from None
            else:
                await turn.lock.acquire()  # free: taken at once, no timer needed
            try:
                return await self._transact(room, decide, dedupe, budget)
            finally:
                turn.lock.release()
        except BrokerDown:
            feed = self._keeper.feeds.get(room)
            if feed is not None:
                self._keeper.want_sync(feed)
            raise
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._turns[room]

    async def _transact(
        self, room: RoomId, decide: Decision, dedupe: str | None, budget: float
    ) -> Commit | Duplicate:
        """The full path, in the room's turn."""
        link, keys = self._link, w.RoomKeys.of(room)
        for attempt in range(MAX_ATTEMPTS):
            if attempt and asyncio.get_running_loop().time() > budget:
                break
            now, stored, duplicate = await self._load(keys, dedupe)
            if duplicate:
                return Duplicate()
            feed = self._keeper.feeds.get(room)
            if feed is not None and self._keeper.lost(feed, stored):
                await self._keeper.sync_now(feed, self._left(budget))  # restore, or learn why
                continue
            state = self._state(feed, stored)
            events = decide(state, now)  # a refusal raises here, before anything is stored
            if not events:
                if dedupe is None or not stored.epoch:
                    return Commit(room, stored.epoch, (), state, now, stored.seq)
                verdict = await link.run(
                    "mark",
                    [keys.state, keys.dedupe],
                    [stored.epoch, dedupe, self._expiry(now), repr(now), link.ttl_ms],
                )
                if verdict == b"OK":
                    return Commit(room, stored.epoch, (), state, now, stored.seq)
                if verdict == b"DUP":
                    return Duplicate()
                await _backoff(attempt)
                continue
            after = replay(events, state)
            changes = not stored.epoch or after != state
            drop = after.ended or not after.people
            packed = [w.pack_event(ev) for ev in events]
            if not stored.epoch:  # before the room exists, so live_rooms can't miss it
                with link.guard():
                    await link.client.sadd(w.ROOMS_KEY, room)
            result = await link.run(
                "commit",
                keys.all(),
                [
                    "s" if changes else "n",
                    stored.epoch,
                    stored.v,
                    secrets.token_hex(6),
                    repr(now),
                    dedupe or "",
                    self._expiry(now),
                    encode(after) if changes else b"",
                    "1" if drop else "0",
                    self._limits.history_events,
                    repr(now - self.history_seconds),
                    link.ttl_ms,
                    keys.to,
                    w.commit_body(now, packed),
                    w.published_key(dedupe),
                    self._node,
                    *packed,
                ],
            )
            if result[0] == b"CONFLICT":
                link.stats.conflicts += 1
                await _backoff(attempt)
                continue
            if result[0] == b"DUP":
                return Duplicate()
            epoch, first, top, v = (
                result[1].decode(),
                int(result[2]),
                int(result[3]),
                int(result[4]),
            )
            moved = result[5]
            if moved:  # chat after a concurrent command: the stored state is the state after
                after = decode(moved)
            if drop:
                with contextlib.suppress(BrokerDown), link.guard():
                    await link.client.srem(w.ROOMS_KEY, room)
            sequenced = tuple(Sequenced(first + i, ev) for i, ev in enumerate(events))
            commit = Commit(room, epoch, sequenced, after, now, top)
            await self._deliver_own(commit, drop, budget, v, self._key(dedupe, now))
            return commit
        raise BrokerDown("too many writers at once")

    async def _append(
        self, feed: Feed, keys: w.RoomKeys, decide: Decision, dedupe: str | None, budget: float
    ) -> Commit | Duplicate | None:
        """The fast path; None when the full path must decide (see the module's doc)."""
        link = self._link
        epoch, v, state = feed.epoch, feed.v, feed.state
        assert v is not None  # feed.current
        now = link.clock()
        if dedupe is not None and feed.seen(dedupe, now):
            return Duplicate()
        try:
            events = decide(state, now)
        except RoomError:
            return None  # perhaps refused only because the mirror is behind: ask Redis
        if not events or replay(events, state) is not state:
            return None
        packed = [w.pack_event(ev) for ev in events]
        result = await link.run(
            "append",
            keys.all()[:6],
            [
                epoch,
                v,
                repr(now),
                dedupe or "",
                self._expiry(now),
                w.published_key(dedupe),
                self._limits.history_events,
                repr(now - self.history_seconds),
                link.ttl_ms,
                keys.to,
                w.commit_body(now, packed),
                self._node,
                *packed,
            ],
        )
        if result[0] == b"STALE":
            link.stats.stale += 1
            return None
        if result[0] == b"DUP":
            return Duplicate()
        link.stats.appends += 1
        first, top = int(result[1]), int(result[2])
        sequenced = tuple(Sequenced(first + i, ev) for i, ev in enumerate(events))
        commit = Commit(feed.room, epoch, sequenced, state, now, top)
        await self._deliver_own(commit, False, budget, v, self._key(dedupe, now))
        return commit

    def _state(self, feed: Feed | None, stored: w.Stored) -> RoomState:
        """The stored state: the mirror's, when it is at the same epoch and version (no
        decoding), else decoded from what was read."""
        if (
            feed is not None
            and feed.ready
            and stored.epoch
            and feed.epoch == stored.epoch
            and feed.v == stored.v
        ):
            return feed.state
        return stored.room_state()

    def _key(self, dedupe: str | None, now: float) -> tuple[str, float] | None:
        return None if dedupe is None else (dedupe, now + self._limits.dedupe_window_seconds)

    async def _load(self, keys: w.RoomKeys, dedupe: str | None) -> tuple[float, w.Stored, bool]:
        link = self._link
        for attempt in range(2):
            try:
                with link.guard():
                    before = time.time()
                    async with link.client.pipeline(transaction=False) as pipe:
                        if link.fixed_clock is None:
                            pipe.time()
                        pipe.hgetall(keys.state)
                        if dedupe is not None:
                            pipe.zscore(keys.dedupe, dedupe)
                        out = await pipe.execute()
                    after = time.time()
                break
            except BrokerDown as exc:
                # Reads are safe to repeat once on a connection Redis cut (it restarted);
                # a timeout is not repeated: the caller hears within the budget.
                if attempt or not isinstance(exc.__cause__, RedisConnectionError):
                    raise
        if link.fixed_clock is None:
            seconds, micros = out.pop(0)
            now = seconds + micros / 1e6
            link.note_clock(now, before, after)
        else:
            now = link.fixed_clock()
        duplicate = dedupe is not None and out[1] is not None and float(out[1]) > now
        return now, w.Stored.of(out[0]), duplicate

    def _expiry(self, now: float) -> str:
        return repr(now + self._limits.dedupe_window_seconds)

    def _left(self, budget: float) -> float:
        left = budget - asyncio.get_running_loop().time()
        return max(left, self._link.timing.timeout_seconds)

    async def _deliver_own(
        self,
        commit: Commit,
        drop: bool,
        budget: float,
        v: int | None,
        dedupe: tuple[str, float] | None,
    ) -> None:
        """The listener hears of our own commit before `transact` returns: right away, or
        after the commits before it that pub/sub hasn't brought yet (usually on their way:
        the sync waits a moment for them, then reads them from the log)."""
        feed = self._keeper.feeds.get(commit.room)
        if feed is None:  # not served here: still tell the listener (timers observe it)
            self._tell(lambda lst: lst.on_commit(commit))
            if drop:
                self._tell(lambda lst: lst.on_dropped(commit.room, commit.epoch))
            return
        first = commit.events[0].seq
        batch = Batch(commit.epoch, first, commit.events, commit.now, drop, commit.state, v, dedupe)
        if feed.offer(batch):
            self._keeper.want_sync(feed, GAP_WAIT)
        if not feed.delivered(commit.epoch, commit.seq):
            await feed.wait(commit.epoch, commit.seq, self._left(budget))


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, min(0.001 * 2 ** min(attempt, 6), 0.05)))
