"""server/ws_protocol.py over a recording transport: its own framing, and reading that
pauses only on a backlog.

The protocol is driven as uvicorn drives it (connection_made, then data_received), with a
websockets client protocol producing the bytes, and no app ever taking a message off the
queue: what is checked is what the protocol itself does. Its framing shortcut is checked
against uvicorn's own protocol fed the same bytes cut the same way: the same messages, and
the same bytes written back (pongs, closes).
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from server.ws_protocol import (
    INLET_EXTENSION,
    OUTLET_EXTENSION,
    HearthHttpProtocol,
    HearthWebSocketProtocol,
    http_protocol_class,
    protocol_class,
)
from signaling.closes import Close
from signaling.outlet import INBOUND_BACKLOG, OutFrame

LIMIT = 1000  # the frame limit of these tests' protocols


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False
        self.high_water: int | None = None  # what set_write_buffer_limits was given

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high_water = high


async def idle_app(scope: Any, receive: Any, send: Any) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    await asyncio.Event().wait()  # never reads again


async def app_until_disconnect(scope: Any, receive: Any, send: Any) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    for _ in range(100):  # bounded: the tests send a few messages, then disconnect
        if (await receive())["type"] == "websocket.disconnect":
            return


def send_handshake(proto: asyncio.Protocol) -> ClientProtocol:
    """A client that has sent `proto` its opening handshake, to frame messages with."""
    client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/ws"), max_size=None)
    client.send_request(client.connect())
    proto.data_received(b"".join(client.data_to_send()))
    return client


async def open_protocol(
    cls: type[WebSocketsSansIOProtocol], app: Any = idle_app
) -> tuple[Any, RecordingTransport, ClientProtocol]:
    """A protocol past its handshake, its transport, and a client to frame messages."""
    config = Config(app=app, ws="websockets-sansio", lifespan="off", ws_max_size=LIMIT)
    config.load()
    proto = cls(config, ServerState(), {})
    transport = RecordingTransport()
    proto.connection_made(transport)
    client = send_handshake(proto)
    for _ in range(10):  # bounded: the app task accepts within a few loop turns
        await asyncio.sleep(0)
        if proto.handshake_complete:
            break
    assert proto.handshake_complete
    client.receive_data(b"".join(transport.written))
    client.events_received()
    transport.written.clear()
    transport.calls.clear()
    return proto, transport, client


def close_protocol(proto: Any) -> None:
    for task in list(proto.tasks):
        task.cancel()
    for timer in (proto.ping_timer, proto.pong_timer, proto.close_timer):
        if timer is not None:
            timer.cancel()


@pytest.fixture
async def opened() -> Any:
    proto, transport, client = await open_protocol(protocol_class(256 * 1024))
    yield proto, transport, client
    close_protocol(proto)


def frame(client: ClientProtocol, payload: bytes) -> bytes:
    client.send_binary(payload)
    return b"".join(client.data_to_send())


async def test_reading_goes_on_while_the_app_keeps_up(opened: Any) -> None:
    proto, transport, client = opened
    for i in range(INBOUND_BACKLOG - 1):
        proto.data_received(frame(client, b"m%d" % i))
    assert transport.calls == []  # no pause and resume per message
    assert proto.queue.qsize() == INBOUND_BACKLOG - 1


async def test_reading_pauses_once_the_app_falls_behind(opened: Any) -> None:
    proto, transport, client = opened
    for i in range(INBOUND_BACKLOG + 3):
        proto.data_received(frame(client, b"m%d" % i))
    assert transport.calls == ["pause"]
    assert proto.read_paused
    # Taking the backlog off resumes reading once the queue is empty, as uvicorn does.
    for _ in range(INBOUND_BACKLOG + 3):
        message = await proto.receive()
        assert message["type"] == "websocket.receive"
    assert transport.calls == ["pause", "resume"]
    assert not proto.read_paused


async def received(proto: Any) -> list[dict[str, Any]]:
    messages = []
    for _ in range(proto.queue.qsize()):
        messages.append(await proto.receive())
    return messages


# --- the framing shortcut, against uvicorn's own protocol ----------------------------------

# What a client may send: (kind, payload). Sizes straddle the 7-bit/16-bit length forms and
# the limit, so every header shape and the 1009 close are reached.
payloads = st.one_of(
    st.binary(max_size=8),
    st.binary(min_size=120, max_size=130),
    st.binary(min_size=LIMIT - 2, max_size=LIMIT + 2),
)
client_frames = st.lists(
    st.one_of(
        st.tuples(st.just("binary"), payloads),
        st.tuples(st.just("text"), st.text(max_size=20).map(str.encode)),
        st.tuples(st.just("ping"), st.binary(max_size=8)),
        st.tuples(st.just("fragments"), st.lists(st.binary(max_size=8), min_size=2, max_size=3)),
        st.tuples(st.just("unmasked"), st.binary(max_size=8)),
        st.tuples(st.just("bad_text"), st.just(b"\xff\xfe")),
        st.tuples(st.just("close"), st.just(b"")),
    ),
    max_size=8,
)


def encode(client: ClientProtocol, frames: list[tuple[str, Any]]) -> list[bytes]:
    """The bytes of each frame on the wire, in order (a fragmented message is several)."""
    out: list[bytes] = []
    for kind, data in frames:
        if kind == "binary":
            client.send_binary(data)
        elif kind == "text":
            client.send_text(data)
        elif kind == "ping":
            client.send_ping(data)
        elif kind == "fragments":
            client.send_binary(data[0], fin=False)
            for middle in data[1:-1]:
                client.send_continuation(middle, fin=False)
            client.send_continuation(data[-1], fin=True)
        elif kind == "unmasked":  # the server must refuse it: clients mask every frame
            out.append(Frame(Opcode.BINARY, data).serialize(mask=False))
            continue
        elif kind == "bad_text":
            out.append(Frame(Opcode.TEXT, data).serialize(mask=True))
            continue
        else:
            out.append(Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=True))
            continue
        out.extend(client.data_to_send())
    return out


def cut(frames: list[bytes], cuts: list[int], *, at_frames: bool) -> list[bytes]:
    """The stream cut at `cuts` (and at every frame's end too, if `at_frames`)."""
    data = b"".join(frames)
    points = {c % (len(data) + 1) for c in cuts} | {0, len(data)}
    if at_frames:
        ends = 0
        for f in frames:
            ends += len(f)
            points.add(ends)
    ordered = sorted(points)
    return [data[a:b] for a, b in itertools.pairwise(ordered) if b > a]


async def feed(
    cls: type[WebSocketsSansIOProtocol], frames: Any, cuts: list[int], *, at_frames: bool
) -> Any:
    proto, transport, client = await open_protocol(cls)
    try:
        for chunk in cut(encode(client, frames), cuts, at_frames=at_frames):
            try:
                proto.data_received(chunk)
            except Exception as exc:  # uvicorn's own protocol has one such case, see below
                return type(exc).__name__
            if transport.closing:
                break
        return await received(proto), b"".join(transport.written), transport.closing
    finally:
        close_protocol(proto)


@settings(max_examples=300, deadline=None)
@given(frames=client_frames, cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=6))
def test_framing_matches_uvicorns_own_protocol(frames: Any, cuts: list[int]) -> None:
    # Ours takes one frame at a time whatever the reads hold, so uvicorn's is fed every
    # frame in a read of its own (cut at the same places too): the same stream, handled the
    # same way, must give the same messages and the same bytes back.
    async def both() -> tuple[Any, Any]:
        ours = await feed(protocol_class(256 * 1024), frames, cuts, at_frames=False)
        theirs = await feed(WebSocketsSansIOProtocol, frames, cuts, at_frames=True)
        return ours, theirs

    ours, theirs = asyncio.run(both())
    assert ours == theirs


