"""Live meetings in this process: the broker, the signaling node, the timers, their wiring.

`meetings_hook` is the lifespan hook that brings them up after the room store and metrics
exist, and takes them down in reverse. A draining node (server/drain.py) first calls
`NodeState.move_everyone`: every seat is closed with MOVING and kept, and the timers stop, so
members resume at once on another node and that node fires the deadlines. The seats are let
go of before their sockets close, so their goodbyes commit no `reconnecting`: the room sees
no one drop. Anyone who does not come back sits on a node that no longer exists once the
broker closes (its Redis key goes with it), so a surviving node reaps them and their grace
period starts there (server/timers.py), as for a crashed node. With the memory broker there
is no other node: the seats go with the process, and a restart starts every meeting afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncIterator

import structlog
from starlette.applications import Starlette
from starlette.types import Scope

from rooms import MemberId, RoomId, RoomInfo
from rooms.state import Role
from server.metrics import Metrics
from server.room_store import RoomDef, RoomStore
from server.room_store_redis import RoomStoreUnavailable
from server.settings import Settings, ice_servers
from server.state import no_live_counts, node_state, nothing_on_delete
from server.timers import Timers
from signaling.broker import Broker
from signaling.closes import Close
from signaling.errors import Unavailable
from signaling.memory_broker import MemoryBroker
from signaling.node import Node
from signaling.redis_broker import Faults, RedisBroker

log = structlog.get_logger("hearth.meetings")

SWEEP_SECONDS = 60.0


def room_info(d: RoomDef) -> RoomInfo:
    return RoomInfo(RoomId(d.id), d.name, d.guidelines, d.crisis, d.share_seconds)


class StoreDirectory:
    """The signaling node's view of room definitions, over the host's RoomStore."""

    def __init__(self, store: RoomStore) -> None:
        self._store = store

    async def enter(self, room: str, token: str) -> tuple[RoomInfo, Role] | None:
        try:
            entered = await self._store.enter(room, token)
        except RoomStoreUnavailable as exc:
            raise Unavailable() from exc
        return None if entered is None else (room_info(entered[0]), Role(entered[1]))

    async def info(self, room: str) -> RoomInfo | None:
        try:
            d = await self._store.get(room)
        except RoomStoreUnavailable as exc:
            raise Unavailable() from exc
        return None if d is None else room_info(d)


class MetricsTelemetry:
    """signaling.node.Telemetry, counted in the node's Prometheus metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics
        self._frames = metrics.frames

    def frame_in(self) -> None:
        self._frames.frames_in += 1

    def frames_out(self, count: int) -> None:
        self._frames.frames_out += count

    def error(self, code: str) -> None:
        self._m.errors.labels(code=code).inc()

    def command(self, op: str) -> None:
        self._m.commands.labels(op=op).inc()

    def fanout(self, seconds: float) -> None:
        self._frames.fanout(seconds)

    def resume(self, outcome: str) -> None:
        self._m.resumes.labels(outcome=outcome).inc()

    def connections(self, delta: int) -> None:
        self._m.connections.inc(delta)


def signaling_node(scope: Scope) -> Node:
    node: Node = scope["app"].state.signaling
    return node


# TEST ONLY, never for production: the share (0 to 1) of incoming pub/sub room messages the
# Redis broker throws away (`Faults.drop_room_messages`), so that the multi-node tests
# (tests/integration/multinode/) can show that nodes fill every gap from history. Read here,
# apart from server/settings.py, on purpose: it is no setting a host should ever find.
TEST_DROP_PUBSUB_ENV = "HEARTH_TEST_DROP_PUBSUB"


def build_broker(settings: Settings) -> Broker:
    """The memory broker on one node; the Redis broker when the node runs on a Redis."""
    if settings.redis_url is not None:
        drop = float(os.environ.get(TEST_DROP_PUBSUB_ENV) or 0.0)
        if drop:
            log.warning("TEST FAULT: dropping pub/sub room messages", share=drop)
        return RedisBroker(
            settings.redis_url,
            settings.limits,
            grace_seconds=settings.grace_seconds,
            faults=Faults(drop_room_messages=drop),
        )
    return MemoryBroker(settings.limits, grace_seconds=settings.grace_seconds)


def build_node(settings: Settings, store: RoomStore, metrics: Metrics) -> Node:
    broker = build_broker(settings)
    if isinstance(broker, RedisBroker):
        redis = broker  # the narrowed type, for the closure

        def broker_counts() -> dict[str, int]:
            counts = dataclasses.asdict(redis.stats)
            del counts["dropped_messages"]  # the tests' fault hook, nothing a host runs
            return {**counts, "pubsub_reconnects": redis.reconnects}

        metrics.watch_broker(broker_counts)

    def ice(member: MemberId, now: float) -> list[dict[str, object]]:
        return [dict(s) for s in ice_servers(settings, now, member)]

    return Node(
        broker,
        StoreDirectory(store),
        limits=settings.limits,
        grace_seconds=settings.grace_seconds,
        ice=ice,
        ice_policy=settings.ice_policy,
        telemetry=MetricsTelemetry(metrics),
    )


@contextlib.asynccontextmanager
async def meetings_hook(app: Starlette) -> AsyncIterator[None]:
    state = node_state(app)
    node = build_node(state.settings, state.store, state.metrics)
    timers = Timers(node)
    await node.broker.start()
    await timers.start()
    app.state.signaling = node

    async def live_counts(room_id: str) -> tuple[int, int]:
        view = await node.broker.read(RoomId(room_id))
        if view.state.ended:
            return (0, 0)
        return len(view.state.admitted()), len(view.state.lobby())

    async def end_room(room_id: str) -> None:
        room = RoomId(room_id)
        local = node.hub.rooms.get(room)
        for seat in list(local.seats.values()) if local else []:
            seat.close(Close.ENDED, "room deleted")
        await node.broker.drop_room(room)

    # What create_app was given explicitly (tests do) wins; defaults give way to the node.
    if state.live_counts is no_live_counts:
        state.live_counts = live_counts
    if state.on_room_deleted is nothing_on_delete:
        state.on_room_deleted = end_room
    given_readiness = state.readiness

    async def readiness() -> bool:
        return await node.broker.ready() and await given_readiness()

    state.readiness = readiness

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            node.addresses.sweep(time.monotonic())
            state.metrics.rooms_live.set(len(await node.broker.live_rooms()))

    async def move_everyone() -> int:
        moved = move_seats(node)
        await timers.close()  # from now on the other nodes fire this node's deadlines
        return moved

    state.move_everyone = move_everyone

    sweeper = asyncio.create_task(sweep())
    try:
        yield
    finally:
        sweeper.cancel()
        move_seats(node)  # a stop without a drain (or a seat made during it) moves too
        await timers.close()
        await node.broker.close()


def move_seats(node: Node) -> int:
    """Close every seat on this node with MOVING, keeping it; how many. Each is unseated
    first (as on a kick), so its goodbye does not mark the member disconnected: the seat
    lives on for another node to resume."""
    moved = 0
    for room, local in list(node.hub.rooms.items()):
        for seat in list(local.seats.values()):
            node.hub.unseat(room, seat)
            seat.close(Close.MOVING, "moving: resume elsewhere")
            moved += 1
    return moved
