"""Seats that resume on a node that had no connection in their room: the node's view of the
room (the hub's `LocalRoom`, against which signals are checked) is the room's at once.

A resume after a drain (server/meetings.py `move_seats`: the seat is kept, never marked
reconnecting) or after a crash, before the dead node's members are reaped, commits no event:
nothing else would tell a node that just started serving the room who is in it. Each test
seats people, moves or abandons their connections, resumes them elsewhere and, before any
other event, has one signal another: the signal must arrive, not be refused `not_allowed`.
Memory mode (one node, drained by hand) and Redis mode (two nodes on a real redis-server
started here, never the shared 6379).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from rooms import MemberId, RoomId, RoomInfo, RoomState, Viewer, evolve
from rooms import events as e
from rooms.state import Role
from server.meetings import move_seats
from signaling.broker import Broker, Commit, Sequenced
from signaling.closes import Close
from signaling.codec import Codec
from signaling.connection import Connection
from signaling.hub import Hub
from signaling.limits import Limits
from signaling.memory_broker import MemoryBroker
from signaling.node import Node
from signaling.outlet import OutFrame
from signaling.redis_broker import RedisBroker, RedisTiming
from tests import redis_server
from tests.redis_server import RedisServer

LIMITS = Limits(rate_per_second=1000, rate_burst=1000)
ROOM = "circle"
SDP = {"type": "offer", "sdp": "v=0"}
FAST = RedisTiming(
    heartbeat_seconds=0.2, node_ttl_seconds=1.0, recheck_seconds=0.5, reap_lock_seconds=0.5
)


class Facilitators:
    """Every token opens the one room as a facilitator: admitted at once, no lobby."""

    async def enter(self, room: str, token: str) -> tuple[RoomInfo, Role] | None:
        return RoomInfo(RoomId(room), "Room"), Role.FACILITATOR

    async def info(self, room: str) -> RoomInfo | None:
        return RoomInfo(RoomId(room), "Room")


class Outlet:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: int | None = None

    def cork(self) -> None:
        pass

    def uncork(self) -> None:
        pass

    def send(self, frame: OutFrame) -> bool:
        self.frames.append(msgpack.unpackb(frame.payload))
        return True

    def close(self, code: int, reason: str) -> None:
        if self.closed is None:
            self.closed = code

    def of(self, t: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["t"] == t]

    def events(self) -> list[str]:
        return [f["type"] for f in self.frames if f["t"] == "event"]


class Socket:
    """One connection, pumped by `Connection.run` as the server pumps a WebSocket."""

    def __init__(self, node: Node, *frames: dict[str, Any]) -> None:
        self.outlet = Outlet()
        self.conn = Connection(node, self.outlet, "10.0.0.1")
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        for frame in frames:
            self.send(frame)
        self.task = asyncio.get_running_loop().create_task(self.conn.run(self.inbox.get))

    def send(self, frame: dict[str, Any]) -> None:
        self.inbox.put_nowait(msgpack.packb(frame))

    async def welcomed(self) -> dict[str, Any]:
        await until(lambda: bool(self.outlet.of("welcome")) or bool(self.outlet.of("error")))
        assert not self.outlet.of("error"), self.outlet.frames
        return self.outlet.of("welcome")[-1]

    def seq(self) -> int:
        seqs = [f["seq"] for f in self.outlet.frames if f["t"] in ("event", "welcome")]
        return max(seqs)

    async def gone(self) -> None:
        self.inbox.put_nowait(None)
        await asyncio.wait_for(self.task, 5)


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll `check` (bounded in time) while the loop runs everything else."""
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.01)


async def seat(node: Node, name: str) -> Socket:
    sock = Socket(node, {"t": "hello", "room": ROOM, "token": "t", "name": name, "accept": True})
    await sock.welcomed()
    return sock


async def resume(node: Node, old: Socket) -> Socket:
    token = old.outlet.of("welcome")[-1]["resume"]
    sock = Socket(node, {"t": "hello", "resume": token, "seq": old.seq()})
    welcome = await sock.welcomed()
    assert welcome["resumed"] is True
    assert welcome["me"] == old.outlet.of("welcome")[-1]["me"]
    return sock


