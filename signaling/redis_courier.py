"""One Redis connection that carries many callers' commands at once (auto-pipelining),
and the reader of the pub/sub connection (`Pushes`).

The broker's hot commands (the commit scripts) go through the `Courier` instead of
redis-py's pool: a caller queues its command for the one connection and waits for its
reply; the commands queued during one turn of the event loop go out in one write at its
end, and replies, which Redis sends in order, are matched to callers in order as they
arrive, in the transport's callback (no reader task, no await per reply). Commands issued
together share a write and a read; no connection is taken from or returned to a pool;
there is no per-call timer. redis-py still makes each connection (the URL's host, TLS,
password and database); then its transport is handed to this module's protocol, and
redis-py's `Connection` keeps no stream to it (this relies on redis-py's asyncio
connections keeping their streams in `_reader` and `_writer`; the tests would show a
redis-py that doesn't).

Rules:
- Every call is bounded by `timeout`: a watchdog armed for the oldest waiting call fails
  every waiting call with `TimeoutError` and throws the connection away when that call has
  waited `timeout` (a Redis that stopped answering answers nobody).
- A lost connection fails every waiting call with redis-py's `ConnectionError`; the next
  call connects again. Nothing is ever sent twice: a caller decides what is safe to repeat.
- A caller that is cancelled while waiting leaves its reply to be read and dropped, so the
  connection stays in step (redis-py has to throw such a connection away).
- Error replies raise redis-py's exceptions (`NoScriptError` for NOSCRIPT, else
  `ResponseError`), so `Link.guard` treats them as it treats redis-py's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

Arg = str | bytes | int | float


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


class Courier:
    def __init__(self, pool: ConnectionPool, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self._wire: _Wire | None = None
        self._connecting: asyncio.Lock | None = None
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []  # commands queued for the next write
        self._watchdog: asyncio.TimerHandle | None = None
        self._closed = False

    async def call(self, *args: Arg) -> Any:
        """Send one command and return its reply; raises redis-py's exceptions."""
        wire = self._wire
        if wire is None:
            wire = await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((future, time.monotonic()))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self._timeout, self._check)
        if not self._out:
            loop.call_soon(self._flush, wire)
        self._out.append(pack(args))
        return await future

    def _flush(self, wire: _Wire) -> None:
        if wire is not self._wire:
            return  # that connection went, failing its callers; a new one has its own flush
        out, self._out = self._out, []
        if out:
            wire.transport.write(b"".join(out))

    async def close(self) -> None:
        self._closed = True
        if self._wire is not None:
            self._drop(self._wire, RedisConnectionError("closed"))

    # --- the connection ---------------------------------------------------------------------

    async def _connect(self) -> _Wire:
        if self._closed:
            raise RedisConnectionError("closed")
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._wire is not None:
                return self._wire
            conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.disconnect(nowait=True)
                raise
            # redis-py made the connection (TLS, password, database); from here on its
            # transport talks to us, not to redis-py's stream reader.
            reader: asyncio.StreamReader | None = getattr(conn, "_reader", None)
            writer: asyncio.StreamWriter | None = getattr(conn, "_writer", None)
            if reader is None or writer is None:  # a redis-py without streams: can't go on
                await conn.disconnect(nowait=True)
                raise RedisConnectionError("no streams on the connection")
            conn._reader = conn._writer = None  # redis-py must never touch it again
            wire = self._wire = _Wire(self, writer)
            writer.transport.set_protocol(wire)
            left = getattr(reader, "_buffer", b"")
            if left:  # nothing is expected after the handshake, but keep it in step
                wire.data_received(bytes(left))
            return wire

    def _deliver(self, buffer: bytes) -> bytes:
        """Hand every whole reply in `buffer` to its caller; returns what is left."""
        replies, rest = parse_replies(buffer)
        waiting = self._waiting
        for reply in replies:
            if not waiting:
                raise RedisConnectionError("a reply nobody asked for")
            future, _sent = waiting.popleft()
            if future.done():
                continue  # its caller gave up: the reply is read and dropped
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)
        return rest

    def _check(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        _future, sent = self._waiting[0]
        left = sent + self._timeout - time.monotonic()
        if left > 0:
            self._watchdog = asyncio.get_running_loop().call_later(left, self._check)
            return
        if self._wire is not None:
            self._drop(self._wire, TimeoutError("redis did not answer in time"))

    def _drop(self, wire: _Wire, exc: BaseException) -> None:
        """Fail every waiting caller with `exc` and throw `wire`'s connection away."""
        if wire is not self._wire:
            return  # an older connection, already thrown away
        self._wire = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        waiting, self._waiting = self._waiting, deque()
        self._out = []
        for future, _sent in waiting:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: its caller may have gone
        wire.transport.close()


class _Wire(asyncio.Protocol):
    """The courier's end of its connection, once redis-py has made it."""

    def __init__(self, courier: Courier, writer: asyncio.StreamWriter) -> None:
        self._courier = courier
        self._writer = writer  # kept: a stream writer that is let go closes its transport
        self.transport: asyncio.WriteTransport = writer.transport
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        try:
            self._buffer = self._courier._deliver(self._buffer + data if self._buffer else data)
        except Exception as exc:
            lost = exc if isinstance(exc, RedisConnectionError) else _lost(exc)
            self._courier._drop(self, lost)

    def eof_received(self) -> bool:
        self._courier._drop(self, RedisConnectionError("connection closed by server"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        lost = RedisConnectionError("connection lost")
        lost.__cause__ = exc
        self._courier._drop(self, lost)


def _lost(exc: Exception) -> RedisConnectionError:
    lost = RedisConnectionError(f"connection lost: {type(exc).__name__}")
    lost.__cause__ = exc
    return lost


# --- RESP2 ---------------------------------------------------------------------------------


def pack(args: tuple[Arg, ...]) -> bytes:
    """One command as RESP: an array of bulk strings (numbers as their text, as redis-py)."""
    out = [b"*%d\r\n" % len(args)]
    add = out.append
    for arg in args:
        if type(arg) is str:
            data = arg.encode()
        elif type(arg) is bytes:
            data = arg
        elif isinstance(arg, bool):
            raise TypeError("no booleans in Redis commands")
        elif isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, bytes | str):
            data = arg.encode() if isinstance(arg, str) else bytes(arg)
        else:
            data = repr(float(arg)).encode()
        add(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


class Pushes(asyncio.Protocol):
    """A pub/sub connection once redis-py has made it: every reply Redis pushes goes to
    `on_reply` as soon as it is whole, from the transport's callback (no task, no await a
    message); `closed` fails when the connection is lost."""

    def __init__(self, conn: AbstractConnection, on_reply: Callable[[Any], None]) -> None:
        reader: asyncio.StreamReader | None = getattr(conn, "_reader", None)
        writer: asyncio.StreamWriter | None = getattr(conn, "_writer", None)
        if reader is None or writer is None:
            raise RedisConnectionError("no streams on the connection")
        conn._reader = conn._writer = None  # redis-py must never touch it again
        self.on_reply = on_reply
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writer = writer  # kept: a stream writer that is let go closes its transport
        self._transport = writer.transport
        self._buffer = b""
        self._transport.set_protocol(self)
        left = getattr(reader, "_buffer", b"")
        if left:
            self.data_received(bytes(left))

    def send(self, *args: Arg) -> None:
        self._transport.write(pack(args))

    def close(self) -> None:
        self._transport.close()
        self._lost(RedisConnectionError("closed"))

    def data_received(self, data: bytes) -> None:
        try:
            replies, self._buffer = parse_replies(self._buffer + data if self._buffer else data)
        except Exception as exc:
            self._transport.close()
            self._lost(_lost(exc))
            return
        for reply in replies:
            self.on_reply(reply)

    def eof_received(self) -> bool:
        self._lost(RedisConnectionError("connection closed by server"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        lost = RedisConnectionError("connection lost")
        lost.__cause__ = exc
        self._lost(lost)

    def _lost(self, exc: BaseException) -> None:
        if not self.closed.done():
            self.closed.set_exception(exc)
            self.closed.exception()  # retrieved: the session may be gone


def parse_replies(buffer: bytes) -> tuple[list[Any], bytes]:
    """Every whole reply in `buffer`, and the bytes after them (a reply cut short)."""
    replies: list[Any] = []
    pos, end = 0, len(buffer)
    while pos < end:
        try:
            reply, pos_after = _parse(buffer, pos)
        except _Incomplete:
            break
        replies.append(reply)
        pos = pos_after
    return replies, buffer[pos:]


_BULK, _ARRAY, _INT, _SIMPLE, _ERROR = (ord(c) for c in "$*:+-")


def _parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """One reply from `buf` at `pos`: (value, position after it); `_Incomplete` if cut.
    Bulk strings are bytes, arrays lists, nulls None; an error reply is an exception
    object (raised by the caller, or left inside an array as redis-py does)."""
    eol = buf.find(b"\r\n", pos)
    if eol < 0:
        raise _Incomplete
    kind = buf[pos]
    if kind == _BULK:
        n = int(buf[pos + 1 : eol])
        if n < 0:
            return None, eol + 2
        start = eol + 2
        if start + n + 2 > len(buf):
            raise _Incomplete
        return buf[start : start + n], start + n + 2
    if kind == _ARRAY:
        n = int(buf[pos + 1 : eol])
        if n < 0:
            return None, eol + 2
        pos = eol + 2
        items = []
        for _ in range(n):
            item, pos = _parse(buf, pos)
            items.append(item)
        return items, pos
    if kind == _INT:
        return int(buf[pos + 1 : eol]), eol + 2
    if kind == _SIMPLE:
        return buf[pos + 1 : eol], eol + 2
    if kind == _ERROR:
        text = buf[pos + 1 : eol].decode("utf-8", errors="replace")
        if text.startswith("NOSCRIPT"):
            return NoScriptError(text[len("NOSCRIPT ") :]), eol + 2
        return ResponseError(text), eol + 2
    raise RedisConnectionError(f"protocol error: {kind!r}")