async def test_a_frame_cut_at_every_byte_arrives_whole(opened: Any) -> None:
    proto, _, client = opened
    data = frame(client, b"a" * 200) + frame(client, b"b")
    for i in range(len(data)):
        proto.data_received(data[i : i + 1])
    assert [m["bytes"] for m in await received(proto)] == [b"a" * 200, b"b"]
    assert proto._framing is True


async def test_a_frame_past_the_limit_is_left_to_websockets_which_closes_1009(
    opened: Any,
) -> None:
    proto, transport, client = opened
    proto.data_received(frame(client, b"ok") + frame(client, b"x" * (LIMIT + 1)))
    assert [m["bytes"] for m in await received(proto) if m["type"] == "websocket.receive"] == [
        b"ok"
    ]
    assert proto._framing is False
    assert b"\x03\xf1" in b"".join(transport.written)  # close code 1009


# --- the direct outlet ----------------------------------------------------------------------


def outlet_of(proto: Any) -> Any:
    return proto.scope["extensions"][OUTLET_EXTENSION]


async def test_the_outlet_writes_each_frame_once_and_corks_a_members_own(opened: Any) -> None:
    proto, transport, client = opened
    outlet = outlet_of(proto)
    assert outlet.send(OutFrame(b"event"))
    outlet.cork()
    assert outlet.send(OutFrame(b"own event"))
    assert outlet.send(OutFrame(b"ack"))
    assert len(transport.written) == 1  # the corked two wait
    outlet.uncork()
    assert transport.written[1] == OutFrame(b"own event").ws + OutFrame(b"ack").ws
    client.receive_data(b"".join(transport.written))
    assert [f.data for f in client.events_received()] == [b"event", b"own event", b"ack"]


