"""SIGTERM drains a node (server/drain.py): not ready at once, its members moved, exit 0.

Two nodes on one redis-server, a round running with a speaker and a deadline, everyone on
node A as Python clients with automatic resume and both nodes' URLs. SIGTERM A: its /readyz
never answers 200 again, it exits 0 within the drain bound, every member resumes on B at
once (`resumed: true`, the same seat), the speaker keeps the piece (the same turn), every
chat acknowledged before the drain is there exactly once, nobody was shown reconnecting, and
the turn's deadline, still ahead when A has gone, is fired by B.

The memory-mode drain (one node) and `/readyz` while draining are checked too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from rooms import events as e
from server.app import create_app
from server.drain import begin_drain
from server.settings import Settings
from server.state import node_state
from signaling.client import Client
from signaling.closes import Close
from tests.integration.meeting import LOOSE_LIMITS, expect
from tests.integration.multinode.cluster import Cluster, Member, Person, until
from tests.integration.nodes import ROOT, Node, http_status, start_node
from tests.redis_server import RedisServer

DRAIN_SECONDS = 5.0
SHARE_SECONDS = 10  # the turn's deadline must still be ahead once A has exited
RESUMED_WITHIN = 3.0  # "at once": a resume after MOVING is not held back by any backoff
EXIT_MARGIN = 3.0  # process start-up of the interpreter's goodbye, on a busy machine


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer.launch(tmp_path / "redis") as server:
        assert server.port != 6379
        yield server


@pytest.fixture
async def cluster(redis: RedisServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    made = Cluster(redis, tmp_path)
    try:
        yield made
    finally:
        await made.close()


def mover(url: str, urls: list[str], name: str) -> Member:
    """A connection that resumes by itself, trying `urls`."""
    conn = Member(url, name)
    conn.urls, conn.auto_resume = urls, True
    return conn


async def sigterm_and_watch(node: Node) -> tuple[list[int | None], float]:
    """SIGTERM `node`, then ask its /readyz until it has exited; (every answer, seconds the
    process took to exit)."""
    started = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    answers: list[int | None] = []
    while node.proc.poll() is None and time.monotonic() - started < DRAIN_SECONDS + 10:
        answers.append(await asyncio.to_thread(http_status, f"{node.url}/readyz", 0.5))
        await asyncio.sleep(0.02)
    with contextlib.suppress(subprocess.TimeoutExpired):
        await asyncio.to_thread(node.proc.wait, 1.0)
    return answers, time.monotonic() - started


async def test_draining_a_node_mid_round_moves_everyone_to_the_other(
    cluster: Cluster, tmp_path: Path
) -> None:
    a, b = cluster.start(2, env={"HEARTH_DRAIN_SECONDS": str(DRAIN_SECONDS)})
    urls = [a.ws_url, b.ws_url]
    room = await cluster.room()
    conns: list[Member] = []
    try:
        fay_conn = mover(a.ws_url, urls, "Fay")
        conns.append(fay_conn)
        await fay_conn.open(
            {"t": "hello", "room": room.id, "token": room.facilitator, "name": "Fay"}
        )
        fay = Person("Fay", [fay_conn])
        people = [fay]
        for name in ("Ann", "Bob"):
            conn = mover(a.ws_url, urls, name)
            conns.append(conn)
            hello = {"t": "hello", "room": room.id, "token": room.invite, "name": name}
            await conn.open({**hello, "accept": True})
            await fay_conn.command("admit", member=conn.me)
            await expect(conn, "admitted", member=conn.me)
            await until(lambda c=conn: len(c.welcomes) >= 2, 10, f"{name}'s circle view")  # type: ignore[misc]
            people.append(Person(name, [conn]))
        _, ann, bob = people
        await fay_conn.command("set_order", members=[ann.me, bob.me])
        since = await cluster.top(room)
        await fay_conn.command("start_round", seconds=SHARE_SECONDS)
        turn = await expect(ann.now, "turn", speaker=ann.me)
        acked: list[tuple[str, int]] = []
        for person in people:
            for n in range(2):
                reply = await person.now.chat(f"{person.name} {n}")
                acked.append((person.me, reply["id"]))
        before = {p.name: (p.me, p.now.seq) for p in people}

        drained_at = time.monotonic()
        answers, took = await sigterm_and_watch(a)

        # Not ready from the signal on; gone within the bound, with status 0.
        assert 200 not in answers, answers
        assert a.proc.returncode == 0, a.log_text()[-3000:]
        assert took < DRAIN_SECONDS + EXIT_MARGIN, took
        drained = [line for line in a.log_text().splitlines() if '"node draining"' in line]
        assert len(drained) == 1
        assert '"count": 3' in drained[0]

        # Everyone resumed on B at once: the same seat, the missed events replayed.
        for person in people:
            await until(
                lambda p=person: p.now.resumes == 1,  # type: ignore[misc]
                RESUMED_WITHIN,
                f"{person.name} resumed",
            )
            conn = person.now
            assert conn.url == b.ws_url
            assert conn.welcome["resumed"] is True
            assert conn.welcome["me"] == before[person.name][0]
            assert conn.welcome["seq"] == before[person.name][1]
        resumed_in = time.monotonic() - drained_at
        view, _ = await cluster.stored(room)
        current = view.state.round.turn if view.state.round else None
        assert current is not None
        assert current.speaker == ann.me
        assert current.id == turn["turn_id"]
        assert current.deadline is not None
        ahead = current.deadline - time.time()
        assert ahead > 0.5, f"the deadline passed before A had gone ({ahead:.1f} s): inconclusive"

        # A is gone: the deadline is B's to fire.
        for person in people:
            await expect(person.now, "time_up", turn_id=turn["turn_id"])
        view, history = await cluster.agree(room, people, since=since)
        chats = [(ev.from_, ev.id) for sq in history if isinstance(ev := sq.event, e.ChatSent)]
        assert sorted(chats) == sorted(acked), "an acknowledged chat lost or doubled"
        moved = [sq.event.TYPE for sq in history if sq.seq > since]
        assert "reconnecting" not in moved, moved  # a clean hand-over, not a crash
        assert "left" not in moved, moved
        assert {p.id for p in view.state.admitted()} == {p.me for p in people}
        print(
            f"A exited {took:.2f} s after SIGTERM, readyz {answers}; resumed in {resumed_in:.2f} s"
        )
    finally:
        for conn in conns:
            await conn.close()


async def test_a_memory_node_drains_and_exits_cleanly(tmp_path: Path) -> None:
    node = start_node(tmp_path, env={**LOOSE_LIMITS, "HEARTH_DRAIN_SECONDS": "3"})
    try:
        async with httpx.AsyncClient(
            base_url=node.url, headers=node.auth, trust_env=False, timeout=5
        ) as api:
            made = (await api.post("/api/rooms", json={"name": "Solo"})).json()
        fay = await Client.join(node.ws_url, made["id"], made["facilitator"], "Fay")
        answers, took = await sigterm_and_watch(node)
        assert 200 not in answers, answers
        assert node.proc.returncode == 0, node.log_text()[-3000:]
        assert took < 3 + EXIT_MARGIN
        assert await fay.wait_closed() == Close.MOVING
        assert fay.close_reason.startswith("moving")
    finally:
        node.stop()


async def test_readyz_answers_503_from_the_moment_the_drain_begins(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hearth") as c:
            assert (await c.get("/readyz")).status_code == 200
            assert begin_drain(app) is node_state(app)
            answer = await c.get("/readyz")
            assert (answer.status_code, answer.json()) == (503, {"status": "draining"})
            assert (await c.get("/healthz")).status_code == 200  # alive all the same


def test_the_web_client_knows_every_close_code_and_resumes_at_once_after_moving() -> None:
    """No browser here (tests/integration/browser/ has the page's resume): the client's
    CLOSE table is signaling/closes.py's, and MOVING skips the first backoff."""
    source = (ROOT / "web_client" / "protocol.js").read_text()
    table = source.split("export const CLOSE = Object.freeze({", 1)[1].split("});", 1)[0]
    pairs = dict(re.findall(r"([A-Z_]+): (\d+),", table))
    assert {name: int(code) for name, code in pairs.items()} == {c.name: c.value for c in Close}
    assert "code === CLOSE.MOVING && this.attempt === 0" in source
    assert "MOVING" not in source.split("const ENDINGS", 1)[1].split("]);", 1)[0]
