"""`RedisBroker` against a real redis-server started here (never the shared 6379).

First the broker contract, the same suite `MemoryBroker` passes; then what only many nodes
on one Redis can show: two brokers ("nodes") writing one room at once, lost pub/sub
messages, Redis crashing, restarting empty or freezing, kicks, reaping a dead node's
members, and signals routed to the node that holds their target. Timings are shortened
(`FAST`) so a dead node or a lost tail is noticed in a second, not in ten.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from rooms import AnyEvent, MemberId, RoomId, RoomState, replay
from rooms import commands as c
from rooms import events as e
from rooms.errors import RoomError
from rooms.state import Role
from signaling import redis_wire as w
from signaling.broker import (
    Broker,
    BrokerDown,
    Commit,
    Decision,
    Duplicate,
    RoomView,
    Sequenced,
)
from signaling.limits import Limits
from signaling.redis_broker import Faults, RedisBroker, RedisTiming
from signaling.redis_scripts import MAINTAIN_EVERY
from tests import redis_server
from tests.redis_server import RedisServer
from tests.unit.signaling.broker_contract import (
    T0,
    BrokerContract,
    Counting,
    F,
    Recorder,
    arrive,
    chats,
    committed,
    engine,
)

FAST = RedisTiming(
    heartbeat_seconds=0.2, node_ttl_seconds=1.0, recheck_seconds=0.5, reap_lock_seconds=0.5
)
M = MemberId("m1")

pytestmark = pytest.mark.skipif(not redis_server.available(), reason="no redis-server")


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer.launch(tmp_path_factory.mktemp("redis")) as server:
        yield server


class TestRedisBroker(BrokerContract):
    @pytest.fixture(autouse=True)
    def _redis(self, shared_redis: RedisServer) -> None:
        self.url = shared_redis.url

    async def make_broker(
        self, limits: Limits, grace_seconds: float, clock: Callable[[], float]
    ) -> Broker:
        return RedisBroker(self.url, limits, grace_seconds=grace_seconds, clock=clock, timing=FAST)


# --- many nodes ------------------------------------------------------------------------------


class Node:
    """One RedisBroker with a recording listener, as one Hearth node would hold it."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.heard = Recorder()
        broker.attach(self.heard)

    def gapless(self, room: RoomId) -> list[int]:
        """The seqs this node's listener saw, checked to be consecutive within each epoch
        (a commit without events that changes epoch or jumps is where a run may restart)."""
        seen: list[int] = []
        epoch, top = "", 0
        for cm in self.heard.commits:
            if cm.room != room:
                continue
            if not cm.events:
                epoch, top = cm.epoch, cm.seq
                continue
            if cm.epoch != epoch:
                assert cm.events[0].seq == 1, (epoch, cm)
                epoch, top = cm.epoch, 0
            for sq in cm.events:
                assert sq.seq == top + 1, f"gap or repeat at {sq.seq} after {top}"
                top = sq.seq
                seen.append(sq.seq)
        return seen

    def top(self, room: RoomId) -> int:
        mine = [cm for cm in self.heard.commits if cm.room == room]
        return mine[-1].seq if mine else 0


Opener = Callable[..., Awaitable[Node]]


