"""uvicorn's websockets (sans-I/O) protocol, with a direct outlet for Hearth's fan-out.

Why: through plain ASGI every frame sent is an awaited `send()` per recipient, and a fan-out
either awaits each one in turn (the slowest client slows the room) or pays a queue and a task
switch per delivery. This subclass offers, in the scope's extensions under `hearth.outlet`,
an outlet that writes an already-framed message straight into the transport's buffer
without awaiting, so one event's frame is built once and written to every recipient in a
single pass. The buffer is bounded: past `outbound_bytes` waiting, the connection is closed
with TOO_SLOW and the client resumes. Everything else (handshake, pings, close handshake,
the 1009 close for oversized frames) is uvicorn's own code, untouched.

Inbound, once the connection is open, the protocol cuts the byte stream into frames itself
(headers only) and hands a complete, unfragmented, masked binary frame (every frame a
Hearth client sends but a large signal) straight to the app's queue; any other frame (text,
control, fragment, anything malformed) goes, whole, through websockets' own parser, which
therefore always sits at a frame boundary. A frame announced larger than the limit, or a
connection no longer open, turns the shortcut off for good and websockets sees every byte
from there on (and closes with 1009, or discards). Why: websockets' generator-based parser
was a tenth of the node's CPU at the benchmark's load (docs/decisions/007).

Safe because the server never fragments messages and per-message compression is off, so a
complete frame written between two of uvicorn's own writes is always well-formed.

It also keeps an idle connection small (docs/performance.md has the figures): `/ws` is
served straight by the WebSocket endpoint instead of through Starlette's middleware stack,
whose frames would stay alive for the whole connection; the handshake's request and response
headers are dropped once accepted; and uvicorn's asyncio.Queue and asyncio.Event (three and
one deques, ~3 KiB together) are replaced by lean equivalents with the same behaviour for the
one consumer that uses them. And a closed connection is freed by reference counting: nothing
of Hearth's holds its protocol strongly from below, and `HearthHttpProtocol`, uvicorn's HTTP
protocol that upgrades it, lets go of its parser then (docs/decisions/009).

Before any of that, `HearthHttpProtocol` bounds what a connection may cost before it has said
what it wants: a request head larger than `head_bytes` (16 KiB) is answered 431, one not
finished within `head_timeout` (10 s, HEARTH_HEAD_TIMEOUT_SECONDS) 408, and each closed; and
one address may hold only so many connections whose first head is unfinished (the
connections-per-address limit; a trusted proxy is exempt, as it speaks for many). Why:
uvicorn's httptools protocol has neither bound (h11_max_incomplete_event_size is h11's,
timeout_keep_alive runs only between requests), so 300 sockets that never finished a request
stayed open past 70 s, and three unterminated 30 MB headers doubled a node's memory. The
counting is per chunk and stops at the head: a WebSocket's frames never pass through it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import weakref
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import apply_mask  # type: ignore[attr-defined]  # C speedup when built
from websockets.protocol import State

from signaling.closes import Close
from signaling.outlet import INBOUND_BACKLOG, MessageHandler, OutFrame

OUTLET_EXTENSION = "hearth.outlet"
INLET_EXTENSION = "hearth.inlet"
_FIN_BINARY = 0x82  # first header byte of a final binary frame with no extension bits
_MASKED = 0x80
DIRECT_PATH = "/ws"
MAX_HEAD_BYTES = 16 * 1024  # request line and headers; browsers send ~1-2 KiB, proxies add some
HEAD_TIMEOUT_SECONDS = 10.0
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class LeanQueue:
    """The part of asyncio.Queue uvicorn's protocol uses, for its single consumer."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items


