"""uvicorn's websockets (sans-I/O) protocol, with a direct outlet for Hearth's fan-out.

Why: through plain ASGI every frame sent is an awaited `send()` per recipient, and a fan-out
either awaits each one in turn (the slowest client slows the room) or pays a queue and a task
switch per delivery. This subclass offers, in the scope's extensions under `hearth.outlet`,
an outlet that writes an already-framed message straight into the transport's buffer
without awaiting, so one event's frame is built once and written to every recipient in a
single pass. The buffer is bounded: past `outbound_bytes` waiting, the connection is closed
with TOO_SLOW and the client resumes. Everything else (handshake, pings, close handshake,
the 1009 close for oversized frames) is uvicorn's own code, untouched.

Safe because the server never fragments messages and per-message compression is off, so a
complete frame written between two of uvicorn's own writes is always well-formed.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from signaling.closes import Close
from signaling.outlet import OutFrame

OUTLET_EXTENSION = "hearth.outlet"
INBOUND_BACKLOG = 8  # messages queued for the app before reading from the socket pauses


class DirectOutlet:
    """Writes frames into one connection's transport; never awaits."""

    __slots__ = ("_limit", "_protocol")

    def __init__(self, protocol: HearthWebSocketProtocol, limit_bytes: int) -> None:
        self._protocol = protocol
        self._limit = limit_bytes

    def send(self, frame: OutFrame) -> bool:
        p = self._protocol
        if p.close_sent or p.disconnected or p.conn.state is not State.OPEN:
            return False
        transport = p.transport
        if transport.get_write_buffer_size() > self._limit:
            self.close(Close.TOO_SLOW, "too slow")
            return False
        transport.write(frame.ws)
        return True

    def close(self, code: int, reason: str) -> None:
        self._protocol.close_now(code, reason)


class HearthWebSocketProtocol(WebSocketsSansIOProtocol):
    outbound_limit = 256 * 1024  # replaced by the node's Limits when the server starts

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][OUTLET_EXTENSION] = DirectOutlet(self, self.outbound_limit)

    def send_receive_event_to_app(self) -> None:
        super().send_receive_event_to_app()
        # uvicorn stops reading after every message until the app has taken it, which costs
        # an epoll change per frame. The app drains its queue promptly and each connection is
        # rate-limited, so stop reading only once it has fallen a few messages behind.
        if self.read_paused and self.queue.qsize() < INBOUND_BACKLOG:
            self.read_paused = False
            self.transport.resume_reading()

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


def protocol_class(outbound_bytes: int) -> type[HearthWebSocketProtocol]:
    """A protocol class bound to this node's outbound limit (uvicorn instantiates it)."""
    return type(
        "BoundHearthWebSocketProtocol",
        (HearthWebSocketProtocol,),
        {"outbound_limit": outbound_bytes},
    )
