"""The node's one pub/sub connection to Redis: subscriptions that survive reconnects.

Rules:
- One connection per node carries every channel it listens to (its own node channel and,
  for each room it serves, the room's channel for this node). A task owns the connection:
  it connects, subscribes to every wanted channel at once, and then reads messages,
  handing each to `on_message` in arrival order.
- `subscribe(channel)` returns only once Redis has confirmed the subscription, so a caller
  may read state afterwards knowing that no later publish can be missed. It fails fast with
  `BrokerDown` while the connection is down or the confirmation does not come in time.
- redis-py makes the connection; then `redis_courier.Pushes` reads it, handing each message
  on from the transport's callback (reading a reply at a time through redis-py costs
  several awaits a message, and this connection carries every commit the node hears).
- On any failure the connection is thrown away (never reused after a cut-off read), and a
  new one is made after a backoff with jitter. Once all channels are confirmed again,
  `on_up` is called: the broker re-checks every room, since messages may have been lost
  in between.
- A wedged connection (alive to TCP, deaf to Redis) is found by the broker's heartbeat on
  the node's own channel: `heard` stops moving, and the broker calls `restart()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Callable
from typing import Any

import structlog
from redis.asyncio.connection import ConnectionPool

from signaling.broker import BrokerDown
from signaling.redis_courier import Pushes
from signaling.redis_link import stop_if_cancelled

log = structlog.get_logger("hearth.redis")

BACKOFF_FIRST = 0.05
BACKOFF_MAX = 1.0


class Subscriber:
    def __init__(
        self,
        pool: ConnectionPool,
        *,
        timeout: float,
        on_message: Callable[[str, bytes], None],
        on_up: Callable[[bool], None],
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._on_message = on_message
        self._on_up = on_up  # called with True after a reconnect, False the first time
        self._wanted: set[str] = set()
        self._confirming: dict[str, asyncio.Future[None]] = {}
        self._conn: Pushes | None = None
        self._up = False
        self._up_event = asyncio.Event()
        self._ever_up = False
        self._running = False
        self._supervisor: asyncio.Task[None] | None = None
        self._session: asyncio.Task[None] | None = None
        self._up_since = 0.0
        self.heard = time.monotonic()  # when the node's own heartbeat last arrived (broker)
        self.reconnects = 0

    @property
    def up(self) -> bool:
        return self._up

    @property
    def closed(self) -> bool:
        return not self._running

    async def wait_up(self, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, for the subscriptions to be confirmed."""
        try:
            async with asyncio.timeout(timeout):
                await self._up_event.wait()
        except TimeoutError:
            return False
        return True

    def start(self, channels: list[str]) -> None:
        self._wanted.update(channels)
        self._running = True
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def close(self) -> None:
        self._running = False
        tasks = [t for t in (self._session, self._supervisor) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self._timeout * 2)

    def restart(self) -> None:
        """Throw the connection away and make a new one (a wedged subscription)."""
        if self._session is not None:
            self._session.cancel()

    async def subscribe(self, channel: str) -> None:
        self._wanted.add(channel)
        if not self._up:
            await self.wait_up(self._timeout)  # a reconnect may be moments away
        conn = self._conn
        if conn is None or not self._up:
            raise BrokerDown("pub/sub is down")
        future = self._confirming.get(channel)
        if future is None:
            future = self._confirming[channel] = asyncio.get_running_loop().create_future()
        try:
            conn.send("SUBSCRIBE", channel)
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(future)
        except BrokerDown:
            raise
        except Exception as exc:  # a timeout or a broken socket: the same to the caller
            raise BrokerDown("subscribe failed") from exc

    async def unsubscribe(self, channel: str) -> None:
        """Stop wanting `channel`; Redis is told if it can be (a reconnect forgets it anyway)."""
        self._wanted.discard(channel)
        conn = self._conn
        if conn is not None and self._up:
            with contextlib.suppress(Exception):
                conn.send("UNSUBSCRIBE", channel)

    # --- the connection's life -------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while self._running:
            session = self._session = asyncio.get_running_loop().create_task(self._run_session())
            await asyncio.wait([session])
            stop_if_cancelled()
            self._session = None
            if not session.cancelled():
                session.exception()  # a lost connection is expected; the retry is the answer
            if self.closed:
                return
            if self._up_since and time.monotonic() - self._up_since > 1.0:
                backoff = BACKOFF_FIRST  # it was up for a while: a fresh failure
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _run_session(self) -> None:
        conn = self._pool.make_connection()  # type: ignore[no-untyped-call]
        pushes: Pushes | None = None
        self._up_since = 0.0
        try:
            async with asyncio.timeout(self._timeout * 2):
                await conn.connect()
                channels = sorted(self._wanted)
                waiting = set(channels)
                confirmed = asyncio.get_running_loop().create_future()

                def confirm(response: Any) -> None:
                    self._handle(response, waiting)
                    if not waiting and not confirmed.done():
                        confirmed.set_result(None)

                pushes = Pushes(conn, confirm)
                pushes.send("SUBSCRIBE", *channels)
                await asyncio.wait([confirmed, pushes.closed], return_when=FIRST_COMPLETED)
                if not confirmed.done():
                    await pushes.closed  # raises: lost while subscribing
            pushes.on_reply = self._handle_live
            self._conn = pushes
            self._up = True
            self._up_event.set()
            self._up_since = time.monotonic()
            self.heard = time.monotonic()
            again, self._ever_up = self._ever_up, True
            if again:
                self.reconnects += 1
            self._on_up(again)
            await pushes.closed  # raises when the connection is lost
        finally:
            self._conn = None
            self._up = False
            self._up_event.clear()
            for future in self._confirming.values():
                if not future.done():
                    future.set_exception(BrokerDown("pub/sub connection lost"))
                    future.exception()  # retrieved: nobody may be waiting any more
            self._confirming.clear()
            if pushes is not None:
                pushes.close()
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    def _handle_live(self, response: Any) -> None:
        self._handle(response, None)

    def _handle(self, response: Any, waiting: set[str] | None) -> None:
        if not isinstance(response, list) or not response:
            return
        kind = response[0]
        if kind == b"message" and len(response) == 3:
            try:
                self._on_message(response[1].decode(), response[2])
            except Exception:  # one bad message must not cost the connection
                log.exception("pubsub message failed")
        elif kind == b"subscribe":
            channel = response[1].decode()
            if waiting is not None:
                waiting.discard(channel)
            future = self._confirming.pop(channel, None)
            if future is not None and not future.done():
                future.set_result(None)
