"""Pub/sub loses messages; nodes notice every gap and fill it from history.

Nodes are started with the test-only switch `HEARTH_TEST_DROP_PUBSUB` (server/meetings.py),
which makes the broker throw away that share of the room messages it hears. Two nodes lose
30 % of them, the third every one: it learns of other nodes' commits only from gaps behind
its own and from its periodic re-check (5 s). Every client must still see every event once,
in order, with no gap.
"""

from __future__ import annotations

import asyncio

from tests.integration.multinode.cluster import Cluster, Person

DROP = "HEARTH_TEST_DROP_PUBSUB"
CHATS = 15


async def test_lost_pubsub_messages_leave_no_gap_for_any_client(cluster: Cluster) -> None:
    nodes = cluster.start(3, envs=[{DROP: "0.3"}, {DROP: "0.3"}, {DROP: "1"}])
    for node in nodes:
        assert "TEST FAULT: dropping pub/sub room messages" in node.log_text()
    room = await cluster.room()
    fay = await cluster.facilitator(room, nodes[0])
    names = ("Ann", "Bob", "Cy", "Dee", "Eli")
    members = [
        await cluster.member(room, nodes[(i + 1) % 3], fay, name) for i, name in enumerate(names)
    ]
    everyone = [fay, *members]
    since = await cluster.top(room)

    async def talk(person: Person) -> None:
        for n in range(CHATS):
            await person.now.chat(f"{person.name} {n}")
            if n % 5 == 0 and person is not fay:
                await person.now.command("raise_hand")
                await person.now.command("lower_hand")

    await asyncio.gather(*(talk(p) for p in everyone))
    _, history = await cluster.agree(room, everyone, since=since)
    assert sum(sq.event.TYPE == "chat" for sq in history if sq.seq > since) == CHATS * 6
