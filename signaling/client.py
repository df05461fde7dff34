"""A Python client of the Hearth wire, for tests, benchmarks and other people's tools.

    client = await Client.join("ws://127.0.0.1:8000/ws", room, token, "Sam")
    await client.command("raise_hand")          # returns on `ack`, raises CommandError
    event = await client.next_event("turn")     # the next event of that type
    await client.drop()                         # lose the socket, keep the seat
    await client.reconnect()                    # resume with the last seq seen

Requests are numbered by the client; acks and errors are matched by id. Events are kept in
order in `events` (and the seq of the last one in `seq`), so a test can read them as a
transcript. Every wait is bounded by a timeout.

Opt-in automatic resume (`auto_resume=True`): when the server closes for a resumable reason
(`signaling.closes.RESUMABLE`: a draining node's MOVING, TOO_SLOW, GOING_AWAY, INTERNAL) or
the network drops, the client resumes the seat by itself, at once after MOVING and after a
short backoff otherwise, for at most `resume_attempts` tries. `urls` lists the nodes to try
(one URL behind a load balancer serves too): after MOVING the others first, since the one it
was on is going away. Requests still unanswered when the socket went are sent again, with
the same id, once resumed (the server dedupes them); `resumes` counts the successes, and
`resume_error` keeps the error that ended the trying, if one did. Without `auto_resume`,
nothing resumes unless asked (`reconnect`). `ssl` is the context for `wss://` URLs, e.g. one
that trusts a test proxy's own CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl as ssl_lib
from collections.abc import Sequence
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from signaling.closes import RESUMABLE, RESUME_AT_ONCE

Frame = dict[str, Any]
DEFAULT_TIMEOUT = 5.0
RESUME_ATTEMPTS = 8
RESUME_BACKOFF = (0.25, 0.5, 1.0, 2.0)  # seconds before each try; the last one repeats
ABNORMAL = 1006  # no close frame came: the network or the node went away


class CommandError(Exception):
    """The server answered a request with an `error` frame."""

    def __init__(self, code: str, message: str, frame: Frame) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.frame = code, message, frame


class Closed(Exception):
    """The connection closed while waiting."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed ({code}) {reason}")
        self.code, self.reason = code, reason