async def test_no_frame_follows_a_close_the_server_sent(opened: Any) -> None:
    proto, transport, _ = opened
    outlet = outlet_of(proto)
    outlet.close(Close.REMOVED, "removed")
    written = len(transport.written)
    assert not transport.closing  # still waiting for the client's close reply
    assert not outlet.send(OutFrame(b"late"))
    outlet.cork()
    outlet.send(OutFrame(b"late"))
    outlet.uncork()
    assert len(transport.written) == written


async def test_no_frame_follows_the_clients_close(opened: Any) -> None:
    proto, transport, client = opened
    client.send_close(1000)
    proto.data_received(b"".join(client.data_to_send()))
    written = len(transport.written)
    assert not outlet_of(proto).send(OutFrame(b"late"))
    assert len(transport.written) == written


async def test_a_client_too_slow_to_read_is_closed(opened: Any) -> None:
    proto, transport, client = opened
    outlet = outlet_of(proto)
    assert transport.high_water == 256 * 1024  # the outbound limit, as the transport's mark
    proto.pause_writing()  # what the transport does once more than that waits in it
    assert not outlet.send(OutFrame(b"more"))
    client.receive_data(b"".join(transport.written))
    [close] = client.events_received()
    assert close.opcode is Opcode.CLOSE
    assert int.from_bytes(close.data[:2], "big") == Close.TOO_SLOW
    assert not outlet.send(OutFrame(b"after"))


async def test_a_client_that_caught_up_in_time_stays(opened: Any) -> None:
    proto, transport, client = opened
    outlet = outlet_of(proto)
    proto.pause_writing()
    proto.resume_writing()  # the buffer drained below the low-water mark before the next send
    assert outlet.send(OutFrame(b"more"))
    client.receive_data(b"".join(transport.written))
    assert [f.data for f in client.events_received()] == [b"more"]


# --- the inlet ------------------------------------------------------------------------------


async def test_an_attached_handler_gets_every_message_as_it_arrives(opened: Any) -> None:
    proto, transport, client = opened
    got: list[bytes | str] = []
    assert proto.scope["extensions"][INLET_EXTENSION].attach(got.append)
    client.send_text(b"text")
    client.send_binary(b"big" * 100, fin=False)  # fragmented: through websockets' parser
    client.send_continuation(b"!", fin=True)
    data = b"".join(client.data_to_send()) + frame(client, b"small")
    proto.data_received(data)
    assert got == ["text", b"big" * 100 + b"!", b"small"]
    assert proto.queue.empty()
    client.send_text(b"\xff")  # not UTF-8: uvicorn's own answer, a 1007 close
    proto.data_received(b"".join(client.data_to_send()))
    assert got == ["text", b"big" * 100 + b"!", b"small"]
    assert b"\x03\xef" in b"".join(transport.written)


