"""The courier (signaling/redis_courier.py): many callers' commands on one connection.

The RESP reading and writing without Redis, then against a real redis-server started here:
replies reach their own callers in order, a caller that gives up leaves the connection in
step, a Redis that stops answering fails every waiting call in time, and a lost connection
is made again by the next call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from signaling.redis_courier import Courier, pack, parse_replies
from tests import redis_server
from tests.redis_server import RedisServer

TIMEOUT = 0.5


# --- RESP ------------------------------------------------------------------------------------


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert pack(("SET", b"k\x00", 12, 1.5)) == (
        b"*4\r\n$3\r\nSET\r\n$2\r\nk\x00\r\n$2\r\n12\r\n$3\r\n1.5\r\n"
    )
    with pytest.raises(TypeError):
        pack(("SET", True))


def test_replies_of_every_kind() -> None:
    data = (
        b"*3\r\n$2\r\nOK\r\n:5\r\n:-7\r\n"
        b"+PONG\r\n"
        b"$-1\r\n*-1\r\n$0\r\n\r\n"
        b"*2\r\n*1\r\n$1\r\na\r\n-ERR wrong\r\n"
        b"-NOSCRIPT No matching script\r\n"
    )
    replies, rest = parse_replies(data)
    assert rest == b""
    assert replies[:5] == [[b"OK", 5, -7], b"PONG", None, None, b""]
    nested = replies[5]
    assert nested[0] == [b"a"]
    assert isinstance(nested[1], ResponseError)
    assert str(nested[1]) == "ERR wrong"
    assert isinstance(replies[6], NoScriptError)


def test_a_reply_cut_short_waits_for_the_rest() -> None:
    whole = b"*3\r\n$7\r\nmessage\r\n$3\r\nabc\r\n$5\r\nhello\r\n"
    for cut in range(1, len(whole)):
        replies, rest = parse_replies(b":1\r\n" + whole[:cut])
        assert replies == [1]
        assert rest == whole[:cut]
        more, left = parse_replies(rest + whole[cut:])
        assert (more, left) == ([[b"message", b"abc", b"hello"]], b"")


# --- against Redis ---------------------------------------------------------------------------

needs_redis = pytest.mark.skipif(not redis_server.available(), reason="no redis-server")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer.launch(tmp_path / "redis") as s:
        yield s


@pytest.fixture
async def courier(server: RedisServer) -> AsyncIterator[Courier]:
    pool = BlockingConnectionPool.from_url(
        server.url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, protocol=2
    )
    c = Courier(pool, TIMEOUT)
    yield c
    await c.close()
    await pool.disconnect()


@needs_redis
async def test_many_callers_each_get_their_own_reply(courier: Courier) -> None:
    replies = await asyncio.gather(*(courier.call("ECHO", f"m{i}") for i in range(300)))
    assert replies == [f"m{i}".encode() for i in range(300)]
    assert await courier.call("SET", "k", b"v") == b"OK"
    assert await courier.call("GET", "k") == b"v"


@needs_redis
async def test_error_replies_raise_and_the_connection_goes_on(courier: Courier) -> None:
    with pytest.raises(NoScriptError):
        await courier.call("EVALSHA", "0" * 40, 0)
    with pytest.raises(ResponseError):
        await courier.call("INCR", "k", "not-a-number", "extra")
    assert await courier.call("PING") == b"PONG"


@needs_redis
async def test_a_caller_that_gives_up_leaves_the_connection_in_step(courier: Courier) -> None:
    await courier.call("PING")
    gone = asyncio.get_running_loop().create_task(courier.call("ECHO", "first"))
    await asyncio.sleep(0)
    gone.cancel()
    assert await courier.call("ECHO", "second") == b"second"
    assert gone.cancelled()


@needs_redis
async def test_a_redis_that_stops_answering_fails_every_call_in_time(
    server: RedisServer, courier: Courier
) -> None:
    await courier.call("PING")
    with server.paused():
        started = time.monotonic()
        results = await asyncio.gather(
            *(courier.call("PING") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, TimeoutError) for r in results)
        assert time.monotonic() - started < TIMEOUT * 3
    assert await courier.call("PING") == b"PONG"  # a new connection


@needs_redis
async def test_a_lost_connection_is_made_again_by_the_next_call(
    server: RedisServer, courier: Courier
) -> None:
    await courier.call("SET", "k", "v")
    server.kill()
    with pytest.raises(RedisConnectionError):
        await courier.call("PING")
    server.start()
    assert await courier.call("GET", "k") == b"v"  # kept in the append-only file


@needs_redis
async def test_no_redis_fails_fast(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{redis_server.free_port()}/0"
    pool = BlockingConnectionPool.from_url(url, socket_connect_timeout=TIMEOUT, protocol=2)
    c = Courier(pool, TIMEOUT)
    try:
        with pytest.raises(RedisConnectionError):
            await c.call("PING")
    finally:
        await c.close()
        await pool.disconnect()
