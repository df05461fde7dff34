"""Many Hearth nodes on one real Redis, and the people who meet through them.

    async def test_x(cluster: Cluster) -> None:
        a, b = cluster.start(2)                          # `hearth serve --redis` processes
        room = await cluster.room()
        fay = await cluster.facilitator(room, a)
        ann = await cluster.member(room, b, fay, "Ann")  # joined on b, let in by fay on a
        since = await cluster.top(room)                  # compare what happens after this
        await ann.now.chat("hi")
        await cluster.agree(room, [fay, ann], since=since)

A `Person` is one seat across its connections: `person.now` is the live `Member` (the
package's own `signaling.client.Client`, which here also keeps every `welcome`: a new
epoch brings a fresh one), and `person.events` the transcript over every connection the
seat has had, in order.

`agree` is the check most tests end with. It reads the room's history from Redis (with a
`RedisBroker` of its own, never started: it only reads) and waits, bounded, until each
person's transcript after `since` is exactly the stored events that person may see, in
order, as the node encodes them. Then it checks that seqs are consecutive with no
duplicates, that everyone saw one (seq, type) sequence, and that replaying the stored
history gives the stored state.

Every wait is bounded; every connection is closed and every node stopped at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgpack

from rooms import MemberId, RoomId, Viewer, may_see, replay
from rooms.audience import EVERYONE
from rooms.state import Role
from signaling.broker import BrokerDown, RoomView, Sequenced
from signaling.client import Client, Frame
from signaling.limits import Limits
from signaling.redis_broker import RedisBroker
from signaling.wire import event_frame
from tests.integration.meeting import LOOSE_LIMITS, Room, expect
from tests.integration.nodes import Node, http_status, start_node
from tests.redis_server import RedisServer

WAIT_SECONDS = 10.0  # one request's answer, one expected event (the machine may be busy)
AGREE_SECONDS = 20.0  # every transcript caught up with Redis (a lost last message: ~5 s)
POLL_SECONDS = 0.05
# Every client here comes from 127.0.0.1 and some type fast: the per-address and per-socket
# caps (for strangers on the internet; tested elsewhere) would only get in the way.
LOOSE = {**LOOSE_LIMITS, "HEARTH_RATE_PER_SECOND": "1000", "HEARTH_RATE_BURST": "1000"}


class Member(Client):
    """One connection of a seat: a `Client` that keeps every `welcome` it was sent."""

    def __init__(self, url: str, name: str, *, timeout: float = WAIT_SECONDS) -> None:
        super().__init__(url, timeout=timeout)
        self.name = name
        self.welcomes: list[Frame] = []

    async def _handle(self, frame: Frame) -> None:
        if frame.get("t") == "welcome":
            self.welcomes.append(frame)
        await super()._handle(frame)


@dataclass(eq=False)
class Person:
    """A seat in the circle, across the connections it had (a resume adds one)."""

    name: str
    conns: list[Member]

    @property
    def now(self) -> Member:
        return self.conns[-1]

    @property
    def me(self) -> str:
        return self.conns[0].me

    @property
    def role(self) -> Role:
        return Role(self.now.role)

    @property
    def events(self) -> list[Frame]:
        return [ev for conn in self.conns for ev in conn.events]

    def seen(self, type_: str, **fields: object) -> list[Frame]:
        return [
            ev
            for ev in self.events
            if ev.get("type") == type_ and all(ev.get(k) == v for k, v in fields.items())
        ]

    def circle(self) -> set[str]:
        """Who this person believes is in the circle: the members of the latest snapshot
        on their connection, then the arrivals and departures after it."""
        welcome = next(w for w in reversed(self.now.welcomes) if w["state"] is not None)
        people = {m["id"] for m in welcome["state"]["members"]}
        for ev in self.now.events:
            if ev["epoch"] != welcome["epoch"] or ev["seq"] <= welcome["seq"]:
                continue
            if ev["type"] == "admitted":
                people.add(ev["member"])
            elif ev["type"] in ("left", "removed"):
                people.discard(ev["member"])
        return people


class Cluster:
    """Hearth nodes on one Redis, the people of one test, and what Redis holds."""

    def __init__(self, redis: RedisServer, workdir: Path) -> None:
        self.redis = redis
        self.workdir = workdir
        self.nodes: list[Node] = []
        self.people: list[Person] = []
        self._conns: list[Member] = []
        self._reader: RedisBroker | None = None

    # --- nodes ----------------------------------------------------------------------------

    def start(
        self,
        count: int = 1,
        *,
        env: Mapping[str, str] | None = None,
        envs: Sequence[Mapping[str, str]] = (),
    ) -> list[Node]:
        """Start `count` nodes at once, all on this cluster's Redis (`--redis`); `env` is
        added to every node's environment, `envs[i]` to the i-th one's."""
        first = len(self.nodes)

        def one(i: int) -> Node:
            extra = {**LOOSE, **(env or {}), **(envs[i] if i < len(envs) else {})}
            return start_node(
                self.workdir,
                args=["--redis", self.redis.url],
                env=extra,
                name=f"node{first + i}",
            )

        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(one, i) for i in range(count)]
        failure: BaseException | None = None
        started: list[Node] = []
        for future in futures:
            error = future.exception()
            if error is None:
                started.append(future.result())
            else:
                failure = failure or error
        self.nodes.extend(started)
        if failure is not None:
            raise failure
        return started

    # --- rooms and people -----------------------------------------------------------------

    async def room(self, name: str = "Tuesday circle", **body: object) -> Room:
        """A room made through the first node's admin API (definitions live in Redis)."""
        node = self.nodes[0]
        async with httpx.AsyncClient(
            base_url=node.url, headers=node.auth, trust_env=False, timeout=WAIT_SECONDS
        ) as api:
            answer = await api.post("/api/rooms", json={"name": name, **body})
        assert answer.status_code == 201, answer.text
        made = answer.json()
        return Room(made["id"], made["invite"], made["facilitator"])

    async def connect(self, node: Node, name: str, hello: Frame) -> Member:
        conn = Member(node.ws_url, name)
        self._conns.append(conn)
        await conn.open(hello)
        return conn

    async def facilitator(self, room: Room, node: Node, name: str = "Fay") -> Person:
        hello = {"t": "hello", "room": room.id, "token": room.facilitator, "name": name}
        person = Person(name, [await self.connect(node, name, hello)])
        self.people.append(person)
        return person

    async def member(self, room: Room, node: Node, fac: Person, name: str) -> Person:
        """Someone who opens the invite link on `node` and is let in by `fac`."""
        hello = {"t": "hello", "room": room.id, "token": room.invite, "name": name}
        conn = await self.connect(node, name, {**hello, "accept": True})
        assert conn.welcome["state"]["lobby"] is True
        await fac.now.command("admit", member=conn.me)
        await expect(conn, "admitted", member=conn.me)
        await until(lambda: len(conn.welcomes) >= 2, WAIT_SECONDS, f"{name}'s circle view")
        person = Person(name, [conn])
        self.people.append(person)
        return person

    async def resume(self, person: Person, node: Node, *, seq: int | None = None) -> Member:
        """The seat's next connection, on `node`, with its last resume token and its last
        seq (or `seq`); returns once the events it missed (if replayed) have arrived."""
        old = person.now
        conn = Member(node.ws_url, person.name)
        conn.seq = old.seq if seq is None else seq
        self._conns.append(conn)
        await conn.open({"t": "hello", "resume": old.resume_token, "seq": conn.seq})
        person.conns.append(conn)
        await conn.ping()  # answered after the replay, which follows the welcome
        return conn

    # --- what Redis holds -----------------------------------------------------------------

    async def stored(self, room: Room) -> tuple[RoomView, list[Sequenced]]:
        """The room's state and its whole history in the current epoch, read from Redis."""
        if self._reader is None:
            limits = Limits(replay_events=1_000_000)
            self._reader = RedisBroker(self.redis.url, limits, grace_seconds=60.0)
        view = await self._reader.read(RoomId(room.id))
        history = await self._reader.history(RoomId(room.id), view.epoch, 0)
        assert history is not None, f"no whole history in Redis for epoch {view.epoch!r}"
        return view, history

    async def top(self, room: Room) -> int:
        view, _ = await self.stored(room)
        return view.seq

    async def agree(
        self,
        room: Room,
        people: Sequence[Person],
        *,
        since: int,
        consecutive: bool = True,
        replayable: bool = True,
        timeout: float = AGREE_SECONDS,
    ) -> tuple[RoomView, list[Sequenced]]:
        """Wait until every person's transcript after seq `since` (in the stored epoch) is
        what Redis holds for them, then check the transcripts against each other.
        `consecutive`: every event after `since` is one they may see; `replayable`: the
        epoch began with the meeting (not restored), so its history replays to its state."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                view, history = await self.stored(room)
            except BrokerDown:  # Redis is coming back: ask again
                behind = ["Redis did not answer"]
            else:
                behind = []
                for person in people:
                    want = visible(history, view.epoch, person, since)
                    got = shown(person, view.epoch, since)
                    assert got == want[: len(got)], differ(person, got, want)
                    if len(got) < len(want):
                        behind.append(f"{person.name} saw {brief(got)}, stored {brief(want)}")
            if not behind:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"not caught up in {timeout} s:\n" + "\n".join(behind))
            await asyncio.sleep(0.2)
        everyone = {sq.seq for sq in history if sq.event.audience() == EVERYONE}
        shared: dict[str, list[tuple[int, str]]] = {}
        for person in people:
            no_duplicates(person)
            got = shown(person, view.epoch, since)
            if consecutive:
                gapless(person, view.epoch, since)
            shared[person.name] = [(ev["seq"], ev["type"]) for ev in got if ev["seq"] in everyone]
        transcripts = list(shared.values())
        assert all(t == transcripts[0] for t in transcripts), f"orders differ: {shared}"
        if replayable:  # a restored epoch starts from a state, not from nothing
            assert history[:1] == [] or history[0].seq == 1
            assert replay(sq.event for sq in history) == view.state, "history != stored state"
        return view, history

    # --- teardown -------------------------------------------------------------------------

    async def close(self) -> None:
        try:
            for conn in reversed(self._conns):
                with contextlib.suppress(Exception):  # a dead node's socket: nothing to close
                    async with asyncio.timeout(5):
                        await conn.close()
            if self._reader is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await self._reader.close()
        finally:
            for node in reversed(self.nodes):
                node.stop()


# --- reading transcripts ---------------------------------------------------------------------


def wire(epoch: str, sq: Sequenced) -> Frame:
    """The event frame a node sends for `sq`, as a client decodes it."""
    decoded: Frame = msgpack.unpackb(
        msgpack.packb(event_frame(epoch, sq), use_bin_type=True), raw=False
    )
    return decoded


def visible(history: Sequence[Sequenced], epoch: str, person: Person, since: int) -> list[Frame]:
    """The stored events after `since` that `person` may see (as admitted, in their role)."""
    viewer = Viewer(MemberId(person.me), person.role, False)
    return [
        wire(epoch, sq) for sq in history if sq.seq > since and may_see(viewer, sq.event.audience())
    ]


def shown(person: Person, epoch: str, since: int) -> list[Frame]:
    return [ev for ev in person.events if ev["epoch"] == epoch and ev["seq"] > since]


def no_duplicates(person: Person) -> None:
    """Each (epoch, seq) at most once, and increasing within an epoch."""
    last: dict[str, int] = {}
    for ev in person.events:
        before = last.get(ev["epoch"], 0)
        assert ev["seq"] > before, f"{person.name}: seq {ev['seq']} after {before} (dup/reorder)"
        last[ev["epoch"]] = ev["seq"]


def gapless(person: Person, epoch: str, since: int) -> list[int]:
    """The seqs `person` saw after `since` in `epoch`, checked to be consecutive."""
    seqs = [ev["seq"] for ev in shown(person, epoch, since)]
    assert seqs == list(range(since + 1, since + 1 + len(seqs))), f"{person.name}: gap in {seqs}"
    return seqs


def differ(person: Person, got: Sequence[Frame], want: Sequence[Frame]) -> str:
    pairs = enumerate(zip(got, want, strict=False))
    first = next((i for i, (g, w) in pairs if g != w), min(len(got), len(want)))
    return (
        f"{person.name} saw events that are not Redis's history, from #{first}:\n"
        f"saw    {got[first]}\nstored {want[first] if first < len(want) else None}\n"
        f"saw    {brief(got[first:])}\nstored {brief(want[first:])}"
    )


def brief(frames: Sequence[Frame]) -> str:
    return " ".join(f"{f['seq']}:{f['type']}" for f in frames[-40:])


# --- waiting ---------------------------------------------------------------------------------


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `predicate`; fail naming `what` unless it holds within `timeout`. Returns the
    seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(POLL_SECONDS)
    return time.monotonic() - started


async def status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET without blocking the loop (None: nothing answered)."""
    return await asyncio.to_thread(http_status, url, timeout)


def names(people: Sequence[Person], ids: Any) -> list[str]:
    by_id = {p.me: p.name for p in people}
    return [by_id.get(i, i) for i in ids]