async def test_the_inlet_waits_for_queued_messages_to_be_taken_first(opened: Any) -> None:
    proto, transport, client = opened
    inlet = proto.scope["extensions"][INLET_EXTENSION]
    proto.data_received(frame(client, b"queued"))
    assert not inlet.attach(print)
    assert (await proto.receive())["bytes"] == b"queued"
    assert inlet.attach(print)
    inlet.pause()
    inlet.pause()
    inlet.resume()
    inlet.resume()
    assert transport.calls == ["pause", "resume"]


# --- a closed connection is freed by reference counting, not left to the collector -------


class Member:
    """Holds what a seated connection holds (signaling.connection.Connection): the outlet,
    the inlet, and its own bound method as the inlet's handler."""

    def __init__(self, extensions: dict[str, Any]) -> None:
        self.outlet = extensions[OUTLET_EXTENSION]
        self.inlet = extensions[INLET_EXTENSION]
        assert self.inlet.attach(self.push)

    def push(self, message: bytes | str) -> None:
        pass


async def settle(tasks: set[asyncio.Task[None]]) -> None:
    """Wait until `tasks` are done and their done-callbacks have run."""
    for _ in range(10):  # bounded: they end within a few loop turns
        if all(t.done() for t in tasks):
            break
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the done-callbacks, scheduled when each task ended


async def test_a_closed_connection_leaves_no_cycle(no_collector: None) -> None:
    proto, transport, client = await open_protocol(protocol_class(256 * 1024), app_until_disconnect)
    member = Member(proto.scope["extensions"])
    proto.data_received(frame(client, b"hello"))
    member.outlet.send(OutFrame(b"\x82\x01!"))
    tasks = set(proto.tasks)
    proto.connection_lost(None)  # the app hears the disconnect and returns
    await settle(tasks)
    assert all(t.done() and not t.cancelled() for t in tasks)
    close_protocol(proto)
    gone = weakref.ref(proto)
    del proto, member, tasks, transport, client
    assert gone() is None


async def test_the_upgrade_leaves_no_http_protocol_behind(no_collector: None) -> None:
    config = Config(
        app=idle_app, ws=protocol_class(256 * 1024), http=HearthHttpProtocol, lifespan="off"
    )
    config.load()
    http = HearthHttpProtocol(config, ServerState(), {})
    transport = RecordingTransport()
    http.connection_made(transport)
    send_handshake(http)
    ws = transport.get_protocol()
    assert isinstance(ws, HearthWebSocketProtocol)  # the connection moved on
    gone = weakref.ref(http)
    del http
    assert gone() is None
    await settle(set(ws.tasks))
    assert ws.handshake_complete
    close_protocol(ws)


async def test_only_unfinished_heads_count_against_the_address_cap() -> None:
    cls = http_protocol_class(head_timeout=10.0, unfinished_per_address=2)
    config = Config(app=idle_app, ws=protocol_class(256 * 1024), http=cls, lifespan="off")
    config.load()
    state = ServerState()
    upgraded = cls(config, state, {})
    upgraded.connection_made(RecordingTransport())
    send_handshake(upgraded)  # its head is finished: it no longer counts
    assert cls.unfinished == {}
    waiting = [cls(config, state, {}) for _ in range(3)]
    transports = [RecordingTransport() for _ in waiting]
    for proto, transport in zip(waiting, transports, strict=True):
        proto.connection_made(transport)
    assert cls.unfinished == {"127.0.0.1": 2}
    assert [t.closing for t in transports] == [False, False, True]  # the third: over the cap
    waiting[0].data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert cls.unfinished == {"127.0.0.1": 1}
    for proto in waiting:
        proto.connection_lost(None)
    assert cls.unfinished == {}
    ws = upgraded.transport.get_protocol()
    await settle(set(ws.tasks) | set(state.tasks))
    close_protocol(ws)
