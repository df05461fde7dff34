"""Signals right after a seat moves to a node that did not serve its room yet.

Two nodes on one redis-server, everyone on node A. A resume commits no event when the seat
was never marked reconnecting: after a drain (the seats are kept and handed over) and after
a crash, before the survivors have reaped the dead node's members. Node B's view of the
room, against which signals are checked, must know the room all the same: the first thing
the moved people do, before any other event, is signal each other (as their WebRTC mesh
renegotiates), and every signal must arrive, never be refused `not_allowed`.
"""

from __future__ import annotations

import asyncio
import signal

from tests.integration.meeting import Room
from tests.integration.multinode.cluster import Cluster, Person, until
from tests.integration.nodes import Node

DRAIN_SECONDS = 5.0
RESUMED_WITHIN = 5.0
SIGNAL_WITHIN = 5.0
OFFER = {"type": "offer", "sdp": "v=0\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\n"}


async def signal_arrives(sender: Person, to: Person, data: dict[str, object]) -> None:
    """`sender` signals `to`: it arrives from `sender`, and `sender` hears no error (the
    ping's answer comes after any error the signal would have had)."""
    await sender.now.signal(to.me, data)
    async with asyncio.timeout(SIGNAL_WITHIN):
        got = await to.now.signals.get()
    assert got == {"t": "signal", "from": sender.me, "data": data}
    await sender.now.ping()
    assert sender.now.errors == [], sender.now.errors


async def seated_on(cluster: Cluster, node: Node) -> tuple[Room, Person, Person, int]:
    """A room, Fay (facilitator) and Ann (let in) on `node`, and the room's top seq."""
    room = await cluster.room()
    fay = await cluster.facilitator(room, node)
    ann = await cluster.member(room, node, fay, "Ann")
    await signal_arrives(ann, fay, OFFER)  # the mesh was up before the move
    await signal_arrives(fay, ann, ANSWER)
    return room, fay, ann, await cluster.top(room)


async def test_after_a_drain_the_moved_seats_signal_each_other_at_once(cluster: Cluster) -> None:
    a, b = cluster.start(2, env={"HEARTH_DRAIN_SECONDS": str(DRAIN_SECONDS)})
    room, fay, ann, top = await seated_on(cluster, a)
    for person in (fay, ann):
        person.now.urls, person.now.auto_resume = [a.ws_url, b.ws_url], True
    a.proc.send_signal(signal.SIGTERM)
    for person in (fay, ann):
        conn = person.now
        await until(lambda c=conn: c.resumes == 1, RESUMED_WITHIN, f"{person.name} resumed")  # type: ignore[misc]
        assert person.now.url == b.ws_url
        assert person.now.welcome["resumed"] is True
    await signal_arrives(ann, fay, OFFER)
    await signal_arrives(fay, ann, ANSWER)
    # Nothing happened in the room meanwhile: what B knew came from the resumes alone.
    assert await cluster.top(room) == top
    assert [ev for p in (fay, ann) for ev in p.now.events if ev["seq"] > top] == []


async def test_after_a_crash_the_resumed_seats_signal_each_other_before_the_reaping(
    cluster: Cluster,
) -> None:
    a, b = cluster.start(2)
    room, fay, ann, top = await seated_on(cluster, a)
    a.proc.kill()  # SIGKILL: no goodbye; its members stay present until reaped (~10 s)
    a.proc.wait(10)
    for person in (fay, ann):
        await person.now.wait_closed()
        back = await cluster.resume(person, b)
        assert back.welcome["resumed"] is True
    await signal_arrives(ann, fay, OFFER)
    await signal_arrives(fay, ann, ANSWER)
    # Before the reaping: the resumes committed nothing, nobody was shown reconnecting.
    assert await cluster.top(room) == top
    assert [ev for p in (fay, ann) for ev in p.now.events if ev["seq"] > top] == []
