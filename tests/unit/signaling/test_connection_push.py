"""A seated connection's frames handed over as they arrive (an `Inlet`): handled at once,
in order, and held in a bounded backlog behind one that has to wait."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack

from rooms import RoomId, RoomInfo
from rooms.state import Role
from signaling.broker import Commit, Decision, Duplicate
from signaling.connection import Connection
from signaling.limits import Limits
from signaling.memory_broker import MemoryBroker
from signaling.node import Node
from signaling.outlet import INBOUND_BACKLOG, OutFrame


class GatedBroker(MemoryBroker):
    """The memory broker, but a transact waits while the gate is shut."""

    def __init__(self) -> None:
        super().__init__(Limits(rate_per_second=1000, rate_burst=1000), grace_seconds=60)
        self.gate = asyncio.Event()
        self.gate.set()

    async def transact(
        self, room: RoomId, decide: Decision, *, dedupe: str | None = None
    ) -> Commit | Duplicate:
        if not self.gate.is_set():
            await self.gate.wait()
        return await super().transact(room, decide, dedupe=dedupe)


class OneRoom:
    async def enter(self, room: str, token: str) -> tuple[RoomInfo, Role] | None:
        return RoomInfo(RoomId(room), "Room"), Role.FACILITATOR

    async def info(self, room: str) -> RoomInfo | None:
        return RoomInfo(RoomId(room), "Room")


class Outlet:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def cork(self) -> None:
        pass

    def uncork(self) -> None:
        pass

    def send(self, frame: OutFrame) -> bool:
        self.frames.append(msgpack.unpackb(frame.payload))
        return True

    def close(self, code: int, reason: str) -> None:
        self.frames.append({"t": "close", "code": code})


class Inlet:
    def __init__(self) -> None:
        self.handler: Any = None
        self.calls: list[str] = []

    def attach(self, handler: Any) -> bool:
        self.handler = handler
        return True

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


async def seated() -> tuple[GatedBroker, Outlet, Inlet, asyncio.Queue[Any], Any]:
    """A facilitator's connection past its welcome, its frames now pushed through `Inlet`;
    `frames` is what its `receive()` answers (None: the socket closed)."""
    broker = GatedBroker()
    node = Node(broker, OneRoom(), limits=broker._limits, grace_seconds=60)
    outlet, inlet = Outlet(), Inlet()
    conn = Connection(node, outlet, "10.0.0.1")
    frames: asyncio.Queue[Any] = asyncio.Queue()
    hello = {"t": "hello", "room": "r", "token": "t", "name": "Fran", "accept": True}
    frames.put_nowait(msgpack.packb(hello))
    task = asyncio.get_running_loop().create_task(conn.run(frames.get, inlet))
    for _ in range(50):  # bounded: a few loop turns to say hello and attach
        await asyncio.sleep(0)
        if inlet.handler is not None:
            break
    assert inlet.handler is not None, "the seated connection took its frames from the inlet"
    return broker, outlet, inlet, frames, task


def chat(i: int) -> bytes:
    return msgpack.packb({"t": "chat", "id": i, "text": f"hello {i}"})


def acks(outlet: Outlet) -> list[int]:
    return [f["id"] for f in outlet.frames if f["t"] == "ack"]


async def test_a_pushed_frame_is_answered_before_push_returns() -> None:
    _, outlet, inlet, frames, task = await seated()
    inlet.handler(chat(1))
    assert acks(outlet) == [1]  # no loop turn needed: handled in the caller's stack
    frames.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_frames_behind_a_waiting_one_keep_their_order_and_reading_pauses() -> None:
    broker, outlet, inlet, frames, task = await seated()
    broker.gate.clear()
    n = INBOUND_BACKLOG + 3
    for i in range(1, n + 1):
        inlet.handler(chat(i))
    assert acks(outlet) == []
    assert inlet.calls == ["pause"]  # once the backlog was full
    broker.gate.set()
    for _ in range(50):
        await asyncio.sleep(0)
        if len(acks(outlet)) == n:
            break
    assert acks(outlet) == list(range(1, n + 1))
    seqs = [f["seq"] for f in outlet.frames if f["t"] == "event" and f["type"] == "chat"]
    assert len(seqs) == n
    assert seqs == sorted(seqs)
    assert inlet.calls == ["pause", "resume"]
    frames.put_nowait(None)
    await asyncio.wait_for(task, 5)


async def test_the_goodbye_waits_for_frames_that_came_before_it() -> None:
    broker, outlet, inlet, frames, task = await seated()
    broker.gate.clear()
    inlet.handler(chat(1))
    inlet.handler(chat(2))
    frames.put_nowait(None)  # the socket closed right after
    await asyncio.sleep(0)
    assert not task.done()
    broker.gate.set()
    await asyncio.wait_for(task, 5)
    assert acks(outlet) == [1, 2]


async def test_frames_after_the_seat_ended_are_ignored() -> None:
    _, outlet, inlet, frames, task = await seated()
    inlet.handler(msgpack.packb({"t": "cmd", "id": 1, "op": "leave", "args": {}}))
    inlet.handler(chat(2))
    assert acks(outlet) == [1]
    frames.put_nowait(None)
    await asyncio.wait_for(task, 5)
