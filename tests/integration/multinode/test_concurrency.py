"""Many people on three nodes acting on one room at the same moment.

Each writes its own sequence of commands and chat, all of them at once; the nodes' commits
race through the compare-and-set. Afterwards: every client saw consecutive seqs, all in one
order, exactly Redis's history; replaying that history gives the stored state; and a fresh
resume from seq 0 (a snapshot) shows that same state.
"""

from __future__ import annotations

import asyncio
import random

import msgpack

from rooms import RoomId, RoomInfo, snapshot
from tests.integration.multinode.cluster import Cluster, Person, until

PER_NODE = 3
STEPS = 6


async def test_concurrent_commands_from_many_nodes_give_one_history(cluster: Cluster) -> None:
    nodes = cluster.start(3)
    room = await cluster.room()
    fay = await cluster.facilitator(room, nodes[0])
    members = [await cluster.member(room, nodes[i % 3], fay, f"P{i}") for i in range(PER_NODE * 3)]
    everyone = [fay, *members]
    ids = {p.me for p in everyone}
    await until(lambda: all(p.circle() == ids for p in everyone), 10, "one circle")
    since = await cluster.top(room)
    start = asyncio.Event()

    async def member_acts(person: Person) -> None:
        await start.wait()
        for step in range(STEPS):
            await person.now.chat(f"{person.name} says {step}")
            await person.now.command("raise_hand")
            await person.now.command("away" if step % 2 == 0 else "present")
            if step < STEPS - 1:  # the last hands stay up, in the order they were raised
                await person.now.command("lower_hand")

    async def facilitator_acts(person: Person) -> None:
        await start.wait()
        order = [m.me for m in members]
        for step in range(STEPS):
            random.Random(step).shuffle(order)
            await person.now.command("set_order", members=order)
            await person.now.command("set_topic", text=f"topic {step}")
            await person.now.chat(f"step {step}")
            await person.now.command("lock" if step % 2 == 0 else "unlock")

    acting = [asyncio.create_task(member_acts(m)) for m in members]
    acting.append(asyncio.create_task(facilitator_acts(fay)))
    start.set()  # everyone at once
    await asyncio.gather(*acting)  # every command acknowledged: none lost, none refused

    view, history = await cluster.agree(room, everyone, since=since)
    mine = [sq for sq in history if sq.seq > since]
    assert sum(sq.event.TYPE == "chat" for sq in mine) == STEPS * len(everyone)
    assert sum(sq.event.TYPE == "hand_raised" for sq in mine) == STEPS * len(members)

    # A fresh resume from seq 0 gets a snapshot: the stored state, as the engine shows it.
    snap = await cluster.resume(fay, nodes[1], seq=0)
    assert snap.welcome["resumed"] is False
    assert snap.welcome["epoch"] == view.epoch
    got = snap.welcome["state"]
    info = RoomInfo(
        RoomId(room.id), got["name"], got["guidelines"], got["crisis"], got["share_seconds"]
    )
    want = msgpack.unpackb(msgpack.packb(snapshot(view.state, fay.me, info)), raw=False)  # type: ignore[arg-type]
    assert got == want
    assert got["topic"] == f"topic {STEPS - 1}"
    assert len(got["members"]) == len(everyone)
    assert sorted(got["hands"]) == sorted(m.me for m in members)
