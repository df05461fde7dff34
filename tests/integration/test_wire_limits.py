"""The wire's limits, against real nodes started with small ones: the per-connection token
bucket, connections and hellos per address, the hello timeout, the bounded outbound queue of
a slow reader, and a flood that must not slow anyone else down.

Each node here is started with the one limit under test made small (`HEARTH_*` variables)
and the per-address limits opened wide unless they are the subject, since every client comes
from loopback. Timing is asserted only where timing is the point, with a wide margin: the
machine is small and shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Mapping

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from signaling.client import Client, CommandError
from signaling.closes import Close
from tests.integration.nodes import Node, NodeFactory
from tests.integration.rawws import (
    ERROR_CODES,
    Circle,
    Raw,
    create_room,
    expect_event,
    healthy,
    pack,
)

WIDE = {"HEARTH_HELLO_PER_MINUTE": "100000", "HEARTH_CONNECTIONS_PER_IP": "100000"}


@contextlib.asynccontextmanager
async def gathered(node: Node) -> AsyncIterator[Circle]:
    circle = await Circle.gather(node)
    try:
        yield circle
    finally:
        await circle.close()


def start(node_factory: NodeFactory, env: Mapping[str, str]) -> Node:
    return node_factory(env={**WIDE, **env})


# --- the token bucket -------------------------------------------------------------------------


async def test_past_the_rate_frames_get_rate_limited_and_change_nothing(
    node_factory: NodeFactory,
) -> None:
    node = start(node_factory, {"HEARTH_RATE_PER_SECOND": "5", "HEARTH_RATE_BURST": "5"})
    async with gathered(node) as circle:
        raw = circle.raw
        await asyncio.sleep(1.2)  # the bucket refills to its burst after the hello
        ids = [raw.next_id() for _ in range(20)]
        for rid in ids:
            await raw.send({"t": "chat", "id": rid, "text": f"chat {rid}"})
        replies = [await raw.reply() for _ in ids]

        # One answer per frame, in order, each naming its request: a refused client knows
        # exactly what to send again.
        assert [r["id"] for r in replies] == ids, replies
        acked = [r["id"] for r in replies if r["t"] == "ack"]
        limited = [r for r in replies if r["t"] != "ack"]
        assert {(r["t"], r["code"]) for r in limited} == {("error", "rate_limited")}, limited
        # The burst passes, then only what trickled in while the frames were on their way.
        assert acked[:5] == ids[:5]
        assert 5 <= len(acked) <= 12, replies

        # Only what was acknowledged reached anyone.
        await circle.facilitator.ping()
        await circle.witness.ping()
        heard = [ev["id"] for ev in circle.witness.events if ev.get("type") == "chat"]
        assert heard == acked

        # Another connection from the same address has a bucket of its own.
        await circle.witness.chat("my own bucket")

        # After a pause the bucket is full again: a burst's worth passes.
        await asyncio.sleep(1.2)
        for _ in range(5):
            await raw.ping()
        await asyncio.sleep(0.6)
        await circle.settle()
        await circle.unharmed()


async def test_the_python_client_hears_rate_limited_as_an_error(
    node_factory: NodeFactory,
) -> None:
    node = start(node_factory, {"HEARTH_RATE_PER_SECOND": "5", "HEARTH_RATE_BURST": "5"})
    async with gathered(node) as circle:
        client = circle.witness
        await asyncio.sleep(1.2)
        outcomes = await asyncio.gather(
            *(client.chat(f"hi {i}") for i in range(15)), return_exceptions=True
        )
        codes = [
            o.code if isinstance(o, CommandError) else "ack" if isinstance(o, dict) else repr(o)
            for o in outcomes
        ]
        assert "rate_limited" in codes, outcomes
        assert set(codes) <= {"ack", "rate_limited"}, outcomes  # never a timeout


# --- per address ----------------------------------------------------------------------------


async def test_connections_per_address_are_capped(node_factory: NodeFactory) -> None:
    node = node_factory(env={"HEARTH_CONNECTIONS_PER_IP": "3", "HEARTH_HELLO_PER_MINUTE": "1000"})
    room = await create_room(node)
    held = [await Raw.connect(node.ws_url) for _ in range(3)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await Raw.connect(node.ws_url)
        assert refused.value.response.status_code == 403

        # Another address is not affected.
        elsewhere = await Raw.connect(node.ws_url, source="127.0.0.2")
        held.append(elsewhere)
        await elsewhere.hello(room["id"], room["facilitator"], "Fay")

        # The three held sockets still work.
        for i, raw in enumerate(held[:3]):
            welcome = await raw.hello(room["id"], room["invite"], f"Guest {i}")
            assert welcome["state"]["lobby"] is True

        # A closed one frees its place.
        await held.pop(0).close()
        async with asyncio.timeout(5):
            while True:
                try:
                    held.append(await Raw.connect(node.ws_url))
                    break
                except InvalidStatus:
                    await asyncio.sleep(0.05)
        with pytest.raises(InvalidStatus):
            await Raw.connect(node.ws_url)
        assert await healthy(node)
    finally:
        for raw in held:
            await raw.close()


async def test_hello_attempts_per_address_are_capped(node_factory: NodeFactory) -> None:
    node = node_factory(env={"HEARTH_HELLO_PER_MINUTE": "4"})
    room = await create_room(node)
    fay = await Client.join(node.ws_url, room["id"], room["facilitator"], "Fay")  # 127.0.0.1
    guesser = await Raw.connect(node.ws_url, source="127.0.0.2")
    again = await Raw.connect(node.ws_url, source="127.0.0.2")
    other = await Raw.connect(node.ws_url, source="127.0.0.3")
    try:
        marks = len(fay.events)
        for n in range(4):
            await guesser.send({"t": "hello", "room": room["id"], "token": f"guess-{n}",
                                "name": "G", "accept": True})  # fmt: skip
            await guesser.expect_error("bad_token")
        # Past the budget even a right token is refused, on any socket from that address.
        for raw in (guesser, again):
            await raw.send({"t": "hello", "room": room["id"], "token": room["invite"],
                            "name": "G", "accept": True})  # fmt: skip
            error = await raw.expect_error("rate_limited")
            assert "minute" in error["message"]
        # Another address is not.
        welcome = await other.hello(room["id"], room["invite"], "Ola")
        assert welcome["state"]["lobby"] is True
        await expect_event(fay, "joined_lobby", member=other.me)
        await fay.ping()
        assert [ev["type"] for ev in fay.events[marks:]] == ["joined_lobby"]
    finally:
        for raw in (guesser, again, other):
            await raw.close()
        await fay.close()


# --- the hello timeout ----------------------------------------------------------------------


async def test_a_silent_socket_is_closed_after_the_hello_timeout(
    node_factory: NodeFactory,
) -> None:
    node = start(node_factory, {"HEARTH_HELLO_TIMEOUT_SECONDS": "1"})
    raw = await Raw.connect(node.ws_url)
    started = time.monotonic()
    await raw.expect_closed(Close.HELLO_TIMEOUT, timeout=6)
    assert 0.8 <= time.monotonic() - started <= 5.0


async def test_a_socket_sending_junk_but_no_hello_is_closed_too(
    node_factory: NodeFactory,
) -> None:
    node = start(node_factory, {"HEARTH_HELLO_TIMEOUT_SECONDS": "1"})
    room = await create_room(node)
    raw = await Raw.connect(node.ws_url)
    junk: list[bytes | str] = [
        b"\xc1",
        "text",
        pack({"t": "ping", "id": 1}),
        pack({"t": "chat", "id": 2, "text": "hi"}),
        pack({"t": "shout"}),
        pack({"t": "hello", "room": room["id"], "token": "wrong", "name": "G", "accept": True}),
        pack({"t": "hello", "room": room["id"], "token": room["invite"], "name": "G"}),
    ]
    started = time.monotonic()
    codes = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(6):
            for n in range(1000):
                await raw.send_raw(junk[n % len(junk)])
                reply = await raw.reply()
                codes.append(reply["code"])
                await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    assert raw.ws.close_code == Close.HELLO_TIMEOUT
    assert 0.8 <= elapsed <= 5.0
    assert set(codes) <= ERROR_CODES
    assert len(codes) >= 5


async def test_a_socket_that_said_hello_in_time_stays(node_factory: NodeFactory) -> None:
    node = start(node_factory, {"HEARTH_HELLO_TIMEOUT_SECONDS": "1"})
    room = await create_room(node)
    raw = await Raw.connect(node.ws_url)
    try:
        await raw.hello(room["id"], room["facilitator"], "Fay")
        await asyncio.sleep(2.0)
        await raw.ping()
    finally:
        await raw.close()


# --- keepalive --------------------------------------------------------------------------------

KEEPALIVE = {"HEARTH_PING_INTERVAL_SECONDS": "0.5", "HEARTH_PING_TIMEOUT_SECONDS": "0.5"}


class Pings(logging.Handler):
    """Counts the WebSocket pings a client received (websockets logs each frame at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.logger = logging.getLogger(f"tests.pings.{id(self)}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("< PING"):
            self.count += 1


async def test_a_peer_that_talks_is_never_pinged_and_a_silent_one_is(
    node_factory: NodeFactory,
) -> None:
    node = start(node_factory, KEEPALIVE)
    room = await create_room(node)
    pings = Pings()
    raw = await Raw.connect(node.ws_url, logger=pings.logger, ping_interval=None)
    try:
        await raw.hello(room["id"], room["facilitator"], "Fay")
        for _ in range(15):  # 3 s of talk, a word every 0.2 s: six intervals
            await raw.ping()
            await asyncio.sleep(0.2)
        assert pings.count == 0
        await asyncio.sleep(1.5)  # silent: pinged (and answered by the client library)
        assert pings.count >= 1
        await raw.ping()  # still open
    finally:
        await raw.close()


async def test_a_peer_that_leaves_a_ping_unanswered_is_closed(node_factory: NodeFactory) -> None:
    node = start(node_factory, KEEPALIVE)
    room = await create_room(node)
    watcher = await Client.join(node.ws_url, room["id"], room["facilitator"], "Fa")
    raw = await stalled(node.ws_url, node.port)
    try:
        await raw.hello(room["id"], room["facilitator"], "Sam")
        for _ in range(4):  # the answers fill the client's queue: it stops reading
            await raw.send({"t": "ping", "id": raw.next_id()})
        started = time.monotonic()
        await expect_event(watcher, "reconnecting", member=raw.me)
        assert time.monotonic() - started < 5  # interval + timeout, with a wide margin
    finally:
        raw.ws.transport.abort()
        await watcher.close()


# --- a slow reader --------------------------------------------------------------------------


async def stalled(url: str, port: int) -> Raw:
    """A socket that stops reading as soon as a frame is waiting: a tiny kernel receive
    buffer and a one-frame client queue, so the node's outbound buffer is what fills."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    ws = await connect(url, sock=sock, compression=None, max_queue=(1, 0), open_timeout=5)
    return Raw(ws)


async def test_a_slow_reader_is_dropped_while_the_room_keeps_its_pace(
    node_factory: NodeFactory,
) -> None:
    node = start(
        node_factory,
        {
            "HEARTH_OUTBOUND_BYTES": "16384",
            # Big chats fill the kernel's buffers (megabytes on loopback) in a few hundred.
            "HEARTH_CHAT_CHARS": "30000",
            "HEARTH_RATE_PER_SECOND": "1000",
            "HEARTH_RATE_BURST": "1000",
        },
    )
    async with gathered(node) as circle, contextlib.AsyncExitStack() as stack:
        slow = await stalled(node.ws_url, node.port)
        stack.push_async_callback(slow.close)
        await slow.hello(circle.room["id"], circle.room["invite"], "Slow")
        await circle.facilitator.command("admit", member=slow.me)
        await slow.reply_event("admitted")
        token = slow.welcome["resume"]
        seq = max([slow.welcome["seq"], *(ev["seq"] for ev in slow.events)])
        await circle.settle()

        # The slow one stops reading; the others chat on, big messages, quickly.
        sender, reader = circle.facilitator, circle.witness
        text = "z" * 29000
        latencies = []
        gone_at = None
        async with asyncio.timeout(60):
            for n in range(600):
                sent = time.monotonic()
                ack = await sender.chat(f"{n} {text}")
                heard = await expect_event(reader, "chat", id=ack["id"])
                latencies.append(time.monotonic() - sent)
                assert heard["from"] == sender.me
                if any(
                    ev.get("type") == "reconnecting" and ev.get("member") == slow.me
                    for ev in reader.events
                ):
                    gone_at = n
                    break
        assert gone_at is not None, "the slow reader was never dropped"
        assert gone_at > 2  # it was the queue that filled, not something else
        assert max(latencies) < 1.0, max(latencies)

        # When it reads again it finds the close (after what was already on its way), and
        # resumes its seat on a fresh socket.
        await slow.expect_closed(Close.TOO_SLOW, timeout=20)
        back = await circle.connect()
        welcome = await back.resume(token, seq)
        assert welcome["me"] == slow.me
        await expect_event(reader, "present", member=slow.me)
        await circle.settle()
        await circle.unharmed(back)


# --- a flood --------------------------------------------------------------------------------


async def flood(raw: Raw, frames: list[bytes | str]) -> tuple[int, int]:
    """Send `frames` on `raw` as fast as the socket takes them while reading every reply;
    returns (frames sent, answers read), events not counted."""
    answers = 0

    async def drain() -> None:
        nonlocal answers
        with contextlib.suppress(ConnectionClosed):
            async for data in raw.ws:
                if msgpack.unpackb(data).get("t") not in ("event", "welcome"):
                    answers += 1

    reader = asyncio.create_task(drain())
    sent = 0
    try:
        for data in frames:
            await raw.ws.send(data)
            sent += 1
        async with asyncio.timeout(30):
            while answers < sent:
                await asyncio.sleep(0.01)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return sent, answers


async def probe(client: Client, stop: asyncio.Event) -> list[float]:
    """Chat round trips (send → own ack and own chat event) until `stop`."""
    samples = []
    n = 0
    while not stop.is_set():
        n += 1
        started = time.monotonic()
        ack = await client.chat(f"probe {n}")
        await expect_event(client, "chat", id=ack["id"])
        samples.append(time.monotonic() - started)
        await asyncio.sleep(0.02)
    return samples


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        pytest.param({}, "mixed", id="default limits, mixed frames"),
        pytest.param(
            {"HEARTH_RATE_PER_SECOND": "1000000", "HEARTH_RATE_BURST": "1000000"},
            "junk",
            id="no rate limit, every frame parsed",
        ),
    ],
)
async def test_a_flood_from_one_client_leaves_another_chatting_in_time(
    node_factory: NodeFactory, env: dict[str, str], kind: str
) -> None:
    node = start(node_factory, env)
    async with gathered(node) as circle:
        flooder = await circle.connect()
        await flooder.hello(circle.room["id"], circle.room["invite"], "Flo")
        await circle.facilitator.command("admit", member=flooder.me)
        await flooder.reply_event("admitted")
        if kind == "mixed":
            pattern: list[bytes | str] = [
                pack({"t": "chat", "id": 1, "text": "flood " * 50}),
                pack({"t": "ping", "id": 2}),
                b"\xc1" * 100,
                "text " * 20,
                pack({"t": "cmd", "id": 3, "op": "explode"}),
                pack({"t": "cmd", "id": 4, "op": "raise_hand"}),
                pack({"t": "signal", "to": "nobody", "data": {"sdp": "x" * 500}}),
            ]
        else:
            pattern = [b"\xc1", pack({"t": "shout", "x": "y" * 200}), pack([1, 2, 3])]
        frames = [pattern[n % len(pattern)] for n in range(6000)]

        stop = asyncio.Event()
        prober = asyncio.create_task(probe(circle.witness, stop))
        try:
            await asyncio.sleep(0.2)  # a few samples before the flood
            sent, answers = await flood(flooder, frames)
            await asyncio.sleep(0.2)  # and after
        finally:
            stop.set()
            samples = await prober
        assert sent == len(frames)
        assert answers == sent  # every frame answered, none dropped
        assert len(samples) >= 5
        assert max(samples) < 1.0, sorted(samples)[-5:]
        assert await healthy(node)