@pytest.fixture
async def nodes(shared_redis: RedisServer) -> AsyncIterator[Opener]:
    opened: list[RedisBroker] = []

    async def open_(url: str | None = None, **kw: object) -> Node:
        kw.setdefault("timing", FAST)
        broker = RedisBroker(url or shared_redis.url, Limits(), grace_seconds=5.0, **kw)  # type: ignore[arg-type]
        node = Node(broker)
        await broker.start()
        opened.append(broker)
        return node

    yield open_
    for broker in reversed(opened):
        await broker.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server for this test alone, which it may kill, pause or empty."""
    with RedisServer.launch(tmp_path / "redis") as server:
        yield server


def fresh_room() -> RoomId:
    return RoomId(f"room-{secrets.token_hex(4)}")


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Poll `check` until it holds (bounded): for what needs a reconnect first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if await check():
                return
        except BrokerDown:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("never happened")
        await asyncio.sleep(0.05)


async def retrying(broker: RedisBroker, room: RoomId, decision: Decision) -> Commit:
    """Commit once Redis answers again (bounded)."""
    deadline = time.monotonic() + 10.0
    while True:
        try:
            return await committed(broker, room, decision)
        except BrokerDown:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def both(a: Node, b: Node, room: RoomId) -> None:
    await a.broker.subscribe(room)
    await b.broker.subscribe(room)


async def caught_up(room: RoomId, *nodes: Node, seconds: float = 5.0) -> int:
    """Wait until every node's listener reached the stored top; returns it."""
    top = (await nodes[0].broker.read(room)).seq
    for node in nodes:
        await node.heard.until(lambda n=node: n.top(room) >= top, seconds)  # type: ignore[misc]
    return top


async def consistent(room: RoomId, *nodes: Node) -> RoomView:
    """The stored history is gapless and replays to the stored state, and every node heard
    all of it, in order, ending at that state; returns what is stored."""
    view = await nodes[0].broker.read(room)
    history = await nodes[0].broker.history(room, view.epoch, 0)
    assert history is not None
    assert [sq.seq for sq in history] == list(range(1, view.seq + 1))
    assert replay(sq.event for sq in history) == view.state
    top = await caught_up(room, *nodes)
    for node in nodes:
        assert node.gapless(room) == list(range(1, top + 1))
        assert node.heard.commits[-1].state == view.state
    return view


async def attempt(broker: RedisBroker, room: RoomId, decision: Decision) -> None:
    with contextlib.suppress(RoomError):  # refused in the moment: fine in a crowd
        await broker.transact(room, decision)


def crowd(n: int, prefix: str) -> list[Decision]:
    """Arrivals (state changes) and chats (none) for one node to fire at once."""
    out: list[Decision] = []
    for i in range(n):
        member = MemberId(f"{prefix}{i}")
        out.append(arrive(member, Role.MEMBER))
        out.append(chats(1 + i % 2, start=1000 * i))
    return out


# --- two writers, one room ---------------------------------------------------------------------


