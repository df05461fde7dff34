"""Outbound frames: the WebSocket framing built once per event, and the queued outlet.

`OutFrame.ws` is checked against the `websockets` library's own frame parser and serializer
at each boundary of the length encoding (RFC 6455 §5.2). `QueueOutlet` is driven with a fake
ASGI `send` that yields like a real one, so the writer task interleaves with the sender.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from signaling.closes import Close
from signaling.outlet import OutFrame, QueueOutlet


def parse_ws(data: bytes) -> tuple[Frame, int]:
    """Parse one server-to-client frame with websockets; also the bytes left over."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        return done.value, len(reader.buffer)
    raise AssertionError("the frame is incomplete")


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_ws_framing_parses_with_websockets(length: int) -> None:
    payload = bytes(i % 251 for i in range(length))
    frame, left = parse_ws(OutFrame(payload).ws)
    assert frame.opcode is Opcode.BINARY
    assert frame.fin
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False)
    assert frame.data == payload
    assert left == 0


@pytest.mark.parametrize(
    ("length", "header"),
    [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)],
)
def test_ws_framing_matches_websockets_serializer(length: int, header: int) -> None:
    payload = b"x" * length
    ws = OutFrame(payload).ws
    assert ws == Frame(Opcode.BINARY, payload).serialize(mask=False)
    assert len(ws) == header + length


def test_ws_framing_is_built_once() -> None:
    frame = OutFrame(b"event")
    assert frame.ws is frame.ws
    assert frame.payload == b"event"


# --- QueueOutlet ------------------------------------------------------------------------


class FakeSend:
    """An ASGI `send` that yields to the loop like a real one, and can be held shut."""

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.fail = False

    async def __call__(self, message: dict[str, object]) -> None:
        await self.open.wait()
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionResetError("peer gone")
        self.messages.append(message)

    def sent(self) -> list[object]:
        """Payloads sent, and `("close", code, reason)` for a close."""
        out: list[object] = []
        for m in self.messages:
            if m["type"] == "websocket.send":
                out.append(m["bytes"])
            else:
                out.append(("close", m["code"], m["reason"]))
        return out


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_frames_flush_in_order() -> None:
    send = FakeSend()
    outlet = QueueOutlet(send, limit_bytes=1024)
    for i in range(10):
        assert outlet.send(OutFrame(b"frame %d" % i))
    await settle()
    assert send.sent() == [b"frame %d" % i for i in range(10)]
    outlet.send(OutFrame(b"later"))
    await outlet.finish()
    assert send.sent()[-1] == b"later"


async def test_finish_flushes_what_is_queued_and_stops_the_writer() -> None:
    send = FakeSend()
    outlet = QueueOutlet(send, limit_bytes=1024)
    outlet.send(OutFrame(b"a"))
    outlet.send(OutFrame(b"b"))
    await outlet.finish()
    assert send.sent() == [b"a", b"b"]
    assert not outlet.send(OutFrame(b"c"))


async def test_past_the_bound_the_connection_closes_too_slow() -> None:
    send = FakeSend()
    send.open.clear()  # the client reads nothing
    outlet = QueueOutlet(send, limit_bytes=10)
    assert outlet.send(OutFrame(b"1234"))  # the writer takes this one and blocks on it
    await settle()
    assert outlet.send(OutFrame(b"1234"))
    assert outlet.send(OutFrame(b"123456"))  # exactly at the bound: 10 bytes waiting
    assert not outlet.send(OutFrame(b"1"))  # past it
    assert not outlet.send(OutFrame(b"1"))  # and closed from now on
    send.open.set()
    await outlet.finish()
    # What was waiting is dropped (the client resumes and catches up from history).
    assert send.sent() == [b"1234", ("close", Close.TOO_SLOW, "too slow")]


async def test_one_frame_larger_than_the_bound_closes_too_slow() -> None:
    send = FakeSend()
    outlet = QueueOutlet(send, limit_bytes=10)
    assert not outlet.send(OutFrame(b"x" * 11))
    await outlet.finish()
    assert send.sent() == [("close", Close.TOO_SLOW, "too slow")]


async def test_a_close_comes_after_the_frames_already_queued() -> None:
    # The session closes a seat that ended "after whatever this step still sends (an ack)":
    # the event that ended it and the ack are queued first, then the close.
    send = FakeSend()
    outlet = QueueOutlet(send, limit_bytes=1024)
    outlet.send(OutFrame(b"meeting_ended"))
    outlet.send(OutFrame(b"ack"))
    outlet.close(Close.ENDED, "meeting ended")
    assert not outlet.send(OutFrame(b"after the close"))
    await outlet.finish()
    assert send.sent() == [b"meeting_ended", b"ack", ("close", Close.ENDED, "meeting ended")]


async def test_a_close_while_the_writer_is_busy_still_follows_the_queue() -> None:
    send = FakeSend()
    outlet = QueueOutlet(send, limit_bytes=1024)
    for i in range(3):
        outlet.send(OutFrame(b"%d" % i))
    await asyncio.sleep(0)  # the writer has started on the first frame
    outlet.close(Close.LEFT, "left")
    await outlet.finish()
    assert send.sent() == [b"0", b"1", b"2", ("close", Close.LEFT, "left")]


async def test_the_first_close_wins() -> None:
    send = FakeSend()
    outlet = QueueOutlet(send, limit_bytes=1024)
    outlet.close(Close.REPLACED, "connected elsewhere")
    outlet.close(Close.GOING_AWAY, "node stopping")
    await outlet.finish()
    assert send.sent() == [("close", Close.REPLACED, "connected elsewhere")]


async def test_a_vanished_peer_stops_the_writer_quietly() -> None:
    send = FakeSend()
    send.fail = True
    outlet = QueueOutlet(send, limit_bytes=1024)
    assert outlet.send(OutFrame(b"a"))
    await settle()
    assert not outlet.send(OutFrame(b"b"))
    await outlet.finish()  # no exception escapes
    assert send.sent() == []
