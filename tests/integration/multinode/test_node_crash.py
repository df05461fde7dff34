"""`kill -9` of a node in the middle of a round.

Three nodes; the one killed holds three seats: Bob (the speaker) comes back at once on
another node, Cy once the survivors have noticed (a node's key lives 10 s, reaping runs
every 3 s), and Dee never. Bob and Cy resume with their token and last seq on other nodes:
same seat, same place in the order, the events they missed replayed; the round goes on. The
others see at most `reconnecting` then `present` for them, and Dee leaves once, when the
grace period ends, decided by one surviving node although every one runs timers.
"""

from __future__ import annotations

import time

from rooms import events as e
from tests.integration.meeting import expect
from tests.integration.multinode.cluster import Cluster, names, until

GRACE_SECONDS = 5.0
PRESENCE = {"reconnecting", "present", "away", "left", "removed"}  # events about a seat's life
NOTICE_SECONDS = 25.0  # node key TTL (10 s) + reaping round (3 s), with a busy machine's margin


async def test_members_of_a_killed_node_resume_elsewhere_and_the_round_goes_on(
    cluster: Cluster,
) -> None:
    n0, n1, n2 = cluster.start(3, env={"HEARTH_GRACE_SECONDS": str(GRACE_SECONDS)})
    room = await cluster.room()
    fay = await cluster.facilitator(room, n0)
    ann = await cluster.member(room, n0, fay, "Ann")
    bob = await cluster.member(room, n1, fay, "Bob")
    cy = await cluster.member(room, n1, fay, "Cy")
    dee = await cluster.member(room, n1, fay, "Dee")
    eli = await cluster.member(room, n2, fay, "Eli")
    order = [ann.me, bob.me, cy.me, eli.me, dee.me]
    await fay.now.command("set_order", members=order)
    await fay.now.command("start_round", seconds=120)
    await expect(ann.now, "turn", speaker=ann.me)
    await ann.now.command("done")
    for p in (fay, ann, bob, cy, dee, eli):
        await expect(p.now, "turn", speaker=bob.me)
    since = await cluster.top(room)

    killed_at = time.monotonic()
    n1.proc.kill()  # SIGKILL: no goodbye to anyone
    n1.proc.wait(10)
    for p in (bob, cy, dee):
        await p.now.wait_closed()

    # Bob, the speaker, is back at once on another node: same seat, still speaking.
    bob_seq = bob.now.seq
    back = await cluster.resume(bob, n2)
    assert back.welcome["resumed"] is True
    assert back.me == bob.me
    await bob.now.command("done")  # only the speaker may say done
    for p in (fay, ann, eli, bob):
        await expect(p.now, "turn", speaker=cy.me)

    # The survivors notice the dead node: Cy and Dee show as reconnecting.
    for who in (cy, dee):
        await until(
            lambda who=who: bool(fay.seen("reconnecting", member=who.me)),  # type: ignore[misc]
            NOTICE_SECONDS,
            f"{who.name} shown reconnecting",
        )
    noticed = time.monotonic() - killed_at
    dee_away_at = time.monotonic()  # at most a poll after Dee's `reconnecting` arrived

    # Cy comes back on yet another node, keeps the piece, and passes it on.
    cy_seq = cy.now.seq
    again = await cluster.resume(cy, n0)
    assert again.welcome["resumed"] is True
    assert again.me == cy.me
    for p in (fay, ann, eli, bob, cy):
        await expect(p.now, "present", member=cy.me)
    await cy.now.command("pass")
    for p in (fay, ann, eli, bob, cy):
        await expect(p.now, "turn", speaker=eli.me)

    # Dee never comes back: one `left` when the grace period ends.
    for p in (fay, ann, eli, bob, cy):
        await expect(p.now, "left", member=dee.me, reason="timeout")
    grace_took = time.monotonic() - dee_away_at
    assert grace_took >= GRACE_SECONDS - 1.0, f"Dee left {grace_took:.1f} s after going away"
    marks = {p: len(p.now.events) for p in (fay, ann, eli, bob, cy)}
    await eli.now.command("done")
    for p, mark in marks.items():  # the second pass: Cy, who passed
        await expect(p.now, "turn", speaker=cy.me, since=mark)
    await cy.now.command("done")
    for p in (fay, ann, eli, bob, cy):
        await expect(p.now, "round_ended")

    present = [fay, ann, bob, cy, eli]
    view, history = await cluster.agree(room, present, since=since)
    assert [sq.event.TYPE for sq in history if getattr(sq.event, "member", None) == dee.me][
        -2:
    ] == ["reconnecting", "left"]
    lefts = [sq.event for sq in history if isinstance(sq.event, e.Left)]
    assert [left.member for left in lefts] == [dee.me]
    # Seats and places kept: the same ids, in the same order (Dee's place went with Dee).
    assert list(view.state.order) == [ann.me, bob.me, cy.me, eli.me]
    assert {p.id for p in view.state.admitted()} == {p.me for p in present}
    assert all(p.reconnecting_since is None for p in view.state.admitted())
    turns = [
        sq.event.speaker for sq in history if sq.seq > since and isinstance(sq.event, e.TurnStarted)
    ]
    assert names([*present, dee], turns) == ["Cy", "Eli", "Cy"]
    # What the others saw of Bob and Cy: at most a reconnecting badge, then present again.
    for observer in (fay, ann, eli):
        for moved in (bob, cy):
            badges = [
                ev["type"]
                for ev in observer.events
                if ev["seq"] > since and ev.get("member") == moved.me and ev["type"] in PRESENCE
            ]
            assert badges in ([], ["reconnecting", "present"]), (observer.name, moved.name, badges)
    # Each replay held exactly what its seat missed.
    assert bob.conns[1].events[0]["seq"] == bob_seq + 1
    assert cy.conns[1].events[0]["seq"] == cy_seq + 1
    print(f"node death noticed after {noticed:.1f} s; Dee left {grace_took:.1f} s later")
