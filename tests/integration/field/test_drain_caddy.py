"""Draining a node behind Caddy, as a host upgrades: members resume through the same address.

Two nodes on one redis-server behind Caddy (tests/caddy.py: TLS with its internal CA,
round-robin, health checks on /readyz). Members are Python clients on Caddy's wss address
only (one URL: the balancer picks the node), with automatic resume and an SSL context that
trusts Caddy's root. Round-robin puts some on each node. SIGTERM node A: it exits 0, the
members it held are told MOVING, come back through Caddy at once, land on B (A's listener is
closed, so Caddy retries the other upstream) with `resumed: true` and the same seat; the
others never noticed. Afterwards B holds every connection, and the room goes on.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import caddy as caddy_module
from tests.caddy import Caddy
from tests.integration.meeting import LOOSE_LIMITS, expect
from tests.integration.multinode.cluster import Member, until
from tests.integration.nodes import NodeFactory
from tests.redis_server import RedisServer
from tests.tools import missing_tool

DRAIN_SECONDS = 5.0
PEOPLE = ("Fay", "Ann", "Bob", "Cy")
WAIT_SECONDS = 10.0


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer.launch(tmp_path / "redis") as server:
        assert server.port != 6379
        yield server


def connections(metrics: str) -> int:
    line = next(x for x in metrics.splitlines() if x.startswith("hearth_connections "))
    return int(float(line.split()[1]))


async def test_members_of_a_drained_node_resume_through_caddy_on_the_other(
    tmp_path: Path, redis: RedisServer, node_factory: NodeFactory
) -> None:
    if not caddy_module.available():
        missing_tool(f"{caddy_module.BINARY} is not installed")
    port = caddy_module.free_port()
    token = secrets.token_urlsafe(24)
    env = {
        **LOOSE_LIMITS,
        **caddy_module.node_env(caddy_module.public_url(port)),
        "HEARTH_REDIS_URL": redis.url,
        "HEARTH_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "HEARTH_RATE_PER_SECOND": "1000",
        "HEARTH_RATE_BURST": "1000",
    }
    a, b = (node_factory(env=env, admin_token=token) for _ in range(2))
    conns: list[Member] = []
    with Caddy.launch(tmp_path / "caddy", [a.url, b.url], port=port) as caddy:
        ssl = caddy.ssl_context()
        deadline = time.monotonic() + WAIT_SECONDS
        while caddy.status("/readyz") != 200:  # both upstreams healthy by Caddy's checks
            assert time.monotonic() < deadline, caddy.log_text()[-3000:]
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(verify=ssl, trust_env=False, timeout=WAIT_SECONDS) as http:
            answer = await http.post(
                f"{caddy.url}/api/rooms",
                headers={"Authorization": f"Bearer {token}"},
                json={"name": "Through the proxy"},
            )
            assert answer.status_code == 201, answer.text
            room = answer.json()

            def member(name: str) -> Member:
                conn = Member(caddy.ws_url, name, timeout=WAIT_SECONDS)
                conn.ssl, conn.auto_resume = ssl, True
                conns.append(conn)
                return conn

            try:
                fay = member("Fay")
                await fay.open(
                    {"t": "hello", "room": room["id"], "token": room["facilitator"], "name": "Fay"}
                )
                people = [fay]
                for name in PEOPLE[1:]:
                    conn = member(name)
                    hello = {"t": "hello", "room": room["id"], "token": room["invite"]}
                    await conn.open({**hello, "name": name, "accept": True})
                    await fay.command("admit", member=conn.me)
                    await expect(conn, "admitted", member=conn.me)
                    people.append(conn)
                on_a = connections((await http.get(f"{a.url}/metrics")).text)
                on_b = connections((await http.get(f"{b.url}/metrics")).text)
                assert (on_a, on_b) != (0, len(people)), "round-robin put nobody on A"
                assert on_a + on_b == len(people)
                seats = {p.name: p.me for p in people}

                a.proc.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(a.proc.wait, DRAIN_SECONDS + 3) == 0

                await until(
                    lambda: sum(p.resumes for p in people) >= on_a, 5, "A's members resumed"
                )
                moved = [p for p in people if p.resumes]
                assert len(moved) == on_a, [(p.name, p.resumes) for p in people]
                assert all(p.resumes == 1 for p in moved)
                print(f"on A {on_a}, on B {on_b}; moved {[p.name for p in moved]}")
                for p in moved:
                    assert p.welcome["resumed"] is True
                    assert p.me == seats[p.name]
                assert connections((await http.get(f"{b.url}/metrics")).text) == len(people)

                # The room goes on, on B: one chat reaches everyone exactly once.
                marks = {p.name: len(p.events) for p in people}
                reply = await people[-1].chat("still here")
                for p in people:
                    await expect(p, "chat", since=marks[p.name], id=reply["id"])
                    assert [ev.get("text") for ev in p.events].count("still here") == 1
            finally:
                for conn in conns:
                    await conn.close()