async def signal_arrives(sender: Socket, to: Socket) -> None:
    """`sender` signals `to` at once: delivered, and no error."""
    me = to.outlet.of("welcome")[-1]["me"]
    sender.send({"t": "signal", "to": me, "data": SDP})
    await until(lambda: bool(to.outlet.of("signal")) or bool(sender.outlet.of("error")))
    assert sender.outlet.of("error") == []
    [got] = to.outlet.of("signal")
    assert got == {"t": "signal", "from": sender.outlet.of("welcome")[-1]["me"], "data": SDP}


def node_of(broker: Broker) -> Node:
    return Node(broker, Facilitators(), limits=LIMITS, grace_seconds=60)


# --- the hub's view --------------------------------------------------------------------------


class Seat:
    """The least a hub needs of a seat, for the view's own tests."""

    def __init__(self, member: MemberId) -> None:
        self.member = member
        self.viewer: Viewer | None = Viewer(member, Role.MEMBER, False)
        self.outlet = Outlet()
        self.refreshed = 0

    def hold(self, epoch: str, sq: Sequenced) -> bool:
        return False

    def close(self, code: int, reason: str) -> None:
        pass

    def refresh(self) -> None:
        self.refreshed += 1

    def observe(self, event: e.AnyEvent) -> None:
        pass


ANN, BOB = MemberId("ann"), MemberId("bob")
R = RoomId(ROOM)


def two_present() -> RoomState:
    state = RoomState()
    for member in (ANN, BOB):
        state = evolve(state, e.Admitted(member, member, "member"))
    return state


def seeded(epoch: str, seq: int, state: RoomState) -> Commit:
    return Commit(R, epoch, (), state, 1000.0, seq)


def hub_with(seat_: Seat) -> Hub:
    hub = Hub(Codec(LIMITS))
    hub.seat(R, seat_)
    return hub


def test_an_empty_view_learns_the_room_from_a_welcome() -> None:
    hub = hub_with(Seat(ANN))
    assert hub.state(R) == RoomState()
    hub.learn(seeded("ep1", 7, two_present()))
    assert hub.state(R) == two_present()
    assert (hub.rooms[R].epoch, hub.rooms[R].seq) == ("ep1", 7)


def test_a_view_behind_in_its_epoch_catches_up_and_never_goes_back() -> None:
    hub = hub_with(Seat(ANN))
    hub.on_commit(
        Commit(R, "ep1", (Sequenced(1, e.Admitted(ANN, "a", "member")),), RoomState(), 0, 1)
    )
    hub.learn(seeded("ep1", 5, two_present()))
    assert hub.rooms[R].seq == 5
    assert hub.state(R) == two_present()
    # The stream brings seq 2..5 late: delivered, but the view stays at 5 until 6.
    late = e.ChatSent(ANN, 1, "hi", None, 1000.0)
    hub.on_commit(Commit(R, "ep1", (Sequenced(2, late),), RoomState(), 0, 2))
    assert hub.rooms[R].seq == 5
    assert hub.state(R) == two_present()
    hub.on_commit(Commit(R, "ep1", (Sequenced(6, late),), RoomState(), 0, 6))
    assert (hub.rooms[R].seq, hub.state(R)) == (6, RoomState())


def test_a_view_ahead_or_in_another_epoch_is_left_to_the_stream() -> None:
    ann = Seat(ANN)
    hub = hub_with(ann)
    hub.on_commit(seeded("ep1", 9, two_present()))
    hub.learn(seeded("ep1", 4, RoomState()))  # older than the view: ignored
    assert (hub.rooms[R].seq, hub.state(R)) == (9, two_present())
    hub.learn(seeded("ep2", 1, RoomState()))  # another epoch: the stream's to announce
    assert (hub.rooms[R].epoch, hub.state(R)) == ("ep1", two_present())
    hub.on_commit(seeded("ep2", 1, RoomState()))  # which it does, refreshing every seat
    assert (hub.rooms[R].epoch, ann.refreshed) == ("ep2", 1)
    Hub(Codec(LIMITS)).learn(seeded("ep1", 1, two_present()))  # no seat here: nothing kept


# --- memory mode -----------------------------------------------------------------------------