class LeanEvent:
    """The part of asyncio.Event uvicorn's protocol uses (`writable`)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if not self._set:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return True


class DirectOutlet:
    """Writes frames into one connection's transport; never awaits.

    While corked (the connection is handling one of its own frames), frames are collected
    and written together at `uncork`: a member's own event and the ack that follows it leave
    in one write, not two.

    `send` runs once per recipient of every event, so it touches only this object and the
    transport: `closing` is set by the protocol when it sends a close frame (after which no
    data frame may follow), and every other way out of the open state closes the transport.
    `backed_up` is set and cleared by the transport's flow control (`pause_writing` and
    `resume_writing`, with the high-water mark at the outbound limit), so a send doesn't ask
    the transport how much it holds.

    It holds its protocol weakly, as the inlet does: the protocol holds both (and, through
    the inlet's handler, the connection that holds them), and strong references back would
    make every connection a cycle that only a full collection frees (docs/decisions/009).
    While the connection is open its transport keeps the protocol alive.
    """

    __slots__ = ("_corked", "_protocol", "_transport", "backed_up", "closing")

    def __init__(self, protocol: HearthWebSocketProtocol) -> None:
        self._protocol = weakref.ref(protocol)
        self._transport = protocol.transport
        self._corked: list[bytes] | None = None
        self.backed_up = False  # more than the outbound limit waits in the transport
        self.closing = False

    def send(self, frame: OutFrame) -> bool:
        if self.closing or self._transport.is_closing():
            return False
        if self.backed_up:
            self.close(Close.TOO_SLOW, "too slow")
            return False
        if self._corked is not None:
            self._corked.append(frame.ws)
        else:
            self._transport.write(frame.ws)
        return True

    def cork(self) -> None:
        if self._corked is None:
            self._corked = []

    def uncork(self) -> None:
        corked, self._corked = self._corked, None
        if not corked or self.closing or self._transport.is_closing():
            return
        self._transport.write(corked[0] if len(corked) == 1 else b"".join(corked))

    def close(self, code: int, reason: str) -> None:
        protocol = self._protocol()
        if protocol is not None:
            protocol.close_now(code, reason)


class DirectInlet:
    """Hands each inbound message to the app's handler as it arrives (signaling.outlet.Inlet)
    instead of queueing it for the app's task to take: no task switch per message."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: HearthWebSocketProtocol) -> None:
        self._protocol = weakref.ref(protocol)  # weakly: see DirectOutlet

    def attach(self, handler: MessageHandler) -> bool:
        p = self._protocol()
        if p is None or not p.queue.empty() or p.close_sent:
            return False
        p.on_message = handler
        return True

    def pause(self) -> None:
        p = self._protocol()
        if p is not None and not p.read_paused and not p.transport.is_closing():
            p.read_paused = True
            p.transport.pause_reading()

    def resume(self) -> None:
        p = self._protocol()
        if p is not None and p.read_paused and not p.transport.is_closing():
            p.read_paused = False
            p.transport.resume_reading()


class HearthWebSocketProtocol(WebSocketsSansIOProtocol):
    outbound_limit = 256 * 1024  # replaced by the node's Limits when the server starts
    direct_app: ASGIApp | None = None  # the /ws endpoint, served without Starlette's stack
    _direct: ASGIApp | None = None  # direct_app behind uvicorn's proxy-headers middleware

    _outlet: DirectOutlet | None = None
    _close_sent = False
    on_message: MessageHandler | None = None  # set through the inlet

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()
        self._framing: bool | None = None  # None: not yet open; False: websockets parses
        self._partial = b""  # the start of a frame whose end has not arrived
        self._heard_at = self.loop.time()  # when the peer last sent anything

    def data_received(self, data: bytes) -> None:
        self._heard_at = self.loop.time()
        if self._framing is None and self._may_frame():
            self._framing = True
        if self._framing:
            self._frames_received(self._partial + data if self._partial else data)
        else:
            super().data_received(data)

    def _may_frame(self) -> bool:
        """Open, and websockets' parser waits at a frame boundary with nothing buffered."""
        c = self.conn
        return (
            self.handshake_complete
            and not self.close_sent
            and c.state is State.OPEN
            and c.current_size is None
            and c.parser_exc is None
            and not c.reader.buffer
        )

    def _frames_received(self, data: bytes) -> None:
        size, pos, limit = len(data), 0, self.config.ws_max_size
        while size - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
            elif length == 127:  # a 64-bit length (64 KiB and up): left to websockets
                length = limit + 1
            if length > limit or self.conn.state is not State.OPEN:
                # Huge, or closing: websockets takes it from here (1009, discard, or read).
                self._framing, self._partial = False, b""
                super().data_received(data[pos:])
                return
            masked = b1 & _MASKED
            end = pos + head + (4 if masked else 0) + length
            if end > size:
                break
            if b0 == _FIN_BINARY and masked and self.conn.current_size is None:
                start = pos + head + 4
                payload = apply_mask(data[start:end], data[start - 4 : start])
                # send_receive_event_to_app's first check, spelled out: going through it
                # cost 1.7 % more instructions per chat (bench/hotpath.py --callgrind).
                if self.on_message is not None and not self.close_sent:
                    self.on_message(payload)
                else:
                    self.curr_msg_data_type = "bytes"
                    self.frames = [payload]
                    self.send_receive_event_to_app()
            else:
                super().data_received(data[pos:end])
                if self.conn.parser_exc is not None or self.transport.is_closing():
                    # It failed (a protocol error, bad UTF-8) and is closing: drop the rest.
                    self._framing, self._partial = False, b""
                    return
            pos = end
        self._partial = data[pos:] if pos < size else b""

    # Keepalive. uvicorn pings every connection `ping_interval` after its last pong, each on
    # its own timer: with thousands of quiet connections that is hundreds of wake-ups a
    # second, each for one ping, and as many more for the pongs. Here the pings fall on a
    # grid (a tenth of the interval, at most a second), so one wake-up sends all that are
    # due and their pongs come back together; and a peer that talks is not pinged at all.

    def schedule_ping(self) -> None:
        assert self.ping_interval is not None
        self._ping_at(self.loop.time() + max(0.0, self.ping_interval - self.last_ping_rtt))

    def _ping_at(self, when: float) -> None:
        assert self.ping_interval is not None
        grid = min(1.0, self.ping_interval / 10)
        self.ping_timer = self.loop.call_at(math.ceil(when / grid) * grid, self.send_keepalive_ping)

    def handle_pong(self, event: Any) -> None:
        super().handle_pong(event)
        # The pong answered our ping, which `schedule_ping` has followed up: it is not the
        # peer talking, and must not put the next ping off by another grid step.
        self._heard_at = min(self._heard_at, self.ping_sent_at)

    def send_keepalive_ping(self) -> None:
        """Ping only a peer that has been silent for a whole interval: one that talks is
        alive (the web client sends its own `ping` every 15 s and judges the way back by
        the `pong`), so a node whose clients are browsers sends no WebSocket pings at all.
        A dead peer is still found within `ping_interval + ping_timeout` (and one step of
        the grid) of its last word."""
        interval = self.ping_interval
        if interval is not None and not self.transport.is_closing():
            quiet_from = self._heard_at + interval
            if self.loop.time() < quiet_from:
                self._ping_at(quiet_from)
                return
        super().send_keepalive_ping()

    @property
    def close_sent(self) -> bool:
        return self._close_sent

    @close_sent.setter
    def close_sent(self, value: bool) -> None:
        # Every place uvicorn sends a close frame sets this: the outlet stops there too.
        self._close_sent = value
        if value and self._outlet is not None:
            self._outlet.closing = True

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._outlet is not None:
            self._outlet.backed_up = True

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._outlet is not None:
            self._outlet.backed_up = False

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            self._outlet = DirectOutlet(self)
            # Past the outbound limit the transport calls pause_writing: the outlet's cue.
            self.transport.set_write_buffer_limits(high=self.outbound_limit)
            scope["extensions"][OUTLET_EXTENSION] = self._outlet
            scope["extensions"][INLET_EXTENSION] = DirectInlet(self)

    async def run_asgi(self) -> None:
        if self.direct_app is not None and self.scope["path"] == DIRECT_PATH:
            self.app = self._direct_for_config()
        await super().run_asgi()

    def _direct_for_config(self) -> ASGIApp:
        cls = type(self)
        if cls._direct is None:
            assert cls.direct_app is not None
            direct = cls.direct_app
            if self.config.proxy_headers:  # the same client address as the HTTP routes see
                direct = ProxyHeadersMiddleware(direct, self.config.forwarded_allow_ips)  # type: ignore[arg-type,assignment]
            cls._direct = direct
        return cls._direct

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Accepted: the handshake's headers are never read again. The request is also
            # held by websockets' suspended parser, so empty it rather than only dropping it.
            self.request.headers.clear()
            self.response.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    def send_receive_event_to_app(self) -> None:
        handler = self.on_message
        if handler is not None and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            if self.curr_msg_data_type == "bytes":
                self.frames = []
                handler(data)
                return
            try:
                text = data.decode()
            except UnicodeDecodeError:
                pass  # uvicorn's own path below closes with 1007
            else:
                self.frames = []
                handler(text)
                return
        # uvicorn stops reading after every message until the app has taken it: a pause and
        # a resume, and an epoll change, per frame. The app drains its queue promptly and
        # each connection is rate-limited, so stop reading only once it has fallen a few
        # messages behind. Marking reads as paused keeps uvicorn's own code from pausing.
        if self.read_paused:
            super().send_receive_event_to_app()
            return
        self.read_paused = True
        super().send_receive_event_to_app()
        if self.queue.qsize() >= INBOUND_BACKLOG:
            self.transport.pause_reading()
        else:
            self.read_paused = False

    def close_now(self, code: int, reason: str) -> None:
        """Start the closing handshake as uvicorn does for an ASGI `websocket.close`."""
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)


class HearthHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, with the request head bounded in size and time (see the
    module's docstring), letting go of its parser once it has handed the connection to
    the WebSocket protocol. The parser holds the protocol's callbacks and the protocol holds
    the parser: left as they are, every WebSocket connection leaves that cycle behind at its
    upgrade, and only a full collection frees it (docs/decisions/009)."""

    head_bytes = MAX_HEAD_BYTES
    head_timeout = HEAD_TIMEOUT_SECONDS
    # Bound per server by `http_protocol_class`: None here, no cap.
    unfinished_cap: int | None = None
    unfinished: dict[str, int] | None = None  # address -> connections with an unfinished head
    exempt: tuple[Network, ...] = ()  # trusted proxies: never capped

    _head_timer: asyncio.TimerHandle | None = None
    _head_open = True  # bytes now arriving belong to a request head
    _head_seen = 0  # bytes received since the head began
    _counted: str | None = None  # the address this connection counts against, while it does

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)
        if self.unfinished is not None and self.client is not None:
            address = self.client[0]
            held = self.unfinished.get(address, 0)
            capped = self.unfinished_cap is not None and held >= self.unfinished_cap
            if capped and not self._is_exempt(address):
                transport.close()  # nothing asked yet, so nothing to answer
                return
            self.unfinished[address] = held + 1
            self._counted = address

    def _is_exempt(self, address: str) -> bool:
        if not self.exempt:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.exempt)

    def data_received(self, data: bytes) -> None:
        if not self._head_open:
            super().data_received(data)
            return
        self._head_seen += len(data)
        super().data_received(data)
        # Still in the head after this chunk: the parser holds it all (llhttp hands a header
        # over only when it ends), so this is the moment to stop a huge one.
        if self._head_open and self._head_seen > self.head_bytes:
            self._refuse(431, b"Request header fields too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # the next request on a kept-alive connection
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def on_headers_complete(self) -> None:
        self._head_finished()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_open, self._head_seen = True, 0  # whatever comes next starts a head

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_finished()
        super().connection_lost(exc)

    def _head_finished(self) -> None:
        self._head_open = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        address, self._counted = self._counted, None
        if address is not None and self.unfinished is not None:
            held = self.unfinished.get(address, 0) - 1
            if held > 0:
                self.unfinished[address] = held
            else:
                self.unfinished.pop(address, None)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        self._refuse(408, b"Request head not finished in time.")

    def _refuse(self, status: int, body: bytes) -> None:
        """Answer `status` and close, or only close while an earlier pipelined response is
        still being written (an answer now would land inside it)."""
        self._head_finished()
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[status],
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: %d\r\n" % len(body),
                        b"x-content-type-options: nosniff\r\n",
                        b"cache-control: no-store\r\n",
                        b"connection: close\r\n\r\n",
                        body,
                    ]
                )
            )
        self.transport.close()

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        self.parser = None  # type: ignore[assignment]  # never fed again: the transport moved on


def http_protocol_class(
    head_timeout: float, unfinished_per_address: int, trusted_proxies: Sequence[str] = ()
) -> type[HearthHttpProtocol]:
    """An HTTP protocol class bound to this node's head timeout and cap of connections with
    an unfinished first head per address (uvicorn instantiates it per connection)."""
    return type(
        "BoundHearthHttpProtocol",
        (HearthHttpProtocol,),
        {
            "head_timeout": head_timeout,
            "unfinished_cap": unfinished_per_address,
            "unfinished": {},
            "exempt": tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies),
        },
    )


def protocol_class(
    outbound_bytes: int, direct_app: ASGIApp | None = None
) -> type[HearthWebSocketProtocol]:
    """A protocol class bound to this node's outbound limit and `/ws` endpoint (uvicorn
    instantiates it per connection)."""
    return type(
        "BoundHearthWebSocketProtocol",
        (HearthWebSocketProtocol,),
        {"outbound_limit": outbound_bytes, "direct_app": direct_app, "_direct": None},
    )