class Client:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        urls: Sequence[str] = (),
        auto_resume: bool = False,
        resume_attempts: int = RESUME_ATTEMPTS,
        ssl: ssl_lib.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.urls: list[str] = list(urls) or [url]
        self.auto_resume = auto_resume
        self.resume_attempts = resume_attempts
        self.ssl = ssl
        self.resumes = 0
        self.resume_error: Exception | None = None
        self.timeout = timeout
        self.welcome: Frame = {}
        self.me = ""
        self.role = ""
        self.resume_token = ""
        self.epoch = ""
        self.seq = 0
        self.events: list[Frame] = []  # every event frame received, in order
        self.errors: list[Frame] = []  # error frames without a pending request
        self.signals: asyncio.Queue[Frame] = asyncio.Queue()
        self.close_code: int | None = None
        self.close_reason = ""
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Frame]] = {}
        self._arrived = asyncio.Condition()
        self._welcomed: asyncio.Future[Frame] | None = None
        self._unanswered: dict[int, bytes] = {}  # sent requests awaiting an answer
        self._resuming: asyncio.Task[None] | None = None

    # --- opening --------------------------------------------------------------------------

    @classmethod
    async def join(
        cls,
        url: str,
        room: str,
        token: str,
        name: str,
        *,
        accept: bool = True,
        key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Client:
        """Connect and say hello; returns once welcomed, raises CommandError if refused."""
        client = cls(url, timeout=timeout)
        hello: Frame = {"t": "hello", "room": room, "token": token, "name": name}
        hello["accept"] = accept
        if key is not None:
            hello["key"] = key
        await client.open(hello)
        return client

    @classmethod
    async def resume(
        cls, url: str, resume: str, seq: int, *, timeout: float = DEFAULT_TIMEOUT
    ) -> Client:
        client = cls(url, timeout=timeout)
        client.seq = seq
        await client.open({"t": "hello", "resume": resume, "seq": seq})
        return client

    async def open(self, hello: Frame) -> Frame:
        """Connect, send `hello`, and wait for `welcome` (or the error that refuses it)."""
        secure = self.ssl if self.url.startswith("wss:") else None
        self._ws = await connect(
            self.url, compression=None, max_size=2**20, open_timeout=5, ssl=secure
        )
        self.close_code, self.close_reason = None, ""
        self._welcomed = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(self._ws))
        await self.send_raw(msgpack.packb(hello))
        async with asyncio.timeout(self.timeout):
            return await self._welcomed

    async def reconnect(self) -> Frame:
        """Resume the seat on a new socket with the last resume token and seq."""
        await self.drop()
        return await self.open({"t": "hello", "resume": self.resume_token, "seq": self.seq})

    # --- requests -------------------------------------------------------------------------

    async def command(self, op: str, **args: Any) -> Frame:
        return await self.request({"t": "cmd", "op": op, "args": args})

    async def chat(self, text: str, *, chat_id: int | None = None) -> Frame:
        return await self.request({"t": "chat", "text": text}, request_id=chat_id)

    async def ping(self) -> Frame:
        return await self.request({"t": "ping"})

    async def react(self, emoji: str) -> None:
        await self.send({"t": "react", "emoji": emoji})

    async def signal(self, to: str, data: Frame) -> None:
        await self.send({"t": "signal", "to": to, "data": data})

    async def request(self, frame: Frame, *, request_id: int | None = None) -> Frame:
        """Send a frame with an id and wait for its ack/pong; raises CommandError."""
        rid = next(self._ids) if request_id is None else request_id
        future = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        data = msgpack.packb({**frame, "id": rid}, use_bin_type=True)
        self._unanswered[rid] = data
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    await self.send_raw(data)
                except Closed:
                    if self._resuming is None:
                        raise  # nothing will send it again
                reply: Frame = await future
                return reply
        finally:
            self._waiting.pop(rid, None)
            self._unanswered.pop(rid, None)

    async def send(self, frame: Frame) -> None:
        await self.send_raw(msgpack.packb(frame, use_bin_type=True))

    async def send_raw(self, data: bytes | str) -> None:
        if self._ws is None:
            raise Closed(self.close_code, "not connected")
        try:
            await self._ws.send(data)
        except ConnectionClosed as exc:
            raise Closed(self.close_code, str(exc)) from None

    # --- events ---------------------------------------------------------------------------

    async def next_event(self, type_: str | None = None, *, after: int | None = None) -> Frame:
        """The first event (of `type_`) after index `after` in `events` (default: the next
        one not yet returned by this method)."""
        start = self._cursor if after is None else after
        async with asyncio.timeout(self.timeout), self._arrived:
            while True:
                for i in range(start, len(self.events)):
                    if type_ is None or self.events[i].get("type") == type_:
                        self._cursor = i + 1
                        return self.events[i]
                start = len(self.events)
                if self.close_code is not None and self._ws is None and self._resuming is None:
                    raise Closed(self.close_code, self.close_reason)
                await self._arrived.wait()

    _cursor = 0

    def types(self) -> list[str]:
        return [str(ev.get("type")) for ev in self.events]

    async def wait_closed(self) -> int | None:
        if self._reader is not None:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(self._reader)
        return self.close_code

    # --- closing --------------------------------------------------------------------------

    async def drop(self) -> None:
        """Close the socket without `leave`: the seat stays, shown as reconnecting. An
        automatic resume under way stops."""
        resuming, self._resuming = self._resuming, None
        if resuming is not None and resuming is not asyncio.current_task():
            resuming.cancel()
            with contextlib.suppress(BaseException):
                await resuming
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader

    async def close(self) -> None:
        await self.drop()

    # --- the reader -----------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                frame = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else {}
                await self._handle(frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            self.close_reason = ws.close_reason or ""
            lost = self._ws is ws  # not our own drop() or close()
            if lost:
                self._ws = None
            if self._resuming is not None:
                pass  # a try of the resume under way failed: it tries the next, or gives up
            elif lost and self._may_resume():
                self._resuming = asyncio.create_task(self._resume_soon())
            else:
                self._fail_waiting()
            if self._welcomed is not None and not self._welcomed.done():
                self._welcomed.set_exception(Closed(self.close_code, self.close_reason))
            async with self._arrived:
                self._arrived.notify_all()

    def _fail_waiting(self) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(Closed(self.close_code, self.close_reason))

    # --- automatic resume -----------------------------------------------------------------

    def _may_resume(self) -> bool:
        code = self.close_code
        return (
            self.auto_resume
            and bool(self.resume_token)
            and self._resuming is None
            and (code is None or code == ABNORMAL or code in RESUMABLE)
        )

    async def _resume_soon(self) -> None:
        """Resume the seat on the first node that takes it; bounded in tries and time."""
        at_once = self.close_code in RESUME_AT_ONCE
        start = self.urls.index(self.url) if self.url in self.urls else -1
        if not at_once:
            start -= 1  # a dropped network: the same node first
        try:
            for attempt in range(self.resume_attempts):
                if attempt or not at_once:
                    await asyncio.sleep(RESUME_BACKOFF[min(attempt, len(RESUME_BACKOFF) - 1)])
                self.url = self.urls[(start + 1 + attempt) % len(self.urls)]
                try:
                    await self.open({"t": "hello", "resume": self.resume_token, "seq": self.seq})
                except CommandError as exc:  # refused (resume_expired): the seat is gone
                    self.resume_error = exc
                    break
                except (OSError, TimeoutError, Closed, ConnectionClosed) as exc:
                    self.resume_error = exc  # that node is not there (yet): the next one
                    if self._ws is not None:
                        ws, self._ws = self._ws, None
                        await ws.close()
                    continue
                self.resume_error = None
                self.resumes += 1
                self._resuming = None
                for data in list(self._unanswered.values()):  # the same ids: deduped
                    with contextlib.suppress(Closed):
                        await self.send_raw(data)
                return
        finally:
            if self._resuming is asyncio.current_task():
                self._resuming = None
                self._fail_waiting()
                async with self._arrived:
                    self._arrived.notify_all()

    async def _handle(self, frame: Frame) -> None:
        t = frame.get("t")
        if t == "welcome":
            self.welcome = frame
            self.me, self.role = frame["me"], frame["role"]
            self.resume_token, self.epoch = frame["resume"], frame["epoch"]
            self.seq = frame["seq"]
            if self._welcomed is not None and not self._welcomed.done():
                self._welcomed.set_result(frame)
        elif t == "event":
            if frame.get("epoch") == self.epoch:
                self.seq = max(self.seq, frame["seq"])
            self.events.append(frame)
            async with self._arrived:
                self._arrived.notify_all()
        elif t in ("ack", "pong"):
            future = self._waiting.get(frame.get("id", -1))
            if future is not None and not future.done():
                future.set_result(frame)
        elif t == "error":
            future = self._waiting.get(frame.get("id", -1))
            error = CommandError(frame.get("code", ""), frame.get("message", ""), frame)
            if future is not None and not future.done():
                future.set_exception(error)
            elif self._welcomed is not None and not self._welcomed.done():
                self._welcomed.set_exception(error)
            else:
                self.errors.append(frame)
        elif t == "signal":
            await self.signals.put(frame)