async def test_a_drained_seat_resumed_on_an_idle_node_may_signal_at_once() -> None:
    # One process: drained by hand, every seat closed with MOVING and kept, so the hub
    # forgets the room; the resumes come back to this same node, which serves it afresh.
    node = node_of(MemoryBroker(LIMITS, grace_seconds=60))
    ann, bob = await seat(node, "Ann"), await seat(node, "Bob")
    assert move_seats(node) == 2
    for sock in (ann, bob):
        await sock.gone()
        assert sock.outlet.closed == Close.MOVING
    assert node.hub.rooms == {}
    ann2 = await resume(node, ann)
    bob2 = await resume(node, bob)
    assert ann2.outlet.events() == bob2.outlet.events() == []  # nothing happened meanwhile
    await signal_arrives(ann2, bob2)
    await signal_arrives(bob2, ann2)
    for sock in (ann2, bob2):
        await sock.gone()


# --- Redis mode ------------------------------------------------------------------------------


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    if not redis_server.available():
        pytest.skip("no redis-server")
    with RedisServer.launch(tmp_path / "redis") as server:
        assert server.port != 6379
        yield server


Opener = Callable[[], Awaitable[Node]]


@pytest.fixture
async def nodes(redis: RedisServer) -> AsyncIterator[Opener]:
    opened: list[RedisBroker] = []

    async def open_() -> Node:
        broker = RedisBroker(redis.url, LIMITS, grace_seconds=60, timing=FAST)
        await broker.start()
        opened.append(broker)
        return node_of(broker)

    yield open_
    for broker in reversed(opened):
        await broker.close()


async def test_seats_drained_to_another_node_may_signal_at_once(nodes: Opener) -> None:
    a, b = await nodes(), await nodes()
    ann, bob = await seat(a, "Ann"), await seat(a, "Bob")
    assert move_seats(a) == 2
    for sock in (ann, bob):
        await sock.gone()
    ann2 = await resume(b, ann)
    bob2 = await resume(b, bob)
    await signal_arrives(ann2, bob2)
    await signal_arrives(bob2, ann2)
    for sock in (ann2, bob2):
        await sock.gone()


async def test_seats_of_a_silent_node_resumed_elsewhere_may_signal_at_once(
    nodes: Opener,
) -> None:
    # The crash path, before the dead node's members are reaped: their seats are still
    # present in the room when they resume on B, so again the resumes commit nothing.
    a, b = await nodes(), await nodes()
    ann, bob = await seat(a, "Ann"), await seat(a, "Bob")
    ann2 = await resume(b, ann)
    bob2 = await resume(b, bob)
    await signal_arrives(ann2, bob2)
    await signal_arrives(bob2, ann2)
    # B's claims kicked A's connections (A is silent, not dead: its broker still hears).
    await until(lambda: ann.outlet.closed == bob.outlet.closed == Close.REPLACED)
    for sock in (ann, bob, ann2, bob2):
        await sock.gone()


async def test_a_seat_resumed_where_its_room_is_served_sees_no_regress(nodes: Opener) -> None:
    # B already serves the room (Cy is there): its view is kept, and a resume adds to it.
    a, b = await nodes(), await nodes()
    ann = await seat(a, "Ann")
    cy = await seat(b, "Cy")
    ann2 = await resume(b, ann)
    await signal_arrives(cy, ann2)
    await signal_arrives(ann2, cy)
    for sock in (ann, ann2, cy):
        await sock.gone()


async def test_a_resume_ahead_of_its_nodes_stream_gets_each_event_once(nodes: Opener) -> None:
    # B serves the room (Cy) but its pub/sub loses the room's messages: Ann's chat on A is
    # in Redis and not yet heard on B when Ann resumes there. Her welcome replays it; the
    # stream, filled from the log later, must not send it to her a second time.
    a, b = await nodes(), await nodes()
    ann, cy = await seat(a, "Ann"), await seat(b, "Cy")
    seen = ann.seq()
    broker = b.broker
    assert isinstance(broker, RedisBroker)
    broker.faults.drop_room_messages = 1.0
    ann.send({"t": "chat", "id": 1, "text": "still here"})
    await until(lambda: "chat" in ann.outlet.events())
    assert move_seats(a) == 1
    await ann.gone()
    token = ann.outlet.of("welcome")[-1]["resume"]
    ann2 = Socket(b, {"t": "hello", "resume": token, "seq": seen})  # the chat unseen
    assert (await ann2.welcomed())["resumed"] is True
    await until(lambda: "chat" in cy.outlet.events(), 10)  # B's stream caught up, from the log
    await signal_arrives(cy, ann2)  # and after it, one more frame each way
    assert ann2.outlet.events().count("chat") == 1, ann2.outlet.events()
    for sock in (ann2, cy):
        await sock.gone()
