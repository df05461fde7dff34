"""Two and three nodes on one Redis: people spread over them meet in one circle.

Each person joins on another node than the one before; they must see one circle, one seq
order (every transcript equal to Redis's history and to each other's), each other's chat,
raised hands, signals routed to whichever node holds their target, and a round of 1-s turns
whose deadlines every serving node watches, yet each turn gets exactly one `time_up`.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rooms import events as e
from tests.integration.meeting import expect
from tests.integration.multinode.cluster import WAIT_SECONDS, Cluster, Person, until

NAMES = ("Ann", "Bob", "Cy", "Dee", "Eli")


@pytest.mark.parametrize("count", [2, 3])
async def test_people_on_different_nodes_share_one_circle(cluster: Cluster, count: int) -> None:
    nodes = cluster.start(count)
    room = await cluster.room()
    fay = await cluster.facilitator(room, nodes[0])
    members = [
        await cluster.member(room, nodes[(i + 1) % count], fay, name)
        for i, name in enumerate(NAMES)
    ]
    everyone: list[Person] = [fay, *members]
    ids = {p.me for p in everyone}
    await until(
        lambda: all(p.circle() == ids for p in everyone), WAIT_SECONDS, "one circle for everyone"
    )
    since = await cluster.top(room)

    # Chat from every node reaches every node.
    await asyncio.gather(*(p.now.chat(f"hello from {p.name}") for p in everyone))
    for p in everyone:
        for q in everyone:
            said = await expect(p.now, "chat", text=f"hello from {q.name}")
            assert said["from"] == q.me

    # Signals go to the node that holds their target, and only to the target.
    ring = list(zip(everyone, everyone[1:] + everyone[:1], strict=True))
    for sender, target in ring:
        await sender.now.signal(target.me, {"candidate": {"n": sender.name}})
    for sender, target in ring:
        got = await asyncio.wait_for(target.now.signals.get(), WAIT_SECONDS)
        assert got == {"t": "signal", "from": sender.me, "data": {"candidate": {"n": sender.name}}}
    assert all(p.now.signals.empty() for p in everyone)

    # Hands and the floor.
    bob, cy = members[1], members[2]
    await bob.now.command("raise_hand")
    await cy.now.command("raise_hand")
    await fay.now.command("call_on", member=cy.me)
    for p in everyone:
        await expect(p.now, "called_on", member=cy.me)

    # A round of 1-s turns that moves on by itself (overtime 0): every node serving the room
    # fires each deadline.
    order = [m.me for m in reversed(members)]
    await fay.now.command("set_order", members=order)
    await fay.now.command("start_round", seconds=1, overtime=0)
    for p in everyone:
        await expect(p.now, "round_ended")

    view, history = await cluster.agree(room, everyone, since=since)
    turns = [sq.event for sq in history if isinstance(sq.event, e.TurnStarted)]
    assert [t.speaker for t in turns] == order
    ups = Counter(sq.event.turn_id for sq in history if isinstance(sq.event, e.TimeUp))
    assert ups == {t.turn_id: 1 for t in turns}
    for p in everyone:  # and so, once in each transcript
        assert Counter(ev["turn_id"] for ev in p.seen("time_up")) == ups
        assert [ev["member"] for ev in p.seen("hand_raised")] == [bob.me, cy.me]
    assert view.state.round is None

    # Each node shows its host what its broker did (chats that raced a commit from another
    # node, not heard yet, went the full path: so some, not all, took one round trip).
    async with httpx.AsyncClient(trust_env=False, timeout=WAIT_SECONDS) as http:
        counts = [broker_counts((await http.get(f"{n.url}/metrics")).text) for n in nodes]
    assert sum(c["appends"] for c in counts) > 0
    assert all(c["transacts"] > 0 and c["pubsub_reconnects"] == 0 for c in counts)


def broker_counts(body: str) -> dict[str, float]:
    [family] = [f for f in text_string_to_metric_families(body) if f.name == "hearth_broker_events"]
    return {s.labels["kind"]: s.value for s in family.samples}
