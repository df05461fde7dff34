"""The Redis broker's link to Redis: one bounded pool, the scripts, the clock, the guard.

Rules:
- The scripts (every write) go through one `Courier`: one connection that carries every
  caller's command at once, in order (signaling/redis_courier.py). Other commands go
  through one `BlockingConnectionPool`: past `pool_size` connections a caller waits (at most
  `timeout_seconds`) instead of failing, which redis-py 8's default pool does past 100
  (bench-anchors finding 4). No command is retried by redis-py or the courier: a repeated
  write could apply twice, and the broker decides what is safe to repeat.
- Every call is bounded by `timeout_seconds` (connect, read, write), and `guard()` turns any
  failure into `BrokerDown`, with the cause chained: no redis exception leaves the broker.
- A cancelled task stops. Python 3.11's `asyncio.wait_for`, which redis-py uses for every
  write, can swallow a cancellation that arrives as the write completes; the task still
  knows it was asked to stop (`Task.cancelling()`), so `guard()` and every loop of the
  broker check it (`stop_if_cancelled`). Without that, `close()` could wait forever.
- One clock for every node: Redis `TIME`. `clock()` estimates it locally, from the offset
  measured at each heartbeat, for timers that can't wait for a round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from signaling.broker import BrokerDown
from signaling.redis_courier import Courier
from signaling.redis_scripts import Scripts

log = structlog.get_logger("hearth.redis")


@dataclass(frozen=True, slots=True)
class RedisTiming:
    """How long the broker waits for what; the defaults suit a LAN or one machine."""

    timeout_seconds: float = 1.0  # every Redis call: connect, read, write, pool wait
    ready_timeout_seconds: float = 0.5  # the PING behind `ready()`
    transact_seconds: float = 2.0  # one transact's budget: queueing and retries
    heartbeat_seconds: float = 1.0  # node key refresh, own-channel heartbeat, clock offset
    node_ttl_seconds: float = 10.0  # a node whose key is older than this is dead
    recheck_seconds: float = 5.0  # re-read every served room's top (a lost last message)
    reap_lock_seconds: float = 2.0  # one node reaps a dead node's members per round
    reap_scan_every: int = 10  # reaping rounds: every this many, scan rooms though none died
    room_ttl_seconds: float = 24 * 3600.0  # safety expiry of every room key, renewed on write
    pool_size: int = 64  # connections for commands; callers wait (bounded) past it


@dataclass(slots=True)
class Faults:
    """Test hooks for what networks and nodes do wrong; all off by default."""

    drop_room_messages: float = 0.0  # share of incoming commit/drop/restore messages lost
    heartbeat: bool = True  # False: stop renewing the node key, as a dead node would
    deaf: bool = False  # True: our own heartbeats never arrive, as on a wedged subscription
    rng: random.Random = field(default_factory=lambda: random.Random(7))


@dataclass(slots=True)
class Stats:
    """Counters for metrics and tests."""

    transacts: int = 0
    appends: int = 0  # transacts committed by the fast path (one round trip)
    stale: int = 0  # fast-path attempts that found the mirror behind (then the full path)
    conflicts: int = 0  # commit attempts refused by the compare-and-set
    turn_waits: int = 0  # full paths that waited for another of the room's on this node
    syncs: int = 0  # rooms re-read from Redis (gaps, epoch changes, re-checks)
    filled: int = 0  # events delivered from the log instead of pub/sub
    restores: int = 0  # rooms this node restored under a new epoch
    dropped_messages: int = 0  # by the fault hook


class Link:
    def __init__(self, url: str, timing: RedisTiming, clock: Callable[[], float] | None) -> None:
        self.timing = timing
        self.ttl_ms = int(timing.room_ttl_seconds * 1000)
        self.pool = BlockingConnectionPool.from_url(
            url,
            max_connections=timing.pool_size,
            timeout=timing.timeout_seconds,
            socket_timeout=timing.timeout_seconds,
            socket_connect_timeout=timing.timeout_seconds,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
        )
        self.client = Redis(connection_pool=self.pool)
        self.courier = Courier(self.pool, timing.timeout_seconds)  # the scripts' connection
        self.scripts = Scripts(self.courier)
        self.stats = Stats()
        self.fixed_clock = clock  # tests: replaces Redis TIME
        self._offset = 0.0  # Redis TIME minus local time
        self._offset_at = -math.inf  # monotonic time it was last measured
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Every Redis failure becomes `BrokerDown`, with the cause chained for the logs."""
        try:
            yield
        except BrokerDown:
            raise
        except ResponseError as exc:  # a script or command Redis refused: a bug, or config
            stop_if_cancelled()
            log.error("redis refused a command", exc_type=type(exc).__name__)
            raise BrokerDown("redis refused") from exc
        except (RedisError, OSError, TimeoutError) as exc:
            stop_if_cancelled()
            raise BrokerDown("redis unreachable") from exc
        stop_if_cancelled()

    async def run(self, name: str, keys: list[str], args: list[str | bytes | int | float]) -> Any:
        with self.guard():
            return await self.scripts.run(name, keys, args)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- the one clock ---------------------------------------------------------------------

    def clock(self) -> float:
        if self.fixed_clock is not None:
            return self.fixed_clock()
        return time.time() + self._offset

    def clock_age(self) -> float:
        """Seconds since `clock()`'s offset was last measured (0 for a test's clock)."""
        if self.fixed_clock is not None:
            return 0.0
        return time.monotonic() - self._offset_at

    async def now(self) -> float:
        if self.fixed_clock is not None:
            return self.fixed_clock()
        with self.guard():
            before = time.time()
            seconds, micros = await self.client.time()
            after = time.time()
        now = seconds + micros / 1e6
        self.note_clock(now, before, after)
        return now

    def note_clock(self, redis_now: float, before: float, after: float) -> None:
        if after - before < 0.05:  # a slow answer says little about the offset
            self._offset = redis_now - (before + after) / 2
            self._offset_at = time.monotonic()

    # --- start and end ---------------------------------------------------------------------

    async def check_persistence(self) -> None:
        """Warn loudly when Redis keeps nothing on disk: a restart would end every meeting."""
        try:
            aof = await self.client.config_get("appendonly")
            rdb = await self.client.config_get("save")
        except ResponseError:  # CONFIG is disabled on some managed services
            log.info("redis persistence unknown", reason="config disabled")
            return
        appendonly = _text(next(iter(aof.values()), None))
        save = _text(next(iter(rdb.values()), None)).strip()
        if appendonly != "yes" and not save:
            log.warning(
                "REDIS PERSISTENCE IS OFF: a Redis restart ends every meeting",
                mode="none",
                reason="appendonly no and no save points; see deploy/redis.conf",
            )
        elif appendonly != "yes":
            log.warning(
                "redis append-only file is off: a restart loses recent commits",
                mode="rdb",
                reason="set appendonly yes; see deploy/redis.conf",
            )

    async def close(self, *, last_words: list[str]) -> None:
        """Stop background work, delete `last_words` (best effort), let go of the pool."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.timing.timeout_seconds * 2)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # seen: a failure while stopping is no news
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timing.timeout_seconds):
                await self.client.delete(*last_words)
        with contextlib.suppress(Exception):
            await self.courier.close()
        with contextlib.suppress(Exception):
            await self.client.aclose()
        with contextlib.suppress(Exception):
            await self.pool.disconnect()


def stop_if_cancelled() -> None:
    """Raise `CancelledError` if the current task was asked to stop, even if the request
    was swallowed on the way (see the module's rules)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
