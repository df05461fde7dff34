"""The node's timers fire the engine's deadlines on time, once, and survive a restart.

A real `Node` over a `MemoryBroker`, driven through the engine's commands; the clock is the
real one, with short deadlines, since firing on time is the point.
"""

from __future__ import annotations

import asyncio
import time

from rooms import MemberId, RoomId, RoomInfo, RoomState
from rooms import commands as c
from rooms import events as e
from rooms.state import Role
from server.timers import Timers
from signaling.broker import Commit
from signaling.limits import Limits
from signaling.memory_broker import MemoryBroker
from signaling.node import Node

ROOM = RoomId("room")
F, A, B = MemberId("f"), MemberId("a"), MemberId("b")


class Directory:
    async def enter(self, room: str, token: str) -> tuple[RoomInfo, Role] | None:
        return None

    async def info(self, room: str) -> RoomInfo | None:
        return None


class Recorder:
    """Every event committed in the room, with the time it was committed."""

    def __init__(self, node: Node) -> None:
        self.seen: list[tuple[float, e.AnyEvent]] = []
        node.hub.observers.append(self.on_commit)

    def on_commit(self, commit: Commit) -> None:
        self.seen.extend((commit.now, sq.event) for sq in commit.events)

    def of(self, kind: type[e.AnyEvent]) -> list[tuple[float, e.AnyEvent]]:
        return [(t, ev) for t, ev in self.seen if isinstance(ev, kind)]

    async def wait_for(self, kind: type[e.AnyEvent], count: int = 1, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while len(self.of(kind)) < count:
                await asyncio.sleep(0.01)


def make_node(grace: float = 60.0) -> Node:
    return Node(
        MemoryBroker(Limits(), grace_seconds=grace),
        Directory(),
        limits=Limits(),
        grace_seconds=grace,
    )


async def circle(node: Node) -> RoomState:
    for member, role in ((F, Role.FACILITATOR), (A, Role.MEMBER), (B, Role.MEMBER)):
        await node.transact(ROOM, c.Arrive(member, member.upper(), role), None)
    await node.transact(ROOM, c.AdmitAll(), F)
    return (await node.broker.read(ROOM)).state


async def test_a_turn_times_up_at_its_deadline_within_100_ms() -> None:
    node = make_node()
    timers = Timers(node)
    seen = Recorder(node)
    await timers.start()
    try:
        await circle(node)
        await node.transact(ROOM, c.StartRound(seconds=1), F)
        ((_, turn),) = seen.of(e.TurnStarted)
        assert isinstance(turn, e.TurnStarted)
        assert turn.deadline is not None
        await seen.wait_for(e.TimeUp)
        ((fired_at, _),) = seen.of(e.TimeUp)
        assert turn.deadline <= fired_at < turn.deadline + 0.1
    finally:
        await timers.close()


async def test_overtime_zero_moves_the_piece_on_and_each_turn_fires_once() -> None:
    node = make_node()
    timers = Timers(node)
    seen = Recorder(node)
    await timers.start()
    try:
        await circle(node)
        await node.transact(ROOM, c.StartRound(seconds=1, overtime=0, second_pass=False), F)
        await seen.wait_for(e.RoundEnded, timeout=6)
        await asyncio.sleep(0.3)  # nothing more may fire once the round is over
        turns = [ev.turn_id for _, ev in seen.of(e.TurnStarted)]  # type: ignore[attr-defined]
        ups = [ev.turn_id for _, ev in seen.of(e.TimeUp)]  # type: ignore[attr-defined]
        assert turns == ups == ["1", "2"]
    finally:
        await timers.close()


async def test_without_overtime_time_up_fires_once_and_the_piece_stays() -> None:
    node = make_node()
    timers = Timers(node)
    seen = Recorder(node)
    await timers.start()
    try:
        await circle(node)
        await node.transact(ROOM, c.StartRound(seconds=1), F)
        await seen.wait_for(e.TimeUp, timeout=6)
        assert timers.pending() == 0  # nothing left to fire: the deadline was a cue
        await asyncio.sleep(1.5)
        assert len(seen.of(e.TimeUp)) == 1
        assert len(seen.of(e.TurnStarted)) == 1
        view = await node.broker.read(ROOM)
        assert view.state.speaker is not None
        assert view.state.speaker == seen.of(e.TurnStarted)[0][1].speaker  # type: ignore[attr-defined]
    finally:
        await timers.close()


async def test_a_restarted_timer_service_fires_the_pending_deadline_once() -> None:
    node = make_node()
    seen = Recorder(node)
    first = Timers(node)
    await first.start()
    await circle(node)
    await node.transact(ROOM, c.StartRound(seconds=1, overtime=30), F)
    await first.close()  # the service stops before the deadline ...
    assert first.pending() == 0
    second = Timers(node)
    await second.start()  # ... and a new one rebuilds every deadline from the room's state
    try:
        assert second.pending() == 1
        await seen.wait_for(e.TimeUp)
        await asyncio.sleep(0.3)
        assert len(seen.of(e.TimeUp)) == 1
    finally:
        await second.close()


async def test_a_paused_turn_never_fires_and_an_unpaused_one_does() -> None:
    node = make_node()
    timers = Timers(node)
    seen = Recorder(node)
    await timers.start()
    try:
        await circle(node)
        await node.transact(ROOM, c.StartRound(seconds=1), F)
        await node.transact(ROOM, c.Pause(), F)
        await asyncio.sleep(1.3)
        assert seen.of(e.TimeUp) == []
        resumed = time.time()
        await node.transact(ROOM, c.Unpause(), F)
        await seen.wait_for(e.TimeUp)
        ((fired_at, _),) = seen.of(e.TimeUp)
        assert fired_at - resumed >= 0.5  # the remaining time, not a stale deadline
    finally:
        await timers.close()


async def test_grace_expiry_removes_a_member_who_never_came_back() -> None:
    node = make_node(grace=0.3)
    timers = Timers(node)
    seen = Recorder(node)
    await timers.start()
    try:
        await circle(node)
        await node.transact(ROOM, c.Disconnect(A), None)
        await seen.wait_for(e.Left)
        ((_, left),) = seen.of(e.Left)
        assert isinstance(left, e.Left)
        assert left.member == A
        assert left.reason == "timeout"
    finally:
        await timers.close()


async def test_a_member_back_within_grace_keeps_the_seat() -> None:
    node = make_node(grace=0.4)
    timers = Timers(node)
    seen = Recorder(node)
    await timers.start()
    try:
        await circle(node)
        await node.transact(ROOM, c.Disconnect(A), None)
        await node.transact(ROOM, c.Reconnect(A), None)
        await asyncio.sleep(0.7)
        assert seen.of(e.Left) == []
        assert timers.pending() == 0
    finally:
        await timers.close()