async def test_two_nodes_writing_one_room_never_gap_or_repeat(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await asyncio.gather(
        *(attempt(a.broker, room, d) for d in crowd(25, "a")),
        *(attempt(b.broker, room, d) for d in crowd(25, "b")),
    )
    view = await consistent(room, a, b)
    assert len(view.state.people) == 51  # F and every arrival: no lost update
    assert a.broker.stats.conflicts + b.broker.stats.conflicts > 0  # they did collide


async def test_chat_never_conflicts_with_commands(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await asyncio.gather(
        *(attempt(a.broker, room, chats(1, start=i)) for i in range(30)),
        *(attempt(b.broker, room, engine(c.Lock() if i % 2 else c.Unlock(), F)) for i in range(30)),
    )
    assert a.broker.stats.conflicts == 0  # only the chats were on a
    top = await caught_up(room, a, b)
    assert a.gapless(room) == b.gapless(room) == list(range(1, top + 1))


async def test_a_commit_with_a_gap_before_it_is_delivered_after_the_gap(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    b.broker.faults.drop_room_messages = 1.0  # b hears nothing of a's commits
    await committed(a.broker, room, arrive(F))
    await committed(a.broker, room, chats(3))
    own = await committed(b.broker, room, chats(1, start=9))  # seq 5: 1..4 come from the log
    assert own.seq == 5
    assert b.gapless(room) == [1, 2, 3, 4, 5]  # all there before transact returned
    assert b.heard.commits[-1] == own


# --- who is sent what ---------------------------------------------------------------------------


async def test_a_rooms_messages_go_to_the_nodes_serving_it_never_back_to_their_maker(
    shared_redis: RedisServer, nodes: Opener
) -> None:
    a, b = await nodes(clock=time.time), await nodes(clock=time.time)
    room = fresh_room()
    keys = w.RoomKeys.of(room)
    to_a, to_b = keys.to + a.broker.node_id, keys.to + b.broker.node_id
    spy = aioredis.Redis(port=shared_redis.port)
    pubsub = spy.pubsub()
    try:
        await pubsub.subscribe(to_a, to_b)
        await both(a, b, room)
        assert await spy.smembers(keys.nodes) == {n.broker.node_id.encode() for n in (a, b)}
        await committed(a.broker, room, arrive(F))  # the full path
        await committed(a.broker, room, chats(2))  # the fast path
        await committed(b.broker, room, chats(1, start=7))
        await a.broker.drop_room(room)
        heard: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg is not None:
                heard.append((msg["channel"], msg["data"][:1]))
        assert heard[:3] == [(to_b.encode(), b"c"), (to_b.encode(), b"c"), (to_a.encode(), b"c")]
        assert sorted(heard[3:]) == sorted([(to_a.encode(), b"d"), (to_b.encode(), b"d")])
        await b.broker.unsubscribe(room)

        async def left() -> bool:
            return await spy.smembers(keys.nodes) == {a.broker.node_id.encode()}

        await eventually(left)
    finally:
        await pubsub.aclose()
        await spy.aclose()


async def test_a_node_missing_from_the_serving_nodes_is_put_back_and_misses_nothing(
    shared_redis: RedisServer, nodes: Opener
) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await caught_up(room, a, b)
    spy = aioredis.Redis(port=shared_redis.port)
    try:
        await spy.delete(w.RoomKeys.of(room).nodes)  # nobody is told of the room any more
        for i in range(3):
            await committed(b.broker, room, chats(1, start=i))
        await consistent(room, a, b)  # a's re-check found it behind: it synced and rejoined
        assert await spy.smembers(w.RoomKeys.of(room).nodes) == {a.broker.node_id.encode()}
        await committed(a.broker, room, chats(1, start=9))
        await consistent(room, a, b)  # and so did b
        assert len(await spy.smembers(w.RoomKeys.of(room).nodes)) == 2
    finally:
        await spy.aclose()


async def test_a_commit_whose_answer_was_lost_reaches_its_own_node(
    nodes: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = dataclasses.replace(FAST, recheck_seconds=60.0)  # no re-check will help
    a = await nodes(clock=time.time, timing=slow)
    room = fresh_room()
    await a.broker.subscribe(room)
    await committed(a.broker, room, arrive(F))
    link = a.broker._link  # the one way to lose an answer after Redis acted on it
    real = link.run

    async def answer_lost(
        name: str, keys: list[str], args: list[str | bytes | int | float]
    ) -> object:
        await real(name, keys, args)
        raise BrokerDown("answer lost")

    monkeypatch.setattr(link, "run", answer_lost)
    with pytest.raises(BrokerDown):
        await a.broker.transact(room, chats(1))
    monkeypatch.undo()
    await a.heard.until(lambda: a.top(room) == 2, 2.0)  # no echo comes: a sync brought it
    assert a.gapless(room) == [1, 2]


# --- lost messages -----------------------------------------------------------------------------


async def test_lost_pubsub_messages_are_filled_from_the_log(nodes: Opener) -> None:
    a = await nodes(faults=Faults(drop_room_messages=0.3))
    b = await nodes(faults=Faults(drop_room_messages=0.3))
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    for round_ in range(4):
        await asyncio.gather(
            *(attempt(a.broker, room, d) for d in crowd(8, f"a{round_}-")),
            *(attempt(b.broker, room, d) for d in crowd(8, f"b{round_}-")),
        )
    top = await caught_up(room, a, b)  # the lost tail comes with the periodic re-check
    for node in (a, b):
        assert node.gapless(room) == list(range(1, top + 1))
    stats = [a.broker.stats, b.broker.stats]
    assert sum(s.dropped_messages for s in stats) > 0
    assert sum(s.filled for s in stats) > 0
    view = await a.broker.read(room)
    assert a.heard.commits[-1].state == b.heard.commits[-1].state == view.state


async def test_a_lost_drop_message_ends_the_epoch_without_a_restore(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    first = await committed(a.broker, room, arrive(F))
    await caught_up(room, b)
    b.broker.faults.drop_room_messages = 1.0
    await a.broker.drop_room(room)
    await b.heard.until(lambda: bool(b.heard.dropped), 5.0)
    assert b.heard.dropped == [(room, first.epoch)]
    assert (await b.broker.read(room)).epoch == ""
    assert b.broker.stats.restores == 0


# --- Redis fails -----------------------------------------------------------------------------


async def test_redis_crash_keeps_acknowledged_commits(
    own_redis: RedisServer, nodes: Opener
) -> None:
    a, b = await nodes(own_redis.url), await nodes(own_redis.url)
    room = fresh_room()
    await both(a, b, room)
    first = await committed(a.broker, room, arrive(F))
    acked = [await committed(b.broker, room, chats(1, start=i)) for i in range(20)]
    own_redis.restart(crash=True)  # kill -9: what was acknowledged is in the AOF
    history = None

    async def readable() -> bool:
        nonlocal history
        history = await a.broker.history(room, first.epoch, 1)
        return history is not None

    await eventually(readable)
    assert history == [sq for cm in acked for sq in cm.events]
    await eventually(a.broker.ready)
    await eventually(b.broker.ready)
    after = await retrying(a.broker, room, chats(1, start=99))
    assert after.epoch == first.epoch
    assert after.seq == 22
    await caught_up(room, a, b)
    for node in (a, b):
        assert node.gapless(room) == list(range(1, 23))


async def test_redis_restarted_empty_restores_the_room_under_a_new_epoch(
    own_redis: RedisServer, nodes: Opener
) -> None:
    a, b = await nodes(own_redis.url), await nodes(own_redis.url)
    room = fresh_room()
    await both(a, b, room)
    first = await committed(a.broker, room, arrive(F))
    await a.broker.save_seat(room, F, "hash-f")
    await a.broker.claim(room, F)
    joined = await committed(b.broker, room, arrive(M, Role.MEMBER))
    await b.broker.save_seat(room, M, "hash-m")
    await b.broker.claim(room, M)
    await caught_up(room, a, b)
    own_redis.restart(empty=True)

    def restored(node: Node) -> bool:
        return any(cm.epoch not in ("", first.epoch) for cm in node.heard.commits)

    for node in (a, b):
        await node.heard.until(lambda n=node: restored(n), 10.0)  # type: ignore[misc]
    view = await a.broker.read(room)
    assert view.epoch not in ("", first.epoch)
    assert view.state == joined.state  # everyone keeps their place
    for node in (a, b):
        jump = next(cm for cm in node.heard.commits if cm.epoch == view.epoch)
        assert (jump.events, jump.seq, jump.state) == ((), 0, joined.state)
        assert not node.heard.dropped  # a restore is not the end of the meeting
    assert a.broker.stats.restores + b.broker.stats.restores == 1  # the first node won
    await eventually(lambda: a.broker.seat_matches(room, M, "hash-m"))  # b wrote its seat back
    assert await b.broker.seat_matches(room, F, "hash-f")
    assert await a.broker.history(room, first.epoch, 0) is None
    assert await a.broker.history(room, view.epoch, 0) == []
    more = await retrying(b.broker, room, chats(1))
    assert (more.epoch, more.seq) == (view.epoch, 1)
    await caught_up(room, a, b)


async def test_history_rolled_back_by_redis_starts_a_new_epoch(
    own_redis: RedisServer, nodes: Opener
) -> None:
    # Redis lost its last second (a machine crash with appendfsync everysec): nodes have
    # delivered seqs it no longer has. Those seqs must never be handed out again.
    a = await nodes(own_redis.url)
    room = fresh_room()
    await a.broker.subscribe(room)
    first = await committed(a.broker, room, arrive(F))
    top = await committed(a.broker, room, chats(4))
    direct = redis.Redis(port=own_redis.port)
    direct.hset(f"hearth:{{{room}}}", "seq", "3")
    direct.close()
    await a.heard.until(lambda: a.heard.commits[-1].epoch != first.epoch, 5.0)
    jump = a.heard.commits[-1]
    assert (jump.seq, jump.events, jump.state) == (0, (), top.state)
    assert (await a.broker.read(room)).epoch == jump.epoch


async def test_redis_paused_fails_fast_then_recovers_gapless(
    own_redis: RedisServer, nodes: Opener
) -> None:
    a, b = await nodes(own_redis.url), await nodes(own_redis.url)
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await committed(b.broker, room, chats(2))
    with own_redis.paused():
        started = time.monotonic()
        assert not await a.broker.ready()
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        with pytest.raises(BrokerDown):
            await a.broker.transact(room, chats(1, start=50))
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        with pytest.raises(BrokerDown):
            await b.broker.now()
        assert time.monotonic() - started < 2.0
        await asyncio.sleep(2.0)  # long enough for the heartbeat to call the subscription wedged
    await eventually(a.broker.ready)
    await eventually(b.broker.ready)
    await retrying(a.broker, room, chats(1, start=60))
    await retrying(b.broker, room, chats(1, start=70))
    top = await caught_up(room, a, b)
    for node in (a, b):
        assert node.gapless(room) == list(range(1, top + 1))


async def test_no_redis_at_all_is_not_ready_and_fails_fast(nodes: Opener) -> None:
    url = f"redis://127.0.0.1:{redis_server.free_port()}/0"
    started = time.monotonic()
    with capture_logs() as logs:
        a = await nodes(url)
    assert time.monotonic() - started < 5.0
    assert any(r["event"] == "redis unreachable" for r in logs)
    assert not await a.broker.ready()
    room = fresh_room()
    started = time.monotonic()
    with pytest.raises(BrokerDown):
        await a.broker.transact(room, arrive(F))
    with pytest.raises(BrokerDown):
        await a.broker.subscribe(room)
    with pytest.raises(BrokerDown):
        await a.broker.history(room, "x", 0)
    assert time.monotonic() - started < 5.0


async def test_a_deaf_subscription_is_noticed_and_replaced(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    a.broker.faults.deaf = True  # a's own heartbeats stop arriving, as on a wedged socket
    await eventually(lambda: _true(a.broker.reconnects > 0), 5.0)
    a.broker.faults.deaf = False
    await eventually(a.broker.ready)
    await retrying(b.broker, room, chats(2))
    top = await caught_up(room, a, b)
    assert a.gapless(room) == list(range(1, top + 1))


async def _true(value: bool) -> bool:
    return value


async def test_start_warns_loudly_when_redis_keeps_nothing(tmp_path: Path, nodes: Opener) -> None:
    with (
        RedisServer.launch(tmp_path / "redis", "--appendonly", "no") as server,
        capture_logs() as logs,
    ):
        await nodes(server.url)
    warnings = [r for r in logs if r["log_level"] == "warning"]
    assert [r["mode"] for r in warnings] == ["none"]
    assert set(warnings[0]) <= {"event", "log_level", "mode", "reason"}


async def test_start_is_quiet_with_the_append_only_file(nodes: Opener) -> None:
    with capture_logs() as logs:
        await nodes()
    assert not [r for r in logs if r["log_level"] == "warning"]


# --- presence, kicks, signals ----------------------------------------------------------------


async def test_a_claim_kicks_the_node_that_held_the_member(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await a.broker.claim(room, F)
    await a.broker.claim(room, F)  # the same node again: the hub handles that itself
    await b.broker.claim(room, F)
    await a.heard.until(lambda: bool(a.heard.kicks))
    assert a.heard.kicks == [(room, F)]
    assert b.heard.kicks == []


async def test_signals_go_to_the_node_holding_their_target(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await committed(b.broker, room, arrive(M))
    await a.broker.claim(room, F)
    await b.broker.claim(room, M)
    await a.broker.direct(room, M, b"to-m")  # across
    await b.broker.direct(room, M, b"local")  # no round through pub/sub
    await b.heard.until(lambda: len(b.heard.directs) >= 2)
    assert b.heard.directs == [(room, M, b"local"), (room, M, b"to-m")] or b.heard.directs == [
        (room, M, b"to-m"),
        (room, M, b"local"),
    ]
    await b.broker.direct(room, F, b"to-f")
    await a.heard.until(lambda: bool(a.heard.directs))
    assert a.heard.directs == [(room, F, b"to-f")]
    assert len(b.heard.directs) == 2


async def test_a_dead_nodes_members_are_reaped_once(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await committed(b.broker, room, arrive(M))
    await a.broker.claim(room, F)
    await b.broker.claim(room, M)
    await asyncio.sleep(FAST.node_ttl_seconds + 0.3)  # a has been healthy for a node's TTL
    assert await a.broker.reap([room]) == {}  # b lives
    b.broker.faults.heartbeat = False  # b dies, as far as Redis can tell
    await eventually(lambda: _reaped(a.broker, room), 5.0)
    assert await a.broker.reap([room]) == {}  # one node per round
    await committed(a.broker, room, engine(c.Disconnect(M)))
    await asyncio.sleep(FAST.reap_lock_seconds + 0.1)
    assert await a.broker.reap([room]) == {}  # reconnecting already: nothing left to do


async def test_reaping_asks_about_many_rooms_at_once(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    mixed, own, gone = fresh_room(), fresh_room(), fresh_room()
    for room in (mixed, own):
        await both(a, b, room)
        await committed(a.broker, room, arrive(F))
        await a.broker.claim(room, F)
    await committed(b.broker, mixed, arrive(M))
    await b.broker.claim(mixed, M)
    await asyncio.sleep(FAST.node_ttl_seconds + 0.3)
    b.broker.faults.heartbeat = False
    # Only the room with a member on the dead node answers; one with nobody there and one
    # with no meeting at all are left out.
    await eventually(lambda: _reaped(a.broker, mixed, [own, gone]), 5.0)


async def test_a_reaping_round_runs_only_when_a_node_may_have_died(
    own_redis: RedisServer, nodes: Opener
) -> None:
    timing = dataclasses.replace(FAST, reap_scan_every=1000)
    a, b = await nodes(own_redis.url, timing=timing), await nodes(own_redis.url, timing=timing)
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await committed(b.broker, room, arrive(M))
    await b.broker.claim(room, M)
    assert not await a.broker.may_reap()  # not healthy for a node's TTL yet: can't judge
    await asyncio.sleep(FAST.node_ttl_seconds + 0.3)
    assert not await a.broker.may_reap()  # every node that ever beat is alive
    b.broker.faults.heartbeat = False
    await eventually(a.broker.may_reap, 5.0)
    assert await a.broker.reap(await a.broker.live_rooms()) == {room: [M]}
    assert await a.broker.may_reap()  # the room's `where` still names b
    assert await a.broker.reap(await a.broker.live_rooms()) == {}  # reaped by then
    await a.broker.drop_room(room)  # the meeting ends: nothing names b any more
    assert await a.broker.may_reap()
    assert await a.broker.reap(await a.broker.live_rooms()) == {}
    assert not await a.broker.may_reap()  # b is forgotten
    spy = aioredis.Redis(port=own_redis.port)
    try:
        assert await spy.smembers(w.NODES_KEY) == {a.broker.node_id.encode()}
    finally:
        await spy.aclose()


async def test_every_few_rounds_reaping_trusts_no_list_of_nodes(
    own_redis: RedisServer, nodes: Opener
) -> None:
    a = await nodes(own_redis.url, timing=dataclasses.replace(FAST, reap_scan_every=3))
    await asyncio.sleep(FAST.node_ttl_seconds + 0.3)
    # A node of an older version never joins the list; its death shows only in a scan.
    assert [await a.broker.may_reap() for _ in range(6)] == [False, False, True] * 2


async def _reaped(broker: RedisBroker, room: RoomId, also: list[RoomId] | None = None) -> bool:
    return await broker.reap([*(also or []), room]) == {room: [M]}


# --- the clock ----------------------------------------------------------------------------------


async def test_the_local_clock_follows_redis_time(nodes: Opener) -> None:
    a = await nodes()
    await asyncio.sleep(FAST.heartbeat_seconds * 2)
    assert abs(a.broker.clock() - await a.broker.now()) < 0.05


async def test_commits_carry_redis_time(nodes: Opener) -> None:
    a = await nodes()
    room = fresh_room()
    await a.broker.subscribe(room)
    before = await a.broker.now()
    first = await committed(a.broker, room, arrive(F))
    assert before <= first.now <= await a.broker.now()
    seen: list[float] = []

    def look(state: RoomState, now: float) -> list[AnyEvent]:
        seen.append(now)
        return [e.ChatSent(F, 1, "hi", None, now)]

    await committed(a.broker, room, look)
    assert seen[0] >= first.now


# --- the fast path (one round trip for what changes no state) ----------------------------------


async def test_chat_in_a_served_room_takes_one_round_trip(nodes: Opener) -> None:
    a = await nodes(clock=time.time)  # the fast path needs a measured clock: given here
    room = fresh_room()
    await a.broker.subscribe(room)
    await committed(a.broker, room, arrive(F))
    await committed(a.broker, room, chats(2))
    assert a.broker.stats.appends == 1
    locked = await committed(a.broker, room, engine(c.Lock(), F))  # a change: the full path
    assert a.broker.stats.appends == 1
    said = await committed(a.broker, room, chats(1, start=5))
    assert a.broker.stats.appends == 2
    assert said.state == locked.state
    assert (await a.broker.read(room)) == RoomView(said.epoch, 5, locked.state)
    assert a.gapless(room) == [1, 2, 3, 4, 5]


async def test_chats_in_one_room_do_not_wait_for_each_others_round_trips(nodes: Opener) -> None:
    a = await nodes(clock=time.time)
    room = fresh_room()
    await a.broker.subscribe(room)
    await committed(a.broker, room, arrive(F))
    await asyncio.gather(*(committed(a.broker, room, chats(1, start=i)) for i in range(20)))
    assert a.broker.stats.appends == 20
    assert a.broker.stats.turn_waits == 0  # all twenty in flight at once
    assert (await consistent(room, a)).seq == 21
    # What changes the state still takes turns.
    await asyncio.gather(
        *(attempt(a.broker, room, engine(c.Lock() if i % 2 else c.Unlock(), F)) for i in range(4))
    )
    assert a.broker.stats.turn_waits > 0


async def test_chats_and_commands_of_one_node_interleave_in_one_order(nodes: Opener) -> None:
    a, b = await nodes(clock=time.time), await nodes(clock=time.time)
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await caught_up(room, a, b)
    await asyncio.gather(
        *(attempt(a.broker, room, chats(1, start=i)) for i in range(30)),
        *(attempt(a.broker, room, engine(c.Lock() if i % 2 else c.Unlock(), F)) for i in range(10)),
    )
    await consistent(room, a, b)


async def test_a_stale_mirror_takes_the_full_path(nodes: Opener) -> None:
    a, b = await nodes(clock=time.time), await nodes(clock=time.time)
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await caught_up(room, a, b)
    a.broker.faults.drop_room_messages = 1.0  # a hears nothing more: its mirror ages
    locked = await committed(b.broker, room, engine(c.Lock(), F))
    said = await committed(a.broker, room, chats(1))
    assert a.broker.stats.stale == 1
    assert said.seq == locked.seq + 1
    assert said.state == locked.state  # the state after it, as stored
    assert a.gapless(room) == [1, 2, 3]  # the missed lock came from the log, in order


async def test_a_refusal_on_a_stale_mirror_is_asked_of_redis_again(nodes: Opener) -> None:
    a, b = await nodes(clock=time.time), await nodes(clock=time.time)
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await caught_up(room, a, b)
    a.broker.faults.drop_room_messages = 1.0
    await committed(b.broker, room, arrive(M))  # a's mirror has no M
    said = await committed(a.broker, room, engine(c.SendChat(1, "hello"), M))
    assert [type(sq.event) for sq in said.events] == [e.ChatSent]


async def test_a_dedupe_key_used_on_another_node_is_a_duplicate(nodes: Opener) -> None:
    a, b = await nodes(clock=time.time), await nodes(clock=time.time)
    room = fresh_room()
    await both(a, b, room)
    await committed(a.broker, room, arrive(F))
    await committed(b.broker, room, chats(1), dedupe="f1:chat:1")
    await caught_up(room, a, b)
    heard = Counting(chats(1))
    assert await a.broker.transact(room, heard, dedupe="f1:chat:1") == Duplicate()
    assert heard.runs == 0  # the key came with the commit: nothing ran
    a.broker.faults.drop_room_messages = 1.0
    await committed(b.broker, room, chats(1), dedupe="f1:chat:2")
    unheard = Counting(chats(1))
    assert await a.broker.transact(room, unheard, dedupe="f1:chat:2") == Duplicate()
    assert unheard.runs == 1  # decided on the mirror, refused by the script: nothing stored
    assert (await a.broker.read(room)).seq == 3


async def test_lazy_upkeep_keeps_every_bound_and_ttl(shared_redis: RedisServer) -> None:
    broker = RedisBroker(
        shared_redis.url, Limits(history_events=10), grace_seconds=5.0, timing=FAST, clock=time.time
    )
    await broker.start()
    direct = redis.Redis(port=shared_redis.port)
    try:
        room = fresh_room()
        await broker.subscribe(room)
        first = await committed(broker, room, arrive(F))
        for i in range(150):
            await committed(broker, room, chats(1, start=i), dedupe=f"f1:chat:{i}")
        assert broker.stats.appends == 150
        keys = w.RoomKeys.of(room)
        state, log_key, dedupe = keys.state, keys.log, keys.dedupe
        assert direct.xlen(log_key) <= 10 + MAINTAIN_EVERY  # trimmed now and then
        assert all(direct.pttl(k) > 0 for k in (state, log_key, dedupe, keys.nodes))
        assert direct.zscore(dedupe, "") == float("inf")  # the set never empties
        kept = await broker.history(room, first.epoch, 141)
        assert [sq.seq for sq in kept or []] == list(range(142, 152))
        assert await broker.history(room, first.epoch, 140) is None  # past the bound
    finally:
        direct.close()
        await broker.close()


def test_commit_headers_old_and_new() -> None:
    body = w.commit_body(T0, [w.pack_event(e.ChatSent(F, 1, "hi", None, T0))])
    old = w.commit_head(b"c E1 5 0\n" + body)  # an older node's: no v, top or node
    assert (old.epoch, old.first, old.drop, old.v, old.top, old.node) == (
        "E1",
        5,
        False,
        None,
        None,
        "",
    )
    new = w.commit_head(b"c E1 5 1 3 5 - f1:chat:1\n" + body)
    assert (new.drop, new.v, new.top, new.node, new.dedupe) == (True, 3, 5, "", "f1:chat:1")
    now, events = w.commit_body_of(new, b"c E1 5 1 3 5 n1\n" + body)
    assert now == T0
    assert events == (Sequenced(5, e.ChatSent(F, 1, "hi", None, T0)),)
    assert w.published_key("a b") == ""
    assert w.published_node("") == "-"
