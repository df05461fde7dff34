"""Outbound frames and the outlets that carry them to one client.

Fan-out never waits on one client: the hub encodes each event once, wraps the bytes in one
`OutFrame`, and hands the same object to every recipient's `Outlet.send`, which never
awaits. An outlet that can't keep up (more than `outbound_bytes` waiting) closes its
connection with `TOO_SLOW`; the client resumes and catches up from history.

Two outlets:
- a raw outlet (server/ws_protocol.py) writes the WebSocket frame straight into the
  transport's buffer, built once per event for all recipients (`OutFrame.ws`);
- `QueueOutlet` here works over any ASGI server: a bounded queue drained by one writer task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from signaling.closes import Close


class OutFrame:
    """One encoded server frame, shared by every recipient of an event.

    `ws` is the payload as a complete unmasked binary WebSocket frame (RFC 6455 §5.2), built
    once here rather than looked up per recipient.
    """

    __slots__ = ("payload", "ws")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        n = len(payload)
        if n < 126:
            header = bytes((0x82, n))
        elif n < 65536:
            header = bytes((0x82, 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x82, 127)) + n.to_bytes(8, "big")
        self.ws = header + payload


class Outlet(Protocol):
    def send(self, frame: OutFrame) -> bool:
        """Queue `frame`; False if the connection is closed or was just dropped as too slow."""
        ...

    def close(self, code: int, reason: str) -> None: ...

    def cork(self) -> None:
        """Hold what is sent until `uncork`, to write it at once (a hint; may do nothing)."""
        ...

    def uncork(self) -> None: ...


# Frames waiting for a connection to take them, past which reading its socket pauses: the
# server's queue (pulled through `receive()`) and the connection's backlog (pushed through an
# `Inlet`) keep the same bound.
INBOUND_BACKLOG = 8

MessageHandler = Callable[[bytes | str], None]  # takes one inbound frame, as it arrives


class Inlet(Protocol):
    """A connection's inbound side, for a server that can hand frames over as they arrive
    (server/ws_protocol.py) rather than through the ASGI `receive()`."""

    def attach(self, handler: MessageHandler) -> bool:
        """Call `handler` with every frame from now on, as it arrives, and never queue it
        for `receive()` (which then answers only the goodbye). False, changing nothing,
        while frames already wait there."""
        ...

    def pause(self) -> None:
        """Stop reading the socket (the handler has fallen behind)."""
        ...

    def resume(self) -> None: ...


AsgiSend = Callable[[dict[str, object]], Awaitable[None]]


class QueueOutlet:
    """An outlet for any ASGI server: a bounded queue and one writer task."""

    def __init__(self, send: AsgiSend, limit_bytes: int) -> None:
        self._send = send
        self._limit = limit_bytes
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._write())

    def send(self, frame: OutFrame) -> bool:
        if self._closing is not None or self._closed:
            return False
        size = len(frame.payload)
        if self._queued + size > self._limit:
            self.close(Close.TOO_SLOW, "too slow")
            return False
        self._queue.append(frame.payload)
        self._queued += size
        self._wake.set()
        return True

    def cork(self) -> None:
        pass  # the writer task already writes whatever has queued up, one frame at a time

    def uncork(self) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        """Close after the frames already queued (a seat that ended still gets its last
        event and ack); a client too slow to read them loses them and resumes instead."""
        if self._closing is None and not self._closed:
            if code == Close.TOO_SLOW:
                self._queue.clear()
                self._queued = 0
            self._closing = (code, reason)
            self._wake.set()

    async def finish(self) -> None:
        """Stop the writer once the receive side has ended."""
        self._closed = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await self._task

    async def _write(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    payload = self._queue.popleft()
                    self._queued -= len(payload)
                    await self._send({"type": "websocket.send", "bytes": payload})
                if self._closing is not None:
                    code, reason = self._closing
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
                    return
                if self._closed:
                    return
        except Exception:  # the peer vanished mid-write; the receive side sees the close
            self._closed = True
